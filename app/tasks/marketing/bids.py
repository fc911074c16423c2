"""apply_bid_change (spec 7.1: on demand, marketing_high; 3 retries, 30 s exponential per 7.6.1)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.adapters.base import TransientError
from app.services.marketing.manual_bids import apply_manual_change


@shared_task(
    name="app.tasks.marketing.bids.apply_bid_change",
    bind=True,
    max_retries=3,
    default_retry_delay=30,
    retry_backoff=30,
    retry_backoff_max=240,
    retry_jitter=True,
    autoretry_for=(TransientError, OperationalError),
)
def apply_bid_change(
    self: Any, keyword_id: int, new_bid: int, reason: str = "manual", source: str = "manual"
) -> dict[str, Any]:
    return apply_manual_change(keyword_id, new_bid, reason, source, task_id=self.request.id)
