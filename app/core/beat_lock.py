"""One celery beat per broker (issue 17 item 2, issue 10 item 4): the lock and the heartbeat.

Two beats on one broker send every periodic task twice — two bid cycles, two budget checks. The
beat that holds `marketing:lock:beat` sends; any other beat is a standby that polls the key and
takes it over when it frees. The value names the holder ("host pid N <random>"); the holder
extends it on every scheduler tick (app.core.beat_scheduler), together with its heartbeat
`marketing:beat:last_tick` (ISO-8601 UTC), in one round trip. A beat that dies without releasing
the lock (SIGKILL, OOM) frees it when BEAT_LOCK_TTL runs out: that is the failover time
(bench/beat_failover.py measures it against RedBeat and a PostgreSQL advisory lock).
`adolf-marketing up` reads the same key to refuse starting a second system.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

import redis

from app.core.clock import machine_now, parse_utc
from app.core.redis import get_redis

BEAT_LOCK_KEY = "marketing:lock:beat"
BEAT_HEARTBEAT_KEY = "marketing:beat:last_tick"
BEAT_LAST_RUN_KEY = "marketing:beat:last_run"  # hash: entry name -> ISO time of its last send

# Extend the lock and write the heartbeat only while this beat's token is the value.
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    redis.call('pexpire', KEYS[1], ARGV[2])
    redis.call('set', KEYS[2], ARGV[3])
    return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def beat_holder(client: redis.Redis | None = None) -> str | None:
    """Who runs beat on this broker ("host pid N"), or None when nobody does."""
    value = (client or get_redis()).get(BEAT_LOCK_KEY)
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.rsplit(" ", 1)[0]  # without the random part of the token


def beat_last_tick(client: redis.Redis | None = None) -> datetime | None:
    """When the holding beat last ticked, in UTC (None: no beat ever ran on this Redis, or the key
    holds no timestamp)."""
    return parse_utc((client or get_redis()).get(BEAT_HEARTBEAT_KEY))


class BeatLock:
    """The lock of one beat process: `hold()` takes or extends it, `release()` gives it back."""

    def __init__(self, client: redis.Redis, ttl: float) -> None:
        self.client = client
        self.ttl_ms = int(ttl * 1000)
        self.token = f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex}"
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    def hold(self) -> bool:
        """True when this beat holds the lock now (taken or extended, heartbeat written)."""
        now = machine_now().isoformat()
        if self._extend(keys=[BEAT_LOCK_KEY, BEAT_HEARTBEAT_KEY], args=[self.token, self.ttl_ms, now]):
            return True
        if self.client.set(BEAT_LOCK_KEY, self.token, nx=True, px=self.ttl_ms):
            self.client.set(BEAT_HEARTBEAT_KEY, now)
            return True
        return False

    def owned(self) -> bool:
        value = self.client.get(BEAT_LOCK_KEY)
        return value in (self.token, self.token.encode())

    def release(self) -> None:
        self._release(keys=[BEAT_LOCK_KEY], args=[self.token])
