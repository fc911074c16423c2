"""Rate limits shared by every worker through Redis (DESIGN.md §3 "Adapters"; issue 4 item 3).

A token bucket per (marketplace, account, method group) with the official period, limit and burst
(`limits.py`). The bucket hands out *reservations*: each caller atomically takes the next free
slot and sleeps until it, so any number of processes together send at most `burst` at once and
then one request per interval — the limit exactly, with no retry storms. Time is Redis's own clock
(`TIME` inside the script), so hosts with skewed clocks still agree.

YM also allows at most 4 requests in flight per business (HTTP 420 beyond): a Redis semaphore
with leases that expire, so a killed worker cannot hold a slot forever.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from app.services.marketing.adapters.limits import RateLimit

# KEYS[1] bucket hash; ARGV: interval seconds, burst, max wait seconds.
# State: `at` = the time (seconds, Redis clock) when the bucket would be full again if nobody
# took anything more — the "theoretical arrival time" of GCRA, equivalent to a token bucket.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if tat < now then tat = now end
local start = tat - burst * interval
local wait = start + interval - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, tostring(wait)} end
tat = tat + interval
redis.call('HSET', KEYS[1], 'tat', tostring(tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now) * 1000) + 60000)
return {1, tostring(wait)}
"""

# KEYS[1] lease zset; ARGV: capacity, lease id, lease seconds.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000) + 1000)
  return 1
end
return 0
"""


class PacingTimeout(Exception):
    """The next free slot is further away than the caller may wait."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        super().__init__(f"the rate limit's next free slot is {wait:.1f} s away")


@dataclass
class RedisRateLimiter:
    client: aioredis.Redis
    # Pace slightly below the official rate: requests that leave together can arrive in another
    # order, and the marketplace's bucket must never see two closer than its interval.
    safety_margin: float = 0.03
    max_wait: float = 600.0
    burst_headroom_s: float = 0.5

    async def reserve(self, key: str, limit: RateLimit) -> float:
        """Take the next slot of bucket `key`; returns the seconds to sleep before sending."""
        interval = limit.interval_s * (1 + self.safety_margin)
        ok, wait = await self.client.eval(
            _RESERVE,
            1,
            f"marketing:ratelimit:{key}",
            str(interval),
            str(self.usable_burst(limit)),
            str(self.max_wait),
        )
        if not int(ok):
            raise PacingTimeout(float(wait))
        return float(wait)

    def usable_burst(self, limit: RateLimit) -> int:
        """The burst we spend at once, keeping back enough to absorb `burst_headroom_s` of late
        arrival: the marketplace's bucket starts refilling when our burst *arrives*, ours when it
        is *reserved*; a burst delayed by cold connections would otherwise make the first paced
        request early by that delay (a 429)."""
        held = min(limit.burst - 1, math.ceil(self.burst_headroom_s / limit.interval_s))
        return max(1, limit.burst - held)

    async def wait_turn(self, key: str, limit: RateLimit) -> None:
        delay = await self.reserve(key, limit)
        if delay > 0:
            await asyncio.sleep(delay)

    async def push_back(self, key: str, seconds: float) -> None:
        """The server said "retry after N s": move the whole bucket's next slot past that."""
        script = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local floor = now + tonumber(ARGV[1])
if tat < floor then redis.call('HSET', KEYS[1], 'tat', tostring(floor)) end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 60000)
return 1
"""
        await self.client.eval(script, 1, f"marketing:ratelimit:{key}", str(seconds))


@dataclass
class RedisSemaphore:
    """At most `capacity` holders of `key` at once across all processes (leases expire)."""

    client: aioredis.Redis
    key: str
    capacity: int
    lease_seconds: float
    poll_seconds: float = 0.05

    async def acquire(self, timeout: float) -> str:
        lease = secrets.token_hex(8)
        deadline = time.monotonic() + timeout
        while True:
            got = await self.client.eval(
                _ACQUIRE, 1, self.key, str(self.capacity), lease, str(self.lease_seconds)
            )
            if int(got):
                return lease
            if time.monotonic() > deadline:
                raise PacingTimeout(timeout)
            await asyncio.sleep(self.poll_seconds)

    async def release(self, lease: str) -> None:
        await self.client.zrem(self.key, lease)
