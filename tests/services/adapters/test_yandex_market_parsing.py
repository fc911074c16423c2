"""Yandex Market: units, the status/type mappings and item-by-item parsing of bad payloads."""

from __future__ import annotations

import io
import json
import logging
import math
import zipfile
from datetime import date
from decimal import Decimal

import pytest
import yaml

from app.models.marketing import CAMPAIGN_STATUSES, CAMPAIGN_TYPES, PAYMENT_TYPES
from app.services.marketing.adapters import yandex_market as ym
from app.services.marketing.adapters.yandex_market_parsing import (
    PAYMENT_MAP,
    STATUS_MAP,
    TYPE_MAP,
    BadValue,
    bid_percent,
    check_bid,
    count,
    map_campaign_type,
    map_payment_type,
    map_status,
    parse_bid_items,
    parse_recommendations,
    parse_report_rows,
    report_records,
    rubles_to_kopecks,
)
from tests.sandbox.specs import spec_file

# --- units -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rubles", "kopecks"),
    [
        (0, 0),
        (12, 1200),
        (12.5, 1250),
        (0.1 + 0.2, 30),  # 0.30000000000000004 rubles: 30 kopecks, not 30.000000000000004
        (1.005, 101),  # half up on the decimal value, not on the binary float below it
        (0.01, 1),
        ("7.35", 735),
        ("1 110,72", 111072),  # Russian grouping and decimal comma
        ("1\u00a0110,72", 111072),
        (123456.78, 12345678),
    ],
)
def test_rubles_become_integer_kopecks(rubles: object, kopecks: int) -> None:
    assert rubles_to_kopecks(rubles) == kopecks


@pytest.mark.parametrize("bad", [-1, -0.01, "-3", math.nan, math.inf, "NaN", "abc", None, True, [1], ""])
def test_bad_money_is_refused(bad: object) -> None:
    with pytest.raises(BadValue):
        rubles_to_kopecks(bad)


def test_bid_is_hundredths_of_a_percent_of_the_price() -> None:
    # SkuBidItemDTO.yaml: "ставка 5% обозначается как 500".
    assert bid_percent(500) == Decimal("5")
    assert bid_percent(570) == Decimal("5.7")
    assert bid_percent(50) == Decimal("0.5")


@pytest.mark.parametrize("bid", [0, 50, 570, 9999])
def test_bids_inside_the_api_range_pass_unchanged(bid: int) -> None:
    # No ×100 or ÷100 anywhere: the adapter's bid unit is the API's unit.
    assert check_bid(bid) == bid


@pytest.mark.parametrize("bad", [1, 49, 10_000, 57_000, -50, 5.7, "570", None, True])
def test_bids_outside_the_api_range_or_type_are_refused(bad: object) -> None:
    with pytest.raises(BadValue):
        check_bid(bad)


def test_zero_is_a_removal_not_a_recommendation() -> None:
    assert check_bid(0) == 0
    with pytest.raises(BadValue, match=r"outside 50\.\.9999"):
        check_bid(0, allow_remove=False)


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (7, 7), (7.0, 7)])
def test_counters_accept_non_negative_integers(value: object, expected: int) -> None:
    assert count(value, "shows") == expected


@pytest.mark.parametrize("bad", [-1, 1.5, math.nan, "7", None, False])
def test_counters_refuse_anything_else(bad: object) -> None:
    with pytest.raises(BadValue, match="shows"):
        count(bad, "shows")


# --- one internal set of statuses, types and payment types ------------------------------------------


@pytest.mark.parametrize(("ours", "internal"), [("HAS_API_BIDS", "active"), ("NO_API_BIDS", "draft")])
def test_every_status_maps_to_an_internal_status(ours: str, internal: str) -> None:
    assert map_status(ours) == internal
    assert internal in CAMPAIGN_STATUSES


def test_status_map_is_fully_tested_and_unknown_is_unknown() -> None:
    assert set(STATUS_MAP) == {"HAS_API_BIDS", "NO_API_BIDS"}
    assert map_status("SOMETHING_NEW") == "unknown"


def test_campaign_type_and_payment_type_map_to_internal_values() -> None:
    assert TYPE_MAP == {"BOOST": "boost"} and PAYMENT_MAP == {"CPO": "cpo"}
    assert map_campaign_type("BOOST") == map_campaign_type("boost") == "boost"
    assert map_campaign_type("BANNER_X") == "other"
    assert map_payment_type("CPO") == "cpo"
    assert map_payment_type("CPM") is None
    assert set(TYPE_MAP.values()) <= set(CAMPAIGN_TYPES) and "other" in CAMPAIGN_TYPES
    assert set(PAYMENT_MAP.values()) <= set(PAYMENT_TYPES)


# --- bad data, item by item --------------------------------------------------------------------------


