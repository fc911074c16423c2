"""Adapters: API calls of one full read-and-bid pass against the minimum the batch sizes allow.

For every account of the sandbox world, through the real adapters (`get_adapter`) and the
in-process sandbox (fast limit profile: pacing is not what this measures), in the order the tasks
use them: list campaigns, read their keywords, campaign stats, keyword stats, current bids, then
set every active bid once (its current value plus one bid step). An httpx event hook counts the
calls of each step; the minimum of each step is derived from the world the adapters read and the
documented batch sizes (reference marketplace-apis.md §4; issue 4):

  WB    count 1 · details ceil(N/50) · fullstats ceil(N/50) (+ details again: which placement
        each nm bids in, for its own counters) · cluster list, stats and get-bids
        ceil(P/100) each · nm bids ceil(campaign blocks/50) · cluster bids ceil(K/100)
  Ozon  token 1 · campaigns ceil(N/100) · products 1 per campaign (≤ 500) · daily and SKU stats
        ceil(N/100) · bids 1 PUT per campaign (≤ 500)
  YM    bids/info ceil(S/500) · bids PUT ceil(S/1500) · boost report generate + status + file

N = campaigns, P = (campaign, nm) pairs of WB type-9 campaigns, K = cluster bids, S = SKUs. A step
that receives only campaign ids (the protocol's signature) must read what it needs to expand them
(WB: campaign details and types), so that is part of its minimum.

    python bench/adapters.py [--size small|full]   (REDIS_URL, else an embedded Redis)

Ends with: RESULT calls=... min_calls=... calls_ratio=...
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from _support import redis_url

from app.core.config import get_settings, reset_settings_cache
from app.sandbox.clock import moscow_date
from app.sandbox.server import SandboxWorld, create_sandbox
from app.services.marketing.adapters import AccountRef, get_adapter, shared_redis
from app.services.marketing.adapters import wildberries_parse as wp
from app.services.marketing.adapters.base import BidChange, Campaign, Keyword
from app.services.marketing.sync import LIVE_STATUSES

SIZES = {"small": "small", "full": "bench"}
# Every rate × this in the sandbox and in our pacing alike: the bench counts calls, not waits.
FAST_FACTOR = 10_000.0
APP_OF = {"wb": "wildberries", "ozon": "ozon", "ym": "yandex_market"}
STEPS = ("list campaigns", "keywords", "campaign stats", "keyword stats", "current bids", "set bids")
# Bid steps (kopecks; YM: hundredths of a percent) and floors above every minimum bid the
# sandbox knows (WB: 155 ₽ combined CPM + subject surcharge; 4 ₽ CPC), so that every bid is valid.
WB_CPM_STEP, WB_CPM_FLOOR = 100, 16_000
WB_CPC_STEP, WB_CPC_FLOOR = 10, 500
OZON_STEP, OZON_FLOOR = 100, 1_100  # the sandbox's CPC minimum tops out at 11 ₽
YM_STEP, YM_MAX = 10, 9999


def ceil_div(n: int, size: int) -> int:
    return math.ceil(n / size) if n > 0 else 0


ID_SEGMENT = re.compile(r"/[^/]*\d{3,}[^/]*")  # ids and report names, not "/v2"


def endpoint(request: httpx.Request) -> str:
    return f"{request.method} {ID_SEGMENT.sub('/{id}', request.url.path)}"


@dataclass
class StepCount:
    calls: Counter[str] = field(default_factory=Counter)
    minimum: int = 0


@dataclass
class AccountRun:
    marketplace: str
    account_id: int
    steps: dict[str, StepCount] = field(default_factory=lambda: {s: StepCount() for s in STEPS})
    notes: list[str] = field(default_factory=list)
    failed_bids: int = 0
    bids: int = 0


class CallCounter:
    """The httpx event hook of one adapter's client: counts requests into the current step."""

    def __init__(self) -> None:
        self.step: StepCount | None = None

    async def __call__(self, request: httpx.Request) -> None:
        if self.step is not None:
            self.step.calls[endpoint(request)] += 1


def accounts(world: SandboxWorld) -> Iterator[tuple[str, AccountRef, dict[str, str]]]:
    for account in world.sandbox.accounts_json():
        mp = {"wildberries": "wb", "ozon": "ozon", "yandex_market": "ym"}[account["marketplace"]]
        creds = account["credentials"]
        settings: dict[str, Any] = {}
        if mp == "wb":
            secret = {"token": creds["tokens"]["personal"]}
        elif mp == "ozon":
            secret = {"client_id": creds["client_id"], "client_secret": creds["client_secret"]}
        else:
            secret = {"api_key": creds["api_key"]}
            settings = {"business_id": str(creds["business_id"]), "campaign_ids": creds["campaign_ids"]}
        yield mp, AccountRef(account["id"], mp, account["name"], settings), secret


