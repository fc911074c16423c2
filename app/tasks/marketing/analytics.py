"""calculate_analytics (spec 7.3.4: daily 01:00 Moscow on marketing_low; soft 600 / hard 900 s) and
collect_ai_recommendations (every 10 minutes: collects the night's Claude batch)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.core.config import get_settings
from app.services.marketing.analytics_runs import collect_batches, run_analytics

_settings = get_settings()


@shared_task(
    name="app.tasks.marketing.analytics.calculate_analytics",
    bind=True,
    soft_time_limit=_settings.ANALYTICS_SOFT_TIME_LIMIT,
    time_limit=_settings.ANALYTICS_TIME_LIMIT,
    max_retries=2,
    default_retry_delay=300,
    autoretry_for=(OperationalError,),
)
def calculate_analytics(self: Any) -> dict[str, Any]:
    return run_analytics(self.request.id)


@shared_task(
    name="app.tasks.marketing.analytics.collect_ai_recommendations",
    bind=True,
    max_retries=2,
    default_retry_delay=60,
    autoretry_for=(OperationalError,),
)
def collect_ai_recommendations(self: Any) -> dict[str, Any]:
    return collect_batches()
