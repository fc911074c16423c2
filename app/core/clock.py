"""Moscow business-day helpers (DESIGN.md §3 "Time").

Timestamps are stored as timestamptz UTC; the business day — budgets, "today", daily aggregation,
report periods — is the Europe/Moscow date. Never use date.today() or utcnow().date() for business
logic (DESIGN.md §5: the spec's budget check used the UTC date).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import httpx

from app.core.config import ConfigError, get_settings
from app.core.http import sync_client

MOSCOW = ZoneInfo("Europe/Moscow")

Day = TypeVar("Day", date, datetime)


def now_utc() -> datetime:
    """Now, in UTC — or, when CLOCK_URL is set (the sandbox demo and tests only), the time of the
    world the system talks to, so its Moscow day is the sandbox's even on a fast virtual clock."""
    url = get_settings().CLOCK_URL
    if not url:
        return machine_now()
    return followed_time(url)


def machine_now() -> datetime:
    """This machine's wall clock, in UTC, whatever CLOCK_URL says: for what runs in real time even
    beside a virtual market — heartbeats, marks with a TTL, per-minute call counters, token
    lifetimes, Retry-After dates. Every other "now" is `now_utc()`."""
    return datetime.now(UTC)


def followed_time(url: str) -> datetime:
    try:
        reply = sync_client().get(url, timeout=5.0)
        reply.raise_for_status()
        moment = datetime.fromisoformat(reply.json()["now"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"cannot read the clock at CLOCK_URL {url}: {error}; unset CLOCK_URL or start it"
        ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"the clock at CLOCK_URL {url} gave a time without a time zone")
    return moment.astimezone(UTC)


def parse_utc(text: str | bytes | None) -> datetime | None:
    """An ISO-8601 moment our own keys hold (a task's last run, beat's heartbeat) as an aware
    datetime; naive means UTC. None for no value or one that is not a moment."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.decode() if isinstance(text, bytes) else text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_moscow(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC) to convert to Moscow time")
    return moment.astimezone(MOSCOW)


def moscow_today(moment: datetime | None = None) -> date:
    """The Moscow business day of `moment` (default: now)."""
    return to_moscow(moment or now_utc()).date()


def moscow_day_start(day: date) -> datetime:
    """00:00 Moscow time of `day`, as an aware UTC datetime (the lower bound for "today" queries)."""
    return datetime.combine(day, time.min, tzinfo=MOSCOW).astimezone(UTC)


def moscow_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Moscow day in UTC."""
    return moscow_day_start(day), moscow_day_start(day + timedelta(days=1))


def previous_moscow_day(moment: datetime | None = None) -> date:
    return moscow_today(moment) - timedelta(days=1)


def previous_month_bounds(moment: datetime | None = None) -> tuple[date, date]:
    """First and last day of the Moscow month before the one containing `moment`."""
    first_of_this = moscow_today(moment).replace(day=1)
    last_of_previous = first_of_this - timedelta(days=1)
    return last_of_previous.replace(day=1), last_of_previous


def add_months(moment: Day, months: int) -> Day:
    """`moment` moved by whole calendar months (negative: back), the day clamped to the target
    month's length: 31 March − 1 month = 28 (29) February. Retention ages are in months (spec 7.3.6)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return add_months(month_start(day), 1)
