"""collect_stats (spec 7.3.2: per marketplace at :00/:05/:10; 3 retries, exponential per 7.6.1)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.adapters.base import TransientError
from app.services.marketing.stats import run_collect_stats


@shared_task(
    name="app.tasks.marketing.stats.collect_stats",
    bind=True,
    max_retries=3,
    default_retry_delay=60,
    retry_backoff=60,
    retry_backoff_max=300,
    retry_jitter=True,
    # Only transient failures are retried (celery-reliability.md §5); a bad argument is not.
    autoretry_for=(OperationalError, TransientError),
)
def collect_stats(self: Any, marketplace: str) -> dict[str, Any]:
    return run_collect_stats(marketplace)
