"""Dead letters (spec 7.6.2): a permanently failed task is recorded and raises one critical alert.

The spec's `handle_failed_task` was never wired to anything (DESIGN.md §5); the Celery signal
handlers in app.tasks.marketing.failures call `record_failed_task` instead. Arguments are stored
with secret-looking fields redacted; exception text is kept as the task raised it (our own errors
never carry tokens — DESIGN.md §3 "Credentials never travel").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.core.secrets import redact
from app.models.marketing import FAILURE_REASONS, CeleryFailedTask
from app.services.marketing.alerts import AlertRequest, create_alert

MAX_TEXT = 20_000


@dataclass(frozen=True)
class FailedTask:
    task_id: str
    task_name: str
    reason: str
    exception: str
    args: list[Any]
    kwargs: dict[str, Any]
    traceback: str | None = None
    retries: int = 0
    queue: str | None = None


def record_failed_task(session: Session, failed: FailedTask) -> int | None:
    """Insert the dead letter and its alert; None when this task id was recorded already."""
    if failed.reason not in FAILURE_REASONS:
        raise ValueError(f"unknown failure reason {failed.reason!r}")
    row_id = session.scalar(
        insert(CeleryFailedTask)
        .values(
            task_id=failed.task_id,
            task_name=failed.task_name,
            args=redact(list(failed.args)),
            kwargs=redact(dict(failed.kwargs)),
            exception=failed.exception[:MAX_TEXT],
            traceback=failed.traceback[-MAX_TEXT:] if failed.traceback else None,
            reason=failed.reason,
            retries=failed.retries,
            queue=failed.queue,
        )
        .on_conflict_do_nothing(index_elements=[CeleryFailedTask.task_id])
        .returning(CeleryFailedTask.id)
    )
    if row_id is None:
        return None
    short_name = failed.task_name.rsplit(".", 1)[-1]
    create_alert(
        session,
        AlertRequest(
            alert_type="system_error",
            severity="critical",
            title=f"Celery task failed: {short_name}",
            message=f"Task {failed.task_name}[{failed.task_id}] failed for good ({failed.reason}): "
            f"{failed.exception[:500]}",
            details={"failed_task_id": row_id, "task_id": failed.task_id, "reason": failed.reason},
        ),
    )
    return row_id
