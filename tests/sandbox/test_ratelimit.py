"""Rate limits: bursting past a limit gives WB 429 / YM 420 with the documented headers, and
waiting the advertised time succeeds (virtual clock under `official`, short real waits under `fast`)."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.ratelimit import Profile, TokenBucket
from app.sandbox.server import SandboxWorld, create_sandbox
from app.services.marketing.adapters.limits import RateLimit
from tests.sandbox import contract
from tests.sandbox.conftest import accounts, advance, wb_headers, ym_headers

pytestmark = pytest.mark.anyio


async def test_wb_burst_then_429_then_retry_after_the_advertised_wait(
    world: SandboxWorld, wb: httpx.AsyncClient
) -> None:
    h = wb_headers(world)
    # GET /adv/v1/balance: 1 request per second, burst 5 (x-wb-rate-limits).
    remaining = []
    for _ in range(5):
        reply = await wb.get("/adv/v1/balance", headers=h)
        assert reply.status_code == 200
        remaining.append(int(reply.headers["X-Ratelimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    limited = await wb.get("/adv/v1/balance", headers=h)
    assert limited.status_code == 429
    contract.validate("wildberries", limited)
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert limited.json()["title"] == "too many requests" and limited.json()["status"] == 429
    assert "X-Ratelimit-Remaining" not in limited.headers
    assert limited.headers["X-Ratelimit-Limit"] == "5"
    assert limited.headers["X-Ratelimit-Retry"] == "1"
    assert limited.headers["X-Ratelimit-Reset"] == "5"
    await advance(wb, int(limited.headers["X-Ratelimit-Retry"]))
    assert (await wb.get("/adv/v1/balance", headers=h)).status_code == 200


async def test_wb_fullstats_allows_one_call_per_20_seconds(
    world: SandboxWorld, wb: httpx.AsyncClient
) -> None:
    h = wb_headers(world)
    ids = ",".join(map(str, accounts(world, Marketplace.WB)[0]["campaign_ids"]))
    params = {"ids": ids, "beginDate": "2026-11-29", "endDate": "2026-11-30"}
    assert (await wb.get("/adv/v3/fullstats", params=params, headers=h)).status_code == 200
    limited = await wb.get("/adv/v3/fullstats", params=params, headers=h)
    assert limited.status_code == 429 and limited.headers["X-Ratelimit-Retry"] == "20"
    await advance(wb, 19)
    assert (await wb.get("/adv/v3/fullstats", params=params, headers=h)).status_code == 429
    await advance(wb, 1)
    assert (await wb.get("/adv/v3/fullstats", params=params, headers=h)).status_code == 200


async def test_wb_buckets_are_per_account_and_token_type(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    for _ in range(5):
        await wb.get("/adv/v1/balance", headers=wb_headers(world))
    assert (await wb.get("/adv/v1/balance", headers=wb_headers(world))).status_code == 429
    assert (await wb.get("/adv/v1/balance", headers=wb_headers(world, "service"))).status_code == 200
    assert (await wb.get("/adv/v1/balance", headers=wb_headers(world, index=1))).status_code == 200
    # Base tokens: 2 per hour with burst 1 — the second call waits most of an hour.
    base = wb_headers(world, "base")
    assert (await wb.get("/adv/v1/balance", headers=base)).status_code == 200
    limited = await wb.get("/adv/v1/balance", headers=base)
    assert limited.status_code == 429 and limited.headers["X-Ratelimit-Retry"] == "1800"


async def test_fast_profile_multiplies_rates_and_the_announced_wait_is_enough() -> None:
    # Full stats: 3 per minute × 20 = one per second, burst 1. The world's clock stands still
    # (speed 0) and moves only when told: however slow the machine, the second call is inside the
    # interval and the third comes exactly the announced wait later.
    world = create_sandbox(seed=7, speed=0, profile="fast", fast_factor=20)
    async with world.client("wildberries") as wb:
        h = wb_headers(world)
        ids = ",".join(map(str, accounts(world, Marketplace.WB)[0]["campaign_ids"]))
        params = {"ids": ids, "beginDate": "2026-11-29", "endDate": "2026-11-30"}
        assert (await wb.get("/adv/v3/fullstats", params=params, headers=h)).status_code == 200
        limited = await wb.get("/adv/v3/fullstats", params=params, headers=h)
        assert limited.status_code == 429 and limited.headers["X-Ratelimit-Retry"] == "1"
        world.sandbox.clock.advance(0.9)
        assert (await wb.get("/adv/v3/fullstats", params=params, headers=h)).status_code == 429
        world.sandbox.clock.advance(float(limited.headers["X-Ratelimit-Retry"]))
        assert (await wb.get("/adv/v3/fullstats", params=params, headers=h)).status_code == 200


async def test_ym_resource_limit_gives_420_until_the_window_ends() -> None:
    world = create_sandbox(seed=7, speed=0, profile=Profile("tiny", 0.01))  # 500/min → 5/min
    business = accounts(world, Marketplace.YM)[0]["credentials"]["business_id"]
    path = f"/v2/businesses/{business}/bids/info"
    async with world.client("yandex_market") as ym:
        h = ym_headers(world)
        remaining = [
            int((await ym.post(path, json={}, headers=h)).headers["X-RateLimit-Resource-Remaining"])
            for _ in range(5)
        ]
        assert remaining == [4, 3, 2, 1, 0]
        limited = await ym.post(path, json={}, headers=h)
        assert limited.status_code == 420
        contract.validate("yandex_market", limited, path_pattern="/v2/businesses/{businessId}/bids/info")
        assert limited.json()["status"] == "ERROR" and limited.json()["errors"][0]["code"] == "LIMIT_EXCEEDED"
        assert limited.headers["X-RateLimit-Resource-Limit"] == "5"
        until = parsedate_to_datetime(limited.headers["X-RateLimit-Resource-Until"])
        now = datetime.fromisoformat((await ym.get("/_sandbox/clock")).json()["now"])
        await advance(ym, (until - now).total_seconds())
        # Client errors consume the limit too (limits page): a bad request still counts.
        assert (await ym.post(path, json={"skus": []}, headers=h)).status_code == 400
        assert (await ym.post(path, json={}, headers=h)).headers["X-RateLimit-Resource-Remaining"] == "3"


def test_token_bucket_refills_at_the_interval() -> None:
    bucket = TokenBucket(RateLimit(60.0, 3, 1), now=0.0)
    assert bucket.take(0.0).allowed
    denied = bucket.take(5.0)
    assert not denied.allowed and denied.retry_after_s == pytest.approx(15.0)
    assert bucket.take(20.0).allowed


async def test_optional_client_error_cost(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    h = wb_headers(world)
    assert (await wb.post("/_sandbox/settings", json={"wb_client_error_cost": 0})).status_code == 400
    settings = (await wb.post("/_sandbox/settings", json={"wb_client_error_cost": 10})).json()
    assert settings == {"wb_client_error_cost": 10, "ym_service_time_s": 0.01, "claude_answer": "normal"}
    # GET /adv/v1/budget: 4 per second, burst 4. One bad call costs 10 requests: 4 - 10 leaves the
    # bucket 6 in debt, so the next call waits 7 intervals of 250 ms (1.75 s, announced as 2).
    bad = await wb.get("/adv/v1/budget", params={"id": "1"}, headers=h)
    assert bad.status_code == 400
    limited = await wb.get("/adv/v1/budget", params={"id": "1"}, headers=h)
    assert limited.status_code == 429 and limited.headers["X-Ratelimit-Retry"] == "2"
    await advance(wb, 2)
    assert (await wb.get("/adv/v1/budget", params={"id": "1"}, headers=h)).status_code == 400
