"""Wires permanent task failures to the dead letters (spec 7.6.2, DESIGN.md §5).

`task_failure` fires in the pool child for exceptions (after the last retry) and in the worker's
main process for hard time limits, lost workers past the redelivery cap and rejected messages —
where the task's own on_failure never runs (celery-reliability.md §1.5). `task_revoked` with
`expired=True` covers periodic messages that waited past their `expires` (§1.4). `task_unknown`
(a message naming a task no module registers) and `task_rejected` (a message the worker cannot
accept: not a task message, or a serializer outside `accept_content`) fire in the main process
when the consumer drops a message, which Celery itself only logs (issue 15 item 5). A message whose
body cannot be decoded is acked and only logged by Celery as well: `DeadLetterConsumer` (the
workers' `worker_consumer`) records it too (fault matrix 16, issue 14).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import signals
from celery.exceptions import Reject
from celery.worker.consumer import Consumer
from kombu.message import Message

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


def _message_ids(message: Message) -> tuple[str, str]:
    """Task id and name from the headers (protocol 2); a message without an id gets one of its own."""
    headers = message.headers or {}
    task_id = headers.get("id") or message.properties.get("correlation_id") or f"dropped-{uuid.uuid4()}"
    return str(task_id)[:64], str(headers.get("task") or "unknown")[:255]


def _json_arguments(message: Message) -> tuple[list[Any], dict[str, Any]]:
    """A protocol-2 JSON body's args and kwargs; anything else is left undecoded (never unpickled)."""
    if message.content_type != "application/json":
        return [], {}
    try:
        body = message.decode()
    except Exception:  # an undecodable body is what is being reported, not a new failure
        return [], {}
    if isinstance(body, list | tuple) and len(body) == 3:
        args, kwargs, _ = body
        if isinstance(args, list | tuple) and isinstance(kwargs, dict):
            return list(args), kwargs
    return [], {}


def _routing_key(message: Message) -> str | None:
    return (message.delivery_info or {}).get("routing_key")


@signals.task_unknown.connect
def _on_task_unknown(
    sender: Any = None,
    message: Message | None = None,
    name: str | None = None,
    id: str | None = None,  # the signal's own argument name
    **_: Any,
) -> None:
    if message is None:
        return
    task_id, header_name = _message_ids(message)
    task_name = str(name or header_name)
    args, kwargs = _json_arguments(message)
    _store(
        FailedTask(
            task_id=str(id or task_id)[:64],
            task_name=task_name[:255],
            reason="unknown_task",
            exception=f"NotRegistered: no task module of this worker registers {task_name!r} "
            "(a wrong name in the beat schedule or a caller, or a worker running an older build)",
            args=args,
            kwargs=kwargs,
            queue=_routing_key(message),
        )
    )


@signals.task_rejected.connect
def _on_task_rejected(
    sender: Any = None, message: Message | None = None, exc: BaseException | None = None, **_: Any
) -> None:
    if message is None:
        return
    task_id, task_name = _message_ids(message)
    problem = (
        describe(exc)
        if exc is not None
        else f"UnknownMessage: not a Celery task message (content type {message.content_type!r})"
    )
    _store(
        FailedTask(
            task_id=task_id,
            task_name=task_name,
            reason="rejected",
            exception=problem,
            args=[],
            kwargs={},
            queue=_routing_key(message),
        )
    )


class DeadLetterConsumer(Consumer):
    """Celery's consumer, whose undecodable message bodies are dead letters, not only a log line."""

    def on_decode_error(self, message: Message, exc: BaseException) -> None:
        super().on_decode_error(message, exc)
        task_id, task_name = _message_ids(message)
        _store(
            FailedTask(
                task_id=task_id,
                task_name=task_name,
                reason="rejected",
                exception=f"DecodeError: the body of a {message.content_type!r} message cannot be "
                f"decoded ({type(exc).__name__}); it was dropped",
                args=[],
                kwargs={},
                queue=_routing_key(message),
            )
        )
