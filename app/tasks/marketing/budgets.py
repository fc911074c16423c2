"""check_budgets (spec 7.3.3: every 15 minutes at :03 on marketing_high; 2 retries × 30 s per 7.6.1)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.budgets import run_budget_check


@shared_task(
    name="app.tasks.marketing.budgets.check_budgets",
    bind=True,
    max_retries=2,
    default_retry_delay=30,
    autoretry_for=(OperationalError,),
)
def check_budgets(self: Any) -> dict[str, Any]:
    return run_budget_check()
