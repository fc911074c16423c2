"""Telegram and email beside the in-app notifications: an outbox (issue 12 item 5).

1. **Queue** in the alert's own transaction (`queue_deliveries`, called by `create_alert`): one
   `notification_deliveries` row per recipient and channel whose `min_severity` the alert reaches,
   for the channels this installation has configured (a bot token, an SMTP host). Warning and
   critical alerts are `pending`; info alerts are `digest`: they wait for the daily digest. The
   alert, its notification and its deliveries commit together or not at all — a channel that is
   down can delay a message, never lose it.
2. **Send** from a task (`deliver_due`, run right after a commit that queued messages and every
   minute by beat): take due rows — `FOR UPDATE SKIP LOCKED`, then a lease (`next_attempt_at` moved
   ahead), so two senders never take one row and a sender that died lets the next one retry —
   and send each. Sent → `sent` with the channel's message id; a failure → retried with a doubling
   delay (`NOTIFY_RETRY_BASE` … `NOTIFY_RETRY_MAX`, or Telegram's `retry_after`); a permanent
   refusal (a chat that does not exist, an address refused) or a message still failing
   `NOTIFY_GIVE_UP_AFTER` after it was queued → `failed`, with the error. The alert row and the
   in-app notification never change.
3. **Digest** (`build_digests`, daily): each user's waiting info deliveries of one channel become
   one digest notification with one pending delivery; they are `digested` into it.

Telegram messages of an alert about a keyword whose bid changed in the last
`BID_CHANGE_WINDOW` carry a button that rolls that change back (app/services/notify/bot.py).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.config import Settings, get_settings
from app.core.database import session_scope
from app.models.core import (
    NOTIFICATION_LEVELS,
    ChannelKind,
    DeliveryStatus,
    Notification,
    NotificationDelivery,
    NotificationLevel,
    UserChannel,
)
from app.services.notify.email import send_email
from app.services.notify.errors import ChannelError
from app.services.notify.telegram import Button, TelegramClient

logger = logging.getLogger(__name__)

# `session.info` flag: this transaction queued messages to send now (app/tasks/marketing/alerts.py
# sends `deliver_notifications` after the commit).
QUEUED_FLAG: Final = "adolf_deliveries_queued"
# An alert about a keyword whose bid changed this recently offers to roll the change back.
BID_CHANGE_WINDOW: Final = timedelta(hours=24)
ROLLBACK_PREFIX: Final = "rb:"
LEASE: Final = timedelta(minutes=2)
DIGEST_LINES: Final = 40
ICONS: Final = {"info": "ℹ️", "warning": "⚠️", "critical": "🛑"}


def configured_channels(settings: Settings) -> set[str]:
    channels = set()
    if settings.TELEGRAM_BOT_TOKEN:
        channels.add(ChannelKind.TELEGRAM.value)
    if settings.SMTP_HOST:
        channels.add(ChannelKind.EMAIL.value)
    return channels


def route(
    channels: Iterable[UserChannel], severity: str, configured: set[str]
) -> list[tuple[UserChannel, str]]:
    """Which of a user's channels carry an alert of `severity`, and how: at or above the channel's
    `min_severity` it is sent (`pending`) — info ones only in the digest (`digest`)."""
    rank = NOTIFICATION_LEVELS.index(severity)
    chosen = []
    for channel in channels:
        if channel.channel in configured and rank >= NOTIFICATION_LEVELS.index(channel.min_severity):
            status = DeliveryStatus.DIGEST if severity == NotificationLevel.INFO else DeliveryStatus.PENDING
            chosen.append((channel, status.value))
    return chosen


def queue_deliveries(session: Session, notification: Notification, *, reply_on: str | None = None) -> int:
    """The deliveries of one notification: its user's channels, by its level; or, for a reply to
    the user's own action (`reply_on` a channel), that channel alone, at once, whatever the level."""
    now = notification.created_at or now_utc()
    channels = session.scalars(select(UserChannel).where(UserChannel.user_id == notification.user_id)).all()
    configured = configured_channels(get_settings())
    if reply_on is None:
        routed = route(channels, notification.level, configured)
    else:
        routed = [
            (c, DeliveryStatus.PENDING.value)
            for c in channels
            if c.channel == reply_on and reply_on in configured
        ]
    for channel, status in routed:
        pending = status == DeliveryStatus.PENDING
        session.add(
            NotificationDelivery(
                notification_id=notification.id,
                user_id=notification.user_id,
                channel=channel.channel,
                address=channel.address,
                status=status,
                next_attempt_at=now if pending else None,
                created_at=now,
            )
        )
        if pending:
            session.info[QUEUED_FLAG] = True
    return len(routed)


