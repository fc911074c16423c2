"""sync_campaigns (spec 7.2.2: hourly on marketing_default; issue 5 item 1)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.sync import run_sync


@shared_task(
    name="app.tasks.marketing.sync.sync_campaigns",
    bind=True,
    max_retries=2,
    default_retry_delay=60,
    autoretry_for=(OperationalError,),
)
def sync_campaigns(self: Any, account: int | None = None) -> dict[str, Any]:
    """All active accounts, or one (`adolf-marketing run sync_campaigns --kw account=ID`)."""
    return run_sync(account_id=account)
