"""The bid cycle run as a whole (spec 7.3.1): the lock, the fencing token, the fan-out per
(marketplace, account), aggregation, `marketing:last_bid_cycle` (spec 7.4.3).

`begin_cycle` runs in the coordinator task (`run_bid_cycle`), `account.run_account` in one task per
account (so accounts proceed concurrently and spread across workers), `finish_cycle` in the chord
callback, and `readback.confirm_applied` after the marketplaces' apply delay. When an account task
fails for good (it never raises, but a hard time limit or a worker lost past the redelivery cap
ends it from outside), the chord fails and `abort_cycle` runs instead of `finish_cycle`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.clock import now_utc
from app.core.config import get_settings
from app.core.database import session_scope
from app.core.redis import acquire_lock, get_redis, lock_token, release_lock_token
from app.models.marketing import MarketingCycleRun
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.bid_apply import start_cycle_run
from app.services.marketing.runtime import active_accounts

logger = logging.getLogger(__name__)

LOCK_KEY = "marketing:lock:bid_cycle"  # spec 7.3.1
METRICS_KEY = "marketing:last_bid_cycle"  # spec 7.4.3
METRICS_TTL = 3600


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
    try:
        return _start(task_id, lock)
    except Exception:
        # A database blip after the lock was taken must not leave the lock to the retry's own
        # skip (issue 14): release it, let the task retry.
        if lock is not None:
            release_lock_token(LOCK_KEY, lock_token(lock))
        raise


def _start(task_id: str | None, lock: Any) -> CycleStart:
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


SUMMED = (
    "campaigns",
    "keywords",
    "not_decided",
    "in_flight",
    "bids_updated",
    "bids_failed",
    "bids_unknown",
    "dry_run_changes",
    "keywords_paused",
    "campaigns_paused",
    "alerts",
    "errors",
    *("frozen", "frozen_changes"),  # accounts a freeze covered, changes it held back (issue 12)
    "not_written",  # changes the time budget left for the next cycle (issue 16 item 1)
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
    clean = not totals["errors"] and not unreached and not totals["not_written"]
    status = "completed" if clean else ("partial" if results else "completed")
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
        # Errors alert from the monitor (check_metrics, spec 7.4.2 `bid_cycle_errors`), which
        # also says when a later cycle is clean again — one alert per breach, not one per run.
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


def abort_cycle(run_id: int, lock: str | None) -> dict[str, Any]:
    """The chord failed (an account task died for good: hard time limit, worker lost past the
    redelivery cap), so `finish_cycle` never runs: close the run as failed and release the lock
    now instead of leaving the run `running` and the lock to its TTL. The dead letter of the task
    that failed says why."""
    with session_scope() as session:
        run = session.get(MarketingCycleRun, run_id)
        if run is not None and run.status == "running":
            run.status = "failed"
            run.finished_at = now_utc()
            run.summary = {"reason": "an account task failed for good (see celery_failed_tasks)"}
    logger.error("bid cycle run %s failed: an account task failed for good", run_id)
    if lock:
        release_lock_token(LOCK_KEY, lock)
    return {"run_id": run_id, "status": "failed"}


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
            "bids_failed": summary["bids_failed"],
            "errors": summary["errors"],
            "marketplaces": json.dumps(summary["marketplaces"]),
            "unreached_campaigns": len(summary["unreached_campaigns"]),
        },
    )
    client.expire(METRICS_KEY, METRICS_TTL)


def apply_delay_of(marketplaces: Sequence[str]) -> int:
    """Seconds after which every marketplace of a run shows the bids sent to it (adapters' rules)."""
    return max((int(rules_for(mp).apply_delay.total_seconds()) for mp in marketplaces), default=0)
