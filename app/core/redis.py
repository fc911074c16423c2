"""Redis client and the token-checked lock of the spec (7.3.1 `acquire_lock`/`release_lock`).

The spec released its lock with a plain DEL, which frees a lock that may already belong to the
next holder after expiry (DESIGN.md §5). redis-py's `Lock` stores a random token and releases or
extends only through a Lua script that checks it (celery-reliability.md §1.10).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

import redis
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

from app.core.config import get_settings

logger = logging.getLogger(__name__)


def client_url(url: str) -> str:
    """redis-py spelling of a Redis URL (kombu's `redis+socket://path` is redis-py's `unix://path`)."""
    if url.startswith("redis+socket://"):
        return "unix://" + url[len("redis+socket://") :]
    return url


@lru_cache(maxsize=8)
def _client(url: str, pid: int) -> redis.Redis:
    # Keyed by PID: a client created before fork must not be shared with prefork children.
    return redis.Redis.from_url(
        client_url(url), socket_timeout=10, socket_connect_timeout=5, health_check_interval=25
    )


def get_redis() -> redis.Redis:
    return _client(get_settings().redis_url, os.getpid())


def acquire_lock(key: str, timeout: int, client: redis.Redis | None = None) -> Lock | None:
    """Take `key` for `timeout` seconds without waiting; None when someone else holds it.

    The returned Lock is truthy and carries the token; pass it to `release_lock`, and call
    `lock.extend(...)`/`lock.owned()` between steps of a long job.
    """
    if timeout <= 0:
        raise ValueError("lock timeout must be positive: a lock without expiry blocks forever after a crash")
    lock = (client or get_redis()).lock(key, timeout=timeout, blocking=False, thread_local=True)
    return lock if lock.acquire() else None


def release_lock(lock: Lock | None) -> bool:
    """Release a lock we still own; after expiry (someone else may own it now) leave it alone."""
    if lock is None:
        return False
    try:
        lock.release()
        return True
    except LockNotOwnedError:
        logger.warning("lock %s expired before release; not touching the new owner's lock", lock.name)
        return False
    except LockError:
        return False


def release_lock_token(key: str, token: str, client: redis.Redis | None = None) -> bool:
    """Release `key` from another process (a chord callback) that knows the holder's token; a
    lock that expired and was taken by someone else is left alone."""
    lock = (client or get_redis()).lock(key)
    try:
        lock.do_release(token.encode())
        return True
    except LockNotOwnedError:
        logger.warning("lock %s expired before release; not touching the new owner's lock", key)
        return False


def lock_token(lock: Lock) -> str:
    token = lock.local.token
    return token.decode() if isinstance(token, bytes) else str(token)
