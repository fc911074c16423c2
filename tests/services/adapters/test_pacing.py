"""The Redis-shared token bucket and the parallel-requests semaphore (issue 4 item 3)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from app.services.marketing.adapters.limits import RateLimit
from app.services.marketing.adapters.pacing import PacingTimeout, RedisRateLimiter, RedisSemaphore

pytestmark = pytest.mark.anyio


async def test_burst_goes_at_once_then_one_per_interval(shared_redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(shared_redis, safety_margin=0.0, burst_headroom_s=0.0)
    limit = RateLimit(period_s=1.0, limit=10, burst=3)  # interval 0.1 s
    waits = [await limiter.reserve("test:a", limit) for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3], abs=0.02)


async def test_two_limiters_share_one_bucket(shared_redis: aioredis.Redis) -> None:
    # Two workers (two clients) on the same key: together they get one burst, not two.
    other = aioredis.Redis(connection_pool=shared_redis.connection_pool)
    first, second = (
        RedisRateLimiter(shared_redis, 0.0, burst_headroom_s=0.0),
        RedisRateLimiter(other, 0.0, burst_headroom_s=0.0),
    )
    limit = RateLimit(period_s=60.0, limit=3, burst=1)  # WB fullstats: 3/min, burst 1
    assert await first.reserve("test:b", limit) == 0.0
    assert await second.reserve("test:b", limit) == pytest.approx(20.0, abs=0.05)
    assert await first.reserve("test:b", limit) == pytest.approx(40.0, abs=0.05)


async def test_concurrent_callers_stay_within_the_limit(shared_redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(shared_redis, safety_margin=0.0, burst_headroom_s=0.0)
    limit = RateLimit(period_s=1.0, limit=20, burst=2)  # interval 50 ms
    sent: list[float] = []

    async def call() -> None:
        await limiter.wait_turn("test:c", limit)
        sent.append(time.monotonic())

    start = time.monotonic()
    await asyncio.gather(*(call() for _ in range(12)))
    elapsed = max(sent) - start
    # 2 at once, then 10 more at 50 ms each: 0.5 s; never faster than the bucket allows.
    assert elapsed >= 0.45
    assert elapsed < 1.0


async def test_server_retry_hint_pushes_the_bucket_back(shared_redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(shared_redis, safety_margin=0.0, burst_headroom_s=0.0)
    limit = RateLimit(period_s=1.0, limit=5, burst=5)
    await limiter.push_back("test:d", 2.0)
    assert await limiter.reserve("test:d", limit) == pytest.approx(1.2, abs=0.05)  # 2 s − 4 burst slots


async def test_a_slot_too_far_away_is_refused_not_waited(shared_redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(shared_redis, safety_margin=0.0, max_wait=5.0, burst_headroom_s=0.0)
    limit = RateLimit(period_s=3600.0, limit=1, burst=1)
    await limiter.reserve("test:e", limit)
    with pytest.raises(PacingTimeout, match=r"3600\.0 s away"):
        await limiter.reserve("test:e", limit)


async def test_semaphore_admits_four_and_frees_slots(shared_redis: aioredis.Redis) -> None:
    semaphore = RedisSemaphore(shared_redis, "test:sem", capacity=4, lease_seconds=30)
    leases = [await semaphore.acquire(timeout=1) for _ in range(4)]
    with pytest.raises(PacingTimeout):
        await semaphore.acquire(timeout=0.2)
    await semaphore.release(leases[0])
    assert await semaphore.acquire(timeout=1)


async def test_semaphore_lease_of_a_dead_holder_expires(shared_redis: aioredis.Redis) -> None:
    semaphore = RedisSemaphore(shared_redis, "test:sem2", capacity=1, lease_seconds=0.3)
    await semaphore.acquire(timeout=1)  # never released: its worker "died"
    assert await semaphore.acquire(timeout=2)


def test_part_of_the_burst_is_held_back_for_late_arrivals() -> None:
    limiter = RedisRateLimiter(client=None, burst_headroom_s=0.5)  # type: ignore[arg-type]
    # WB 5/s, burst 5: 3 slots (0.6 s) are kept back, 2 go at once.
    assert limiter.usable_burst(RateLimit(period_s=1.0, limit=5, burst=5)) == 2
    # WB full stats 3/min, burst 1: nothing to hold back.
    assert limiter.usable_burst(RateLimit(period_s=60.0, limit=3, burst=1)) == 1
    # WB cluster stats 10/min, burst 20: one slot (6 s) covers half a second.
    assert limiter.usable_burst(RateLimit(period_s=60.0, limit=10, burst=20)) == 19
