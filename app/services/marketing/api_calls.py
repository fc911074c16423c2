"""Calls and failed calls to each marketplace's API per minute, for spec 7.4.2 `api_errors_rate`.

The one HTTP transport (adapters/http.py) counts every attempt it sends — a retried call counts
once per attempt, a failure is any attempt that did not return a usable 2xx (timeouts, transport
errors, 5xx, 429/420, 4xx, malformed JSON). Counters live in Redis, one hash per (marketplace,
minute of the machine's clock) with fields `calls` and `errors`, kept two hours, so every worker
process adds to the same figures and the monitor reads a window of any length up to that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from app.core.clock import machine_now

KEEP_SECONDS = 2 * 3600


def minute_key(marketplace: str, minute: int) -> str:
    return f"marketing:api_calls:{marketplace}:{minute}"


def current_minute(now: float | None = None) -> int:
    return int((machine_now().timestamp() if now is None else now) // 60)


async def record_call(client: Any, marketplace: str, failed: bool, now: float | None = None) -> None:
    """Count one attempt (async Redis client of the transport); never raises: counting must not
    fail the call it counts."""
    key = minute_key(marketplace, current_minute(now))
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(key, "calls", 1)
        if failed:
            pipe.hincrby(key, "errors", 1)
        pipe.expire(key, KEEP_SECONDS)
        await pipe.execute()
    except Exception:
        return


def record_calls_sync(
    client: redis.Redis, marketplace: str, calls: int, errors: int, now: float | None = None
) -> None:
    """Add `calls` attempts of which `errors` failed (tools and tests that are not the transport)."""
    key = minute_key(marketplace, current_minute(now))
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(key, "calls", calls)
    pipe.hincrby(key, "errors", errors)
    pipe.expire(key, KEEP_SECONDS)
    pipe.execute()


@dataclass(frozen=True)
class CallCounts:
    calls: int
    errors: int

    @property
    def rate(self) -> float:
        """Share of failed attempts, 0..1 (0 without calls)."""
        return self.errors / self.calls if self.calls else 0.0


def window_counts(
    client: redis.Redis, marketplace: str, minutes: int, now: float | None = None
) -> CallCounts:
    """Calls and errors of the last `minutes` minutes, the current one included."""
    last = current_minute(now)
    pipe = client.pipeline(transaction=False)
    for minute in range(last - minutes + 1, last + 1):
        pipe.hmget(minute_key(marketplace, minute), "calls", "errors")
    calls = errors = 0
    for reply in pipe.execute():
        calls += int(reply[0] or 0)
        errors += int(reply[1] or 0)
    return CallCounts(calls, errors)
