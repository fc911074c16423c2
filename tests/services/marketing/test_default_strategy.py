"""An account's default strategy for new campaigns, with overrides per payment type (issue 17
item 1: one cap cannot fit Ozon's CPC bids, from 8 ₽, and its CPM bids, from 100 ₽)."""

from __future__ import annotations

import pytest

from app.cli.demo import DEMO_STRATEGIES
from app.models.marketing import MarketingCampaign
from app.sandbox import ozon, wildberries, yandex_market
from app.services.marketing.sync import SyncSummary, apply_default_strategy


def campaign_with(
    default: object, payment_type: str | None, summary: SyncSummary | None = None
) -> MarketingCampaign:
    row = MarketingCampaign(external_id="1")
    apply_default_strategy(row, default, payment_type, summary or SyncSummary(account_id=1))
    return row


@pytest.mark.parametrize(
    ("payment_type", "bid_cap", "max_bid"),
    [("cpc", 3_000, 5_000), ("cpm", 20_000, 30_000), (None, 3_000, 5_000)],
)
def test_payment_type_override_replaces_limits_and_adds_params(
    payment_type: str | None, bid_cap: int, max_bid: int
) -> None:
    default = {
        "strategy_type": "max_traffic",
        "strategy_params": {"bid_cap": 3_000, "outbid_step": 100},
        "max_bid": 5_000,
        "by_payment_type": {"cpm": {"strategy_params": {"bid_cap": 20_000}, "max_bid": 30_000}},
    }
    row = campaign_with(default, payment_type)
    assert (row.strategy_type, row.strategy_params, row.max_bid) == (
        "max_traffic",
        {"bid_cap": bid_cap, "outbid_step": 100},
        max_bid,
    )


def test_a_malformed_default_is_reported_and_not_applied() -> None:
    summary = SyncSummary(account_id=1)
    row = campaign_with({"strategy_type": "target_position", "by_payment_type": ["cpm"]}, "cpm", summary)
    assert row.strategy_type is None  # the column's own default (fixed) stands
    assert summary.rejected == [
        "default_strategy not applied to new campaign 1: default_strategy.by_payment_type must map "
        'payment types to objects, e.g. {"cpm": {"max_bid": 30000}}'
    ]


# The demo's caps lie within what each marketplace accepts — above its highest minimum, below its
# maximum (the sandbox's bounds, in kopecks; YM in hundredths of a percent) — so that a new user
# sees all three marketplaces bid.
WB_CPM_HIGHEST_MINIMUM = max(wildberries.MIN_CPM_KOPECKS.values()) + 4 * 100  # + per category
OZON_CPC_HIGHEST_MINIMUM = ozon.MIN_CPC_KOPECKS + 3 * 100  # + per category


@pytest.mark.parametrize(
    ("marketplace", "payment_type", "minimum", "maximum"),
    [
        ("wb", "cpm", WB_CPM_HIGHEST_MINIMUM, wildberries.MAX_BID_KOPECKS),
        ("wb", "cpc", wildberries.MIN_CPC_KOPECKS, wildberries.MAX_BID_KOPECKS),
        ("ozon", "cpc", OZON_CPC_HIGHEST_MINIMUM, ozon.MAX_CPC_KOPECKS),
        ("ozon", "cpm", ozon.MIN_CPM_KOPECKS, ozon.MAX_CPC_KOPECKS * 10),
        ("ym", "cpo", yandex_market.MIN_BID, yandex_market.MAX_BID),
    ],
)
def test_demo_caps_are_within_the_marketplace_bounds(
    marketplace: str, payment_type: str, minimum: int, maximum: int
) -> None:
    row = campaign_with(DEMO_STRATEGIES[marketplace], payment_type)
    assert row.max_bid is not None
    assert minimum <= row.max_bid <= maximum
    assert minimum <= row.strategy_params.get("bid_cap", row.max_bid) <= row.max_bid
