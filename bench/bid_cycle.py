"""One bid cycle against the sandbox: API calls, its own time and CPU against the physical floor,
and its time at official limits against the rate-limit bound.

The world (seeded; `small`, or `full` = 300 WB campaigns / 10,000 clusters, 100 Ozon campaigns,
5,000 YM SKUs) is served by a sandbox subprocess with the official limits time-scaled by F
(`--profile fast --fast-factor F`, and our `RATE_LIMIT_FACTOR=F`). The system is set up the real
way (register accounts, sync, collect stats, assign strategies). A spawned worker process then runs
an uncounted warm-up cycle (it learns minimum bids and warms the process's caches), lets 15 minutes
of the world's time pass, reads the measured cycle's own starting state, waits for the rate buckets
to refill, and runs ONE bid cycle exactly as the Celery tasks run it: `begin_cycle` → `run_account`
per account concurrently (one thread per account) → `finish_cycle`. Every HTTP request of that
cycle is counted per (API, method, path) by a hook on httpx; its peak RSS is `getrusage` of that
process. That process never reads the sandbox's clock over HTTP: the sandbox runs at speed 1 and
only the bench moves it, so the worker follows it by an offset the parent measured once.

- Minimum calls: the fewest calls the documented batch sizes allow for the measured cycle's own
  work, taken from its starting state — the keywords it steers (active, of a biddable campaign and
  placement), the same Watcher lookups (and marketplace fallbacks for the keys the Watcher had no
  data on), the same bid changes and pauses written. Every call above (or below) it is named per
  account and endpoint with its reason (429/420 answers sent again, failed replies, batches not full).
- Own time: the time during which at least one account (or begin/finish) was doing its own work —
  not waiting on an HTTP reply or on the rate limits (a bucket's turn, a parallel slot, a back-off).
- Floor: the same PostgreSQL reads and writes done set-based with psycopg (array parameters,
  `unnest`; writes rolled back) plus the same bid computations (the planner on the same readings)
  in a tight loop, in the same run on the same database. floor_ratio = own time ÷ floor.
- Official limits (computed): own time + HTTP time + the rate-limit waits its calls would need at
  factor 1 — per account, per bucket, max(0, C − burst) × interval (marketplace-apis.md §4), the
  slowest read bucket plus the slowest write bucket, the slowest account — against the floor + the
  HTTP time of the minimum calls + the same waits for the minimum calls.
- CPU: the worker's user+system CPU during the cycle, per 1,000 steered keywords.
- `--naive`: also spec 7.3.1's pattern — per campaign get stats and keywords, per keyword get
  keyword stats, competitor bids and (where the cycle changed it) update the bid, one call at a
  time, against a fresh world of the same seed; sampled to `--naive-budget` seconds and
  extrapolated by the share of the work done.

    python bench/bid_cycle.py [--size small|full] [--factor F] [--seed N] [--naive]
        (DATABASE_URL: a server to make a scratch database on, else the embedded PostgreSQL;
         REDIS_URL: a Redis database of the bench's own — it is flushed —, else an embedded Redis in a
         temporary folder)

Ends with: RESULT calls_ratio=... floor_ratio=... cpu_s_per_1k_keywords=... official_time_ratio=...
peak_rss_mb=...
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import queue
import re
import resource
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from _support import Sandbox, redis_url, sandbox_process, scratch_database
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.core.clock import followed_time, moscow_today, now_utc
from app.core.config import get_settings, reset_settings_cache, secret_value
from app.core.database import session_scope
from app.core.marketplaces import Marketplace
from app.models.marketing import (
    MarketingBidIntent,
    MarketingCampaign,
    MarketingKeyword,
    MarketplaceAccount,
)
from app.sandbox.server import APP_NAMES, free_ports
from app.services.marketing.adapters.base import BidChange, Keyword
from app.services.marketing.adapters.limits import (
    RateLimit,
    WbTokenType,
    YmTier,
    find_operation,
)
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.bid_cycle.account import biddable_keywords
from app.services.marketing.bid_cycle.inputs import load_campaigns
from app.services.marketing.sandbox_accounts import register_sandbox_accounts
from app.services.marketing.stats import run_collect_stats
from app.services.marketing.sync import run_sync

SIZES = {"small": "small", "full": "bench"}
MARKETPLACES = ("wb", "ozon", "ym")
DEFAULT_FACTOR = {"small": 60.0, "full": 60.0}
# The strategies per marketplace, caps in each marketplace's bid unit (YM: 1/100 %).
STRATEGIES: dict[str, dict[str, Any]] = {
    "wb": {"strategy_type": "target_position", "strategy_params": {"position": 2}, "max_bid": 200_000},
    "ozon": {"strategy_type": "max_traffic", "strategy_params": {"bid_cap": 4_000}, "max_bid": 6_000},
    "ym": {"strategy_type": "max_traffic", "strategy_params": {"bid_cap": 900}, "max_bid": 1_000},
}
APP_OF = {"wb": "wildberries", "ozon": "ozon", "ym": "yandex_market"}
LIMITS_OF = {"wildberries": Marketplace.WB, "yandex_market": Marketplace.YM}
LIMIT_KEY = {"wildberries": WbTokenType.PERSONAL.value, "yandex_market": YmTier.NONE.value}
# Endpoints that change something on the marketplace (the write phase of a cycle).
WRITES = {
    ("wildberries", "PATCH", "/api/advert/v1/bids"),
    ("wildberries", "POST", "/api/advert/v1/normquery/bids"),
    ("wildberries", "POST", "/adv/v0/normquery/bids"),
    ("wildberries", "POST", "/adv/v0/normquery/get-minus"),
    ("wildberries", "POST", "/adv/v0/normquery/set-minus"),
    ("wildberries", "GET", "/adv/v0/pause"),
    ("ozon", "PUT", "/api/client/campaign/{id}/products"),
    ("ozon", "POST", "/api/client/campaign/{id}/products/delete"),
    ("ozon", "POST", "/api/client/campaign/{id}/deactivate"),
    ("yandex_market", "PUT", "/v2/businesses/{id}/bids"),
}
Endpoint = tuple[str, str, str]  # (sandbox app, method, path template)
WARM_UP_ADVANCE = 900  # seconds of the world's time between the warm-up and the measured cycle


def template(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


# --- the sandbox, in a process of its own ---------------------------------------------------------


@contextmanager
def sandbox(seed: int, size: str, factor: float) -> Iterator[Sandbox]:
    ports = dict(zip(APP_NAMES, free_ports(len(APP_NAMES)), strict=True))
    command = [
        sys.executable,
        "-m",
        "app.sandbox.cli",
        f"--seed={seed}",
        "--profile=fast",
        f"--fast-factor={factor}",
        "--speed=1",
        f"--size={size}",
        f"--wb-port={ports['wildberries']}",
        f"--ozon-port={ports['ozon']}",
        f"--ym-port={ports['yandex_market']}",
        f"--watcher-port={ports['watcher']}",
        f"--claude-port={ports['claude']}",
        f"--telegram-port={ports['telegram']}",
    ]
    with sandbox_process(command, ports) as box:
        yield box


def point_at(box: Sandbox, factor: float) -> None:
    os.environ.update(box.env(factor))
    reset_settings_cache()


def flush_redis() -> None:
    """The bench's own Redis database starts empty (rate-limit buckets and locks of earlier runs)."""
    import redis

    from app.core.redis import client_url

    redis.Redis.from_url(client_url(get_settings().redis_url)).flushdb()


