"""The bid cycle as a whole (spec 7.3.1; issue 6 item 3): lock, fencing token, fan-out per
(marketplace, account), aggregation, `marketing:last_bid_cycle` (spec 7.4.3), read-back.

`begin_cycle` runs in the coordinator task; `run_account` in one task per account (so accounts
proceed concurrently and spread across workers); `finish_cycle` in the chord callback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.core.clock import now_utc
from app.core.config import get_settings
from app.core.database import session_scope
from app.core.redis import acquire_lock, get_redis, lock_token, release_lock_token
from app.models.marketing import MarketingBidIntent, MarketingCycleRun, MarketplaceAccount
from app.services.marketing.adapters.base import AdapterError, Keyword
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.bid_apply import FencingError, start_cycle_run
from app.services.marketing.bid_cycle import AccountCycle, AccountCycleResult
from app.services.marketing.runtime import AdapterPool, active_accounts
from app.services.watcher.client import CompetitorLookup, WatcherClient

logger = logging.getLogger(__name__)

LOCK_KEY = "marketing:lock:bid_cycle"  # spec 7.3.1
METRICS_KEY = "marketing:last_bid_cycle"  # spec 7.4.3
METRICS_TTL = 3600
# Seconds after which a marketplace shows an applied bid (WB applies bids every 30 s —
# marketplace-apis.md §1.1; YM "up to several minutes" §3.2; Ozon at once).
APPLY_DELAY = {"wb": 45, "ozon": 15, "ym": 180}


@dataclass(frozen=True)
class CycleStart:
    run_id: int | None
    lock_token: str | None
    account_ids: list[int]
    skipped: bool = False


def begin_cycle(task_id: str | None) -> CycleStart:
    """Take the lock (skipping when a cycle runs) and the fencing token; list the accounts."""
    settings = get_settings()
    lock = acquire_lock(LOCK_KEY, timeout=settings.BID_CYCLE_LOCK_TTL)
    with session_scope() as session:
        if lock is None:
            run = MarketingCycleRun(
                task_id=task_id,
                status="skipped",
                started_at=now_utc(),
                finished_at=now_utc(),
                summary={"reason": "lock_not_acquired"},
            )
            session.add(run)
            logger.warning("bid cycle already running, skipping (recorded as run %s)", run.id)
            return CycleStart(None, None, [], skipped=True)
        run = start_cycle_run(session, task_id)
        accounts = [a.id for a in active_accounts(session)]
        return CycleStart(run.id, lock_token(lock), accounts)


def run_account(run_id: int, account_id: int, task_id: str | None) -> dict[str, Any]:
    """One account's cycle within the account task's time budget (stops at a campaign boundary)."""
    settings = get_settings()
    deadline = time.monotonic() + max(30.0, settings.BID_CYCLE_SOFT_TIME_LIMIT - 60.0)
    with session_scope() as session:
        account = session.get(MarketplaceAccount, account_id)
    if account is None:
        return AccountCycleResult(account_id, "unknown", errors=1, messages=["account vanished"]).as_dict()

    async def cycle() -> AccountCycleResult:
        watcher = (
            WatcherClient(
                settings.WATCHER_API_URL, settings.WATCHER_API_KEY or "", timeout=settings.HTTP_TIMEOUT
            )
            if settings.WATCHER_API_URL
            else None
        )
        try:
            async with AdapterPool() as pool:
                runner = AccountCycle(
                    account,
                    pool.get(account),
                    CompetitorLookup(watcher),
                    cycle_run_id=run_id,
                    task_id=task_id,
                    deadline=deadline,
                )
                try:
                    return await runner.run()
                except (AdapterError, FencingError):
                    return runner.result
        finally:
            if watcher is not None:
                await watcher.aclose()

    return asyncio.run(cycle()).as_dict()


SUMMED = (
    "campaigns",
    "keywords",
    "bids_updated",
    "bids_failed",
    "bids_unknown",
    "dry_run_changes",
    "keywords_paused",
    "campaigns_paused",
    "alerts",
    "errors",
)


def finish_cycle(run_id: int, lock: str | None, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate the accounts' results, close the run, publish the metrics, release the lock."""
    finished = now_utc()
    totals = {name: sum(int(r.get(name, 0)) for r in results) for name in SUMMED}
    per_marketplace: dict[str, dict[str, int]] = {}
    for r in results:
        bucket = per_marketplace.setdefault(r["marketplace"], {name: 0 for name in SUMMED})
        for name in SUMMED:
            bucket[name] += int(r.get(name, 0))
    unreached = [c for r in results for c in r.get("unreached_campaigns", [])]
    status = (
        "completed" if not totals["errors"] and not unreached else ("partial" if results else "completed")
    )
    with session_scope() as session:
        run = session.get(MarketingCycleRun, run_id)
        assert run is not None
        started = run.started_at
        run.finished_at = finished
        run.status = status
        run.summary = {
            **totals,
            "marketplaces": per_marketplace,
            "unreached_campaigns": unreached,
            "accounts": results,
        }
        if totals["errors"]:
            create_alert(
                session,
                AlertRequest(
                    "bid_cycle_errors",
                    "warning",
                    "Bid cycle finished with errors",
                    f"run {run_id}: {totals['errors']} errors; see marketing_cycle_runs",
                    details={"run_id": run_id},
                ),
            )
    summary = {
        "run_id": run_id,
        "status": status,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        **totals,
        "marketplaces": per_marketplace,
        "unreached_campaigns": unreached,
    }
    publish_metrics(summary)
    if lock:
        release_lock_token(LOCK_KEY, lock)
    return summary


