"""The sandbox's rate limiters, on virtual time, with the numbers of
`app/services/marketing/adapters/limits.py` (never retyped here).

- WB: a token bucket per (account, token type, method group) — capacity `burst`, one request back
  every `interval` (api-information.json "Rate Limits"), answering the `X-Ratelimit-*` values.
- YM: a resource window per (business, resource) — `amount` requests per period — answering the
  `X-RateLimit-Resource-*` values, and the 4-parallel-requests gate.
- Ozon: the daily request quota per account and Moscow day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime

from app.services.marketing.adapters.limits import OZON_QUOTAS, OzonQuotas, RateLimit


@dataclass(frozen=True, slots=True)
class Profile:
    """`official` = the specs' numbers; `fast` = every rate multiplied by `factor`."""

    name: str
    factor: float = 1.0

    @classmethod
    def named(cls, name: str, factor: float | None = None) -> Profile:
        if name == "official":
            return cls("official", 1.0)
        if name == "fast":
            return cls("fast", factor if factor is not None else 60.0)
        raise ValueError(f"unknown profile {name!r}; use 'official' or 'fast'")

    def apply(self, limit: RateLimit) -> RateLimit:
        return limit if self.factor == 1.0 else limit.scaled(self.factor)

    def ozon_quotas(self) -> OzonQuotas:
        return OZON_QUOTAS if self.factor == 1.0 else OZON_QUOTAS.scaled(self.factor)


@dataclass(frozen=True, slots=True)
class BucketDecision:
    allowed: bool
    remaining: int  # whole requests left in the burst after this one
    retry_after_s: float  # until the next request is allowed (0 when allowed)
    reset_after_s: float  # until the burst is full again
    limit: RateLimit


class TokenBucket:
    """Classic token bucket on an externally supplied clock (seconds as floats)."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(
                float(self.limit.burst), self.tokens + (now - self.updated) / self.limit.interval_s
            )
            self.updated = now

    def take(self, now: float, cost: int = 1) -> BucketDecision:
        self._refill(now)
        interval = self.limit.interval_s
        if self.tokens + 1e-9 >= cost:
            self.tokens -= cost
            allowed = True
            retry = 0.0
        else:
            allowed = False
            retry = (cost - self.tokens) * interval
        reset = (self.limit.burst - self.tokens) * interval
        return BucketDecision(allowed, max(0, int(self.tokens + 1e-9)), retry, reset, self.limit)

    def charge(self, now: float, cost: int) -> None:
        """Take `cost` more requests after the fact; the bucket may go below zero, which delays the
        next call (WB: "a 4XX answer costs 10 requests" in some categories)."""
        self._refill(now)
        self.tokens -= cost


class BucketRegistry:
    """All WB buckets of one sandbox, created lazily per key."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[object, ...], TokenBucket] = {}

    def take(self, key: tuple[object, ...], limit: RateLimit, now: float, cost: int = 1) -> BucketDecision:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[key] = TokenBucket(limit, now)
        return bucket.take(now, cost)

    def charge(self, key: tuple[object, ...], now: float, cost: int) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None and cost > 0:
            bucket.charge(now, cost)

    def clear(self) -> None:
        self._buckets.clear()


@dataclass(frozen=True, slots=True)
class WindowDecision:
    allowed: bool
    limit: int
    remaining: int
    until: datetime  # end of the current window (YM `X-RateLimit-Resource-Until`)


class ResourceWindows:
    """YM resource limits: fixed windows of `period_s` aligned to the epoch."""

    def __init__(self) -> None:
        self._used: dict[tuple[object, ...], tuple[int, int]] = {}

    def take(self, key: tuple[object, ...], limit: RateLimit, now: datetime) -> WindowDecision:
        period = limit.period_s
        window = math.floor(now.timestamp() / period)
        until = datetime.fromtimestamp((window + 1) * period, now.tzinfo)
        start_window, used = self._used.get(key, (window, 0))
        if start_window != window:
            used = 0
        if used >= limit.limit:
            self._used[key] = (window, used)
            return WindowDecision(False, limit.limit, 0, until)
        used += 1
        self._used[key] = (window, used)
        return WindowDecision(True, limit.limit, limit.limit - used, until)

    def clear(self) -> None:
        self._used.clear()


class ParallelGate:
    """Counts requests in flight per key; YM allows 4 at once per campaignId / businessId."""

    def __init__(self) -> None:
        self._in_flight: dict[object, int] = {}

    def enter(self, key: object, limit: int) -> bool:
        current = self._in_flight.get(key, 0)
        if current >= limit:
            return False
        self._in_flight[key] = current + 1
        return True

    def leave(self, key: object) -> None:
        current = self._in_flight.get(key, 0)
        if current <= 1:
            self._in_flight.pop(key, None)
        else:
            self._in_flight[key] = current - 1


class DailyQuota:
    """Ozon's "100 000 requests per day" per account, counted per Moscow day."""

    def __init__(self) -> None:
        self._used: dict[tuple[object, date], int] = {}

    def take(self, key: object, day: date, limit: int) -> bool:
        used = self._used.get((key, day), 0)
        if used >= limit:
            return False
        self._used[(key, day)] = used + 1
        return True

    def used(self, key: object, day: date) -> int:
        return self._used.get((key, day), 0)


def seconds_header(value: float) -> str:
    """WB headers carry whole seconds; round up so that waiting that long always suffices."""
    return str(max(0, math.ceil(value - 1e-9)))


def until_header(moment: datetime) -> str:
    """RFC 822 date for `X-RateLimit-Resource-Until` (YM limits page)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


__all__ = [
    "BucketDecision",
    "BucketRegistry",
    "DailyQuota",
    "ParallelGate",
    "Profile",
    "ResourceWindows",
    "TokenBucket",
    "WindowDecision",
    "seconds_header",
    "until_header",
]
