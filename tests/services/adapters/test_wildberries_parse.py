"""WB units, statuses, token types and per-item parsing of crafted replies (no network)."""

from __future__ import annotations

import base64
import json
import logging
import math
from datetime import date

import pytest

from app.models.marketing import CAMPAIGN_STATUSES, CAMPAIGN_TYPES, PAYMENT_TYPES
from app.services.marketing.adapters import wildberries_parse as wp
from app.services.marketing.adapters.base import BidChange
from app.services.marketing.adapters.limits import WbTokenType
from app.services.marketing.adapters.wildberries import (
    MAX_NM_BIDS_PER_CAMPAIGN,
    _levels,
    _nm_blocks,
    _nm_failures,
    _split_cluster_outcome,
    campaign_day_stats,
    cluster_day_stats,
    parse_advert,
)

DAY = date(2026, 11, 29)

# --- rubles ↔ kopecks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rubles", "kopecks"),
    [
        (123.45, 12345),
        (0.1, 10),
        (0.29, 29),  # 0.29 * 100 == 28.999999999999996 in binary floats
        (1.1, 110),
        (19.99, 1999),
        (2032.77, 203277),
        (1000000.01, 100000001),
        (0, 0),
        (7, 700),
        (0.125, 13),  # sub-kopeck artefacts round half-up
        (0.124, 12),
    ],
)
def test_rubles_become_exact_kopecks(rubles: float, kopecks: int) -> None:
    assert wp.rubles_to_kopecks(rubles) == kopecks


def test_naive_float_conversion_would_drift_where_ours_does_not() -> None:
    assert int(0.29 * 100) == 28  # the bug this module exists to avoid
    assert wp.rubles_to_kopecks(0.29) == 29
    assert sum(wp.rubles_to_kopecks(0.01) for _ in range(1000)) == 1000


@pytest.mark.parametrize("bad", [-0.01, -5, math.nan, math.inf, "12.5", None, True, [1], {"v": 1}])
def test_rubles_refuses_what_is_not_a_non_negative_number(bad: object) -> None:
    with pytest.raises(wp.BadItem):
        wp.rubles_to_kopecks(bad, "sum")


@pytest.mark.parametrize(("kopecks", "rubles"), [(15000, 150), (100, 1), (10_000_000, 100_000)])
def test_whole_kopecks_become_whole_rubles_for_the_v0_cluster_bid(kopecks: int, rubles: int) -> None:
    assert wp.kopecks_to_whole_rubles(kopecks) == rubles


@pytest.mark.parametrize("bad", [15050, 1, 0, -100, True])
def test_v0_cluster_bid_refuses_amounts_it_cannot_express(bad: int) -> None:
    with pytest.raises(wp.BadItem):
        wp.kopecks_to_whole_rubles(bad)


def test_kopeck_fields_stay_kopecks() -> None:
    assert wp.kopecks(15500) == 15500
    assert wp.kopecks(15500.0) == 15500
    for bad in (155.5, -1, "15500", math.nan, None):
        with pytest.raises(wp.BadItem):
            wp.kopecks(bad)


def test_counters_are_non_negative_integers() -> None:
    assert wp.counter(42, "views") == 42
    assert wp.optional_counter(None, "views") == 0
    for bad in (-1, 1.5, "3", math.nan, False):
        with pytest.raises(wp.BadItem, match="views"):
            wp.counter(bad, "views")


def test_average_position_is_unknown_when_not_shown() -> None:
    assert wp.average_position(3.4) == 3.4
    assert wp.average_position(0) is None
    assert wp.average_position(None) is None
    for bad in (-1, "2", math.nan):
        with pytest.raises(wp.BadItem):
            wp.average_position(bad)


def test_wb_day_reads_both_date_forms() -> None:
    assert wp.wb_day("2026-11-29") == DAY
    assert wp.wb_day("2026-11-29T00:00:00+03:00") == DAY
    for bad in ("29.11.2026", 20261129, None, "2026-13-01"):
        with pytest.raises(wp.BadItem):
            wp.wb_day(bad)


# --- one internal set of statuses, types and payment types --------------------------------------


@pytest.mark.parametrize(
    ("wb_status", "ours"),
    [(-1, "archived"), (4, "draft"), (7, "stopped"), (8, "stopped"), (9, "active"), (11, "paused")],
)
def test_every_wb_status_maps_to_an_internal_status(wb_status: int, ours: str) -> None:
    assert wp.map_status(wb_status) == ours


