"""Ozon unit conversions, status/type mappings and per-item rejection of bad data (issue 4 item 2,
issue 5 item 4): pure functions, no sandbox."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import date
from typing import Any

import pytest

from app.models.marketing import CAMPAIGN_STATUSES, CAMPAIGN_TYPES, PAYMENT_TYPES
from app.services.marketing.adapters.ozon_parse import (
    PAYMENT_MAP,
    STATUS_MAP,
    TYPE_MAP,
    campaign_budget,
    daily_parser,
    map_campaign_type,
    map_payment_type,
    map_status,
    parse_campaign,
    parse_competitive,
    parse_each,
    parse_min_bid,
    parse_report,
    product_parser,
    sku_row_parser,
    stats_key,
    unique,
)
from app.services.marketing.adapters.ozon_units import (
    BadValue,
    kopecks_to_micro,
    micro_to_kopecks,
    parse_count,
    rubles_to_kopecks,
)

DAY = date(2026, 11, 29)

# ---- micro-rubles ↔ kopecks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("micro", "kopecks"),
    [
        ("1000000", 100),  # 1 ₽ (the spec's own example)
        ("10000", 1),
        ("0", 0),
        ("12340000", 1234),
        ("12345678", 1235),  # 1234.5678 → rounds up
        ("12344999", 1234),
        ("12345000", 1234),  # exactly half, 1234 even → stays
        ("12355000", 1236),  # exactly half, 1235 odd → up to even
        (5000, 0),  # numbers accepted too
        ("500000000000", 50_000_000),  # 500 000 ₽
    ],
)
def test_micro_rubles_to_kopecks_round_half_even(micro: Any, kopecks: int) -> None:
    assert micro_to_kopecks(micro) == kopecks


@pytest.mark.parametrize("bad", ["-1000000", "12.5", "1e6", "", " ", "NaN", "abc", None, True, -5, 1.5, "١٢"])
def test_micro_rubles_rejects_what_is_not_an_unsigned_integer(bad: Any) -> None:
    with pytest.raises(BadValue):
        micro_to_kopecks(bad, "bid")


def test_kopecks_to_micro_rubles_is_the_exact_inverse() -> None:
    assert kopecks_to_micro(1234) == "12340000"
    assert kopecks_to_micro(1) == "10000"
    assert kopecks_to_micro(0) == "0"
    for kopecks in (1, 99, 100, 1234, 10**7):
        assert micro_to_kopecks(kopecks_to_micro(kopecks)) == kopecks
    for bad in (-1, 12.5, True, "100"):
        with pytest.raises(BadValue):
            kopecks_to_micro(bad)  # type: ignore[arg-type]


# ---- rubles with decimal commas → kopecks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("rubles", "kopecks"),
    [
        ("1 110,72", 111072),  # report CSV: thousands space, decimal comma
        ("1\u00a0110,72", 111072),  # no-break space
        ("1\u202f110,72", 111072),  # narrow no-break space
        ("1110.72", 111072),  # JSON statistics: decimal point
        ("0,00", 0),
        ("12", 1200),
        ("0,005", 0),  # half a kopeck → even
        ("0,015", 2),  # half a kopeck → even
        (1110.72, 111072),  # a JSON number
        (5, 500),
    ],
)
def test_rubles_to_kopecks(rubles: Any, kopecks: int) -> None:
    assert rubles_to_kopecks(rubles) == kopecks


@pytest.mark.parametrize("bad", ["-1,00", "NaN", "inf", "1,110.72", "", "—", None, True, float("nan"), [1]])
def test_rubles_rejects_negative_nan_and_words(bad: Any) -> None:
    with pytest.raises(BadValue):
        rubles_to_kopecks(bad, "expense")


@pytest.mark.parametrize(("raw", "count"), [("0", 0), ("1234", 1234), ("1 234", 1234), (7, 7)])
def test_counts(raw: Any, count: int) -> None:
    assert parse_count(raw) == count


@pytest.mark.parametrize("bad", ["-3", "1.5", "1,5", "many", None, 2.0, True, -1])
def test_counts_reject_fractions_negatives_and_words(bad: Any) -> None:
    with pytest.raises(BadValue):
        parse_count(bad, "views")


# ---- one internal set of statuses, types and payment types ----------------------------------------


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("CAMPAIGN_STATE_RUNNING", "active"),
        ("CAMPAIGN_STATE_INACTIVE", "paused"),
        ("CAMPAIGN_STATE_STOPPED", "paused"),
        ("CAMPAIGN_STATE_PLANNED", "draft"),
        ("CAMPAIGN_STATE_MODERATION_DRAFT", "draft"),
        ("CAMPAIGN_STATE_MODERATION_IN_PROGRESS", "draft"),
        ("CAMPAIGN_STATE_MODERATION_FAILED", "draft"),
        ("CAMPAIGN_STATE_FINISHED", "stopped"),
        ("CAMPAIGN_STATE_ARCHIVED", "archived"),
        ("CAMPAIGN_STATE_UNKNOWN", "unknown"),
        ("CAMPAIGN_STATE_SOMETHING_NEW", "unknown"),
        (None, "unknown"),
    ],
)
def test_campaign_states_map_to_internal_statuses(state: Any, status: str) -> None:
    assert map_status(state) == status


def test_every_state_of_the_spec_is_mapped_into_the_internal_set() -> None:
    from tests.sandbox.specs import spec_file

    spec = json.loads(spec_file("ozon-performance/performance-openapi.json").read_text(encoding="utf-8"))
    state_param = next(
        p for p in spec["paths"]["/api/client/campaign"]["get"]["parameters"] if p["name"] == "state"
    )
    documented = {
        word.strip("`,;.") for word in state_param["description"].split() if "CAMPAIGN_STATE_" in word
    }
    assert documented and documented <= set(STATUS_MAP)
    assert set(STATUS_MAP.values()) <= set(CAMPAIGN_STATUSES)


@pytest.mark.parametrize(
    ("adv_type", "campaign_type"),
    [
        ("SKU", "sku"),
        ("SEARCH_PROMO", "search_promo"),
        ("BANNER", "banner"),
        ("VIDEO_BANNER", "banner"),
        ("X", "other"),
    ],
)
def test_campaign_types_map_to_internal_types(adv_type: str, campaign_type: str) -> None:
    assert map_campaign_type(adv_type) == campaign_type
    assert set(TYPE_MAP.values()) | {"other"} <= set(CAMPAIGN_TYPES)


@pytest.mark.parametrize(
    ("payment", "internal"),
    [("CPC", "cpc"), ("CPM", "cpm"), ("CPO", "cpo"), ("cpc", "cpc"), ("", None), (None, None), ("X", None)],
)
def test_payment_types_map_to_internal_ones(payment: Any, internal: str | None) -> None:
    assert map_payment_type(payment) == internal
    assert set(PAYMENT_MAP.values()) <= set(PAYMENT_TYPES)


# ---- campaigns and products: bad items are dropped one by one ---------------------------------------


def campaign(**over: Any) -> dict[str, Any]:
    base = {
        "id": "101",
        "title": "Кампания",
        "state": "CAMPAIGN_STATE_RUNNING",
        "advObjectType": "SKU",
        "paymentType": "CPC",
        "budget": "0",
        "dailyBudget": "50000000",
        "weeklyBudget": "350000000",
    }
    return {**base, **over}


def test_campaign_parses_money_in_kopecks() -> None:
    parsed = parse_campaign(campaign())
    assert (parsed.external_id, parsed.status, parsed.campaign_type, parsed.payment_type) == (
        "101",
        "active",
        "sku",
        "cpc",
    )
    assert parsed.daily_budget == 5000
    assert parse_campaign(campaign(dailyBudget="0")).daily_budget is None
    assert campaign_budget(campaign()) == 35000  # no total budget → the weekly one
    assert campaign_budget(campaign(budget="123456789")) == 12346
    assert campaign_budget(campaign(weeklyBudget="0")) is None


def test_bad_campaigns_are_rejected_one_by_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    items = [
        campaign(id="1"),
        campaign(id=None),  # missing id
        campaign(id="2", budget="-5"),  # negative money
        campaign(id="3", dailyBudget="NaN"),
        campaign(id="4", state=None),  # missing state
        "not an object",
        campaign(id="5"),
        campaign(id="5", title="twice"),  # duplicated id
    ]
    parsed = unique("campaign", parse_each("campaign", items, parse_campaign), lambda c: c.external_id)
    assert [c.external_id for c in parsed] == ["1", "5"]
    assert parsed[1].name == "Кампания"  # the first of two duplicates is kept
    assert caplog.text.count("rejected") == 6
    assert "missing field id" in caplog.text and "negative" in caplog.text and "duplicated id" in caplog.text


def test_bad_products_are_rejected_one_by_one(caplog: pytest.LogCaptureFixture) -> None:
    items = [
        {"sku": "11", "bid": "15000000", "title": "Чайник"},
        {"sku": "12"},  # no bid
        {"sku": "x13", "bid": "15000000"},
        {"sku": "14", "bid": "15.5"},
        {"sku": "15", "bid": 25000000},
    ]
    parsed = parse_each("product", items, product_parser("101"))
    assert [(k.external_id, k.current_bid, k.kind) for k in parsed] == [
        ("11", 1500, "sku"),
        ("15", 2500, "sku"),
    ]
    assert parse_each("product", {"sku": "1"}, product_parser("101")) == []
    assert caplog.text.count("rejected") == 4


def test_min_bids_are_rubles_as_doubles() -> None:
    assert parse_min_bid({"sku": "7", "bid": 8.5}) == ("7", 850)
    assert parse_min_bid({"sku": "7", "bid": 11}) == ("7", 1100)
    for bad in (-1.0, float("inf"), "eight", None):
        with pytest.raises(BadValue):
            parse_min_bid({"sku": "7", "bid": bad})


def test_competitive_bids_are_kopecks() -> None:
    assert parse_competitive({"sku": "7", "bid": "23450000"}) == ("7", 2345)
    with pytest.raises(BadValue):
        parse_competitive({"sku": "7", "bid": "-1"})


# ---- statistics ---------------------------------------------------------------------------------


def test_daily_rows_are_parsed_and_bad_ones_dropped(caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        {
            "id": "1",
            "date": "2026-11-29",
            "views": "1000",
            "clicks": "20",
            "moneySpent": "1 110,72",
            "orders": "2",
            "ordersMoney": "3000.50",
        },
        {
            "id": "2",
            "date": "2026-11-29",
            "views": "-1",
            "clicks": "0",
            "moneySpent": "0",
            "orders": "0",
            "ordersMoney": "0",
        },
        {
            "id": "3",
            "date": "2026-11-29",
            "views": "5",
            "clicks": "x",
            "moneySpent": "0",
            "orders": "0",
            "ordersMoney": "0",
        },
        {
            "id": "4",
            "date": "2026-11-28",
            "views": "5",
            "clicks": "0",
            "moneySpent": "0",
            "orders": "0",
            "ordersMoney": "0",
        },
        {"id": "5", "date": "2026-11-29", "views": "5", "clicks": "0", "orders": "0", "ordersMoney": "0"},
    ]
    parsed = parse_each("daily row", rows, daily_parser(DAY))
    assert len(parsed) == 1
    (s,) = parsed
    assert (s.views, s.clicks, s.orders, s.spent, s.revenue) == (1000, 20, 2, 111072, 300050)
    assert s.keyword_external_id is None and s.stat_date == DAY
    assert caplog.text.count("rejected") == 4 and "missing field moneySpent" in caplog.text


def test_sku_rows_are_parsed_and_duplicates_dropped(caplog: pytest.LogCaptureFixture) -> None:
    row = {
        "campaignId": "1", "sku": "77", "date": "2026-11-29", "views": "300", "clicks": "9", "ctr": 3.0,
        "avgCpc": "12.30", "expense": "110.70", "orders": "1", "sales": "999.99", "toCart": "4",
    }  # fmt: skip
    rows = [row, dict(row), {**row, "sku": "78", "expense": "NaN"}]
    parsed = unique("sku row", parse_each("sku row", rows, sku_row_parser(DAY)), stats_key)
    assert [(s.keyword_external_id, s.spent, s.revenue, s.add_to_cart) for s in parsed] == [
        ("77", 11070, 99999, 4)
    ]
    assert "duplicated id" in caplog.text and "NaN" in caplog.text


REPORT_CSV = (
    "; Кампания по продвижению товаров № 101, период 29.11.2026-29.11.2026\n"
    "sku;Название товара;Цена товара, ₽;Показы;Клики;CTR (%);В корзину;Ср. цена клика, ₽;"
    "Ср. цена 1000 показов, ₽;Расход, ₽, с НДС;Заказы;Выручка, ₽;Заказы модели;"
    "Выручка с заказов модели, ₽;ДРР, %;Дата добавления\n"
    "77;Чайник;1 500,00;1 200;30;2,50;5;37,02;925,60;1 110,72;3;4 500,00;1;1 500,00;24,68;2026-10-01\n"
    "78;Плед;900,00;-4;0;0,00;0;0,00;0,00;0,00;0;0,00;0;0,00;0,00;2026-10-01\n"
    "Всего;;;1 200;30;2,50;5;37,02;925,60;1 110,72;3;4 500,00;1;1 500,00;24,68;\n"
)


def test_report_csv_with_decimal_commas(caplog: pytest.LogCaptureFixture) -> None:
    rows = parse_report(REPORT_CSV.encode(), "text/csv; charset=UTF-8", ["101"], DAY, DAY)
    by_sku = {s.keyword_external_id: s for s in rows}
    assert set(by_sku) == {"77", None}  # SKU 78 has negative views: rejected alone
    sku = by_sku["77"]
    assert (sku.views, sku.clicks, sku.add_to_cart, sku.orders) == (1200, 30, 5, 3)
    assert (sku.spent, sku.revenue) == (111072, 450000)  # "Выручка с заказов модели" is not revenue
    assert by_sku[None].campaign_external_id == "101" and by_sku[None].spent == 111072
    assert "negative" in caplog.text


def test_report_zip_has_one_csv_per_campaign() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("101.csv", REPORT_CSV)
        archive.writestr("102.csv", REPORT_CSV.replace("№ 101", "№ 102"))
    rows = parse_report(buffer.getvalue(), "application/zip", ["101", "102"], DAY, DAY)
    assert {(s.campaign_external_id, s.keyword_external_id) for s in rows} == {
        ("101", "77"), ("101", None), ("102", "77"), ("102", None)
    }  # fmt: skip


def test_report_json_layout() -> None:
    body = {
        "101": {
            "title": "Кампания",
            "report": {
                "rows": [
                    {
                        "sku": "77",
                        "views": "1 200",
                        "clicks": "30",
                        "moneySpent": "1 110,72",
                        "orders": "3",
                        "ordersMoney": "4 500,00",
                    },
                    {
                        "sku": "78",
                        "views": "NaN",
                        "clicks": "0",
                        "moneySpent": "0",
                        "orders": "0",
                        "ordersMoney": "0",
                    },
                ],
                "totals": {
                    "views": "1 200",
                    "clicks": "30",
                    "moneySpent": "1 110,72",
                    "orders": "3",
                    "ordersMoney": "4 500,00",
                },
            },
        },
        "102": "garbage",
    }
    rows = parse_report(json.dumps(body).encode(), "application/json", ["101", "102"], DAY, DAY)
    assert sorted((s.keyword_external_id or "", s.spent) for s in rows) == [("", 111072), ("77", 111072)]


def test_report_without_its_columns_is_unreadable() -> None:
    with pytest.raises(BadValue, match="Показы"):
        parse_report(b"sku;title\n1;x\n", "text/csv", ["101"], DAY, DAY)
