"""kombu's Redis transport with two guards, so that a worker survives what its broker throws at it
(issue 14, fault matrix scenarios 9 and 16; celery-reliability.md §1.7).

1. **Redis going away.** With celery 5.7.0 / kombu 5.7.0, when the broker connection is lost the
   consumer collects the connection (which detaches the transport from it) and then closes it;
   closing a channel restores its unacked messages, which needs a Redis client, whose parameters
   are read from the detached connection: `AttributeError: 'NoneType' object has no attribute
   'hostname'`. That is not one of the connection errors the closing code ignores, so the worker
   stopped with "Unrecoverable error" instead of reconnecting. Here the detached case is the
   connection error it is: the close goes on, the messages stay in Redis's `unacked` set and come
   back with the visibility sweep (never lost, at worst late), and the consumer reconnects.
2. **A queue item that is not a message envelope.** kombu's Redis channel pops an item (BRPOP) and
   parses it as a JSON envelope in the worker's main process; an item that is not JSON (a stray
   `LPUSH`, another program's data, a truncated write) raised out of the event loop and stopped
   every worker that popped it, one after the other. Here such an item is dropped, as it is already
   off the queue, and recorded as a dead letter (`rejected`) with its size and the parse error,
   never its content (it may hold anything). Bodies that are valid envelopes but cannot be decoded
   are Celery's own `task_rejected` path (app/tasks/marketing/failures.py).

`install()` (called by app.core.celery_config before any broker connection) points every kombu
alias of its Redis transport (`redis://`, `rediss://`, `redis+socket://`) here.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

KOMBU_REDIS = "kombu.transport.redis:Transport"
OURS = "app.core.redis_transport:Transport"


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed (Redis went away)")
        return super()._connparams(asynchronous)

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
    """Make every Redis broker URL use this transport (idempotent)."""
    for scheme, transport in list(TRANSPORT_ALIASES.items()):
        if transport == KOMBU_REDIS:
            TRANSPORT_ALIASES[scheme] = OURS