@pytest.mark.parametrize("odd", [5, 0, "9", None, True])
def test_unknown_wb_status_is_unknown(odd: object) -> None:
    assert wp.map_status(odd) == "unknown"


def test_status_and_type_tables_use_only_internal_values() -> None:
    assert set(wp.WB_STATUSES.values()) <= set(CAMPAIGN_STATUSES)
    assert set(wp.WB_LEGACY_TYPES.values()) | set(wp.WB_BID_TYPES.values()) <= set(CAMPAIGN_TYPES)
    assert set(wp.WB_PAYMENT_TYPES.values()) <= set(PAYMENT_TYPES)


@pytest.mark.parametrize(
    ("wb_type", "bid_type", "ours"),
    [
        (9, "manual", "manual"),
        (9, "unified", "unified"),
        (None, "manual", "manual"),
        (8, None, "unified"),
        (8, "unified", "unified"),
        (4, None, "catalog"),
        (5, None, "product_card"),
        (6, None, "search"),
        (7, None, "recommendations"),
        (9, None, "other"),
        (12, "manual", "other"),
    ],
)
def test_every_wb_campaign_type_maps(wb_type: int | None, bid_type: str | None, ours: str) -> None:
    assert wp.map_campaign_type(wb_type, bid_type) == ours


def test_payment_types_map() -> None:
    assert wp.map_payment_type("cpm") == "cpm"
    assert wp.map_payment_type("cpc") == "cpc"
    assert wp.map_payment_type("cpa") is None
    assert wp.map_payment_type(None) is None


# --- token types -------------------------------------------------------------------------------


def jwt(payload: object) -> str:
    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(payload)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("acc", "token_type"),
    [
        (1, WbTokenType.BASE),
        (2, WbTokenType.TEST),
        (3, WbTokenType.PERSONAL),
        (4, WbTokenType.SERVICE),
    ],
)
def test_token_type_comes_from_the_jwt_acc_claim(acc: int, token_type: WbTokenType) -> None:
    assert wp.token_type(jwt({"acc": acc, "sid": "x"})) == token_type


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", jwt({"acc": 9}), jwt(["acc"]), jwt({"sid": 1})])
def test_undecodable_tokens_are_refused_without_echoing_them(token: str) -> None:
    with pytest.raises(wp.BadToken) as caught:
        wp.token_type(token)
    assert token not in str(caught.value)


# --- keyword ids -------------------------------------------------------------------------------


def test_keyword_ids_round_trip() -> None:
    assert wp.parse_cluster_id(wp.cluster_id(150, "чехол: для телефона")) == (150, "чехол: для телефона")
    assert wp.parse_nm_bid_id(wp.nm_bid_id(150, "combined")) == (150, "combined")
    assert wp.nm_bid_id(150, "combined") == "nm:150"
    assert wp.parse_nm_bid_id(wp.nm_bid_id(150, "search")) == (150, "search")
    assert wp.nm_bid_id(150, "recommendations") == "nm:150:recommendations"
    for bad in ("150", ":x", "abc:x"):
        with pytest.raises(wp.BadItem):
            wp.parse_cluster_id(bad)
    for bad in ("150:x", "nm:abc", "nm:150:booster"):
        with pytest.raises(wp.BadItem):
            wp.parse_nm_bid_id(bad)


# --- crafted replies: bad items are rejected one by one ------------------------------------------


def advert(advert_id: object = 1, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": advert_id,
        "status": 9,
        "bid_type": "manual",
        "settings": {"name": "A", "payment_type": "cpm", "placements": {"search": True}},
        "nm_settings": [{"nm_id": 10, "bids_kopecks": {"search": 25000, "recommendations": 12500}}],
    }
    body.update(extra)
    return body


def test_advert_parses_nm_bids_in_kopecks() -> None:
    parsed = parse_advert(advert())
    assert parsed.nm_bids == {10: {"search": 25000, "recommendations": 12500}}
    assert parsed.bid_placements() == ("search",)
    assert parsed.nm_bid(10, "search") == 25000


