"""apply_bid_change (spec 7.1: on demand, marketing_high; 3 retries, 30 s exponential per 7.6.1), and
rollback_bid_change: one press of the Telegram rollback button (issue 12 item 5).

A change that waits for another one still on its way (`BidChangeBusy`) is retried after the
marketplace's apply delay. A change that cannot be made as asked (`BidChangeError`: a bid outside
the marketplace's rules, a refusal) is the caller's answer, not a system failure: the task returns
it as `{"status": "refused", ...}` instead of ending as a dead letter with a critical alert.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.adapters.base import TransientError
from app.services.marketing.manual_bids import BidChangeBusy, BidChangeError, apply_manual_change
from app.services.marketing.rollback import carry_out_request

# Spec 7.6.1 for apply_bid_change; a rollback is one such change.
RETRY_POLICY: dict[str, Any] = {
    "bind": True,
    "max_retries": 3,
    "default_retry_delay": 30,
    "retry_backoff": 30,
    "retry_backoff_max": 240,
    "retry_jitter": True,
    "autoretry_for": (TransientError, OperationalError),
}


@shared_task(name="app.tasks.marketing.bids.apply_bid_change", **RETRY_POLICY)
def apply_bid_change(
    self: Any,
    keyword_id: int,
    new_bid: int,
    reason: str = "manual",
    source: str = "manual",
    hold: str | None = None,
) -> dict[str, Any]:
    try:
        return apply_manual_change(keyword_id, new_bid, reason, source, task_id=self.request.id, hold=hold)
    except BidChangeBusy as busy:
        raise self.retry(exc=busy, countdown=busy.retry_in) from None
    except BidChangeError as error:
        return {"status": "refused", "keyword_id": keyword_id, "error": str(error)}


@shared_task(name="app.tasks.marketing.bids.rollback_bid_change", **RETRY_POLICY)
def rollback_bid_change(self: Any, request_id: int) -> dict[str, Any]:
    """Carry out a recorded rollback request; run again, it sends nothing twice."""
    try:
        return carry_out_request(request_id, task_id=self.request.id)
    except BidChangeBusy as busy:
        raise self.retry(exc=busy, countdown=busy.retry_in) from None
