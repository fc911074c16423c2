import re
from datetime import UTC, date, datetime
from pathlib import Path

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


def test_every_now_in_app_code_goes_through_the_clock_module() -> None:
    """One clock (issue 13 item 4): `now_utc()` for the business time (the sandbox's under
    CLOCK_URL), `machine_now()` for what runs in real time; nothing reads the time around them."""
    app_dir = Path(__file__).resolve().parents[2] / "app"
    reading_now = re.compile(r"datetime\.(now|utcnow|today)\(|date\.today\(|time\.time\(\)")
    offenders = [
        f"{path.relative_to(app_dir.parent)}:{number}: {line.strip()}"
        for path in sorted(app_dir.rglob("*.py"))
        if path != app_dir / "core" / "clock.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reading_now.search(line)
    ]
    assert offenders == [], "read the time through app/core/clock.py:\n" + "\n".join(offenders)