def test_bad_bid_items_are_rejected_one_by_one(caplog: pytest.LogCaptureFixture) -> None:
    items = [
        {"sku": "A", "bid": 570},
        {"sku": "B"},  # missing bid
        {"bid": 600},  # missing sku
        {"sku": "C", "bid": "600"},  # string in a number field
        {"sku": "D", "bid": -5},
        {"sku": "E", "bid": math.nan},
        {"sku": "F", "bid": 700},
        {"sku": "F", "bid": 800},  # duplicated id: which one is real?
        {"sku": "", "bid": 100},
        "not an object",
        {"sku": "G", "bid": 0},
    ]
    with caplog.at_level(logging.WARNING):
        assert parse_bid_items(items) == {"A": 570, "G": 0}
    assert len([r for r in caplog.records if "rejected bid item" in r.getMessage()]) == 8
    assert "appears more than once" in caplog.text


def test_a_bid_list_that_is_not_a_list_is_a_malformed_reply() -> None:
    with pytest.raises(BadValue, match="must be a list"):
        parse_bid_items({"sku": "A"})


def test_recommendations_are_ordered_by_share_of_shows() -> None:
    parsed = parse_recommendations(
        [
            {
                "sku": "A",
                "bid": 9999,  # the spec: ignore `bid` when bidRecommendations is present
                "bidRecommendations": [
                    {"bid": 300, "showPercent": 40},
                    {"bid": 900, "showPercent": 100},
                    {"bid": 500, "showPercent": 70},
                ],
            },
            {"sku": "B", "bid": 450, "bidRecommendations": None},
        ]
    )
    assert [(p.sku, p.bids_by_position) for p in parsed] == [("A", (900, 500, 300)), ("B", (450,))]


def test_bad_recommendations_are_rejected_one_by_one(caplog: pytest.LogCaptureFixture) -> None:
    items = [
        {"sku": "A", "bid": 500},
        {"sku": "B", "bidRecommendations": [{"bid": 500, "showPercent": 140}]},
        {"sku": "C", "bidRecommendations": [{"bid": "500", "showPercent": 40}]},
        {"sku": "D", "bid": 0},  # 0 removes; it is no recommendation
        {"sku": "E", "bid": 500},
        {"sku": "E", "bid": 600},
        {"bid": 500},
    ]
    with caplog.at_level(logging.WARNING):
        assert [p.sku for p in parse_recommendations(items)] == ["A"]
    assert caplog.text.count("rejected recommendation") == 5


def test_report_rows_convert_fee_to_kopecks_and_reject_bad_rows(caplog: pytest.LogCaptureFixture) -> None:
    good = {"sku": "A", "date": "2026-11-30", "shows": 100, "clicks": 7, "orders": 2, "bidFee": 153.37}
    rows = [
        good,
        {**good, "sku": "B", "shows": -1},
        {**good, "sku": "C", "clicks": "7"},
        {**good, "sku": "D", "bidFee": math.nan},
        {**good, "sku": "E", "date": "30.11.2026"},
        {**good, "sku": "F", "bidFee": None},
        {**good, "sku": "G"},
        {**good, "sku": "G", "orders": 3},  # duplicated (sku, date)
        {"sku": "H"},
    ]
    with caplog.at_level(logging.WARNING):
        parsed = parse_report_rows(rows)
    assert [(r.sku, r.day, r.shows, r.clicks, r.orders, r.spent) for r in parsed] == [
        ("A", date(2026, 11, 30), 100, 7, 2, 15337)
    ]
    assert caplog.text.count("rejected report row") == 7  # both copies of G go, one line each dup


def test_report_files_in_every_shape_give_the_same_records(caplog: pytest.LogCaptureFixture) -> None:
    records = [{"sku": "A", "n": 1}, {"sku": "B", "n": 2}]
    lines = "\n".join(json.dumps(r) for r in records).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("boost.json", json.dumps(records))
        archive.writestr("readme.txt", "not a sheet")
    assert list(report_records(lines)) == records
    assert list(report_records(json.dumps(records).encode())) == records
    assert list(report_records(buffer.getvalue())) == records
    assert list(report_records(b"")) == []
    with caplog.at_level(logging.WARNING):
        assert list(report_records(lines + b'\n{"sku": "C", "n"')) == records
    assert "not valid JSON" in caplog.text
    with pytest.raises(BadValue, match="ZIP"):
        list(report_records(b"PK\x03\x04broken"))


# --- batch sizes are the spec's maxima ---------------------------------------------------------------


def _schema(name: str) -> dict[str, object]:
    loaded = yaml.safe_load(spec_file(f"yandex-market/openapi/components/{name}").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_batch_sizes_are_the_documented_maxima() -> None:
    assert _schema("schemas/PutSkuBidsRequest.yaml")["properties"]["bids"]["maxItems"] == ym.PUT_BIDS_BATCH  # type: ignore[index]
    assert _schema("schemas/GetBidsInfoRequest.yaml")["properties"]["skus"]["maxItems"] == ym.INFO_SKUS_BATCH  # type: ignore[index]
    assert _schema("parameters/PageLimit500Truncate.yaml")["schema"]["maximum"] == ym.INFO_PAGE_LIMIT  # type: ignore[index]
    recommendations = _schema("schemas/GetBidsRecommendationsRequest.yaml")
    assert recommendations["properties"]["skus"]["maxItems"] == ym.RECOMMENDATIONS_BATCH  # type: ignore[index]
