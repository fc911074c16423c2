"""Several worker processes driving one account at once stay inside the official limits, and use
them (issue 4, Done when: "Four worker processes driving one account at once: the sandbox sees no
429/420 caused by our own pacing, and throughput is within 10% of the official limit").

The sandbox runs the official profile on a real-time clock behind uvicorn (real HTTP); each worker
is a separate OS process (spawn) that builds the account's adapter like a Celery worker would and
calls `get_current_bids` in a loop. Nothing is injected, so every 429/420 would be ours. The
processes record every exchange their transport saw (retries included); the rates are measured
after the initial burst, over a window long enough that one request more or less moves them ~2 %.
The same load on cold connections, as a freshly built adapter starts, has its own test: part of
the burst is held back (pacing.py `burst_headroom_s`) so that a late-arriving burst still leaves
the marketplace's bucket room.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from app.core.config import get_settings
from app.core.marketplaces import Marketplace
from app.sandbox.server import SandboxWorld, ServerThread
from app.services.marketing.adapters import AccountRef, get_adapter
from app.services.marketing.adapters import wildberries_parse as wp
from app.services.marketing.adapters.base import Keyword
from app.services.marketing.adapters.limits import (
    YM_PARALLEL_REQUESTS,
    RateLimit,
    WbTokenType,
    find_operation,
)
from tests.services.adapters.conftest import sandbox_account
from tests.services.adapters.pacing_load import Exchange, LoadJob, LoadReport, drive

pytestmark = pytest.mark.worker

WB_WORKERS = 4
YM_WORKERS = 6  # more processes than YM's 4 parallel slots, so that some always wait for one
LOAD_SECONDS = 10.0
COLD_LOAD_SECONDS = 3.0  # the cold-start case is decided by the first few paced requests
# The first requests of a fresh bucket go out as one burst; the rate is measured after it.
WARMUP_SECONDS = 2.0
# "within 10% of the official limit"
MIN_SHARE = 0.9
# How long the YM sandbox holds each request (one of the business's 4 slots): with 4 slots busy
# all the time, the most any number of workers can get is 4 / this many requests per second.
YM_SERVICE_SECONDS = 0.5


@pytest.fixture
def profile() -> str:
    """The official limits (the conftest default is the fast profile)."""
    return "official"


@pytest.fixture
def server(sandbox_world: SandboxWorld, redis_client: Any) -> Iterator[ServerThread]:
    # redis_client: the test Redis is emptied first, so no bucket starts half spent.
    with ServerThread(sandbox_world) as thread:
        # The first call of a fresh world simulates its day of history (~0.3 s on this machine).
        # Left to the load, that stall holds the opening burst in the server's queue until paced
        # requests catch up with it: the sandbox's full bucket cannot bank the refill of the
        # stall, so it refuses one or two of them — a cold-start artefact of the sandbox, not the
        # steady state this test measures (see the pacing note in the branch report).
        httpx.get(f"{thread.url('wildberries')}/_sandbox/clock").raise_for_status()
        yield thread


def run_workers(
    count: int, job: LoadJob, seconds: float = LOAD_SECONDS, before_go: Callable[[], None] | None = None
) -> tuple[list[LoadReport], float]:
    """Start `count` processes on `job`, release them together, wait for their reports."""
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    go = ctx.Event()
    stop_at = ctx.Value("d", 0.0)
    processes = [
        ctx.Process(target=drive, args=(job, ready, go, stop_at, out), name=f"pacing-load-{i}")
        for i in range(count)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=120)  # imports on a loaded machine take a while
        if before_go is not None:
            before_go()
        started = time.monotonic()
        stop_at.value = started + seconds
        go.set()
        reports = [out.get(timeout=seconds + 120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    return reports, stop_at.value


def spend_the_burst(job: LoadJob, calls: int) -> Counter[int]:
    """Make `calls` calls of the job from this (otherwise idle) process, so that the opening burst
    is spent while nothing competes for the CPU and our buckets and the sandbox's agree on when it
    was spent; returns the statuses it met."""
    statuses: Counter[int] = Counter()

    async def count(response: httpx.Response) -> None:
        statuses[response.status_code] += 1

    async def main() -> None:
        redis_client = aioredis.Redis.from_url(job.redis_url)
        http = httpx.AsyncClient(base_url=job.base_url, timeout=30.0, event_hooks={"response": [count]})
        ref = AccountRef(job.account_id, job.marketplace, job.account_name, dict(job.settings))
        adapter = get_adapter(
            job.marketplace, ref, client=http, redis_client=redis_client, credentials=job.secret
        )
        try:
            for _ in range(calls):
                await adapter.get_current_bids(job.keywords)
        finally:
            await adapter.aclose()
            await redis_client.aclose()

    asyncio.run(main())
    return statuses


def exchanges(reports: Sequence[LoadReport]) -> list[Exchange]:
    return sorted(e for report in reports for e in report.exchanges)


def rate_in(sent: Sequence[float], start: float, end: float) -> float:
    return sum(1 for t in sent if start <= t < end) / (end - start)


def job_for(
    world: SandboxWorld, server: ServerThread, marketplace: str, keywords: list[Keyword], *, warm: bool = True
) -> LoadJob:
    ref, secret = sandbox_account(world, marketplace, 0)
    app = {"wb": "wildberries", "ym": "yandex_market"}[marketplace]
    return LoadJob(
        marketplace=marketplace,
        base_url=server.url(app),
        account_id=ref.id,
        account_name=ref.name,
        settings=dict(ref.settings),
        secret=secret,
        keywords=keywords,
        redis_url=get_settings().redis_url,
        env={"RATE_LIMIT_FACTOR": "1.0", "HTTP_BACKOFF_BASE": "0.05"},
        warm_connection=warm,
    )


def wb_cluster_keywords(world: SandboxWorld, account_id: int) -> list[Keyword]:
    """Search clusters of one active manual campaign (type 9): `get_current_bids` then costs one
    campaign-details call and one cluster get-bids call."""
    data = world.sandbox.world
    campaign = next(
        c
        for c in data.campaigns_of(account_id)
        if c.kind == "9" and c.status == "9" and c.bid_type == "manual" and c.items
    )
    nm = next(iter(campaign.items))
    texts = [
        data.clusters[c].text for c in data.products[nm].cluster_ids if data.clusters[c].placement == "search"
    ]
    return [
        Keyword(str(campaign.id), wp.cluster_id(nm, text), text, "cluster", str(nm), None)
        for text in texts[:5]
    ]


def official(method: str, path: str, key: str) -> RateLimit:
    marketplace = Marketplace.WB if path.startswith(("/adv", "/api")) else Marketplace.YM
    operation = find_operation(marketplace, method, path)
    assert operation is not None
    limit = operation.limit_for(key)
    assert limit is not None
    return limit


def test_four_wb_workers_share_the_buckets_at_the_official_rate(
    sandbox_world: SandboxWorld, server: ServerThread
) -> None:
    ref, _ = sandbox_account(sandbox_world, "wb", 0)
    keywords = wb_cluster_keywords(sandbox_world, ref.id)
    assert keywords
    job = job_for(sandbox_world, server, "wb", keywords)
    details = official("GET", "/api/advert/v2/adverts", WbTokenType.PERSONAL)
    opening: Counter[int] = Counter()
    # The burst is spent before the workers start: what happens right after a burst whose arrival
    # was delayed is the separate test below; this one measures the shared steady state.
    reports, stop_at = run_workers(
        WB_WORKERS, job, before_go=lambda: opening.update(spend_the_burst(job, details.burst))
    )
    assert set(opening) == {200}, opening

    assert all(not r.errors for r in reports), [r.errors[:3] for r in reports]
    assert all(r.calls > 0 for r in reports), "every worker got its share of the account"
    seen = exchanges(reports)
    statuses = Counter(status for _, _, status, _ in seen)
    first = seen[0][0]
    refused = [(round(s - first, 3), p) for s, _, status, p in seen if status == 429]
    assert statuses[429] == 0, f"the sandbox rate-limited our own pacing: {statuses}; (s, path): {refused}"
    for method, path in (("GET", "/api/advert/v2/adverts"), ("POST", "/adv/v0/normquery/get-bids")):
        limit = official(method, path, WbTokenType.PERSONAL)
        per_second = limit.limit / limit.period_s
        sent = [t for t, _, _, p in seen if p == path]
        rate = rate_in(sent, first + WARMUP_SECONDS, stop_at)
        assert MIN_SHARE * per_second <= rate <= per_second, (
            f"{path}: {rate:.2f} req/s over {stop_at - first - WARMUP_SECONDS:.1f} s; "
            f"official {per_second:g} req/s (burst {limit.burst})"
        )
        # Over the whole run the workers together sent no more than the burst plus the rate.
        assert sum(1 for t in sent if t < stop_at) <= limit.burst + (stop_at - first) * per_second + 1


def test_a_burst_on_cold_connections_is_not_followed_by_a_429(
    sandbox_world: SandboxWorld, server: ServerThread
) -> None:
    # As every Celery task does: a fresh adapter and HTTP client per task, connections opened by
    # the burst itself.
    ref, _ = sandbox_account(sandbox_world, "wb", 0)
    keywords = wb_cluster_keywords(sandbox_world, ref.id)
    job = job_for(sandbox_world, server, "wb", keywords, warm=False)
    reports, _ = run_workers(WB_WORKERS, job, seconds=COLD_LOAD_SECONDS)
    seen = exchanges(reports)
    statuses = Counter(status for _, _, status, _ in seen)
    refused = [(round(s - seen[0][0], 3), p) for s, _, status, p in seen if status == 429]
    assert statuses[429] == 0, f"the sandbox rate-limited our own pacing: {statuses}; (s, path): {refused}"


def test_ym_workers_never_exceed_four_parallel_requests_and_keep_them_busy(
    sandbox_world: SandboxWorld, server: ServerThread
) -> None:
    ref, _ = sandbox_account(sandbox_world, "ym", 0)
    business = str(ref.settings["business_id"])
    skus = sorted(sandbox_world.sandbox.world.ym_products_by_sku(ref.id))[:20]
    keywords = [Keyword(business, sku, sku, "sku", sku, None) for sku in skus]
    httpx.post(
        f"{server.url('yandex_market')}/_sandbox/settings", json={"ym_service_time_s": YM_SERVICE_SECONDS}
    ).raise_for_status()
    reports, stop_at = run_workers(YM_WORKERS, job_for(sandbox_world, server, "ym", keywords))

    assert all(not r.errors for r in reports), [r.errors[:3] for r in reports]
    seen = exchanges(reports)
    statuses = Counter(status for _, _, status, _ in seen)
    assert statuses[420] == 0, (
        f"the sandbox refused our own requests (4 parallel / resource limit): {statuses}"
    )
    # The resource limit (500/min) is far away: the 4 parallel slots are what binds.
    limit = official("POST", f"/v2/businesses/{business}/bids/info", "none")
    assert len(seen) < limit.limit
    ceiling = YM_PARALLEL_REQUESTS / YM_SERVICE_SECONDS
    first = seen[0][0]
    rate = rate_in([t for t, _, _, _ in seen], first + WARMUP_SECONDS, stop_at)
    window = stop_at - first - WARMUP_SECONDS
    # (4 more may leave at the very start of the window, their slots taken just before it)
    assert MIN_SHARE * ceiling <= rate <= ceiling + YM_PARALLEL_REQUESTS / window, (
        f"{rate:.2f} req/s; 4 slots held {YM_SERVICE_SECONDS} s each allow {ceiling:g} req/s"
    )
    # Seen from the clients (whose intervals contain the server's), at most 4 were ever in flight.
    events = sorted(
        [(s, 1) for s, _, _, _ in seen] + [(a, -1) for _, a, _, _ in seen], key=lambda e: (e[0], e[1])
    )
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak <= YM_PARALLEL_REQUESTS
