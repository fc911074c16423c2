"""Beat's scheduler: one sender per broker, a heartbeat, and missed slots run once (issue 10 item 4).

`celery -A app.core.celery_config beat` uses it (`beat_scheduler` in celery_config). It is
Celery's own `Scheduler` — the same heap, the same `is_due` of each crontab — with three changes:

1. **Lock.** Every tick first holds `marketing:lock:beat` (app.core.beat_lock: take it, or extend
   it and write the heartbeat `marketing:beat:last_tick`). A beat that does not hold it is a
   standby: it sends nothing and asks again after BEAT_TICK seconds, so a second beat waits
   instead of double-firing and takes over within BEAT_LOCK_TTL (+ one tick) of the holder's death.
   Before each send the holder checks the lock is still its own.
2. **Last runs in Redis.** Each send records the entry's new `last_run_at` in the hash
   `marketing:beat:last_run`; a beat that takes the lock (at start or on failover) loads it. An
   entry whose slots passed while no beat ran is therefore due at once and sent once — Celery's
   `is_due` compares one `last_run_at`, not a list of slots — and then follows its schedule
   (a crontab slot missed by more than `beat_cron_starting_deadline` is skipped, as in Celery).
   An entry with no record starts from now, as in Celery. No shelve file (reliability §1.4).
3. **Slot header.** Each message carries `adolf_beat_slot`: the time it was scheduled for (its
   previous run + the schedule's delay), so a consumer or a test can tell two sends of one slot.

A send that crashes after the broker took it and before the hash was written runs again once
after restart; the money path has its own locks (bid cycle lock, intents) for that.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery.beat import ScheduleEntry, Scheduler

from app.core.beat_lock import BEAT_LAST_RUN_KEY, BeatLock
from app.core.config import get_settings
from app.core.redis import get_redis

logger = logging.getLogger(__name__)

SLOT_HEADER = "adolf_beat_slot"


class LockedScheduler(Scheduler):
    """Celery's Scheduler that sends only while it holds the beat lock (module docstring)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        settings = get_settings()
        self.tick_seconds = settings.BEAT_TICK
        self.client = get_redis()
        self.lock = BeatLock(self.client, settings.BEAT_LOCK_TTL)
        self.holding = False
        self._standby_logged = False
        kwargs.setdefault("max_interval", self.tick_seconds)
        super().__init__(app, *args, **kwargs)

    # --- lock -----------------------------------------------------------------------------------

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            holding = self.lock.hold()
        except redis.RedisError as error:
            logger.warning("beat: cannot reach Redis for %s (%s); not sending", "the beat lock", error)
            self.holding = False
            return self.tick_seconds
        if not holding:
            if self.holding or not self._standby_logged:
                logger.warning(
                    "beat: standby — another beat holds the lock (%s); taking over when it frees",
                    self._holder() or "just stopped",
                )
                self._standby_logged = True
            self.holding = False
            return self.tick_seconds
        if not self.holding:
            logger.info("beat: holds the beat lock (%s); sending", self.lock.token.rsplit(" ", 1)[0])
            self.holding = True
            self._standby_logged = False
            self.load_last_runs()
        return float(min(super().tick(*args, **kwargs), self.tick_seconds))

    def _holder(self) -> str | None:
        from app.core.beat_lock import beat_holder

        return beat_holder(self.client)

    def close(self) -> None:
        try:
            super().close()
        finally:
            try:
                self.lock.release()
            except redis.RedisError as error:
                logger.warning("beat: could not release the beat lock (%s); it expires by itself", error)

    # --- last runs ------------------------------------------------------------------------------

    def load_last_runs(self) -> None:
        """Take each entry's last send from Redis (the previous holder's, or this beat's own)."""
        stored = self.client.hgetall(BEAT_LAST_RUN_KEY)
        for raw_name, raw_time in stored.items():
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            entry = self.schedule.get(name)
            if entry is None:
                continue
            entry.last_run_at = datetime.fromisoformat(
                raw_time.decode() if isinstance(raw_time, bytes) else str(raw_time)
            )
        self._heap = None  # rebuild from the loaded times

    def apply_async(
        self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        try:
            owned = self.lock.owned()
        except redis.RedisError:
            owned = False
        if not owned:
            # Lost during a stall (Redis outage, long send): the other beat sends this slot.
            self.holding = False
            logger.warning("beat: lost the beat lock; not sending %s", entry.name)
            return None
        slot = slot_of(entry)
        entry.options = {**entry.options, "headers": {**entry.options.get("headers", {}), SLOT_HEADER: slot}}
        result = super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        sent = self.schedule.get(entry.name, entry)
        self.client.hset(BEAT_LAST_RUN_KEY, entry.name, _aware(sent.last_run_at).isoformat())
        return result


def slot_of(entry: ScheduleEntry) -> str:
    """The time `entry` was due (ISO UTC): the first slot of its schedule after its last run.
    (`remaining_estimate` counts from now, so it is negative for a slot missed in the past.)"""
    last = _aware(entry.last_run_at)
    every = getattr(entry.schedule, "run_every", None)
    if isinstance(every, timedelta) and not getattr(entry.schedule, "relative", False):
        return (last + every).astimezone(UTC).isoformat()
    due = _aware(entry.schedule.now()) + entry.schedule.remaining_estimate(last)
    return (due + timedelta(microseconds=500_000)).replace(microsecond=0).astimezone(UTC).isoformat()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
