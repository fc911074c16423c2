"""The report's arithmetic and formatting, without a database: ratios from sums, DRR's basis, bid
units, Russian Excel's CSV numbers, period rules and file names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app.services.marketing.reports import MAX_REPORT_DAYS, ReportError, ReportRequest
from app.services.marketing.reports.csv_file import csv_text
from app.services.marketing.reports.generate import report_name, request_from_arguments
from app.services.marketing.reports.metrics import Kind, Totals, bid_shown, bid_unit, change_percent, total
from app.services.marketing.reports.request import check_period

DAY = date(2026, 12, 1)


def test_ratios_come_from_the_sums_not_from_daily_ratios() -> None:
    busy = Totals.of("wb", views=10_000, clicks=100, orders=4, spent=50_000, revenue=1_000_000)
    quiet = Totals.of("wb", views=100, clicks=10, orders=0, spent=1_000, revenue=0)
    both = total([busy, quiet])
    assert both.ctr == Decimal("1.09")  # 110 / 10 100, not the mean of 1 % and 10 %
    assert both.cpc == 464  # 51 000 / 110 kopecks, rounded half up
    assert both.cpo == 12_750
    assert both.drr == Decimal("5.10")


def test_ratios_without_a_base_are_empty_not_zero() -> None:
    nothing = Totals.of("wb", views=0, clicks=0, orders=0, spent=500, revenue=0)
    assert (nothing.ctr, nothing.cpc, nothing.cpo, nothing.drr) == (None, None, None, None)


def test_ym_spend_counts_in_spend_but_not_in_drr() -> None:
    wb = Totals.of("wb", views=1, clicks=1, orders=1, spent=10_000, revenue=100_000)
    ym = Totals.of("ym", views=1, clicks=1, orders=1, spent=90_000, revenue=0)
    both = wb + ym
    assert both.spent == 100_000
    assert both.drr == Decimal("10.00")  # 10 000 / 100 000, YM's 90 000 has no revenue to compare with
    assert ym.drr is None


@pytest.mark.parametrize(
    ("stored", "marketplace", "campaign_type", "payment", "unit"),
    [
        ("kopecks_per_click", "wb", "manual", "cpm", "₽/клик"),  # the unit recorded with the bid wins
        (None, "wb", "manual", "cpm", "₽/1000 показов"),
        (None, "ozon", "sku", "cpc", "₽/клик"),
        (None, "ym", "boost", "cpo", "% от цены"),
        (None, "wb", "auction", None, "—"),
    ],
)
def test_bids_are_shown_in_their_marketplace_unit(
    stored: str | None, marketplace: str, campaign_type: str, payment: str | None, unit: str
) -> None:
    assert bid_unit(stored, marketplace, campaign_type, payment) == unit


def test_bid_values_and_changes() -> None:
    assert bid_shown(650) == Decimal("6.5")  # YM 650 = 6.50 % of the price; WB 650 = 6.50 ₽
    assert bid_shown(None) is None
    assert change_percent(20_000, 22_000) == Decimal("10.00")
    assert change_percent(None, 22_000) is None


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (123_456, Kind.MONEY, "1234,56"),
        (5, Kind.MONEY, "0,05"),
        (-150, Kind.MONEY, "-1,50"),
        (Decimal("12.5"), Kind.DECIMAL, "12,50"),
        (1_234_567, Kind.INT, "1234567"),
        (None, Kind.DECIMAL, ""),
        (DAY, Kind.DATE, "01.12.2026"),
        (datetime(2026, 12, 1, 21, 30, tzinfo=UTC), Kind.DATETIME, "02.12.2026 00:30"),
    ],
)
def test_csv_numbers_have_a_decimal_comma_and_no_thousands_separator(
    value: object, kind: Kind, text: str
) -> None:
    assert csv_text(value, kind) == text


def test_the_longest_period_is_accepted_and_one_day_more_is_not() -> None:
    check_period(DAY, date.fromordinal(DAY.toordinal() + MAX_REPORT_DAYS - 1), today=date(2027, 6, 1))
    with pytest.raises(ReportError, match=f"has {MAX_REPORT_DAYS + 1} days; a report covers at most"):
        check_period(DAY, date.fromordinal(DAY.toordinal() + MAX_REPORT_DAYS))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("1.12.2026", "2026-12-02"), "--from '1.12.2026' is not a date; write it as YYYY-MM-DD"),
        (("2026-12-01", ""), "--to is required"),
        (("2026-12-01", "2026-12-02", "docx"), "unknown format 'docx'"),
    ],
)
def test_task_arguments_are_checked(arguments: tuple[str, ...], message: str) -> None:
    date_from, date_to, *rest = arguments
    with pytest.raises(ReportError, match=message):
        request_from_arguments(1, date_from, date_to, file_format=rest[0] if rest else "xlsx")


def test_file_names_carry_the_scope_and_never_collide() -> None:
    request = ReportRequest(7, DAY, date(2026, 12, 7), account_id=3, campaign_id=42, file_format="csv")
    now = datetime(2026, 12, 7, 9, 15, 0, tzinfo=UTC)
    name = report_name(request, now)
    assert name.startswith("report-b7-a3-c42-20261201_20261207-20261207-121500-") and name.endswith(".csv")
    assert report_name(request, now) != name
