"""cleanup_old_stats (03:00, spec 7.3.6) and create_stats_partitions (hourly; issue 15 item 3),
on marketing_low.

cleanup_old_stats is retried on a database hiccup: each step is idempotent and the retry continues
where the failed attempt stopped. create_stats_partitions is not: it alerts instead, and runs again
within the hour.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.retention import run_cleanup
from app.services.marketing.stats_partitions import run_create_partitions


@shared_task(
    name="app.tasks.marketing.cleanup.cleanup_old_stats",
    bind=True,
    max_retries=3,
    default_retry_delay=300,
    autoretry_for=(OperationalError,),
)
def cleanup_old_stats(self: Any) -> dict[str, Any]:
    return run_cleanup()


@shared_task(name="app.tasks.marketing.cleanup.create_stats_partitions", bind=True)
def create_stats_partitions(self: Any) -> dict[str, Any]:
    return run_create_partitions()
