"""One bid cycle against the sandbox: API calls and wall time against what the limits allow.

The world (seeded; `small`, or `full` = 300 WB campaigns / 10,000 clusters, 100 Ozon campaigns,
5,000 YM SKUs) is served by a sandbox subprocess with the official limits time-scaled by F
(`--profile fast --fast-factor F`, and our `RATE_LIMIT_FACTOR=F`). The system is set up the real
way (register accounts, sync, collect stats, assign strategies), then ONE bid cycle runs in a
spawned worker process exactly as the Celery tasks run it: `begin_cycle` → `run_account` per
account concurrently (one thread per account) → `finish_cycle`. Every HTTP request is counted per
(API, method, path) by a hook on httpx in that worker; its peak RSS is `getrusage` of that process.

- Minimum calls: the fewest calls the documented batch sizes allow for the same work — the same
  active keywords read, the same Watcher lookups (and marketplace fallbacks for the keys the
  Watcher had no data on), the same bid changes and pauses written.
- Rate-limit lower bound: per account, per bucket, time for C calls ≈ max(0, C − burst) × interval
  (marketplace-apis.md §4) with the scaled limits; reads must precede writes, so an account's bound
  is the slowest read bucket plus the slowest write bucket; accounts run concurrently, so the
  cycle's bound is the slowest account's. Ozon documents no per-second limits (bound 0 there).
- Naive: spec 7.3.1's pattern — per campaign get stats and keywords, per keyword get keyword stats,
  competitor bids and (where the cycle changed it) update the bid, one call at a time, through the
  same adapters' single-item calls — against a fresh world of the same seed. If that would take
  longer than `--naive-budget` seconds it runs on the first campaigns of every account and the
  calls and time are extrapolated by the share of the work done (printed).

    python bench/bid_cycle.py [--size small|full] [--factor F] [--seed N]
        (DATABASE_URL: a server to make a scratch database on, else the embedded PostgreSQL;
         REDIS_URL: a Redis database of the bench's own, default redis://127.0.0.1:6379/10)

Ends with: RESULT calls_ratio=... time_ratio=... naive_time_ratio=... peak_rss_mb=...
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
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from _support import scratch_database
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.core.clock import moscow_today, now_utc
from app.core.config import get_settings, reset_settings_cache
from app.core.database import session_scope
from app.core.marketplaces import Marketplace
from app.models.marketing import (
    MarketingBidIntent,
    MarketingCampaign,
    MarketingKeyword,
    MarketplaceAccount,
)
from app.sandbox.server import APP_NAMES, free_port
from app.services.marketing.adapters.base import BidChange, Keyword
from app.services.marketing.adapters.limits import (
    RateLimit,
    WbTokenType,
    YmTier,
    find_operation,
)
from app.services.marketing.bid_cycle.inputs import load_campaigns
from app.services.marketing.sandbox_accounts import register_sandbox_accounts
from app.services.marketing.stats import run_collect_stats
from app.services.marketing.sync import run_sync

SIZES = {"small": "small", "full": "bench"}
MARKETPLACES = ("wb", "ozon", "ym")
DEFAULT_FACTOR = {"small": 60.0, "full": 60.0}
DEFAULT_REDIS = "redis://127.0.0.1:6379/10"
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


def template(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


# --- the sandbox, in a process of its own ---------------------------------------------------------


@dataclass
class Sandbox:
    ports: dict[str, int]
    process: subprocess.Popen[bytes]

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.ports[app]}"

    def control(self, path: str, body: Any = None) -> Any:
        url = self.url("wildberries") + "/_sandbox/" + path
        reply = httpx.post(url, json=body, timeout=120) if body is not None else httpx.get(url, timeout=120)
        reply.raise_for_status()
        return reply.json()

    def env(self, factor: float) -> dict[str, str]:
        """The settings that point the system at this sandbox (tests/integration/conftest.py)."""
        return {
            "WB_API_URL": self.url("wildberries"),
            "OZON_API_URL": self.url("ozon"),
            "YM_API_URL": self.url("yandex_market"),
            "WATCHER_API_URL": self.url("watcher"),
            "WATCHER_API_KEY": self.control("accounts")["watcher"]["api_key"],
            "CLOCK_URL": self.url("wildberries") + "/_sandbox/clock",
            "RATE_LIMIT_FACTOR": str(factor),
            "HTTP_BACKOFF_BASE": "0.05",
        }


@contextmanager
def sandbox(seed: int, size: str, factor: float) -> Iterator[Sandbox]:
    ports = {name: free_port() for name in APP_NAMES}
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
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    box = Sandbox(ports, process)
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {process.returncode}")
            try:
                if all(
                    httpx.get(box.url(app) + "/_sandbox/clock", timeout=2).is_success for app in APP_NAMES
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start within 300 s")
            time.sleep(0.2)
        yield box
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def point_at(box: Sandbox, factor: float) -> None:
    os.environ.update(box.env(factor))
    reset_settings_cache()


def flush_redis() -> None:
    """The bench's own Redis database starts empty (rate-limit buckets and locks of earlier runs)."""
    import redis

    redis.Redis.from_url(get_settings().redis_url).flushdb()


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
            account = getattr(self.local, "account", None)
            if account is not None:
                self.by_account[account][key] += 1