@pytest.mark.parametrize(
    "bad",
    [advert(advert_id=None), advert(advert_id="1"), advert(status="9"), {"id": 1, "status": 9}, "x"],
)
def test_unusable_advert_is_refused(bad: object) -> None:
    with pytest.raises(wp.BadItem):
        parse_advert(bad)


def test_bad_nm_entries_are_dropped_with_a_logged_reason(caplog: pytest.LogCaptureFixture) -> None:
    nm_settings = [
        {"nm_id": 10, "bids_kopecks": {"search": 25000}},
        {"nm_id": 10, "bids_kopecks": {"search": 1}},  # duplicated id
        {"nm_id": 11, "bids_kopecks": {"search": -5}},  # negative
        {"nm_id": 12, "bids_kopecks": {"search": "300"}},  # string
        {"nm_id": 13, "bids_kopecks": {"search": math.nan}},  # NaN
        {"bids_kopecks": {"search": 100}},  # missing id
        {"nm_id": 14, "bids_kopecks": {"search": 30000}},
    ]
    with caplog.at_level(logging.WARNING):
        parsed = parse_advert(advert(nm_settings=nm_settings))
    assert parsed.nm_bids == {10: {"search": 25000}, 14: {"search": 30000}}
    reasons = [r.getMessage() for r in caplog.records]
    assert len(reasons) == 5
    assert any("appears twice" in r for r in reasons)
    assert any("negative" in r for r in reasons)
    assert any("not a number" in r for r in reasons)
    assert any("finite" in r for r in reasons)
    assert any("missing field 'nm_id'" in r for r in reasons)


def stats_day(day: str = "2026-11-29T00:00:00+03:00", **extra: object) -> dict[str, object]:
    node: dict[str, object] = {
        "date": day,
        "views": 3029,
        "clicks": 100,
        "atbs": 8,
        "orders": 1,
        "sum": 2032.77,
        "sum_price": 22033.23,
    }
    node.update(extra)
    return node


def test_full_stats_take_the_requested_day_and_convert_money() -> None:
    item = {"advertId": 5, "days": [stats_day("2026-11-28T00:00:00+03:00", views=1), stats_day()]}
    snapshot = campaign_day_stats(item, DAY)
    assert (snapshot.views, snapshot.clicks, snapshot.add_to_cart, snapshot.orders) == (3029, 100, 8, 1)
    assert snapshot.spent == 203277
    assert snapshot.revenue == 2203323
    assert snapshot.campaign_external_id == "5"


def test_full_stats_without_the_day_are_zeros() -> None:
    snapshot = campaign_day_stats({"advertId": 5, "days": []}, DAY)
    assert (snapshot.views, snapshot.spent, snapshot.revenue) == (0, 0, 0)


@pytest.mark.parametrize(
    "bad",
    [
        {"advertId": 5, "days": [stats_day(sum=-1.0)]},
        {"advertId": 5, "days": [stats_day(views="12")]},
        {"advertId": 5, "days": [stats_day(sum_price=math.nan)]},
        {"advertId": 5, "days": [{"date": "2026-11-29"}]},
        {"advertId": 5, "days": [stats_day(), stats_day()]},
        {"days": [stats_day()]},
        {"advertId": 5, "days": "yesterday"},
    ],
)
def test_full_stats_items_with_bad_data_are_refused(bad: object) -> None:
    with pytest.raises(wp.BadItem):
        campaign_day_stats(bad, DAY)


def test_cluster_stats_of_a_cpc_campaign_have_no_views() -> None:
    entry = {
        "date": "2026-11-29",
        "stat": {"normQuery": "кеды", "views": None, "clicks": 4, "atbs": 1, "orders": 0, "spend": 86.57},
    }
    snapshot = cluster_day_stats(7, 10, entry, DAY)
    assert snapshot is not None
    assert snapshot.keyword_external_id == "10:кеды"
    assert (snapshot.views, snapshot.clicks, snapshot.spent) == (0, 4, 8657)
    assert cluster_day_stats(7, 10, {**entry, "date": "2026-11-28"}, DAY) is None


def test_cluster_stats_with_bad_money_are_refused() -> None:
    entry = {"date": "2026-11-29", "stat": {"normQuery": "кеды", "clicks": 4, "atbs": 1, "orders": 0}}
    with pytest.raises(wp.BadItem, match="spend"):
        cluster_day_stats(7, 10, {**entry, "stat": {**entry["stat"], "spend": -3.0}}, DAY)  # type: ignore[dict-item]
    with pytest.raises(wp.BadItem, match="spend"):
        cluster_day_stats(7, 10, entry, DAY)


