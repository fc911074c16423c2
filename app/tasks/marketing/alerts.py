"""send_alert (spec 7.3.7; retries 3 × 10 s per 7.6.1)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.core.database import session_scope
from app.services.marketing.alerts import AlertRequest, create_alert

logger = logging.getLogger(__name__)


@shared_task(
    name="app.tasks.marketing.alerts.send_alert",
    bind=True,
    queue="marketing_high",
    max_retries=3,
    default_retry_delay=10,
    autoretry_for=(OperationalError, ConnectionError, TimeoutError),
)
def send_alert(
    self: Any,
    campaign_id: int | None,
    alert_type: str,
    severity: str,
    title: str,
    message: str,
    keyword_id: int | None = None,
    action_taken: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    request = AlertRequest(
        alert_type=alert_type,
        severity=severity,
        title=title,
        message=message,
        campaign_id=campaign_id or None,
        keyword_id=keyword_id,
        action_taken=action_taken,
        details=details or {},
    )
    with session_scope() as session:
        result = create_alert(session, request)
    logger.info(
        "alert %s (%s) for campaign %s sent to %d users", alert_type, severity, campaign_id, result.recipients
    )
    return result.as_dict()