# --- sending ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    buttons: list[Button] = field(default_factory=list)


def render(notification: Notification) -> Rendered:
    data: dict[str, Any] = notification.data or {}
    lines = [f"{ICONS.get(notification.level, '')} {notification.title}".strip(), notification.message]
    if data.get("campaign_name"):
        lines.append(
            f"Campaign: {data['campaign_name']} ({data.get('marketplace')}, id {data.get('campaign_id')})"
        )
    buttons = []
    change = data.get("bid_change")
    if isinstance(change, dict) and change.get("history_id"):
        lines.append(f"Last bid change: {change.get('old')} → {change.get('new')} ({change.get('by')})")
        buttons.append(
            Button(f"↩ Roll back to {change.get('old')}", f"{ROLLBACK_PREFIX}{change['history_id']}")
        )
    subject = f"[ADOLF {notification.level}] {notification.title}"
    return Rendered(subject, "\n".join(line for line in lines if line), buttons)


class Senders:
    """The channels' clients of one delivery run (one HTTP client for all Telegram messages)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._telegram: TelegramClient | None = None

    def telegram(self) -> TelegramClient:
        token = self.settings.TELEGRAM_BOT_TOKEN
        if token is None:
            raise ChannelError("Telegram is not configured: set TELEGRAM_BOT_TOKEN")
        if self._telegram is None:
            self._telegram = TelegramClient(
                self.settings.TELEGRAM_API_URL, token.get_secret_value(), self.settings.NOTIFY_TIMEOUT
            )
        return self._telegram

    def send(self, channel: str, address: str, message: Rendered) -> str:
        if channel == ChannelKind.TELEGRAM:
            return self.telegram().send_message(address, message.text, message.buttons)
        return send_email(self.settings, address, message.subject, message.text)

    def close(self) -> None:
        if self._telegram is not None:
            self._telegram.close()


def claim_due(session: Session, now: datetime, limit: int) -> list[int]:
    """Take up to `limit` due deliveries for one sender: locked rows of other senders are skipped,
    the taken ones leased until `now + LEASE`."""
    due = (
        select(NotificationDelivery.id)
        .where(
            NotificationDelivery.status == DeliveryStatus.PENDING,
            NotificationDelivery.next_attempt_at <= now,
        )
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(due))
    if ids:
        session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id.in_(ids))
            .values(next_attempt_at=now + LEASE)
        )
    return ids


def retry_delay(settings: Settings, attempts: int, retry_after: float | None) -> float:
    backoff = min(settings.NOTIFY_RETRY_BASE * 2 ** max(attempts - 1, 0), settings.NOTIFY_RETRY_MAX)
    return max(backoff, retry_after or 0.0)


def _record_failure(
    delivery: NotificationDelivery, error: ChannelError, now: datetime, settings: Settings
) -> str:
    delivery.attempts += 1
    delivery.last_error = str(error)[:1000]
    too_old = now - delivery.created_at > timedelta(seconds=settings.NOTIFY_GIVE_UP_AFTER)
    if error.permanent or too_old:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        return "failed"
    delivery.next_attempt_at = now + timedelta(
        seconds=retry_delay(settings, delivery.attempts, error.retry_after)
    )
    return "retrying"


def deliver_due(limit: int | None = None, budget_s: float | None = None) -> dict[str, int]:
    """Send what is due (one run of `deliver_notifications`); stop taking messages after
    `budget_s` seconds (the rest stay leased and are due again after LEASE)."""
    settings = get_settings()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    with session_scope() as session:
        ids = claim_due(session, now_utc(), limit or settings.NOTIFY_BATCH)
    deadline = time.monotonic() + budget_s if budget_s is not None else None
    senders = Senders(settings)
    try:
        for delivery_id in ids:
            if deadline is not None and time.monotonic() > deadline:
                break
            counts[_deliver_one(delivery_id, senders, settings)] += 1
    finally:
        senders.close()
    if counts["retrying"] or counts["failed"]:
        logger.warning("notifications: %s", counts)
    return counts


def _deliver_one(delivery_id: int, senders: Senders, settings: Settings) -> str:
    with session_scope() as session:
        delivery = session.get(NotificationDelivery, delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return "sent"  # handled meanwhile (a retention purge, another sender after the lease)
        channel, address = delivery.channel, delivery.address
        message = render(delivery.notification)
    try:
        external_id = senders.send(channel, address, message)
    except ChannelError as error:
        with session_scope() as session:
            delivery = session.get(NotificationDelivery, delivery_id)
            assert delivery is not None
            return _record_failure(delivery, error, now_utc(), settings)
    with session_scope() as session:
        delivery = session.get(NotificationDelivery, delivery_id)
        assert delivery is not None
        delivery.status, delivery.sent_at = DeliveryStatus.SENT, now_utc()
        delivery.external_id, delivery.attempts = external_id[:64] or None, delivery.attempts + 1
        delivery.last_error = None
    return "sent"


# --- the daily digest ------------------------------------------------------------------------------


def digest_text(notifications: Sequence[Notification]) -> str:
    lines = [f"• {n.title}: {n.message}"[:300] for n in notifications[:DIGEST_LINES]]
    if len(notifications) > DIGEST_LINES:
        lines.append(f"… and {len(notifications) - DIGEST_LINES} more in ADOLF")
    return "\n".join(lines)


def build_digests(now: datetime | None = None) -> dict[str, int]:
    """Fold every user's waiting info deliveries of one channel into one digest message."""
    now = now or now_utc()
    with session_scope() as session:
        waiting = session.scalars(
            select(NotificationDelivery)
            .where(
                NotificationDelivery.status == DeliveryStatus.DIGEST, NotificationDelivery.created_at <= now
            )
            .order_by(NotificationDelivery.id)
            .with_for_update(skip_locked=True)
        ).all()
        groups: dict[tuple[int, str, str], list[NotificationDelivery]] = defaultdict(list)
        for delivery in waiting:
            groups[(delivery.user_id, delivery.channel, delivery.address)].append(delivery)
        for (user_id, channel, address), deliveries in groups.items():
            notifications = [d.notification for d in deliveries]
            digest = Notification(
                user_id=user_id,
                event_type="marketing.digest",
                level=NotificationLevel.INFO.value,
                title=f"ADOLF daily digest: {len(deliveries)} info alerts",
                message=digest_text(notifications),
                data={"alerts": [n.data.get("alert_id") for n in notifications]},
                source_module="marketing",
                source_id="digest",
                created_at=now,
            )
            session.add(digest)
            session.flush()
            message = NotificationDelivery(
                notification_id=digest.id,
                user_id=user_id,
                channel=channel,
                address=address,
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(message)
            session.flush()
            for delivery in deliveries:
                delivery.status, delivery.digest_id = DeliveryStatus.DIGESTED, message.id
            session.info[QUEUED_FLAG] = True
    return {"digests": len(groups), "alerts": len(waiting)}
