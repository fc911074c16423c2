"""Wires permanent task failures to the dead letters (spec 7.6.2, DESIGN.md §5).

`task_failure` fires in the pool child for exceptions (after the last retry) and in the worker's
main process for hard time limits, lost workers past the redelivery cap and rejected messages —
where the task's own on_failure never runs (celery-reliability.md §1.5). `task_revoked` with
`expired=True` covers periodic messages that waited past their `expires` (§1.4).
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import signals
from celery.exceptions import Reject

from app.core.database import session_scope
from app.services.failures import FailedTask, record_failed_task
from app.tasks.base import RedeliveryCapExceeded

logger = logging.getLogger(__name__)


def failure_reason(exception: BaseException, retries: int, max_retries: int | None) -> str:
    if isinstance(exception, Reject):
        return "redelivery_cap" if isinstance(exception.reason, RedeliveryCapExceeded) else "failed"
    if isinstance(exception, TimeLimitExceeded):
        return "time_limit"
    if isinstance(exception, WorkerLostError):
        return "worker_lost"
    if max_retries and retries >= max_retries:
        return "retries_exhausted"
    return "failed"


def describe(exception: BaseException) -> str:
    if isinstance(exception, Reject) and isinstance(exception.reason, BaseException):
        exception = exception.reason
    text = str(exception)
    return f"{type(exception).__name__}: {text}" if text else type(exception).__name__


def _store(failed: FailedTask) -> None:
    try:
        with session_scope() as session:
            recorded = record_failed_task(session, failed)
    except Exception:
        # The dead-letter table is the last resort: if PostgreSQL is down too, the log must say so.
        logger.exception("could not record dead letter for %s[%s]", failed.task_name, failed.task_id)
        return
    if recorded is not None:
        logger.error(
            "task %s[%s] failed for good (%s): %s",
            failed.task_name,
            failed.task_id,
            failed.reason,
            failed.exception,
        )


@signals.task_failure.connect
def _on_task_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    kwargs: Any = None,
    einfo: Any = None,
    **_: Any,
) -> None:
    if sender is None or exception is None:
        return
    request = getattr(sender, "request", None)
    retries = int(getattr(request, "retries", 0) or 0)
    delivery = getattr(request, "delivery_info", None) or {}
    _store(
        FailedTask(
            task_id=str(task_id),
            task_name=str(sender.name),
            reason=failure_reason(exception, retries, sender.max_retries),
            exception=describe(exception),
            args=list(args or []),
            kwargs=dict(kwargs or {}),
            traceback=str(einfo) if einfo is not None else None,
            retries=retries,
            queue=delivery.get("routing_key"),
        )
    )


@signals.task_revoked.connect
def _on_task_revoked(sender: Any = None, request: Any = None, expired: bool = False, **_: Any) -> None:
    if not expired or request is None:
        return  # a revoke by an operator is a decision, not a failure
    _store(
        FailedTask(
            task_id=str(request.id),
            task_name=str(getattr(sender, "name", None) or getattr(request, "task", "unknown")),
            reason="expired",
            exception="TaskExpired: the message waited in the queue past its expires time",
            args=list(getattr(request, "args", None) or []),
            kwargs=dict(getattr(request, "kwargs", None) or {}),
            queue=(getattr(request, "delivery_info", None) or {}).get("routing_key"),
        )
    )
