"""run_bid_cycle (spec 7.3.1: every 15 minutes at :07 on marketing_high; retries 2 × 60 s;
soft 240 s / hard 300 s), fanned out per (marketplace, account) with a chord."""

from __future__ import annotations

from typing import Any

from celery import chord, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from app.core.config import get_settings
from app.services.marketing.bid_cycle.account import run_account
from app.services.marketing.bid_cycle.coordinator import (
    abort_cycle,
    apply_delay_of,
    begin_cycle,
    finish_cycle,
)
from app.services.marketing.bid_cycle.readback import confirm_applied

_settings = get_settings()


@shared_task(
    name="app.tasks.marketing.bid_cycle.run_bid_cycle",
    bind=True,
    max_retries=2,
    default_retry_delay=60,
    soft_time_limit=_settings.BID_CYCLE_SOFT_TIME_LIMIT,
    time_limit=_settings.BID_CYCLE_TIME_LIMIT,
    autoretry_for=(OperationalError,),
)
def run_bid_cycle(self: Any) -> dict[str, Any]:
    start = begin_cycle(self.request.id)
    if start.skipped:
        return {"status": "skipped", "reason": "lock_not_acquired"}
    assert start.run_id is not None
    if not start.account_ids:
        return finish_cycle(start.run_id, start.lock_token, [])
    header = [run_bid_cycle_account.s(start.run_id, account_id) for account_id in start.account_ids]
    callback = finish_bid_cycle.s(start.run_id, start.lock_token)
    # An account task that fails for good fails the chord: the run is closed and the lock released.
    callback.on_error(abort_bid_cycle.si(start.run_id, start.lock_token))
    finish = chord(header)(callback)
    # `adolf-marketing run` follows `follow_task_id` to print the finished cycle.
    return {
        "status": "dispatched",
        "run_id": start.run_id,
        "accounts": len(header),
        "follow_task_id": finish.id,
    }


@shared_task(
    name="app.tasks.marketing.bid_cycle.run_bid_cycle_account",
    bind=True,
    soft_time_limit=_settings.BID_CYCLE_SOFT_TIME_LIMIT,
    time_limit=_settings.BID_CYCLE_TIME_LIMIT,
)
def run_bid_cycle_account(self: Any, run_id: int, account_id: int) -> dict[str, Any]:
    try:
        return run_account(run_id, account_id, self.request.id)
    except SoftTimeLimitExceeded:
        return {
            "account_id": account_id,
            "marketplace": "unknown",
            "errors": 1,
            "messages": ["soft time limit reached before the account finished"],
        }


@shared_task(
    name="app.tasks.marketing.bid_cycle.finish_bid_cycle",
    bind=True,
    max_retries=3,
    default_retry_delay=10,
    autoretry_for=(OperationalError,),
)
def finish_bid_cycle(
    self: Any, results: list[dict[str, Any]], run_id: int, lock_token: str | None
) -> dict[str, Any]:
    summary = finish_cycle(run_id, lock_token, results)
    # Read back what was sent, and settle any send an interrupted attempt left open.
    if summary["bids_updated"] or summary["bids_unknown"] or summary["in_flight"]:
        confirm_bids.apply_async((run_id,), countdown=apply_delay_of(list(summary["marketplaces"])))
    return summary


@shared_task(
    name="app.tasks.marketing.bid_cycle.abort_bid_cycle",
    bind=True,
    max_retries=3,
    default_retry_delay=10,
    autoretry_for=(OperationalError,),
)
def abort_bid_cycle(self: Any, run_id: int, lock_token: str | None) -> dict[str, Any]:
    """The chord's error callback: a failed account task leaves no run `running`, no lock held."""
    return abort_cycle(run_id, lock_token)


@shared_task(
    name="app.tasks.marketing.bid_cycle.confirm_bids",
    bind=True,
    max_retries=2,
    default_retry_delay=30,
    autoretry_for=(OperationalError,),
)
def confirm_bids(self: Any, run_id: int) -> dict[str, int]:
    """Read-back after the marketplaces' apply delay: alert on bids that did not stick."""
    return confirm_applied(run_id)
