"""The Redis broker transport, guarded against a queue item that is not a message envelope.

kombu's Redis channel pops an item (BRPOP) and parses it as a JSON envelope in the worker's main
process; an item that is not JSON (a stray `LPUSH`, another program's data, a truncated write)
raises out of the event loop and the worker stops with "Unrecoverable error" (fault matrix 16,
issue 14) — every worker that pops it, one after the other. Here such an item is dropped, as it
is already off the queue, and recorded as a dead letter (`rejected`) with its size and the parse
error, never its content (it may hold anything).

Every `redis://`, `rediss://` and `redis+socket://` broker URL of this project uses it: the
module points kombu's `redis` and `rediss` transport aliases here when imported (by
app.core.celery_config). Bodies that are valid envelopes but cannot be decoded are Celery's own
`task_rejected` path (app/tasks/marketing/failures.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)

TRANSPORT = "app.core.redis_transport:Transport"


class Channel(kombu_redis.Channel):
    def _brpop_read(self, **options: Any) -> bool:
        try:
            return bool(super()._brpop_read(**options))
        except json.JSONDecodeError as error:
            # The item was popped before it failed to parse: nothing is left to redeliver.
            drop_undecodable(len(error.doc), error)
            return True
        except UnicodeDecodeError as error:
            drop_undecodable(len(error.object), error)
            return True


class Transport(kombu_redis.Transport):
    Channel = Channel


def drop_undecodable(size: int, error: ValueError) -> None:
    problem = (
        f"UndecodableMessage: a queue item of {size} characters is not a message envelope "
        f"({type(error).__name__}: {error}); it was dropped"
    )
    logger.error("%s", problem)
    try:
        from app.core.database import session_scope
        from app.services.failures import FailedTask, record_failed_task

        with session_scope() as session:
            record_failed_task(
                session,
                FailedTask(
                    task_id=f"dropped-{uuid.uuid4()}",
                    task_name="unknown",
                    reason="rejected",
                    exception=problem,
                    args=[],
                    kwargs={},
                ),
            )
    except Exception:  # the log line above is the last resort when PostgreSQL is down too
        logger.exception("could not record the dropped queue item as a dead letter")


def install() -> None:
    """Make this the transport of every Redis broker URL (idempotent)."""
    TRANSPORT_ALIASES["redis"] = TRANSPORT
    TRANSPORT_ALIASES["rediss"] = TRANSPORT
