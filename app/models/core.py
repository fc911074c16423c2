"""Shared ADOLF tables the marketing system reads and writes: brands, users, notifications.

The spec's alert task (7.3.7) picks recipients by role and brand and writes one notification
per recipient; these are the columns it uses. Beside the in-app rows (issue 12 item 5), each user
may have channels (Telegram, email) chosen by severity, and every message a channel must carry is
a `notification_deliveries` row written in the alert's own transaction — an outbox: a channel
that is down delays the message, never loses it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, CreatedAtMixin, check_in


class UserRole(StrEnum):
    MANAGER = "manager"
    SENIOR = "senior"
    DIRECTOR = "director"
    ADMINISTRATOR = "administrator"


USER_ROLES: Final[tuple[str, ...]] = tuple(UserRole)
# Roles that receive warning and critical alerts whatever their brand (spec 7.3.7).
SENIOR_ROLES: Final[tuple[str, ...]] = (UserRole.SENIOR, UserRole.DIRECTOR, UserRole.ADMINISTRATOR)


class NotificationLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


NOTIFICATION_LEVELS: Final[tuple[str, ...]] = tuple(NotificationLevel)


class ChannelKind(StrEnum):
    TELEGRAM = "telegram"  # address: the user's Telegram id (their private chat with the bot)
    EMAIL = "email"  # address: an email address


CHANNEL_KINDS: Final[tuple[str, ...]] = tuple(ChannelKind)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent at next_attempt_at (again, after a failure)
    DIGEST = "digest"  # an info alert waiting for the user's daily digest
    DIGESTED = "digested"  # folded into a digest, which is a delivery of its own
    SENT = "sent"
    FAILED = "failed"  # refused for good, or still failing after NOTIFY_GIVE_UP_AFTER


DELIVERY_STATUSES: Final[tuple[str, ...]] = tuple(DeliveryStatus)


class Brand(CreatedAtMixin, Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)

    users: Mapped[list[User]] = relationship(back_populates="brand")


class User(CreatedAtMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(check_in("role", USER_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true())

    brand: Mapped[Brand | None] = relationship(back_populates="users")
    notifications: Mapped[list[Notification]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    channels: Mapped[list[UserChannel]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, order_by="UserChannel.id"
    )


class Notification(CreatedAtMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(check_in("level", NOTIFICATION_LEVELS), name="level"),
        Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # "marketing.<alert_type>" (spec 7.3.7)
    event_type: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    source_module: Mapped[str | None] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(64))
    is_read: Mapped[bool] = mapped_column(Boolean, server_default=false())

    user: Mapped[User] = relationship(back_populates="notifications")


class UserChannel(CreatedAtMixin, Base):
    """Where a user hears about alerts besides the in-app notification, and from which severity:
    alerts at or above `min_severity` are sent one by one; info alerts, when `min_severity` is
    info, go into one digest a day (issue 12 item 5)."""

    __tablename__ = "user_notification_channels"
    __table_args__ = (
        CheckConstraint(check_in("channel", CHANNEL_KINDS), name="channel"),
        CheckConstraint(check_in("min_severity", NOTIFICATION_LEVELS), name="min_severity"),
        UniqueConstraint("user_id", "channel"),
        Index("ix_user_notification_channels_channel_address", "channel", "address"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    min_severity: Mapped[str] = mapped_column(String(32), server_default=NotificationLevel.WARNING.value)

    user: Mapped[User] = relationship(back_populates="channels")


class NotificationDelivery(CreatedAtMixin, Base):
    """One message of one notification on one channel (the outbox of app/services/notify)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint(check_in("channel", CHANNEL_KINDS), name="channel"),
        CheckConstraint(check_in("status", DELIVERY_STATUSES), name="status"),
        Index("ix_notification_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_notification_deliveries_notification_id", "notification_id"),
        Index("ix_notification_deliveries_user_id_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), server_default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # When a sender may take it next: the retry time after a failure, or the end of the lease of
    # the sender that took it (a sender that died lets the next sweep send it).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The channel's id of the message (Telegram message_id), to edit its buttons later.
    external_id: Mapped[str | None] = mapped_column(String(64))
    # The digest delivery an info delivery was folded into.
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_deliveries.id", ondelete="SET NULL")
    )

    notification: Mapped[Notification] = relationship()
