"""Marketplace rules the bid cycle applies before sending a bid."""

from __future__ import annotations

from app.services.marketing.bid_cycle import biddable, on_step
from app.services.marketing.cycle_data import CampaignRow, KeywordRow


def campaign(marketplace: str, campaign_type: str, payment_type: str) -> CampaignRow:
    return CampaignRow(
        1, "1", "c", marketplace, campaign_type, payment_type, "active", "fixed", {}, {}, None, 0, None, False
    )


def keyword(kind: str) -> KeywordRow:
    return KeywordRow(
        1, "1", "nm:1" if kind != "cluster" else "1:query", "query", kind, "1", 100, None, "active", False
    )


def test_wb_bids_are_whole_rubles_rounded_up_within_max_bid() -> None:
    assert on_step(52151, "wb", None) == 52200
    assert on_step(52100, "wb", None) == 52100
    assert on_step(52151, "wb", 52199) == 52100  # rounding up would pass the max bid
    assert on_step(1234, "ozon", None) == 1234  # Ozon takes kopecks


def test_wb_clusters_take_bids_only_in_manual_cpm_campaigns() -> None:
    assert biddable(campaign("wb", "manual", "cpm"), keyword("cluster"))
    assert not biddable(campaign("wb", "unified", "cpm"), keyword("cluster"))
    assert not biddable(campaign("wb", "manual", "cpc"), keyword("cluster"))
    assert biddable(campaign("wb", "unified", "cpm"), keyword("nm"))
    assert biddable(campaign("ozon", "sku", "cpc"), keyword("sku"))