def refill_seconds(factor: float) -> float:
    """Time for every bucket the setup used to be full again (sandbox's and ours)."""
    from app.services.marketing.adapters.limits import ALL_LIMITS

    longest = 0.0
    for op in ALL_LIMITS:
        for _, limit in op.limits:
            scaled = limit.scaled(factor)
            if limit.period_s <= 120:  # the hourly Base-token rows are not ours
                longest = max(longest, scaled.burst * scaled.interval_s)
    return longest * 1.1 + 0.5


# --- counting every request of a process ----------------------------------------------------------


class CallCounter:
    """Counts requests per (app, method, path template) and per account thread, via httpx."""

    def __init__(self, ports: Mapping[str, int]) -> None:
        self.app_of_port = {port: app for app, port in ports.items()}
        self.calls: Counter[Endpoint] = Counter()
        self.rate_limited: Counter[Endpoint] = Counter()
        self.failed: Counter[Endpoint] = Counter()  # other non-2xx replies (each retried or an error)
        self.by_account: dict[int, Counter[Endpoint]] = defaultdict(Counter)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.clock_readings = 0  # now_utc() under CLOCK_URL: a blocking HTTP call each

    def install(self) -> None:
        original = httpx.AsyncClient.send
        counter = self

        async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            response = await original(client, request, **kwargs)
            counter.record(request, response)
            return response

        setattr(httpx.AsyncClient, "send", send)  # noqa: B010 (patching a method on purpose)
        original_sync = httpx.Client.send

        def send_sync(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            if request.url.path.startswith("/_sandbox/clock"):
                with counter.lock:
                    counter.clock_readings += 1
            return original_sync(client, request, **kwargs)

        setattr(httpx.Client, "send", send_sync)  # noqa: B010

    def record(self, request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path.startswith("/_sandbox/"):
            return  # our clock (CLOCK_URL), not an API call
        app = self.app_of_port.get(request.url.port or 0, request.url.host)
        key = (app, request.method, template(request.url.path))
        with self.lock:
            self.calls[key] += 1
            if response.status_code in (420, 429):
                self.rate_limited[key] += 1
            elif response.status_code >= 300:
                self.failed[key] += 1
            account = getattr(self.local, "account", None)
            if account is not None:
                self.by_account[account][key] += 1


def warm_up(ports: dict[str, int]) -> None:
    """One cycle first, uncounted — it learns the minimum bids, settles the first large moves and
    warms the worker's caches (SQL compilation, imports, connections) — then 15 minutes of the
    world's time: the measured cycle is a steady-state one, as every cycle of a worker after its
    first."""
    from app.services.marketing.bid_cycle.account import run_account
    from app.services.marketing.bid_cycle.coordinator import begin_cycle, finish_cycle

    start = begin_cycle("bench-warm-up")
    assert start.run_id is not None, "the bid cycle lock is held"
    run_id = start.run_id
    with ThreadPoolExecutor(max_workers=max(1, len(start.account_ids))) as pool:
        results = list(pool.map(lambda a: run_account(run_id, a, "bench-warm-up"), start.account_ids))
    finish_cycle(run_id, start.lock_token, results)
    url = f"http://127.0.0.1:{ports['wildberries']}/_sandbox/clock"
    httpx.post(url, json={"advance": WARM_UP_ADVANCE}, timeout=60)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the cycle, in a worker process ---------------------------------------------------------------


class Waits:
    """Per thread: intervals spent waiting on something outside the cycle — an HTTP reply, or the
    rate limits (a bucket's turn, a YM parallel slot, a back-off after 429/420)."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.lock = threading.Lock()
        self.http: list[tuple[float, float]] = []
        self.rate: list[tuple[float, float]] = []
        self.by_thread: dict[int, list[tuple[str, float, float]]] = defaultdict(list)

    def add(self, kind: str, began: float, ended: float) -> None:
        with self.lock:
            (self.http if kind == "http" else self.rate).append((began, ended))
            self.by_thread[threading.get_ident()].append((kind, began, ended))

    def install(self) -> None:
        from app.services.marketing.adapters.http import HttpTransport
        from app.services.marketing.adapters.pacing import RedisRateLimiter, RedisSemaphore

        waits = self

        def timed(owner: Any, name: str, kind: str) -> None:
            original = getattr(owner, name)

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    waits.add(kind, began, time.perf_counter())

            setattr(owner, name, wrapper)

        timed(httpx.AsyncClient, "send", "http")
        timed(RedisRateLimiter, "wait_turn", "rate")
        timed(RedisSemaphore, "acquire", "rate")
        backoff = HttpTransport._backoff

        def recorded_backoff(transport: Any, attempt: int, server_wait: float | None) -> float:
            delay = backoff(transport, attempt, server_wait)
            now = time.perf_counter()
            waits.add("rate", now, now + delay)
            return delay

        setattr(HttpTransport, "_backoff", recorded_backoff)  # noqa: B010


def union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for began, ended in sorted(intervals):
        if out and began <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], ended))
        else:
            out.append((began, ended))
    return out


def length(intervals: list[tuple[float, float]]) -> float:
    return sum(e - b for b, e in union(intervals))


def minus(span: tuple[float, float], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """`span` without the `holes`."""
    out, cursor = [], span[0]
    for began, ended in union(holes):
        began, ended = max(began, span[0]), min(ended, span[1])
        if ended <= cursor:
            continue
        if began > cursor:
            out.append((cursor, began))
        cursor = max(cursor, ended)
    if cursor < span[1]:
        out.append((cursor, span[1]))
    return out


class LocalClock:
    """The sandbox's clock without asking it over HTTP: it runs at speed 1 and only the bench moves
    it (by known amounts), so its time is ours plus an offset the parent measured once."""

    def __init__(self, offset_s: float) -> None:
        self.offset_s = offset_s

    def install(self) -> None:
        from datetime import UTC, datetime, timedelta

        from app.core import clock

        def followed_time(url: str) -> datetime:
            return datetime.now(UTC) + timedelta(seconds=self.offset_s)

        setattr(clock, "followed_time", followed_time)  # noqa: B010


def cycle_worker(ports: dict[str, int], clock_offset_s: float, factor: float) -> dict[str, Any]:
    """The warm-up cycle, then the measured cycle's starting state (what it will find: `load_work`),
    then — buckets refilled — ONE bid cycle the way the Celery tasks run it; returns the work, counts,
    times, summary, peak RSS."""
    from app.services.marketing.bid_cycle import planning
    from app.services.marketing.bid_cycle.account import run_account
    from app.services.marketing.bid_cycle.coordinator import begin_cycle, finish_cycle

    get_settings()
    local = LocalClock(clock_offset_s)
    local.install()
    warm_up(ports)
    local.offset_s += WARM_UP_ADVANCE
    work = load_work()
    watcher_gaps(work)
    time.sleep(refill_seconds(factor))
    counter = CallCounter(ports)
    counter.install()
    waits = Waits()
    waits.install()
    readings: list[tuple[Any, Any]] = []
    plan = planning.AccountPlanner.plan

    def recording_plan(planner: Any, reading: Any, should_stop: Any = lambda: False) -> Any:
        readings.append((planner, reading))
        return plan(planner, reading, should_stop)

    setattr(planning.AccountPlanner, "plan", recording_plan)  # noqa: B010
    idle_rss = rss_mb()
    spans: dict[int, tuple[float, float]] = {}
    threads: dict[int, int] = {}
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    start = begin_cycle("bench")
    begun = time.perf_counter()
    assert start.run_id is not None, "the bid cycle lock is held"
    run_id = start.run_id

    def one(account_id: int) -> dict[str, Any]:
        counter.local.account = account_id
        threads[account_id] = threading.get_ident()
        began = time.perf_counter()
        try:
            return run_account(run_id, account_id, "bench")
        finally:
            spans[account_id] = (began, time.perf_counter())

    with ThreadPoolExecutor(max_workers=max(1, len(start.account_ids))) as pool:
        results = list(pool.map(one, start.account_ids))
    finishing = time.perf_counter()
    summary = finish_cycle(run_id, start.lock_token, results)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    # The cycle's own time: while at least one account (or begin/finish) was doing its own work.
    busy = [(started, begun), (finishing, started + wall)]
    own_by_account, http_by_account = {}, {}
    for account_id, span in spans.items():
        waited = waits.by_thread.get(threads[account_id], [])
        mine = minus(span, [(b, e) for _, b, e in waited])
        own_by_account[account_id] = sum(e - b for b, e in mine)
        http_by_account[account_id] = length([(b, e) for kind, b, e in waited if kind == "http"])
        busy.extend(mine)
    compute = math.inf
    for _ in range(3):  # the same bid computations on the same readings, in a tight loop
        began = time.perf_counter()
        for planner, reading in readings:
            plan(planner, reading)
        compute = min(compute, time.perf_counter() - began)
    return {
        "work": [
            (
                a.account_id,
                a.marketplace,
                [(c, [k.__dict__ for k in kws]) for c, kws in a.campaigns],
                sorted(a.no_watcher_data),
            )
            for a in work.values()
        ],
        "run_id": run_id,
        "wall_s": wall,
        "own_s": length(busy),
        "own_by_account": own_by_account,
        "http_by_account": http_by_account,
        "http_s": length(waits.http),
        "rate_wait_s": length(waits.rate),
        "cpu_s": (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime),
        "compute_s": compute,
        "account_seconds": {a: e - b for a, (b, e) in spans.items()},
        "calls": list(counter.calls.items()),
        "rate_limited": list(counter.rate_limited.items()),
        "failed_replies": list(counter.failed.items()),
        "by_account": {a: list(c.items()) for a, c in counter.by_account.items()},
        "summary": summary,
        "results": results,
        "clock_readings": counter.clock_readings,
        "idle_rss_mb": idle_rss,
        "peak_rss_mb": rss_mb(),
    }


# --- the work the cycle had, and the fewest calls it allows ---------------------------------------


@dataclass
class KeywordWork:
    campaign: str
    external_id: str
    keyword: str
    kind: str
    product_id: str | None

    def lookup(self) -> tuple[str, str]:
        """What the Watcher is asked for this item (CompetitorLookup.for_keywords)."""
        if self.kind in ("cluster", "phrase"):
            return ("keyword", self.keyword)
        return ("sku", self.product_id or self.external_id)


@dataclass
class AccountWork:
    account_id: int
    marketplace: str
    campaigns: list[tuple[str, list[KeywordWork]]]
    no_watcher_data: set[tuple[str, str]] = field(default_factory=set)
    changes: dict[tuple[str, str], int] = field(default_factory=dict)
    pauses: set[tuple[str, str]] = field(default_factory=set)
    campaign_pauses: set[str] = field(default_factory=set)

    @property
    def keywords(self) -> list[KeywordWork]:
        return [k for _, kws in self.campaigns for k in kws]


def load_work() -> dict[int, AccountWork]:
    """Per account, as the measured cycle will find them (read after the warm-up): the campaigns
    and the keywords it steers — active, of a biddable campaign and placement (run_account's
    `biddable_keywords`, the ones it reads bids and competitors for)."""
    today = moscow_today(now_utc())
    out = {}
    with session_scope() as session:
        for account in session.scalars(
            select(MarketplaceAccount).where(MarketplaceAccount.is_active.is_(True))
        ):
            campaigns = []
            rows = load_campaigns(session, account.id, today)
            biddable = {k.id for k in biddable_keywords(rows, rules_for(account.marketplace))}
            for c in rows:
                steered = [
                    KeywordWork(c.external_id, k.external_id, k.keyword, k.kind, k.product_id)
                    for k in c.keywords
                    if k.id in biddable
                ]
                if steered:
                    campaigns.append((c.external_id, steered))
            out[account.id] = AccountWork(account.id, account.marketplace, campaigns)
    return out


def watcher_gaps(work: dict[int, AccountWork]) -> None:
    """Which items the Watcher has no data on (those need the marketplace's own signals)."""
    from app.services.watcher.client import WatcherClient

    settings = get_settings()

    async def ask() -> None:
        client = WatcherClient(settings.WATCHER_API_URL or "", secret_value(settings.WATCHER_API_KEY))
        try:
            for account in work.values():
                lookups = {k.lookup() for k in account.keywords}
                answers = await client.get_competitor_bids(
                    account.marketplace,
                    keywords=sorted(v for kind, v in lookups if kind == "keyword"),
                    skus=sorted(v for kind, v in lookups if kind == "sku"),
                )
                for k in account.keywords:
                    answer = answers.get(k.lookup()[1])
                    if answer is None or not answer.has_data:
                        account.no_watcher_data.add((k.campaign, k.external_id))
        finally:
            await client.aclose()

    asyncio.run(ask())


def load_outcome(work: dict[int, AccountWork], run_id: int) -> None:
    """The bid changes the run sent and the keywords/campaigns it paused."""
    with session_scope() as session:
        rows = session.execute(
            select(MarketingCampaign.account_id, MarketingCampaign.external_id, MarketingKeyword.external_id)
            .select_from(MarketingBidIntent)
            .join(MarketingCampaign, MarketingBidIntent.campaign_id == MarketingCampaign.id)
            .join(MarketingKeyword, MarketingBidIntent.keyword_id == MarketingKeyword.id)
            .where(MarketingBidIntent.cycle_run_id == run_id, MarketingBidIntent.status != "dry_run")
            .add_columns(MarketingBidIntent.new_bid)
        ).all()
        for account_id, campaign, keyword, new_bid in rows:
            work[account_id].changes[(campaign, keyword)] = new_bid
        for account in work.values():
            active = {(k.campaign, k.external_id) for k in account.keywords}
            paused = session.execute(
                select(MarketingCampaign.external_id, MarketingKeyword.external_id)
                .join(MarketingCampaign)
                .where(
                    MarketingCampaign.account_id == account.account_id, MarketingKeyword.status == "paused"
                )
            ).all()
            account.pauses = {(c, k) for c, k in paused if (c, k) in active}
            stopped = session.scalars(
                select(MarketingCampaign.external_id).where(
                    MarketingCampaign.account_id == account.account_id,
                    MarketingCampaign.paused_reason == "safety",
                )
            )
            account.campaign_pauses = set(stopped) & {c for c, _ in account.campaigns}


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def minimum_calls(account: AccountWork) -> Counter[Endpoint]:
    """The fewest calls the documented batch sizes allow for this account's work."""
    need: Counter[Endpoint] = Counter()
    kws = account.keywords
    if not kws:
        return need
    lookups = {k.lookup() for k in kws}
    need[("watcher", "POST", "/v1/bids/batch")] += ceil_div(len(lookups), 100)
    missing = [k for k in kws if (k.campaign, k.external_id) in account.no_watcher_data]
    changed = [k for k in kws if (k.campaign, k.external_id) in account.changes]
    paused = [k for k in kws if (k.campaign, k.external_id) in account.pauses]
    campaigns = {k.campaign for k in kws}
    if account.marketplace == "wb":
        wb = "wildberries"
        need[(wb, "GET", "/api/advert/v2/adverts")] += ceil_div(len(campaigns), 50)
        pairs = {(k.campaign, k.product_id) for k in kws if k.kind == "cluster"}
        need[(wb, "POST", "/adv/v0/normquery/get-bids")] += ceil_div(len(pairs), 100)
        if missing:
            need[(wb, "GET", "/api/advert/v0/bids/recommendations")] += len(
                {(k.campaign, k.product_id) for k in missing}
            )
            per_campaign: Counter[str] = Counter(
                k.campaign for k in {(k.campaign, k.product_id): k for k in missing}.values()
            )
            need[(wb, "POST", "/api/advert/v1/bids/min")] += sum(
                ceil_div(n, 100) for n in per_campaign.values()
            )
        nm_blocks = Counter(k.campaign for k in changed if k.kind == "nm")
        blocks = sum(ceil_div(n, 50) for n in nm_blocks.values())
        need[(wb, "PATCH", "/api/advert/v1/bids")] += ceil_div(blocks, 50)
        clusters = sum(1 for k in changed if k.kind == "cluster")
        need[(wb, "POST", "/api/advert/v1/normquery/bids")] += ceil_div(clusters, 100)
        pause_pairs = {(k.campaign, k.product_id) for k in paused}
        need[(wb, "POST", "/adv/v0/normquery/get-minus")] += ceil_div(len(pause_pairs), 100)
        need[(wb, "POST", "/adv/v0/normquery/set-minus")] += len(pause_pairs)
        need[(wb, "GET", "/adv/v0/pause")] += len(account.campaign_pauses)
    elif account.marketplace == "ozon":
        need[("ozon", "POST", "/api/client/token")] += 1
        need[("ozon", "GET", "/api/client/campaign/{id}/v2/products")] += len(campaigns)
        if missing:
            by_campaign = Counter(k.campaign for k in missing)
            need[("ozon", "POST", "/api/client/campaign/{id}/products/bids/competitive")] += sum(
                ceil_div(n, 200) for n in by_campaign.values()
            )
            need[("ozon", "POST", "/api/client/min/sku")] += ceil_div(
                len({k.external_id for k in missing}), 200
            )
        by_campaign = Counter(k.campaign for k in changed)
        need[("ozon", "PUT", "/api/client/campaign/{id}/products")] += sum(
            ceil_div(n, 500) for n in by_campaign.values()
        )
        need[("ozon", "POST", "/api/client/campaign/{id}/products/delete")] += len(
            {k.campaign for k in paused}
        )
        need[("ozon", "POST", "/api/client/campaign/{id}/deactivate")] += len(account.campaign_pauses)
    else:
        ym = "yandex_market"
        need[(ym, "POST", "/v2/businesses/{id}/bids/info")] += ceil_div(len(kws), 500)
        need[(ym, "POST", "/v2/businesses/{id}/bids/recommendations")] += ceil_div(len(missing), 1500)
        # A pause is a bid of 0: it can travel in the same PUT as the changes.
        need[(ym, "PUT", "/v2/businesses/{id}/bids")] += ceil_div(len(changed) + len(paused), 1500)
    return +need


def bucket(endpoint: Endpoint, factor: float) -> tuple[str, RateLimit] | None:
    app, method, path = endpoint
    if app not in LIMITS_OF:
        return None
    operation = find_operation(LIMITS_OF[app], method, path.replace("{id}", "1"))
    if operation is None:
        return None
    limit = operation.limit_for(LIMIT_KEY[app])
    return (operation.group, limit.scaled(factor)) if limit else None


def bound_seconds(calls: Mapping[Endpoint, int], factor: float) -> float:
    """Slowest read bucket + slowest write bucket: max(0, C − burst) × interval (reference §4)."""
    per_bucket: dict[tuple[bool, str], tuple[int, RateLimit]] = {}
    for endpoint, count in calls.items():
        found = bucket(endpoint, factor)
        if found is None:
            continue
        group, limit = found
        key = (endpoint in WRITES, group)
        before = per_bucket.get(key, (0, limit))[0]
        per_bucket[key] = (before + count, limit)
    phases = {False: 0.0, True: 0.0}
    for (is_write, _), (count, limit) in per_bucket.items():
        phases[is_write] = max(phases[is_write], max(0, count - limit.burst) * limit.interval_s)
    return phases[False] + phases[True]


# --- the floor: the same reads and writes set-based with psycopg, the same computations -----------

FLOOR_READS = {
    "campaigns": "SELECT * FROM marketing_campaigns WHERE account_id = %(account)s AND status = 'active' "
    "AND NOT is_removed ORDER BY id",
    "keywords": "SELECT id, campaign_id, external_id, keyword, kind, product_id, current_bid, min_bid, "
    "status, is_fixed, held_until, paused_bid, pause_mode, refused_bid, refused_reason "
    "FROM marketing_keywords "
    "WHERE campaign_id = ANY(%(campaigns)s) AND status = ANY(ARRAY['active', 'paused']) ORDER BY id",
    "latest stats": "SELECT DISTINCT ON (campaign_id, keyword_id) campaign_id, keyword_id, views, clicks, "
    "orders, spent, revenue, avg_position, collected_at FROM marketing_stats WHERE stat_date = %(today)s "
    "AND campaign_id = ANY(%(campaigns)s) ORDER BY campaign_id, keyword_id, collected_at DESC",
    "window now": "SELECT DISTINCT ON (campaign_id, keyword_id, stat_date) campaign_id, keyword_id, "
    "stat_date, views, clicks, orders, spent, revenue, collected_at FROM marketing_stats "
    "WHERE stat_date BETWEEN "
    "%(first)s AND %(today)s AND campaign_id = ANY(%(campaigns)s) AND collected_at <= %(now)s "
    "ORDER BY campaign_id, keyword_id, stat_date, collected_at DESC",
    "window start": "SELECT DISTINCT ON (campaign_id, keyword_id, stat_date) campaign_id, keyword_id, "
    "stat_date, views, clicks, orders, spent, revenue, collected_at FROM marketing_stats WHERE stat_date = "
    "%(first)s AND campaign_id = ANY(%(campaigns)s) AND collected_at <= %(start)s "
    "ORDER BY campaign_id, keyword_id, stat_date, collected_at DESC",
    "usual days": "SELECT campaign_id, avg(views), avg(clicks), avg(orders), avg(spent), avg(revenue) FROM "
    "marketing_stats_daily WHERE campaign_id = ANY(%(campaigns)s) AND keyword_id IS NULL AND stat_date >= "
    "%(since)s AND stat_date < %(today)s GROUP BY campaign_id",
    "last changes": "SELECT DISTINCT ON (keyword_id) keyword_id, old_bid, new_bid, base_bid FROM "
    "marketing_bid_history WHERE keyword_id = ANY(%(keywords)s) ORDER BY keyword_id, created_at DESC",
    "spend rates": "SELECT campaign_id, collected_at, spent FROM marketing_stats WHERE stat_date = %(today)s "
    "AND keyword_id IS NULL AND campaign_id = ANY(%(campaigns)s) ORDER BY campaign_id, collected_at",
    "decided": "SELECT keyword_id FROM marketing_bid_intents WHERE cycle_run_id = %(run)s "
    "AND keyword_id = ANY(%(keywords)s)",
    "open intents": "SELECT id, keyword_id, new_bid, created_at FROM marketing_bid_intents "
    "WHERE keyword_id = ANY(%(keywords)s) AND status = ANY(ARRAY['pending', 'unknown'])",
}
FLOOR_WRITES = (
    "INSERT INTO marketing_bid_intents (cycle_run_id, campaign_id, keyword_id, fencing_token, old_bid, "
    "new_bid, bid_unit, source, strategy_type, reason, status, attempts, created_at) "
    "SELECT %(run)s, u.c, u.k, %(run)s, u.o, u.n, u.unit, 'bid_cycle', u.s, u.r, 'pending', 1, %(now)s "
    "FROM unnest(%(c)s::bigint[], "
    "%(k)s::bigint[], %(o)s::bigint[], %(n)s::bigint[], %(unit)s::text[], %(s)s::text[], %(r)s::text[]) "
    "AS u(c, k, o, n, unit, s, r) RETURNING id",
    "UPDATE marketing_bid_intents SET status = 'applied', applied_at = %(now)s, error = NULL "
    "WHERE id = ANY(%(ids)s)",
    "INSERT INTO marketing_bid_history (campaign_id, keyword_id, intent_id, cycle_run_id, old_bid, new_bid, "
    "bid_unit, base_bid, source, strategy_type, reason, created_at) SELECT campaign_id, keyword_id, id, "
    "cycle_run_id, old_bid, new_bid, bid_unit, base_bid, source, strategy_type, reason, %(now)s "
    "FROM marketing_bid_intents WHERE id = ANY(%(ids)s)",
    "UPDATE marketing_keywords AS k SET current_bid = i.new_bid, refused_bid = NULL, refused_reason = NULL, "
    "refused_at = NULL, updated_at = now() FROM marketing_bid_intents AS i WHERE i.id = ANY(%(ids)s) "
    "AND k.id = i.keyword_id",
)


def floor_seconds(run_id: int, now: Any, window_hours: int) -> dict[str, float]:
    """Seconds of the cycle's PostgreSQL work done set-based (psycopg, arrays): every account's reads,
    and its writes for the same changes the run applied — in a transaction rolled back. Best of 3."""
    import psycopg
    from sqlalchemy.engine import make_url

    from app.core.database import database_url

    url = make_url(database_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    today = moscow_today(now)
    start = now - timedelta(hours=window_hours)
    best = {"reads": math.inf, "writes": math.inf}
    with psycopg.connect(url) as conn:
        accounts = [r[0] for r in conn.execute("SELECT id FROM marketplace_accounts WHERE is_active")]
        changes = conn.execute(
            "SELECT c.account_id, i.campaign_id, i.keyword_id, i.old_bid, i.new_bid, i.bid_unit, "
            "i.strategy_type, i.reason "
            "FROM marketing_bid_intents i JOIN marketing_campaigns c ON c.id = i.campaign_id "
            "WHERE i.cycle_run_id = %s AND i.status = 'applied'",
            (run_id,),
        ).fetchall()
        conn.rollback()
        for _ in range(3):
            reads = writes = 0.0
            for account in accounts:
                began = time.perf_counter()
                params: dict[str, Any] = {"account": account, "today": today, "now": now, "run": run_id}
                params["campaigns"] = [r[0] for r in conn.execute(FLOOR_READS["campaigns"], params)]
                params["keywords"] = [r[0] for r in conn.execute(FLOOR_READS["keywords"], params)]
                params |= {"first": moscow_today(start), "start": start, "since": today - timedelta(days=7)}
                for name, sql in FLOOR_READS.items():
                    if name not in ("campaigns", "keywords"):
                        conn.execute(sql, params).fetchall()
                conn.rollback()
                reads += time.perf_counter() - began
                mine = [c for c in changes if c[0] == account]
                if not mine:
                    continue
                began = time.perf_counter()
                names = ("c", "k", "o", "n", "unit", "s", "r")
                values: dict[str, Any] = {n: [c[1 + i] for c in mine] for i, n in enumerate(names)}
                values |= {"run": run_id, "now": now}
                values["ids"] = [r[0] for r in conn.execute(FLOOR_WRITES[0], values)]
                for sql in FLOOR_WRITES[1:]:
                    conn.execute(sql, values)
                conn.rollback()
                writes += time.perf_counter() - began
            best = {"reads": min(best["reads"], reads), "writes": min(best["writes"], writes)}
    return best


# --- the spec's naive pattern, in a worker process ------------------------------------------------


def naive_worker(ports: dict[str, int], plan: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    """Spec 7.3.1's per-keyword pattern, one call at a time; each account gets a share of the budget
    proportional to its work and stops at a campaign boundary once it is spent."""
    counter = CallCounter(ports)
    counter.install()
    done: dict[int, dict[str, Any]] = {}

    async def account_run(item: dict[str, Any], share: float) -> dict[str, Any]:
        from app.services.marketing.adapters import get_adapter
        from app.services.watcher.client import WatcherClient

        settings = get_settings()
        day = moscow_today(now_utc())
        with session_scope() as session:
            row = session.get(MarketplaceAccount, item["account_id"])
            assert row is not None
            session.expunge(row)
        adapter: Any = get_adapter(row.marketplace, row)
        watcher = WatcherClient(settings.WATCHER_API_URL or "", secret_value(settings.WATCHER_API_KEY))
        changes = {tuple(k): v for k, v in item["changes"]}
        pauses = {tuple(k) for k in item["pauses"]}
        began = time.perf_counter()
        weight_done = 0
        try:
            for campaign, _weight in item["campaigns"]:
                if time.perf_counter() - began > share:
                    break
                await adapter.get_campaign_stats([campaign], day)
                keywords: list[Keyword] = await adapter.get_keywords([campaign])
                weight_done += 1
                for kw in keywords:
                    if kw.status != "active":
                        continue
                    if time.perf_counter() - began > share:
                        break  # a one-campaign account (YM) is sampled by keywords
                    weight_done += 1
                    await naive_keyword_stats(adapter, row.marketplace, kw, day)
                    if kw.kind in ("cluster", "phrase"):
                        await watcher.get_competitor_bids(row.marketplace, keywords=[kw.keyword])
                    else:
                        await watcher.get_competitor_bids(
                            row.marketplace, skus=[kw.product_id or kw.external_id]
                        )
                    key = (kw.campaign_external_id, kw.external_id)
                    if key in pauses:
                        await adapter.pause_keyword(kw)
                    elif key in changes:
                        change = BidChange(key[0], key[1], changes[key], kw.product_id, kw.keyword)
                        await adapter.set_bids([change])
        finally:
            await watcher.aclose()
            await adapter.aclose()
        return {"seconds": time.perf_counter() - began, "weight_done": weight_done}

    total_weight = sum(w for item in plan for _, w in item["campaigns"]) or 1
    for item in plan:  # marketplaces and accounts one after another, as the spec's loop
        counter.local.account = item["account_id"]
        share = budget_s * sum(w for _, w in item["campaigns"]) / total_weight
        done[item["account_id"]] = asyncio.run(account_run(item, share))
    return {
        "accounts": done,
        "by_account": {a: list(c.items()) for a, c in counter.by_account.items()},
        "calls": list(counter.calls.items()),
    }


async def naive_keyword_stats(adapter: Any, marketplace: str, kw: Keyword, day: Any) -> None:
    """The single-item keyword-stats call each adapter has."""
    if marketplace == "wb":
        await adapter._normquery_stats([(int(kw.campaign_external_id), int(kw.product_id or 0))], day)
    elif marketplace == "ozon":
        await adapter.api.sku_stats([kw.campaign_external_id], day, day)
    else:
        await adapter.get_keyword_stats([kw.campaign_external_id], day)


# --- setup and the report -------------------------------------------------------------------------


def prepare(box: Sandbox) -> dict[str, Any]:
    with session_scope() as session:
        register_sandbox_accounts(session, box.control("accounts")["accounts"])
    synced = run_sync()
    with session_scope() as session:
        for campaign in session.scalars(select(MarketingCampaign)):
            config = STRATEGIES[campaign.marketplace]
            campaign.strategy_type = config["strategy_type"]
            campaign.strategy_params = config["strategy_params"]
            campaign.max_bid = config["max_bid"]
            campaign.dry_run = False
    box.control("clock", {"advance": 600})
    with ThreadPoolExecutor(max_workers=3) as pool:  # collect_stats runs per marketplace
        stats = dict(zip(MARKETPLACES, pool.map(run_collect_stats, MARKETPLACES), strict=True))
    return {"sync": synced, "stats": stats}


def _child(target: Any, args: tuple[Any, ...], out: Any) -> None:
    try:
        out.put(("ok", target(*args)))
    except BaseException as error:
        out.put(("error", repr(error)))
        raise


def spawn(target: Any, *args: Any) -> Any:
    """Run `target(*args)` in a fresh interpreter (a worker process of its own) and return its result."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_child, args=(target, args, out))
    process.start()
    try:
        while True:
            try:
                status, value = out.get(timeout=1)
                break
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError(f"the worker process died (exit code {process.exitcode})") from None
    finally:
        process.join(timeout=30)
    if status != "ok":
        raise RuntimeError(f"the worker process failed: {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--factor", type=float, default=None, help="time scale F of the limits")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--naive", action="store_true", help="also run spec 7.3.1's per-keyword pattern")
    parser.add_argument(
        "--naive-budget", type=float, default=None, help="seconds (default 15 small, 60 full)"
    )
    args = parser.parse_args()
    factor = args.factor or DEFAULT_FACTOR[args.size]
    naive_budget = args.naive_budget or (15.0 if args.size == "small" else 60.0)
    # A key of the bench's own for the scratch database's credentials (the workers inherit it).
    os.environ.setdefault("SECRET_KEY", Fernet.generate_key().decode())
    reset_settings_cache()
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = time.perf_counter() - t0 - sum(phases.values())

    naive: dict[str, Any] | None = None
    with redis_url() as url, scratch_database():
        os.environ["REDIS_URL"] = url  # the workers inherit it
        reset_settings_cache()
        flush_redis()
        with sandbox(args.seed, SIZES[args.size], factor) as box:
            lap("sandbox start")
            point_at(box, factor)
            setup = prepare(box)
            lap("register, sync, stats")
            sandbox_now = followed_time(box.url("wildberries") + "/_sandbox/clock")
            offset = (sandbox_now - datetime.now(UTC)).total_seconds()
            cycle = spawn(cycle_worker, box.ports, offset, factor)
            lap("cycle worker (warm-up, its starting state, bucket refill, the cycle)")
            work = {
                account_id: AccountWork(
                    account_id,
                    marketplace,
                    [(c, [KeywordWork(**k) for k in kws]) for c, kws in campaigns],
                    {(x, y) for x, y in gaps},
                )
                for account_id, marketplace, campaigns, gaps in cycle["work"]
            }
            load_outcome(work, cycle["run_id"])
            cycle_now = datetime.fromisoformat(cycle["summary"]["started_at"])
            floor = floor_seconds(cycle["run_id"], cycle_now, get_settings().STATS_WINDOW_HOURS)
            lap("floor (set-based reads and writes)")
        if args.naive:
            flush_redis()
            with sandbox(args.seed, SIZES[args.size], factor) as box:
                point_at(box, factor)
                box.control("clock", {"advance": 600})
                plan = [
                    {
                        "account_id": a.account_id,
                        "campaigns": [(c, 1 + len(kws)) for c, kws in a.campaigns],
                        "changes": [(list(k), v) for k, v in a.changes.items()],
                        "pauses": [list(k) for k in a.pauses],
                    }
                    for a in sorted(
                        work.values(), key=lambda a: (["wb", "ozon", "ym"].index(a.marketplace), a.account_id)
                    )
                ]
                naive = spawn(naive_worker, box.ports, plan, naive_budget)
                lap("naive (fresh sandbox and worker)")
    report(args, factor, naive_budget, work, cycle, floor, naive, setup, phases)


def excess_reasons(endpoint: Endpoint, extra: int, cycle: dict[str, Any], refused: int) -> str:
    """Why the cycle made `extra` calls more than the minimum on this endpoint."""
    limited = dict((tuple(k), v) for k, v in cycle["rate_limited"]).get(endpoint, 0)
    failed = dict((tuple(k), v) for k, v in cycle["failed_replies"]).get(endpoint, 0)
    parts = []
    if limited:
        parts.append(f"{limited} answered 429/420 and were sent again")
    if failed:
        parts.append(f"{failed} failed (non-2xx) and were retried or gave up")
    rest = extra - limited - failed
    if rest > 0:
        parts.append(
            f"{rest} more than the batch sizes need for these items (batches not full: split per campaign "
            "or per write batch)"
        )
    if endpoint in WRITES and refused:
        parts.append(f"the account's writes include {refused} bids the marketplace refused")
    return "; ".join(parts) or "—"


def replicate(account: AccountWork, times: int) -> AccountWork:
    """The account's own shape `times` over: every campaign again under new ids, with the same
    keywords, changes, pauses and Watcher gaps."""
    out = AccountWork(account.account_id, account.marketplace, [])
    for i in range(times):
        for campaign, keywords in account.campaigns:
            name = f"{campaign}#{i}"
            out.campaigns.append(
                (name, [KeywordWork(name, k.external_id, k.keyword, k.kind, k.product_id) for k in keywords])
            )
    for i in range(times):
        out.changes |= {(f"{c}#{i}", k): v for (c, k), v in account.changes.items()}
        out.pauses |= {(f"{c}#{i}", k) for c, k in account.pauses}
        out.no_watcher_data |= {(f"{c}#{i}", k) for c, k in account.no_watcher_data}
        out.campaign_pauses |= {f"{c}#{i}" for c in account.campaign_pauses}
    return out


def fit(work: dict[int, AccountWork], cycle: dict[str, Any]) -> None:
    """Per marketplace, from its largest measured account: its time at official limits (own work
    and HTTP as measured, rate-limit waits computed), how many such accounts one worker process
    runs within the soft limit and within 15 minutes, and the largest account of the same shape
    whose writes still start within the account task's budget (soft limit − 60 s)."""
    soft = get_settings().BID_CYCLE_SOFT_TIME_LIMIT
    budget = max(30.0, soft - 60.0)
    print(
        f"fit at official limits (one account task per worker process at a time; soft limit {soft:g} s, "
        f"writes start within {budget:g} s):"
    )
    for marketplace in MARKETPLACES:
        mine = [a for a in work.values() if a.marketplace == marketplace and a.keywords]
        if not mine:
            continue
        account = max(mine, key=lambda a: len(a.keywords))
        got: Counter[Endpoint] = Counter(
            {tuple(k): v for k, v in cycle["by_account"].get(account.account_id, [])}  # type: ignore[misc]
        )
        calls = sum(got.values()) or 1
        own = cycle["own_by_account"].get(account.account_id, 0.0)
        http = cycle.get("http_by_account", {}).get(account.account_id, 0.0)
        per_call = http / calls
        took = own + http + bound_seconds(got, 1.0)

        def seconds(
            times: int, account: AccountWork = account, own: float = own, rate: float = per_call
        ) -> float:
            need = minimum_calls(replicate(account, times))
            return own * times + rate * sum(need.values()) + bound_seconds(need, 1.0)

        low, high = 0, 1
        while seconds(high) <= budget and high < 1 << 14:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if seconds(middle) <= budget else (low, middle)
        largest = (
            f"{low * len(account.campaigns)} campaigns / {low * len(account.keywords)} keywords "
            f"({seconds(low):.0f} s)"
            if low
            else "none of this shape"
        )
        print(
            f"  {marketplace} account {account.account_id} ({len(account.campaigns)} campaigns, "
            f"{len(account.keywords)} keywords, {len(account.changes)} changes): {took:.1f} s = own "
            f"{own:.2f} + HTTP {http:.2f} ({per_call * 1000:.0f} ms a call) + rate-limit waits "
            f"{bound_seconds(got, 1.0):.1f}; per worker process {int(soft // took) if took else 0} such "
            f"accounts within {soft:g} s, {int(900 // took) if took else 0} within 15 minutes; largest "
            f"that fits: {largest}"
        )


def report(
    args: argparse.Namespace,
    factor: float,
    naive_budget: float,
    work: dict[int, AccountWork],
    cycle: dict[str, Any],
    floor: dict[str, float],
    naive: dict[str, Any] | None,
    setup: dict[str, Any],
    phases: dict[str, float],
) -> None:
    actual: Counter[Endpoint] = Counter(dict(cycle["calls"]))
    minimum: Counter[Endpoint] = Counter()
    bound = official_min = official_actual = 0.0
    per_account_rows = []
    refused = {r["account_id"]: r["bids_failed"] for r in cycle["results"]}
    for account_id, account in sorted(work.items()):
        need = minimum_calls(account)
        minimum.update(need)
        got: Counter[Endpoint] = Counter(dict(cycle["by_account"].get(account_id, [])))
        account_bound = bound_seconds(need, factor)
        bound = max(bound, account_bound)
        official_min = max(official_min, bound_seconds(need, 1.0))
        official_actual = max(official_actual, bound_seconds(got, 1.0))
        per_account_rows.append(
            (
                account_id,
                account.marketplace,
                len(account.campaigns),
                len(account.keywords),
                len(account.changes),
                sum(got.values()),
                sum(need.values()),
                cycle["account_seconds"].get(account_id, 0.0),
                cycle["own_by_account"].get(account_id, 0.0),
                account_bound,
            )
        )
    s = cycle["summary"]
    keywords = sum(len(a.keywords) for a in work.values())
    print(
        f"bid cycle bench — size {args.size} (world '{SIZES[args.size]}', seed {args.seed}), "
        f"official limits × {factor:g} (sandbox fast profile and RATE_LIMIT_FACTOR)"
    )
    print(
        f"setup: sync {setup['sync']['accounts']} accounts, stats "
        + ", ".join(f"{mp} {v['stats_saved']} rows" for mp, v in setup["stats"].items())
        + "; bench phases: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
    )
    print(
        f"cycle: status {s['status']}, {s['campaigns']} campaigns, {s['keywords']} keywords "
        f"({keywords} biddable), {s['bids_updated']} bids updated, {s['bids_failed']} failed, "
        f"{s['keywords_paused']} keywords paused, {s['campaigns_paused']} campaigns paused, "
        f"{s['errors']} errors, {s.get('not_written', 0)} not written for the time budget"
    )
    for r in cycle["results"]:
        if r["bids_failed"] or r["errors"]:
            print(
                f"  account {r['account_id']} ({r['marketplace']}): {r['bids_failed']} failed, e.g. "
                + " | ".join(m[:160] for m in r["messages"][:3])
            )
    print()
    print(
        f"{'account':>7} {'mp':<5} {'camp':>5} {'kw':>6} {'changes':>7} {'calls':>6} {'min':>5} "
        f"{'time s':>7} {'own s':>6} {'bound s':>7}"
    )
    for row in per_account_rows:
        print(
            f"{row[0]:>7} {row[1]:<5} {row[2]:>5} {row[3]:>6} {row[4]:>7} {row[5]:>6} {row[6]:>5} "
            f"{row[7]:>7.2f} {row[8]:>6.2f} {row[9]:>7.2f}"
        )
    print()
    naive_calls: Counter[Endpoint] = Counter()
    naive_time = 0.0
    if naive is not None:
        for item_id, done in naive["accounts"].items():
            account = work[int(item_id)]
            total_weight = sum(1 + len(kws) for _, kws in account.campaigns)
            scale = total_weight / done["weight_done"] if done["weight_done"] else math.inf
            for endpoint, count in naive["by_account"].get(item_id, []):
                naive_calls[tuple(endpoint)] += round(count * scale)
            naive_time += done["seconds"] * scale
    print(f"{'endpoint':<64} {'cycle':>6} {'min':>6} {'naive':>8}  429/420")
    limited = Counter(dict(cycle["rate_limited"]))
    for endpoint in sorted(set(actual) | set(minimum) | set(naive_calls)):
        name = " ".join(endpoint)
        print(
            f"{name:<64} {actual[endpoint]:>6} {minimum[endpoint]:>6} "
            f"{naive_calls[endpoint] if naive else '-':>8}  {limited[endpoint] or ''}"
        )
    total, least = sum(actual.values()), sum(minimum.values())
    print(f"{'total':<64} {total:>6} {least:>6}")
    print("calls above (or below) the minimum, per account and endpoint:")
    named = 0
    for account_id in sorted(work):
        need = minimum_calls(work[account_id])
        got = Counter(dict((tuple(k), v) for k, v in cycle["by_account"].get(account_id, [])))
        for endpoint in sorted(set(got) | set(need)):
            diff = got[endpoint] - need[endpoint]
            if diff > 0:
                why = excess_reasons(endpoint, diff, cycle, refused.get(account_id, 0))
                print(f"  account {account_id} {' '.join(endpoint)}: +{diff} — {why}")
                named += 1
            elif diff < 0:
                print(f"  account {account_id} {' '.join(endpoint)}: {diff} — fewer than the minimum counted")
                named += 1
    if not named:
        print("  none")
    print(
        f"clock: the measured process read the sandbox clock over HTTP {cycle['clock_readings']} times "
        "(it follows the sandbox's clock by an offset the parent measured before spawning it)"
    )
    print()
    calls_ratio = total / least if least else math.inf
    floor_s = floor["reads"] + floor["writes"] + cycle["compute_s"]
    floor_ratio = cycle["own_s"] / floor_s if floor_s else math.inf
    http_min = cycle["http_s"] * least / total if total else 0.0
    official_time = cycle["own_s"] + cycle["http_s"] + official_actual
    official_bound = floor_s + http_min + official_min
    official_ratio = official_time / official_bound if official_bound else math.inf
    cpu_per_1k = cycle["cpu_s"] / keywords * 1000 if keywords else math.inf
    print(f"API calls per cycle: {total} against a minimum of {least} (×{calls_ratio:.2f})")
    print(
        f"cycle wall time {cycle['wall_s']:.2f} s at limits ×{factor:g}: its own work "
        f"{cycle['own_s']:.2f} s, "
        f"waiting on HTTP replies {cycle['http_s']:.2f} s, on the rate limits {cycle['rate_wait_s']:.2f} s "
        f"(bound at ×{factor:g}: {bound:.2f} s)"
    )
    print(
        f"floor: the same reads {floor['reads']:.3f} s and writes {floor['writes']:.3f} s set-based with "
        f"psycopg + the same bid computations {cycle['compute_s']:.3f} s = {floor_s:.3f} s; "
        f"own work ÷ floor ×{floor_ratio:.2f}"
    )
    print(
        f"at official limits (computed): {official_time:.1f} s = own {cycle['own_s']:.2f} + HTTP "
        f"{cycle['http_s']:.2f} + rate-limit waits of its calls {official_actual:.1f}; lower bound "
        f"{official_bound:.1f} s = floor {floor_s:.2f} + HTTP of the minimum calls {http_min:.2f} + "
        f"rate-limit waits of the minimum calls {official_min:.1f} (×{official_ratio:.2f})"
    )
    print(
        f"CPU: {cycle['cpu_s']:.2f} s for {keywords} biddable keywords = {cpu_per_1k:.2f} s per 1,000 "
        "keywords"
    )
    fit(work, cycle)
    if naive is not None:
        print(
            f"naive (spec 7.3.1): {sum(naive_calls.values())} calls, {naive_time:.1f} s "
            f"(budget {naive_budget:g} s, extrapolated)"
        )
    print(
        f"worker peak RSS: {cycle['peak_rss_mb']:.0f} MB (of which {cycle['idle_rss_mb']:.0f} MB before the "
        "cycle: interpreter and imports)"
    )
    print(
        f"RESULT calls_ratio={calls_ratio:.2f} floor_ratio={floor_ratio:.2f} "
        f"cpu_s_per_1k_keywords={cpu_per_1k:.2f} official_time_ratio={official_ratio:.2f} "
        f"peak_rss_mb={cycle['peak_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
