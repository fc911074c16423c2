"""Daily partitions of `marketing_stats` kept ready ahead (issue 15 item 3).

A snapshot for a day without a partition is refused, so the stats of that whole day would be
lost. `create_stats_partitions` (hourly, marketing_low) creates today's partition and the
`STATS_PARTITIONS_AHEAD` days after it; when fewer days than that are ready afterwards — the DDL
failed, e.g. a lock it waited for past `PARTITION_LOCK_TIMEOUT` — it raises a critical system
alert, days before the first missing partition is needed, repeated once a day while that day
stays missing.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.core.clock import moscow_today, now_utc
from app.core.config import get_settings
from app.core.database import session_scope
from app.models.marketing import MarketingAlert
from app.models.partitions import days_ahead, ensure_stats_partitions, stats_partitions
from app.services.marketing.alerts import AlertRequest, create_alert

logger = logging.getLogger(__name__)

ALERT_TYPE = "stats_partitions_missing"
REPEAT_AFTER = timedelta(hours=24)


def create_partitions_ahead(session: Session, today: date, ahead: int) -> int:
    """Create the missing partitions from today to `ahead` days after it; returns how many."""
    timeout_ms = int(get_settings().PARTITION_LOCK_TIMEOUT * 1000)
    session.connection().exec_driver_sql(f"SET LOCAL lock_timeout = {timeout_ms}")
    return ensure_stats_partitions(session, today, today + timedelta(days=ahead))


def alert_missing_partitions(
    session: Session, today: date, ahead: int, wanted: int, error: str | None
) -> int | None:
    """One critical alert per missing day per 24 hours; None when it was raised already."""
    first_missing = today + timedelta(days=ahead + 1)
    raised = select(MarketingAlert.id).where(
        MarketingAlert.alert_type == ALERT_TYPE,
        MarketingAlert.created_at >= now_utc() - REPEAT_AFTER,
        MarketingAlert.details["first_missing"].astext == first_missing.isoformat(),
    )
    if session.scalar(raised.limit(1)):
        return None
    when = "now" if ahead < 0 else f"from {first_missing} (in {ahead + 1} days)"
    message = (
        f"marketing_stats has daily partitions for {max(ahead, 0)} days after today, "
        f"STATS_PARTITIONS_AHEAD wants {wanted}: stats snapshots will be refused {when}. "
        f"Creating them failed: {error or 'no error reported'}. Check the worker of marketing_low "
        "and the database log; `adolf-marketing retention` shows the partitions ahead."
    )
    result = create_alert(
        session,
        AlertRequest(
            alert_type=ALERT_TYPE,
            severity="critical",
            title="Stats partitions missing ahead",
            message=message,
            details={"days_ahead": ahead, "wanted": wanted, "first_missing": first_missing.isoformat()},
        ),
    )
    return result.alert_id


def run_create_partitions(now: datetime | None = None) -> dict[str, Any]:
    today = moscow_today(now or now_utc())
    wanted = get_settings().STATS_PARTITIONS_AHEAD
    created, error = 0, None
    try:
        with session_scope() as session:
            created = create_partitions_ahead(session, today, wanted)
    except SQLAlchemyError as failure:
        cause = getattr(failure, "orig", None) or failure
        error = str(cause).strip().splitlines()[0]
        logger.error("creating marketing_stats partitions failed: %s", error)
    with session_scope() as session:
        ahead = days_ahead(stats_partitions(session), today)
        alert_id = alert_missing_partitions(session, today, ahead, wanted, error) if ahead < wanted else None
    return {"created": created, "days_ahead": ahead, "wanted": wanted, "error": error, "alert_id": alert_id}
