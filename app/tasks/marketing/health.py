"""check_api_health (spec 7.4.4) and check_metrics (spec 7.4.2, issue 10): every 5 minutes on
marketing_high. The spec names no task for its 7.4.2 metrics; they live beside its health check."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import shared_task
from celery.signals import worker_ready
from sqlalchemy.exc import OperationalError

from app.core.celery_config import QUEUES
from app.core.config import get_settings
from app.core.database import session_scope
from app.core.redis import get_redis
from app.services.marketing.health import run_health_check
from app.services.marketing.monitoring import claim_overdue_check, run_check

logger = logging.getLogger(__name__)
CHECK_METRICS = "app.tasks.marketing.health.check_metrics"


@shared_task(
    name="app.tasks.marketing.health.check_api_health", bind=True, soft_time_limit=120, time_limit=180
)
def check_api_health(self: Any) -> dict[str, Any]:
    return run_health_check()


@shared_task(
    name=CHECK_METRICS,
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


@worker_ready.connect
def _start_watchdog(sender: Any = None, **_: Any) -> None:
    """In a marketing_high worker's main process (its consumer's timer, not a pool child): send
    check_metrics when beat has not for two periods (monitoring.py step 5)."""
    every = get_settings().MONITOR_WATCHDOG_S
    consumer = sender
    queues = {q.name for q in getattr(getattr(consumer, "task_consumer", None), "queues", [])}
    if not every or "marketing_high" not in queues:
        return

    def tick() -> None:
        try:
            if claim_overdue_check(get_redis()):
                logger.warning("no check_metrics in 10 min (is beat running?); sending one")
                consumer.app.send_task(CHECK_METRICS, queue="marketing_high")
        except Exception:  # a Redis blip: the next tick tries again
            logger.warning("monitor watchdog could not check", exc_info=True)

    consumer.timer.call_repeatedly(every, tick)
