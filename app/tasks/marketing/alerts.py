"""send_alert (spec 7.3.7; retries 3 × 10 s per 7.6.1), and the channels beside the in-app rows
(issue 12 item 5): `deliver_notifications` sends the queued Telegram and email messages
(app/services/notify/delivery.py), `send_alert_digest` folds the day's info alerts into one digest.

Every transaction that queued a message to send now — an alert written by any task — is followed,
right after its commit, by a `deliver_notifications` message (the listener below); beat runs it
every minute too, for retries and for a kick that was lost.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.database import session_scope
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.notify.delivery import QUEUED_FLAG, build_digests, deliver_due

logger = logging.getLogger(__name__)
# A run stops taking messages after this, well inside its soft limit (a slow channel can take
# NOTIFY_TIMEOUT per message); what it did not take is due for the next run.
DELIVERY_BUDGET_S = 90.0


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


@shared_task(
    name="app.tasks.marketing.alerts.deliver_notifications",
    bind=True,
    max_retries=3,
    default_retry_delay=10,
    autoretry_for=(OperationalError,),
    soft_time_limit=150,
    time_limit=180,
    ignore_result=True,
)
def deliver_notifications(self: Any) -> dict[str, int]:
    return deliver_due(budget_s=DELIVERY_BUDGET_S)


@shared_task(
    name="app.tasks.marketing.alerts.send_alert_digest",
    bind=True,
    max_retries=3,
    default_retry_delay=60,
    autoretry_for=(OperationalError,),
)
def send_alert_digest(self: Any) -> dict[str, int]:
    return build_digests()


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    if session.info.pop(QUEUED_FLAG, False):
        try:
            deliver_notifications.apply_async()
        except Exception:  # the beat entry sends it within a minute anyway
            logger.warning("could not enqueue deliver_notifications; beat will", exc_info=True)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(QUEUED_FLAG, None)
