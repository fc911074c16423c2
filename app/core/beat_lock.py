"""One celery beat per broker (issue 17 item 2).

Two beats on one broker send every periodic task twice — two bid cycles, two budget checks. Beat
takes `marketing:lock:beat` when it starts (a token-checked redis-py Lock whose token names the
holder's host and PID) and keeps extending it from a daemon thread; a second beat finds it held
and stops with one line. A beat that dies without releasing it (SIGKILL, OOM) frees it when the
TTL runs out. `adolf-marketing up` reads the same key to refuse starting a second system.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import threading
import uuid

import redis
from redis.exceptions import LockNotOwnedError
from redis.lock import Lock

from app.core.redis import get_redis

logger = logging.getLogger(__name__)

BEAT_LOCK_KEY = "marketing:lock:beat"
BEAT_LOCK_TTL = 60  # seconds: how long a dead beat blocks a new one
BEAT_LOCK_REFRESH = 20  # seconds between extensions (three chances before the TTL runs out)


class BeatAlreadyRunning(Exception):
    """Another beat holds the lock; the message names it."""


def beat_holder(client: redis.Redis | None = None) -> str | None:
    """Who runs beat on this broker ("host pid N"), or None when nobody does."""
    value = (client or get_redis()).get(BEAT_LOCK_KEY)
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.rsplit(" ", 1)[0]  # without the random part of the token


def take_beat_lock(client: redis.Redis | None = None) -> Lock:
    """Take the lock for this process and keep it until exit; BeatAlreadyRunning when held."""
    client = client or get_redis()
    lock = client.lock(BEAT_LOCK_KEY, timeout=BEAT_LOCK_TTL, blocking=False, thread_local=False)
    token = f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex}"
    if not lock.acquire(token=token):
        raise BeatAlreadyRunning(
            f"another celery beat is running on this broker ({beat_holder(client) or 'just stopped'}); "
            f"run exactly one beat — stop the other first (a killed beat's lock expires within "
            f"{BEAT_LOCK_TTL} s)"
        )
    stop = threading.Event()
    threading.Thread(target=_keep, args=(lock, token, stop), name="beat-lock", daemon=True).start()
    atexit.register(_release, lock, stop)
    return lock


def _keep(lock: Lock, token: str, stop: threading.Event) -> None:
    while not stop.wait(BEAT_LOCK_REFRESH):
        try:
            lock.reacquire()
        except LockNotOwnedError:
            # Expired during a Redis outage: take it back unless another beat did meanwhile.
            if not lock.acquire(token=token):
                logger.error("another beat took %s; this beat stops", BEAT_LOCK_KEY)
                os.kill(os.getpid(), signal.SIGTERM)
                return
        except redis.RedisError as error:
            logger.warning(
                "could not extend %s (%s); retrying in %d s", BEAT_LOCK_KEY, error, BEAT_LOCK_REFRESH
            )


def _release(lock: Lock, stop: threading.Event) -> None:
    stop.set()
    with contextlib.suppress(redis.RedisError):
        lock.release()
