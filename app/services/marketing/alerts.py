"""Alerts and who hears about them (spec 7.3.7).

Recipients: the active managers of the campaign's brand always; active seniors, directors and
administrators for warning and critical. A system alert (no campaign — DESIGN.md §5: the spec's
`campaign_id=0` was rejected) goes to the administrators whatever its severity, plus the seniors
and directors for warning and critical. An alert naming a campaign that no longer exists is kept
as a system alert with the missing id in its details, rather than dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.models.core import User
from app.models.marketing import MarketingAlert, MarketingCampaign
from app.services.notification import NotificationService

SEVERITIES = ("info", "warning", "critical")
ESCALATED_ROLES = ("senior", "director", "administrator")


class AlertError(ValueError):
    """The alert request itself is malformed (unknown severity, empty title)."""


@dataclass(frozen=True)
class AlertRequest:
    alert_type: str
    severity: str
    title: str
    message: str
    campaign_id: int | None = None
    keyword_id: int | None = None
    action_taken: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if self.severity not in SEVERITIES:
            raise AlertError(f"unknown alert severity {self.severity!r}; use one of {', '.join(SEVERITIES)}")
        if not self.alert_type.strip() or not self.title.strip():
            raise AlertError("an alert needs a non-empty alert_type and title")


@dataclass(frozen=True)
class AlertResult:
    alert_id: int
    recipients: int

    def as_dict(self) -> dict[str, int]:
        return {"alert_id": self.alert_id, "recipients": self.recipients}


def alert_recipients(session: Session, brand_id: int | None, severity: str, system: bool) -> list[int]:
    """User ids to notify, without duplicates, in id order."""
    active = User.is_active.is_(True)
    ids: set[int] = set()
    if brand_id is not None:
        ids.update(
            session.scalars(select(User.id).where(active, User.role == "manager", User.brand_id == brand_id))
        )
    roles: tuple[str, ...] = ()
    if severity in ("warning", "critical"):
        roles = ESCALATED_ROLES
    elif system:
        roles = ("administrator",)
    if roles:
        ids.update(session.scalars(select(User.id).where(active, User.role.in_(roles))))
    return sorted(ids)


def create_alert(session: Session, request: AlertRequest) -> AlertResult:
    """Write the alert row and one notification per recipient, in the caller's transaction."""
    request.validate()
    details = dict(request.details)
    campaign = session.get(MarketingCampaign, request.campaign_id) if request.campaign_id else None
    if request.campaign_id and campaign is None:
        details["missing_campaign_id"] = request.campaign_id
    alert = MarketingAlert(
        campaign_id=campaign.id if campaign else None,
        keyword_id=request.keyword_id if campaign else None,
        marketplace=campaign.marketplace if campaign else None,
        brand_id=campaign.brand_id if campaign else None,
        alert_type=request.alert_type,
        severity=request.severity,
        title=request.title,
        message=request.message,
        details=details,
        action_taken=request.action_taken,
        created_at=now_utc(),
    )
    session.add(alert)
    session.flush()
    recipients = alert_recipients(
        session, campaign.brand_id if campaign else None, request.severity, system=campaign is None
    )
    notifications = NotificationService(session)
    for user_id in recipients:
        notification = notifications.create(
            user_id=user_id,
            event_type=f"marketing.{request.alert_type}",
            level=request.severity,
            title=request.title,
            message=request.message,
            data={
                "campaign_id": campaign.id if campaign else None,
                "campaign_name": campaign.name if campaign else None,
                "marketplace": campaign.marketplace if campaign else None,
                "alert_id": alert.id,
            },
            source_module="marketing",
            source_id=str(alert.id),
        )
        alert.notification_id = notification.id
    return AlertResult(alert_id=alert.id, recipients=len(recipients))
