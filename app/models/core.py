"""Shared ADOLF tables the marketing system reads and writes: brands, users, notifications.

The spec's alert task (7.3.7) picks recipients by role and brand and writes one notification
per recipient; these are the columns it uses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
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
