"""check_api_health (spec 7.4.4) and check_metrics (spec 7.4.2, issue 10): every 5 minutes on
marketing_high. The spec names no task for its 7.4.2 metrics; they live beside its health check."""

from __future__ import annotations

from typing import Any

import redis
from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.core.celery_config import QUEUES
from app.core.database import session_scope
from app.core.redis import get_redis
from app.services.marketing.health import run_health_check
from app.services.marketing.monitoring import run_check


@shared_task(
    name="app.tasks.marketing.health.check_api_health", bind=True, soft_time_limit=120, time_limit=180
)
def check_api_health(self: Any) -> dict[str, Any]:
    return run_health_check()


@shared_task(
    name="app.tasks.marketing.health.check_metrics",
    bind=True,
    soft_time_limit=120,
    time_limit=180,
    max_retries=2,
    default_retry_delay=30,
    autoretry_for=(OperationalError, redis.ConnectionError),
)
def check_metrics(self: Any) -> dict[str, Any]:
    """Spec 7.4.2 metrics against their thresholds: one alert per breach, one per recovery
    (app/services/marketing/monitoring.py); writes `marketing:workers` (spec 7.4.3)."""
    queues = tuple(name for name, _ in QUEUES)
    return run_check(session_scope, get_redis(), self.app, queues).as_dict()
