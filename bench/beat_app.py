"""`celery -A beat_app beat` target of bench/beat_failover.py: the project's Celery app with one
entry every BENCH_PERIOD seconds onto the queue `bench_beat` (nobody consumes it; the bench reads
the messages off Redis), and the candidate schedulers that the project's is measured against:
RedBeat (`-S redbeat.RedBeatScheduler`, settings below) and a PostgreSQL advisory lock
(`-S beat_app:AdvisoryLockScheduler`)."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

import psycopg
from celery.beat import Scheduler
from sqlalchemy.engine import make_url

from app.core.celery_config import celery_app
from app.core.config import get_settings
from app.core.database import database_url

logger = logging.getLogger(__name__)

PERIOD = float(os.environ.get("BENCH_PERIOD", "1"))
TTL = int(os.environ.get("BEAT_LOCK_TTL", "10"))
QUEUE = "bench_beat"
ADVISORY_KEY = 7_310_017  # any constant shared by the beats of one database


@celery_app.task(name="bench.beat.fire")
def fire() -> None:
    """Never runs: the bench counts the messages beat sends."""


celery_app.conf.beat_schedule = {
    "bench-fire": {
        "task": "bench.beat.fire",
        "schedule": timedelta(seconds=PERIOD),
        "options": {"queue": QUEUE, "expires": 600},
    }
}
celery_app.conf.beat_max_loop_interval = get_settings().BEAT_TICK
# RedBeat with the same lock TTL as the project's lock, on the same Redis, under its own prefix.
celery_app.conf.redbeat_redis_url = get_settings().redis_url
celery_app.conf.redbeat_key_prefix = "bench:redbeat"
celery_app.conf.redbeat_lock_timeout = TTL
app = celery_app


class AdvisoryLockScheduler(Scheduler):
    """Celery's Scheduler that sends only while its PostgreSQL session holds an advisory lock.
    The server frees the lock when the session ends, so a SIGKILLed holder's lock goes as soon
    as PostgreSQL sees the socket close; each tick checks the session is still alive."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.holding = False
        self.tick_seconds = get_settings().BEAT_TICK
        url = make_url(database_url()).set(drivername="postgresql").render_as_string(hide_password=False)
        self.pg = psycopg.connect(url, autocommit=True)
        kwargs.setdefault("max_interval", self.tick_seconds)
        super().__init__(app, *args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.holding:
            self.pg.execute("SELECT 1")  # raises when the session (and the lock) is gone
        else:
            row = self.pg.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()
            self.holding = bool(row and row[0])
            if not self.holding:
                return self.tick_seconds
            logger.info("beat: holds the advisory lock; sending")
        return float(min(super().tick(*args, **kwargs), self.tick_seconds))

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.pg.close()
