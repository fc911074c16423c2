"""aggregate_daily_stats (00:30) and aggregate_monthly_stats (1st of the month, 02:00), spec 7.3.5,
on marketing_low. Both are idempotent, so a database hiccup is simply retried."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.aggregation import run_daily_aggregation, run_monthly_aggregation


@shared_task(
    name="app.tasks.marketing.aggregation.aggregate_daily_stats",
    bind=True,
    max_retries=3,
    default_retry_delay=300,
    autoretry_for=(OperationalError,),
)
def aggregate_daily_stats(self: Any) -> dict[str, Any]:
    return run_daily_aggregation()


@shared_task(
    name="app.tasks.marketing.aggregation.aggregate_monthly_stats",
    bind=True,
    max_retries=3,
    default_retry_delay=300,
    autoretry_for=(OperationalError,),
)
def aggregate_monthly_stats(self: Any) -> dict[str, Any]:
    return run_monthly_aggregation()