# --- batch outcomes ----------------------------------------------------------------------------


def change(campaign: str, keyword: str, bid: int = 30000) -> BidChange:
    return BidChange(campaign, keyword, bid)


def test_nm_bids_of_one_campaign_split_into_blocks_of_fifty() -> None:
    changes = [(change("1", f"nm:{n}"), 1, n, "combined") for n in range(1, 121)]
    changes += [(change("2", "nm:5"), 2, 5, "combined")]
    blocks = _nm_blocks(changes)
    assert [(advert_id, len(items)) for advert_id, items in blocks] == [(1, 50), (1, 50), (1, 20), (2, 1)]
    assert MAX_NM_BIDS_PER_CAMPAIGN == 50


def test_batch_errors_point_at_items_or_whole_campaigns() -> None:
    blocks = _nm_blocks(
        [
            (change("1", "nm:10"), 1, 10, "combined"),
            (change("1", "nm:11"), 1, 11, "combined"),
            (change("2", "nm:20"), 2, 20, "combined"),
            (change("3", "nm:30"), 3, 30, "combined"),
        ]
    )
    errors = [
        {"detail": "wrong bid value: 1; min: 155", "field": ".bids[0].nm_bids[1].bid_kopecks"},
        {"detail": "invalid advert status: 7", "field": ".bids[1].advert_id"},
        {"detail": "nonsense", "field": ".bids[9].advert_id"},
    ]
    failed = _nm_failures(blocks, errors)
    assert set(failed) == {("1", "nm:11"), ("2", "nm:20")}
    assert "min: 155" in failed[("1", "nm:11")]


def test_cluster_bid_outcome_splits_success_and_failed(caplog: pytest.LogCaptureFixture) -> None:
    body = {
        "success": [{"advertId": 1, "nmId": 10, "normQuery": "a"}, {"advertId": "1", "nmId": 10}],
        "failed": [{"advertId": 1, "nmId": 10, "normQuery": "b", "reason": "too low"}],
    }
    with caplog.at_level(logging.WARNING):
        ok, failed = _split_cluster_outcome(body)
    assert ok == {(1, 10, "a")}
    assert failed == {(1, 10, "b"): "too low"}
    assert len(caplog.records) == 1


def test_recommendation_levels_best_position_first() -> None:
    cpm = {
        "paymentType": "cpm",
        "base": {
            "competitiveBid": {"bidKopecks": 30000},
            "leadersBid": {"bidKopecks": 50000},
            "top2": {"bidKopecks": 40000},
        },
        "normQueries": [
            {
                "normQuery": "кеды",
                "reachMin": {"bidKopecks": 16000, "bidKopecksMin": 15000},
                "reachMedium": {"bidKopecks": 20000, "bidKopecksMin": 15000},
                "reachMax": {"bidKopecks": 26000, "bidKopecksMin": 15000},
            }
        ],
    }
    # Issue 9 finding 5: each level says the position it reaches (None: not a position).
    assert _levels(cpm, None) == ((50000, 40000, 30000), (1, 2, None))
    assert _levels(cpm, "кеды") == ((26000, 20000, 16000), (1, None, None))
    assert _levels(cpm, "other") == ((), ())
    cpc = {
        "paymentType": "cpc",
        "levels": [
            {
                "range1To2": {"bidKopecks": 900},
                "range3To10": {"bidKopecks": 700},
                "range11To34": {"bidKopecks": 400},
            }
        ],
    }
    # The cpc ranges reach positions 2, 10 and 34 — not 1, 2, 3 (finding 5: a target position of 3
    # took the bid for places 11–34).
    assert _levels(cpc, None) == ((900, 700, 400), (2, 10, 34))
    assert _levels({**cpc, "levels": cpc["levels"][0]}, None) == ((900, 700, 400), (2, 10, 34))  # type: ignore[index]
    with pytest.raises(wp.BadItem):
        _levels({"paymentType": "cpc", "levels": "high"}, None)
    with pytest.raises(wp.BadItem):
        _levels({"paymentType": "cpm", "base": {"top2": {"bidKopecks": -1}}}, None)
