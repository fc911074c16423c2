"""Throughput with 1, 2 and 4 worker processes on 20 sandbox accounts (issue 10 item 7).

For each pool size N a fresh world of the same seed (10 WB, 5 Ozon and 5 YM accounts; `small` or
`full` campaigns per account) is served by a sandbox subprocess with the official limits scaled by
F (`fast` profile, our RATE_LIMIT_FACTOR=F); a scratch database is migrated and the system set up
the real way (register, sync, collect stats, assign strategies). Then ONE real
`celery worker --concurrency=N` (prefork) serves marketing_high and marketing_default, and the
bench sends, as beat would:

- stats: `collect_stats` for wb, ozon and ym at once → wall time until all three finished;
- bid cycle: `run_bid_cycle` → its chord of one task per account → `finish_bid_cycle`; wall time
  from the send to the finish's result (after the rate-limit buckets refilled).

N = 1 is the baseline of the same run; speedup = its wall time / N's.

    python bench/scaling.py [--size small|full] [--factor F] [--seed N] [--workers 1,2,4]
        (DATABASE_URL: a server to make scratch databases on, else the embedded PostgreSQL;
         REDIS_URL: a Redis database of the bench's own, default redis://127.0.0.1:6379/10 —
         the bench empties it; BROKER_URL: another broker, e.g. amqp://..., else REDIS_URL)

Ends with: RESULT bid_cycle_s_1=... bid_cycle_s_2=... bid_cycle_s_4=... stats_s_1=... ...
    bid_cycle_speedup_4=... stats_speedup_4=...
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
sys.path[:0] = [str(ROOT), str(BENCH)]

from _support import Sandbox, sandbox_process, scratch_database  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app.core.config import get_settings, reset_settings_cache  # noqa: E402
from app.core.database import session_scope  # noqa: E402
from app.models.marketing import MarketingCampaign  # noqa: E402
from app.sandbox.server import APP_NAMES, free_ports  # noqa: E402
from app.sandbox.world import WorldSize  # noqa: E402
from app.services.marketing.adapters.limits import ALL_LIMITS  # noqa: E402
from app.services.marketing.sandbox_accounts import register_sandbox_accounts  # noqa: E402
from app.services.marketing.stats import run_collect_stats  # noqa: E402
from app.services.marketing.sync import run_sync  # noqa: E402

MARKETPLACES = ("wb", "ozon", "ym")
# 20 accounts either way; `full` gives each of them several times the campaigns.
SIZES = {
    "small": WorldSize(
        wb_accounts=10,
        wb_campaigns=20,
        wb_nms_per_campaign=2,
        wb_clusters=80,
        ozon_accounts=5,
        ozon_campaigns=10,
        ym_accounts=5,
        ym_skus=40,
    ),
    "full": WorldSize(
        brands=3,
        wb_accounts=10,
        wb_campaigns=100,
        wb_nms_per_campaign=3,
        wb_clusters=1_000,
        clusters_per_nm=10,
        ozon_accounts=5,
        ozon_campaigns=50,
        ozon_skus_per_campaign=8,
        ym_accounts=5,
        ym_skus=500,
    ),
}
STRATEGIES: dict[str, dict[str, Any]] = {
    "wb": {"strategy_type": "target_position", "strategy_params": {"position": 2}, "max_bid": 200_000},
    "ozon": {"strategy_type": "max_traffic", "strategy_params": {"bid_cap": 4_000}, "max_bid": 6_000},
    "ym": {"strategy_type": "max_traffic", "strategy_params": {"bid_cap": 900}, "max_bid": 1_000},
}


def serve_sandbox(seed: int, size: str, factor: float, ports: dict[str, int]) -> None:
    """The sandbox subprocess: the world of `size` on `ports` until terminated."""
    import asyncio

    from app.sandbox.server import create_sandbox, serve

    world = create_sandbox(seed=seed, profile="fast", fast_factor=factor, speed=1.0, size=SIZES[size])
    asyncio.run(serve(world, ports))


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.2)


@contextmanager
def sandbox(seed: int, size: str, factor: float) -> Iterator[Sandbox]:
    ports = dict(zip(APP_NAMES, free_ports(len(APP_NAMES)), strict=True))
    argv = [sys.executable, __file__, "--serve-sandbox", json.dumps([seed, size, factor, ports])]
    with sandbox_process(argv, ports) as box:
        yield box


@contextmanager
def worker(concurrency: int, logs: Path) -> Iterator[Any]:
    from app.core.celery_config import create_app

    app = create_app(get_settings())
    node = f"scaling-{uuid.uuid4().hex[:6]}@localhost"
    argv = [sys.executable, "-m", "celery", "-A", "app.core.celery_config", "worker", "-P", "prefork"]
    argv += [f"--concurrency={concurrency}", "--queues=marketing_high,marketing_default", "-n", node]
    argv += ["--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (logs / f"worker-{concurrency}.log").open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until(lambda: bool(app.control.ping(destination=[node], timeout=0.5)), 120, "the worker start")
        yield app
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def refill_seconds(factor: float) -> float:
    """Time for every bucket the setup used to be full again (as bench/bid_cycle.py)."""
    longest = 0.0
    for op in ALL_LIMITS:
        for _, limit in op.limits:
            scaled = limit.scaled(factor)
            if limit.period_s <= 120:
                longest = max(longest, scaled.burst * scaled.interval_s)
    return longest * 1.1 + 0.5


def prepare(box: Sandbox) -> int:
    with session_scope() as session:
        accounts = register_sandbox_accounts(session, box.control("accounts")["accounts"])
    run_sync()
    with session_scope() as session:
        for campaign in session.scalars(select(MarketingCampaign)):
            config = STRATEGIES[campaign.marketplace]
            campaign.strategy_type = config["strategy_type"]
            campaign.strategy_params = config["strategy_params"]
            campaign.max_bid = config["max_bid"]
            campaign.dry_run = False
    box.control("clock", {"advance": 600})
    for marketplace in MARKETPLACES:
        run_collect_stats(marketplace)
    return len(accounts)


def measure(concurrency: int, args: argparse.Namespace, logs: Path) -> dict[str, Any]:

    server = os.environ.get("DATABASE_URL")  # scratch_database points DATABASE_URL at its database
    try:
        return _measure(concurrency, args, logs)
    finally:
        if server is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = server
        reset_settings_cache()


def _measure(concurrency: int, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    import redis

    with scratch_database():
        redis.Redis.from_url(get_settings().redis_url).flushdb()
        with sandbox(args.seed, args.size, args.factor) as box:
            os.environ.update(box.env(args.factor))
            reset_settings_cache()
            accounts = prepare(box)
            with worker(concurrency, logs) as app:
                box.control("clock", {"advance": 600})
                time.sleep(refill_seconds(args.factor))
                began = time.perf_counter()
                results = [
                    app.send_task("app.tasks.marketing.stats.collect_stats", args=[mp]) for mp in MARKETPLACES
                ]
                for result in results:
                    result.get(timeout=900)
                stats_s = time.perf_counter() - began
                time.sleep(refill_seconds(args.factor))
                began = time.perf_counter()
                dispatched = app.send_task("app.tasks.marketing.bid_cycle.run_bid_cycle").get(timeout=900)
                if dispatched.get("status") != "dispatched":
                    raise SystemExit(f"error: the bid cycle did not start: {dispatched}")
                summary = app.AsyncResult(dispatched["follow_task_id"]).get(timeout=1800)
                cycle_s = time.perf_counter() - began
    return {
        "workers": concurrency,
        "accounts": accounts,
        "stats_s": stats_s,
        "cycle_s": cycle_s,
        "cycle_status": summary["status"],
        "bids_updated": summary["bids_updated"],
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-sandbox":
        seed, size, factor, ports = json.loads(sys.argv[2])
        serve_sandbox(seed, size, factor, ports)
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--factor", type=float, default=60.0, help="time scale F of the limits")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", default="1,2,4", help="pool sizes, comma-separated (first = baseline)")
    args = parser.parse_args()
    try:
        pools = [int(item) for item in args.workers.split(",")]
    except ValueError:
        raise SystemExit("error: --workers takes whole numbers separated by commas, e.g. 1,2,4") from None
    if not pools or min(pools) < 1:
        raise SystemExit("error: --workers needs at least one pool size of 1 or more")
    os.environ.setdefault("SECRET_KEY", Fernet.generate_key().decode())
    reset_settings_cache()
    with tempfile.TemporaryDirectory(prefix="scaling-") as folder:
        rows = [measure(n, args, Path(folder)) for n in pools]
    base = rows[0]
    print(
        f"{base['accounts']} accounts ({args.size}), limits x {args.factor:g}, broker "
        f"{get_settings().broker_url.split('://')[0]}; one worker node, prefork pool of N processes"
    )
    print(f"{'N':>3} {'stats s':>8} {'speedup':>8} {'bid cycle s':>12} {'speedup':>8} {'bids':>6} status")
    result: dict[str, str] = {}
    for row in rows:
        stats_up = base["stats_s"] / row["stats_s"]
        cycle_up = base["cycle_s"] / row["cycle_s"]
        print(
            f"{row['workers']:>3} {row['stats_s']:8.2f} {stats_up:8.2f} {row['cycle_s']:12.2f} "
            f"{cycle_up:8.2f} {row['bids_updated']:>6} {row['cycle_status']}"
        )
        n = row["workers"]
        result |= {f"bid_cycle_s_{n}": f"{row['cycle_s']:.2f}", f"stats_s_{n}": f"{row['stats_s']:.2f}"}
    last = rows[-1]
    result[f"bid_cycle_speedup_{last['workers']}"] = f"{base['cycle_s'] / last['cycle_s']:.2f}"
    result[f"stats_speedup_{last['workers']}"] = f"{base['stats_s'] / last['stats_s']:.2f}"
    print("RESULT " + " ".join(f"{key}={value}" for key, value in result.items()))


if __name__ == "__main__":
    main()
