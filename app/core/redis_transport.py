"""kombu's Redis transport with one fix: a worker must survive Redis going away (issue 14, fault
matrix scenario 9; celery-reliability.md §1.7).

With celery 5.7.0 / kombu 5.7.0, when the broker connection is lost the consumer collects the
connection (which detaches the transport from it) and then closes it; closing a channel restores
its unacked messages, which needs a Redis client, whose parameters are read from the detached
connection: `AttributeError: 'NoneType' object has no attribute 'hostname'`. That is not one of
the connection errors the closing code ignores, so the worker stopped with "Unrecoverable error"
instead of reconnecting. Here the detached case is the connection error it is: the close goes on,
the messages stay in Redis's `unacked` set and come back with the visibility sweep (a message is
never lost, at worst late), and the consumer reconnects.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

KOMBU_REDIS = "kombu.transport.redis:Transport"
OURS = "app.core.redis_transport:Transport"


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed (Redis went away)")
        return super()._connparams(asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """Make `redis://` (and `rediss://`, `redis+socket://`) brokers use this transport."""
    for scheme, transport in list(TRANSPORT_ALIASES.items()):
        if transport == KOMBU_REDIS:
            TRANSPORT_ALIASES[scheme] = OURS