def publish_metrics(summary: dict[str, Any]) -> None:
    client = get_redis()
    client.hset(
        METRICS_KEY,
        mapping={
            "run_id": summary["run_id"],
            "started_at": summary["started_at"],
            "finished_at": summary["finished_at"],
            "status": summary["status"],
            "campaigns": summary["campaigns"],
            "keywords": summary["keywords"],
            "bids_updated": summary["bids_updated"],
            "errors": summary["errors"],
            "marketplaces": json.dumps(summary["marketplaces"]),
            "unreached_campaigns": len(summary["unreached_campaigns"]),
        },
    )
    client.expire(METRICS_KEY, METRICS_TTL)


def confirm_applied(run_id: int) -> dict[str, int]:
    """Read-back: do the bids this run applied show on the marketplace? Alert on those that don't."""
    with session_scope() as session:
        rows = session.execute(
            select(MarketingBidIntent, MarketplaceAccount)
            .join(MarketingBidIntent.campaign)
            .join(MarketplaceAccount)
            .where(
                MarketingBidIntent.cycle_run_id == run_id,
                MarketingBidIntent.status == "applied",
                MarketingBidIntent.confirm_status.is_(None),
            )
        ).all()
        plan: dict[int, tuple[MarketplaceAccount, list[tuple[int, Keyword, int]]]] = {}
        for intent, account in rows:
            row = intent.keyword
            if row is None:
                continue
            item = Keyword(
                intent.campaign.external_id,
                row.external_id,
                row.keyword,
                row.kind,
                row.product_id,
                row.current_bid,
                row.status,
            )
            plan.setdefault(account.id, (account, []))[1].append((intent.id, item, intent.new_bid))

    async def read() -> dict[int, dict[tuple[str, str], int]]:
        found: dict[int, dict[tuple[str, str], int]] = {}
        async with AdapterPool() as pool:
            for account_id, (account, items) in plan.items():
                try:
                    found[account_id] = await pool.get(account).get_current_bids([k for _, k, _ in items])
                except AdapterError as error:
                    logger.warning("read-back of run %s, account %s failed: %s", run_id, account_id, error)
        return found

    current = asyncio.run(read()) if plan else {}
    counts = {"confirmed": 0, "mismatched": 0, "unchecked": 0}
    with session_scope() as session:
        for account_id, (_, items) in plan.items():
            bids = current.get(account_id)
            for intent_id, item, expected in items:
                checked = session.get(MarketingBidIntent, intent_id)
                assert checked is not None
                if bids is None:
                    counts["unchecked"] += 1
                    continue
                seen = bids.get((item.campaign_external_id, item.external_id))
                checked.confirmed_at = now_utc()
                if seen == expected:
                    checked.confirm_status = "confirmed"
                    counts["confirmed"] += 1
                else:
                    checked.confirm_status = "mismatch"
                    counts["mismatched"] += 1
                    create_alert(
                        session,
                        AlertRequest(
                            "bid_not_applied",
                            "warning",
                            f"Bid did not stick: {item.keyword}",
                            f"set {expected}, the marketplace shows {seen}",
                            campaign_id=checked.campaign_id,
                            keyword_id=checked.keyword_id,
                            details={"intent_id": intent_id, "run_id": run_id},
                        ),
                    )
    return counts
