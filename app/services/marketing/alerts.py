"""Alerts and who hears about them (spec 7.3.7).

Recipients: the active managers of the campaign's brand always; active seniors, directors and
administrators for warning and critical. A system alert (no campaign — DESIGN.md §5: the spec's
`campaign_id=0` was rejected) goes to the administrators whatever its severity, plus the seniors
and directors for warning and critical. An alert naming a campaign that no longer exists is kept
as a system alert with the missing id in its details, rather than dropped.

**De-duplication** (issue 9 finding 10): an alert about a campaign or keyword is raised once per
(campaign, keyword, type, Moscow day). The same alert again that day is only counted
(`repeats`) unless the situation changed (`situation` differs), it got worse (`level` up by more
than a tenth) or more severe — then a new alert goes out. System alerts are not de-duplicated
unless they ask for it (`dedup=True`; a dead letter is always news).

**Channels** (issue 12 item 5): each notification is also queued for the recipient's Telegram and
email by their severity, in the same transaction (app/services/notify/delivery.py). An alert about
a keyword whose bid changed in the last day names that change, and its Telegram message offers to
roll it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import moscow_today, now_utc
from app.models.base import any_of
from app.models.core import User
from app.models.marketing import BidSource, MarketingAlert, MarketingCampaign
from app.services.marketing.bid_history import format_bid, latest_change, made_by
from app.services.notification import NotificationService
from app.services.notify.delivery import BID_CHANGE_WINDOW, queue_deliveries

SEVERITIES = ("info", "warning", "critical")
ESCALATED_ROLES = ("senior", "director", "administrator")
# A repeated alert is news again when its level grows by more than this share.
WORSE_BY = Decimal("0.1")


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
    situation: str | None = None  # a change of this raises the alert again the same day
    level: float | int | Decimal | None = None  # higher = worse; a rise of > 10 % raises it again
    dedup: bool | None = None  # None: de-duplicate alerts about a campaign, not system alerts

    def validate(self) -> None:
        if self.severity not in SEVERITIES:
            raise AlertError(f"unknown alert severity {self.severity!r}; use one of {', '.join(SEVERITIES)}")
        if not self.alert_type.strip() or not self.title.strip():
            raise AlertError("an alert needs a non-empty alert_type and title")


@dataclass(frozen=True)
class AlertResult:
    alert_id: int
    recipients: int
    repeated: bool = False  # an open alert of the same day covered it: nothing new was sent

    def as_dict(self) -> dict[str, int | bool]:
        return {"alert_id": self.alert_id, "recipients": self.recipients, "repeated": self.repeated}


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


def _same_day_alert(
    session: Session, request: AlertRequest, campaign_id: int | None, day: object
) -> MarketingAlert | None:
    keyword = MarketingAlert.keyword_id
    campaign = MarketingAlert.campaign_id
    return session.scalars(
        select(MarketingAlert)
        .where(
            MarketingAlert.alert_date == day,
            MarketingAlert.alert_type == request.alert_type,
            campaign.is_(None) if campaign_id is None else campaign == campaign_id,
            keyword.is_(None) if request.keyword_id is None else keyword == request.keyword_id,
        )
        .order_by(MarketingAlert.id.desc())
        .limit(1)
    ).first()


def _is_news(request: AlertRequest, earlier: MarketingAlert) -> bool:
    if SEVERITIES.index(request.severity) > SEVERITIES.index(earlier.severity):
        return True
    if request.situation is not None and request.situation != earlier.situation:
        return True
    if request.level is not None and earlier.level is not None:
        return Decimal(str(request.level)) > earlier.level * (1 + WORSE_BY)
    return False


def create_alert(session: Session, request: AlertRequest) -> AlertResult:
    """Write the alert row and one notification per recipient, in the caller's transaction —
    unless the same alert went out earlier the same Moscow day and nothing got worse."""
    return create_alerts(session, [request])[0]


def create_alerts(session: Session, requests: Sequence[AlertRequest]) -> list[AlertResult]:
    """`create_alert` for many requests, in order: the campaigns read in one query, the clock once,
    each (brand, severity) audience once."""
    for request in requests:
        request.validate()
    if not requests:
        return []
    wanted = {r.campaign_id for r in requests if r.campaign_id}
    campaigns = (
        {
            c.id: c
            for c in session.scalars(select(MarketingCampaign).where(any_of(MarketingCampaign.id, wanted)))
        }
        if wanted
        else {}
    )
    now = now_utc()
    audiences: dict[tuple[int | None, str, bool], list[int]] = {}

    def recipients(brand_id: int | None, severity: str, system: bool) -> list[int]:
        key = (brand_id, severity, system)
        if key not in audiences:
            audiences[key] = alert_recipients(session, brand_id, severity, system)
        return audiences[key]

    return [
        _create_one(session, r, campaigns.get(r.campaign_id) if r.campaign_id else None, now, recipients)
        for r in requests
    ]


def _create_one(
    session: Session,
    request: AlertRequest,
    campaign: MarketingCampaign | None,
    now: datetime,
    recipients_of: Callable[[int | None, str, bool], list[int]],
) -> AlertResult:
    details = dict(request.details)
    if request.campaign_id and campaign is None:
        details["missing_campaign_id"] = request.campaign_id
    day = moscow_today(now)
    dedup = request.dedup if request.dedup is not None else campaign is not None
    if dedup:
        earlier = _same_day_alert(session, request, campaign.id if campaign else None, day)
        if earlier is not None and not _is_news(request, earlier):
            earlier.repeats += 1
            return AlertResult(alert_id=earlier.id, recipients=0, repeated=True)
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
        created_at=now,
        alert_date=day,
        situation=request.situation,
        level=Decimal(str(request.level)) if request.level is not None else None,
    )
    session.add(alert)
    session.flush()
    recipients = recipients_of(campaign.brand_id if campaign else None, request.severity, campaign is None)
    notifications = NotificationService(session)
    bid_change = _bid_change(session, alert, now)
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
                **({"bid_change": bid_change} if bid_change else {}),
            },
            source_module="marketing",
            source_id=str(alert.id),
        )
        alert.notification_id = notification.id
        queue_deliveries(session, notification)
    return AlertResult(alert_id=alert.id, recipients=len(recipients))


def _bid_change(session: Session, alert: MarketingAlert, now: datetime) -> dict[str, Any] | None:
    """The keyword's latest bid change of the last day, if the alert names a keyword (not a
    rollback: undoing an undo is a manual change)."""
    if alert.keyword_id is None:
        return None
    change = latest_change(session, alert.keyword_id, now - BID_CHANGE_WINDOW)
    if change is None or change.source == BidSource.ROLLBACK or change.old_bid is None:
        return None
    return {
        "history_id": change.id,
        "old": format_bid(change.old_bid, change.bid_unit),
        "new": format_bid(change.new_bid, change.bid_unit),
        "by": made_by(change),
    }
