"""In-app notifications (the `notifications` table of the ADOLF core; spec 7.3.7)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.models.core import Notification


class NotificationService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        *,
        user_id: int,
        event_type: str,
        level: str,
        title: str,
        message: str,
        data: dict[str, Any],
        source_module: str,
        source_id: str,
    ) -> Notification:
        notification = Notification(
            user_id=user_id,
            event_type=event_type,
            level=level,
            title=title,
            message=message,
            data=data,
            source_module=source_module,
            source_id=source_id,
            created_at=now_utc(),
        )
        self.session.add(notification)
        self.session.flush()
        return notification