def warm_up(ports: dict[str, int]) -> None:
    """One cycle first, uncounted — it learns the minimum bids and settles the first large moves —
    then 15 minutes of the world's time: the measured cycle is a steady-state one, as every cycle
    after the first of a day."""
    from app.services.marketing.bid_cycle.account import run_account
    from app.services.marketing.bid_cycle.coordinator import begin_cycle, finish_cycle

    start = begin_cycle("bench-warm-up")
    assert start.run_id is not None, "the bid cycle lock is held"
    run_id = start.run_id
    with ThreadPoolExecutor(max_workers=max(1, len(start.account_ids))) as pool:
        results = list(pool.map(lambda a: run_account(run_id, a, "bench-warm-up"), start.account_ids))
    finish_cycle(run_id, start.lock_token, results)
    httpx.post(f"http://127.0.0.1:{ports['wildberries']}/_sandbox/clock", json={"advance": 900}, timeout=60)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the cycle, in a worker process ---------------------------------------------------------------


def cycle_worker(ports: dict[str, int]) -> dict[str, Any]:
    """Run one bid cycle the way the Celery tasks do; returns counts, times, summary, peak RSS."""
    from app.services.marketing.bid_cycle.account import run_account
    from app.services.marketing.bid_cycle.coordinator import begin_cycle, finish_cycle

    get_settings()
    warm_up(ports)
    counter = CallCounter(ports)
    counter.install()
    idle_rss = rss_mb()
    account_seconds: dict[int, float] = {}
    started = time.perf_counter()
    start = begin_cycle("bench")
    assert start.run_id is not None, "the bid cycle lock is held"
    run_id = start.run_id

    def one(account_id: int) -> dict[str, Any]:
        counter.local.account = account_id
        began = time.perf_counter()
        try:
            return run_account(run_id, account_id, "bench")
        finally:
            account_seconds[account_id] = time.perf_counter() - began

    with ThreadPoolExecutor(max_workers=max(1, len(start.account_ids))) as pool:
        results = list(pool.map(one, start.account_ids))
    summary = finish_cycle(run_id, start.lock_token, results)
    wall = time.perf_counter() - started
    return {
        "run_id": run_id,
        "wall_s": wall,
        "account_seconds": account_seconds,
        "calls": list(counter.calls.items()),
        "rate_limited": list(counter.rate_limited.items()),
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
    """Per account: the campaigns and active keywords the cycle will read (cycle_data, as it does)."""
    today = moscow_today(now_utc())
    out = {}
    with session_scope() as session:
        for account in session.scalars(
            select(MarketplaceAccount).where(MarketplaceAccount.is_active.is_(True))
        ):
            campaigns = []
            for c in load_campaigns(session, account.id, today):
                active = [
                    KeywordWork(c.external_id, k.external_id, k.keyword, k.kind, k.product_id)
                    for k in c.keywords
                    if k.status == "active"
                ]
                campaigns.append((c.external_id, active))
            out[account.id] = AccountWork(account.id, account.marketplace, campaigns)
    return out


def watcher_gaps(work: dict[int, AccountWork]) -> None:
    """Which items the Watcher has no data on (those need the marketplace's own signals)."""
    from app.services.watcher.client import WatcherClient

    settings = get_settings()

    async def ask() -> None:
        client = WatcherClient(settings.WATCHER_API_URL or "", settings.WATCHER_API_KEY or "")
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
        watcher = WatcherClient(settings.WATCHER_API_URL or "", settings.WATCHER_API_KEY or "")
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
    parser.add_argument(
        "--naive-budget", type=float, default=None, help="seconds (default 15 small, 60 full)"
    )
    args = parser.parse_args()
    factor = args.factor or DEFAULT_FACTOR[args.size]
    naive_budget = args.naive_budget or (15.0 if args.size == "small" else 60.0)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS)
    # A key of the bench's own for the scratch database's credentials (the workers inherit it).
    os.environ.setdefault("SECRET_KEY", Fernet.generate_key().decode())
    reset_settings_cache()
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = time.perf_counter() - t0 - sum(phases.values())

    with scratch_database():
        flush_redis()
        with sandbox(args.seed, SIZES[args.size], factor) as box:
            lap("sandbox start")
            point_at(box, factor)
            setup = prepare(box)
            lap("register, sync, stats")
            work = load_work()
            watcher_gaps(work)
            time.sleep(refill_seconds(factor))
            lap("watcher gaps, bucket refill")
            cycle = spawn(cycle_worker, box.ports)
            lap("cycle worker")
            load_outcome(work, cycle["run_id"])
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
    report(args, factor, naive_budget, work, cycle, naive, setup, phases)


