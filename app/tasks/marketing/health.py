"""check_api_health (spec 7.4.4; every 5 minutes on marketing_high)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from app.services.marketing.health import run_health_check


@shared_task(
    name="app.tasks.marketing.health.check_api_health", bind=True, soft_time_limit=120, time_limit=180
)
def check_api_health(self: Any) -> dict[str, Any]:
    return run_health_check()
