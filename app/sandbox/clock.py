"""The sandbox's virtual clock: real time times a speed factor, plus whatever tests advance.

Every part of the sandbox (auction, budgets, token expiry, rate buckets, report generation) reads
this clock, so a test can move a day forward in microseconds and the same calls at the same virtual
times give the same answers (DESIGN.md §3 "The sandbox").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

# Europe/Moscow has been a fixed UTC+3 without DST since 2014; a fixed offset keeps the sandbox free
# of tzdata lookups in the hot path (DESIGN.md §3 "Time": the business day is the Moscow date).
MOSCOW = timezone(timedelta(hours=3), "MSK")

# 2026-11-30 09:00 MSK, a Monday: the default start of a fresh world (fixed so seeds reproduce).
DEFAULT_START = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


class VirtualClock:
    """now = start + advanced + (real elapsed × speed). Speed 0 freezes time between advances."""

    def __init__(
        self,
        start: datetime = DEFAULT_START,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock start must be timezone-aware")
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._base = start.astimezone(UTC)
        self._real_anchor = monotonic()
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        elapsed = (self._monotonic() - self._real_anchor) * self._speed
        return self._base + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._base = self._now_locked() + timedelta(seconds=seconds)
            self._real_anchor = self._monotonic()
            return self._base

    def set_time(self, moment: datetime) -> datetime:
        """Jump to a later moment (never back: counters and logs assume monotonic time)."""
        if moment.tzinfo is None:
            raise ValueError("the moment must be timezone-aware")
        with self._lock:
            current = self._now_locked()
            if moment < current:
                raise ValueError(f"cannot move the clock back from {current.isoformat()}")
            self._base = moment.astimezone(UTC)
            self._real_anchor = self._monotonic()
            return self._base

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            self._base = self._now_locked()
            self._real_anchor = self._monotonic()
            self._speed = speed


def moscow_date(moment: datetime) -> date:
    """The business day of a moment (DESIGN.md §3 "Time")."""
    return moment.astimezone(MOSCOW).date()


def next_moscow_midnight(moment: datetime) -> datetime:
    local = moment.astimezone(MOSCOW)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), MOSCOW)
    return midnight.astimezone(UTC)


def moscow_day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), MOSCOW).astimezone(UTC)