def report(
    args: argparse.Namespace,
    factor: float,
    naive_budget: float,
    work: dict[int, AccountWork],
    cycle: dict[str, Any],
    naive: dict[str, Any],
    setup: dict[str, Any],
    phases: dict[str, float],
) -> None:
    actual: Counter[Endpoint] = Counter(dict(cycle["calls"]))
    minimum: Counter[Endpoint] = Counter()
    bound = 0.0
    per_account_rows = []
    for account_id, account in sorted(work.items()):
        need = minimum_calls(account)
        minimum.update(need)
        got: Counter[Endpoint] = Counter(dict(cycle["by_account"].get(account_id, [])))
        account_bound = bound_seconds(need, factor)
        bound = max(bound, account_bound)
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
                account_bound,
            )
        )
    # Naive: extrapolate each account by the share of its work the sample covered.
    naive_calls: Counter[Endpoint] = Counter()
    naive_time = 0.0
    sampled = False
    coverage = []
    for item_id, done in naive["accounts"].items():
        account = work[int(item_id)]
        total_weight = sum(1 + len(kws) for _, kws in account.campaigns)
        scale = total_weight / done["weight_done"] if done["weight_done"] else math.inf
        if done["weight_done"] < total_weight:
            sampled = True
        coverage.append(f"account {item_id} {done['weight_done']}/{total_weight}")
        for endpoint, count in naive["by_account"].get(item_id, []):
            naive_calls[tuple(endpoint)] += round(count * scale)
        naive_time += done["seconds"] * scale
    s = cycle["summary"]
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
        f"cycle: status {s['status']}, {s['campaigns']} campaigns, {s['keywords']} keywords, "
        f"{s['bids_updated']} bids updated, {s['bids_failed']} failed, {s['keywords_paused']} keywords "
        f"paused, {s['campaigns_paused']} campaigns paused, {s['errors']} errors"
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
        f"{'time s':>7} {'bound s':>7}"
    )
    for row in per_account_rows:
        print(
            f"{row[0]:>7} {row[1]:<5} {row[2]:>5} {row[3]:>6} {row[4]:>7} {row[5]:>6} {row[6]:>5} "
            f"{row[7]:>7.2f} {row[8]:>7.2f}"
        )
    print()
    print(f"{'endpoint':<64} {'cycle':>6} {'min':>6} {'naive':>8}  429/420")
    limited = Counter(dict(cycle["rate_limited"]))
    for endpoint in sorted(set(actual) | set(minimum) | set(naive_calls)):
        name = " ".join(endpoint)
        print(
            f"{name:<64} {actual[endpoint]:>6} {minimum[endpoint]:>6} {naive_calls[endpoint]:>8}  "
            f"{limited[endpoint] or ''}"
        )
    total, least, naive_total = sum(actual.values()), sum(minimum.values()), sum(naive_calls.values())
    print(f"{'total':<64} {total:>6} {least:>6} {naive_total:>8}")
    print(
        f"(not API calls: the cycle read the sandbox clock {cycle['clock_readings']} times — "
        "now_utc() under CLOCK_URL is a blocking HTTP call)"
    )
    print()
    calls_ratio = total / least if least else math.inf
    time_ratio = cycle["wall_s"] / bound if bound > 0 else math.inf
    naive_ratio = naive_time / bound if bound > 0 else math.inf
    print(
        f"API calls per cycle: {total} against a minimum of {least} (×{calls_ratio:.2f}); "
        f"naive {naive_total} (×{naive_total / least if least else math.inf:.1f})"
    )
    print(
        f"cycle wall time: {cycle['wall_s']:.2f} s against a rate-limit lower bound of {bound:.2f} s "
        f"(×{time_ratio:.2f}); naive {naive_time:.1f} s (×{naive_ratio:.1f})"
    )
    if sampled:
        print(
            f"naive run on a SAMPLE (budget {naive_budget:g} s, shared by the accounts in proportion to "
            "their work): per account the first campaigns/keywords, calls and time extrapolated by the "
            "share of campaigns+keywords covered: " + ", ".join(coverage)
        )
    print(
        f"worker peak RSS: {cycle['peak_rss_mb']:.0f} MB (of which {cycle['idle_rss_mb']:.0f} MB before the "
        "cycle: interpreter and imports)"
    )
    print(
        f"RESULT calls_ratio={calls_ratio:.2f} time_ratio={time_ratio:.2f} "
        f"naive_time_ratio={naive_ratio:.1f} peak_rss_mb={cycle['peak_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