def next_bid(marketplace: str, campaign: Campaign | None, current: int) -> int:
    if marketplace == "wb":
        cpc = campaign is not None and campaign.payment_type == "cpc"
        step, floor = (WB_CPC_STEP, WB_CPC_FLOOR) if cpc else (WB_CPM_STEP, WB_CPM_FLOOR)
        return (max(current, floor) // step + 1) * step
    if marketplace == "ozon":
        return max(current, OZON_FLOOR) + OZON_STEP
    return min(YM_MAX, current + YM_STEP)


def settable(marketplace: str, campaign: Campaign | None, keyword: Keyword) -> bool:
    """Bids the marketplace lets us set: WB cluster bids only on manual CPM campaigns (promotion.json
    normquery bids); Ozon CPC SKU bids; YM SKUs."""
    if keyword.status != "active" or campaign is None:
        return False
    if marketplace == "wb" and keyword.kind == "cluster":
        return campaign.campaign_type == "manual" and campaign.payment_type == "cpm"
    return True


async def run_account(
    world: SandboxWorld, marketplace: str, ref: AccountRef, secret: dict[str, str], redis: Any
) -> AccountRun:
    run = AccountRun(marketplace, ref.id)
    counter = CallCounter()
    client = world.client(APP_OF[marketplace], timeout=120.0, event_hooks={"request": [counter]})
    adapter = get_adapter(marketplace, ref, client=client, redis_client=redis, credentials=secret)
    if marketplace == "ym":
        # The boost report takes ~35 s of sandbox time: move the sandbox clock instead of sleeping.
        async def advance(seconds: float) -> None:
            world.sandbox.clock.advance(seconds)

        adapter.sleep = advance  # type: ignore[attr-defined]
    day = moscow_date(world.sandbox.clock.now())

    async def step(name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        counter.step = run.steps[name]
        try:
            return await call()
        finally:
            counter.step = None

    try:
        campaigns: list[Campaign] = await step("list campaigns", adapter.list_campaigns)
        live = [c.external_id for c in campaigns if c.status in LIVE_STATUSES]
        keywords: list[Keyword] = await step("keywords", lambda: adapter.get_keywords(live))
        await step("campaign stats", lambda: adapter.get_campaign_stats(live, day))
        await step("keyword stats", lambda: adapter.get_keyword_stats(live, day))
        by_id = {c.external_id: c for c in campaigns}
        active = [k for k in keywords if settable(marketplace, by_id.get(k.campaign_external_id), k)]
        current: dict[tuple[str, str], int] = await step(
            "current bids", lambda: adapter.get_current_bids(active)
        )
        changes = [
            BidChange(
                k.campaign_external_id,
                k.external_id,
                next_bid(
                    marketplace,
                    by_id.get(k.campaign_external_id),
                    current[(k.campaign_external_id, k.external_id)],
                ),
                k.product_id,
                k.keyword,
            )
            for k in active
            if current.get((k.campaign_external_id, k.external_id))
        ]
        results = await step("set bids", lambda: adapter.set_bids(changes))
        run.bids = len(results)
        run.failed_bids = sum(1 for r in results if not r.ok)
        run.notes.extend(sorted({f"refused: {r.error}" for r in results if not r.ok})[:3])
        minimums(run, campaigns, live, keywords, active, changes)
    finally:
        await adapter.aclose()
    return run


def minimums(
    run: AccountRun,
    campaigns: list[Campaign],
    live: list[str],
    keywords: list[Keyword],
    active: list[Keyword],
    changes: list[BidChange],
) -> None:
    """The fewest calls each step could make at the documented batch sizes, for this world."""
    m = {name: 0 for name in STEPS}
    n_all, n = len(campaigns), len(live)
    kind = {c.external_id: c.campaign_type for c in campaigns}
    if run.marketplace == "wb":
        type9 = {"manual", "unified"}
        pairs = {
            (k.campaign_external_id, k.product_id)
            for k in keywords
            if kind.get(k.campaign_external_id) in type9
        }
        p = len(pairs)
        m["list campaigns"] = 1 + ceil_div(n_all, 50)
        # ids → details (nms, nm bids) + types (promotion count) → cluster lists and own bids.
        m["keywords"] = ceil_div(n, 50) + (1 if n else 0) + 2 * ceil_div(p, 100)
        # ids → details (which placements each campaign bids its nms in: the per-nm split) + fullstats.
        m["campaign stats"] = 2 * ceil_div(n, 50)
        m["keyword stats"] = ceil_div(n, 50) + (1 if n else 0) + ceil_div(p, 100)
        # nm bids live in the campaign details; cluster bids in get-bids, 100 pairs a call.
        kw_campaigns = {k.campaign_external_id for k in active}
        kw_pairs = {(k.campaign_external_id, k.product_id) for k in active if k.kind == "cluster"}
        m["current bids"] = ceil_div(len(kw_campaigns), 50) + ceil_div(len(kw_pairs), 100)
        nm_items = Counter(c.campaign_external_id for c in changes if wp.is_nm_bid_id(c.keyword_external_id))
        blocks = sum(ceil_div(items, 50) for items in nm_items.values())
        clusters = sum(1 for c in changes if not wp.is_nm_bid_id(c.keyword_external_id))
        m["set bids"] = ceil_div(blocks, 50) + ceil_div(clusters, 100)
        run.notes.append(
            f"N={n_all} listed, {n} live, P={p}, K={clusters} cluster + {sum(nm_items.values())} nm bids"
        )
    elif run.marketplace == "ozon":
        per_campaign = Counter(k.campaign_external_id for k in keywords)
        m["list campaigns"] = 1 + max(1, ceil_div(n_all, 100))  # token + pages of 100
        m["keywords"] = ceil_div(n, 100) + sum(max(1, ceil_div(c, 500)) for c in per_campaign.values())
        m["campaign stats"] = ceil_div(n, 100)
        m["keyword stats"] = ceil_div(n, 100)
        active_per_campaign = Counter(k.campaign_external_id for k in active)
        m["current bids"] = sum(max(1, ceil_div(c, 500)) for c in active_per_campaign.values())
        change_per_campaign = Counter(c.campaign_external_id for c in changes)
        m["set bids"] = sum(ceil_div(c, 500) for c in change_per_campaign.values())
        run.notes.append(
            f"N={n_all} listed, {n} live, {len(per_campaign)} SKU campaigns, {len(keywords)} SKUs"
        )
    else:
        s = len(keywords)
        m["list campaigns"] = 1
        m["keywords"] = max(1, ceil_div(s, 500))
        m["campaign stats"] = 3  # generate + one status poll + the file
        m["keyword stats"] = 0  # the same report
        m["current bids"] = ceil_div(len(active), 500)
        m["set bids"] = ceil_div(len(changes), 1500)
        run.notes.append(f"S={s} SKUs with bids")
    for name in STEPS:
        run.steps[name].minimum = m[name]


async def bench(size: str, seed: int) -> list[AccountRun]:
    world = create_sandbox(seed=seed, profile="fast", speed=1.0, size=SIZES[size], fast_factor=FAST_FACTOR)
    redis = shared_redis(get_settings())
    try:
        return [await run_account(world, mp, ref, secret, redis) for mp, ref, secret in accounts(world)]
    finally:
        await redis.aclose()


# Campaign metadata (WB details and types, Ozon campaign list): read by "list campaigns", and read
# again by the steps whose protocol signature gives them only campaign ids. WB details in "current
# bids" are not counted: they carry the current nm bids.
METADATA = {"GET /adv/v1/promotion/count", "GET /api/advert/v2/adverts", "GET /api/client/campaign"}


def rereads(runs: list[AccountRun]) -> int:
    return sum(
        count
        for run in runs
        for name in ("keywords", "campaign stats", "keyword stats")
        for key, count in run.steps[name].calls.items()
        if key in METADATA
    )


def report(runs: list[AccountRun]) -> tuple[int, int]:
    rows: dict[tuple[str, str], StepCount] = defaultdict(StepCount)
    for run in runs:
        for name, count in run.steps.items():
            row = rows[(run.marketplace, name)]
            row.calls.update(count.calls)
            row.minimum += count.minimum
    print(f"{'marketplace':<5} {'step':<15} {'calls':>6} {'minimum':>8}  endpoints")
    total = total_min = 0
    for (mp, name), row in rows.items():
        calls = sum(row.calls.values())
        total += calls
        total_min += row.minimum
        mark = " " if calls <= row.minimum else "*"
        detail = ", ".join(f"{e} ×{c}" for e, c in sorted(row.calls.items()))
        print(f"{mp:<5} {name:<15} {calls:>6} {row.minimum:>8}{mark} {detail}")
    for run in runs:
        done = f"bids set {run.bids - run.failed_bids}/{run.bids}"
        print(f"  {run.marketplace} account {run.account_id}: {'; '.join([*run.notes, done])}")
    return total, total_min


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--size",
        choices=tuple(SIZES),
        default="small",
        help="small (default) or full: 300 WB campaigns with 10,000 clusters, 100 Ozon campaigns, "
        "5,000 YM SKUs",
    )
    parser.add_argument("--seed", type=int, default=7, help="sandbox world seed (default 7)")
    args = parser.parse_args()
    with redis_url() as url:
        os.environ["REDIS_URL"] = url
        os.environ["RATE_LIMIT_FACTOR"] = str(FAST_FACTOR)
        reset_settings_cache()
        started = time.perf_counter()
        runs = asyncio.run(bench(args.size, args.seed))
        elapsed = time.perf_counter() - started
    calls, minimum = report(runs)
    print(f"{len(runs)} accounts in {elapsed:.1f} s; * = more calls than the minimum")
    print(
        f"of the calls, {rereads(runs)} re-read campaign metadata that 'list campaigns' already read "
        "(forced by the id-only signatures of get_keywords / get_campaign_stats / get_keyword_stats; counted "
        "in the minimum)"
    )
    print(f"RESULT calls={calls} min_calls={minimum} calls_ratio={calls / minimum:.2f}")


if __name__ == "__main__":
    main()
