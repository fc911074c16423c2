from datetime import UTC, date, datetime

import pytest

from app.core.clock import moscow_day_bounds, moscow_today, previous_month_bounds, to_moscow


def test_moscow_day_starts_at_21_utc_of_the_previous_day() -> None:
    assert moscow_today(datetime(2026, 11, 28, 20, 59, tzinfo=UTC)) == date(2026, 11, 28)
    assert moscow_today(datetime(2026, 11, 28, 21, 0, tzinfo=UTC)) == date(2026, 11, 29)


def test_day_bounds_are_utc() -> None:
    start, end = moscow_day_bounds(date(2026, 11, 29))
    assert start == datetime(2026, 11, 28, 21, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 29, 21, 0, tzinfo=UTC)


def test_previous_month_from_moscow_first_of_month() -> None:
    # 1 December 00:30 Moscow is still 30 November in UTC: the month before is November, not October.
    assert previous_month_bounds(datetime(2026, 11, 30, 21, 30, tzinfo=UTC)) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        to_moscow(datetime(2026, 1, 1))
