"""Fault matrix 20 (celery-reliability.md §6): configuration and time invariants.

Proved elsewhere and referenced in docs/reliability.md: the startup self-check refuses a soft limit
not below the hard one, a lock TTL not above the hard limit and a visibility timeout not above the
lock TTL, and worker and beat refuse to start with them; the visibility timeout is set in all three
places; every periodic entry expires within its period (tests/core/test_celery_config.py).

Here: the beat schedule walked slot by slot in Europe/Moscow across the boundaries that break
crontab arithmetic (month end, day 31, a leap day, the new year, the :00/:15 collisions), and the
Redis key count after thousands of tasks: nothing the tasks leave behind lives for ever.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.celery_config import celery_app

MOSCOW = ZoneInfo("Europe/Moscow")
TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def firings(name: str, start: datetime, end: datetime) -> list[datetime]:
    """Every moment in (start, end] at which beat's entry `name` is due, as beat computes it."""
    schedule = celery_app.conf.beat_schedule[name]["schedule"]
    out: list[datetime] = []
    moment = start
    while True:
        last, delta, _ = schedule.remaining_delta(moment)
        moment = (last + delta).astimezone(MOSCOW)
        if moment > end:
            return out
        out.append(moment)


@pytest.mark.parametrize(
    "start",
    [
        datetime(2027, 1, 31, 20, 0, tzinfo=MOSCOW),  # day 31, month end
        datetime(2028, 2, 28, 20, 0, tzinfo=MOSCOW),  # a leap day
        datetime(2027, 4, 30, 20, 0, tzinfo=MOSCOW),  # a 30-day month
        datetime(2027, 12, 31, 20, 0, tzinfo=MOSCOW),  # the new year
    ],
)
def test_20_every_entry_fires_once_per_slot_across_month_and_year_ends(start: datetime) -> None:
    end = start + timedelta(days=2)
    seen: dict[str, list[datetime]] = {}
    for name in celery_app.conf.beat_schedule:
        times = firings(name, start, end)
        assert len(times) == len(set(times)), f"{name} fires twice in one slot"
        assert all(t.second == 0 and t.microsecond == 0 for t in times), name
        seen[name] = times
    hours = 48
    assert len(seen["marketing-run-bid-cycle"]) == 4 * hours
    assert {t.minute for t in seen["marketing-run-bid-cycle"]} == {7, 22, 37, 52}
    assert len(seen["marketing-sync-campaigns"]) == hours
    assert len(seen["marketing-aggregate-daily-stats"]) == 2
    assert all((t.hour, t.minute) == (0, 30) for t in seen["marketing-aggregate-daily-stats"])
    monthly = seen["marketing-aggregate-monthly-stats"]
    first_of_month = [d for d in (start + timedelta(days=i) for i in range(3)) if d.day == 1 and d <= end]
    assert [(t.day, t.hour) for t in monthly] == [(1, 2)] * len(first_of_month), monthly
    # The money jobs never share a minute: the cycle (:07) runs between WB stats (:00) and the
    # budget check (:03), and after Ozon's (:05) but before YM's (:10) of the same quarter hour.
    money = Counter(
        t
        for name in ("marketing-run-bid-cycle", "marketing-check-budgets", "marketing-collect-stats-wb")
        for t in seen[name]
    )
    assert max(money.values()) == 1
    print(
        f"SCENARIO 20 schedule start={start.date()} entries={len(seen)} "
        f"firings={sum(len(v) for v in seen.values())} double=0"
    )


@pytest.mark.worker
def test_20_redis_keys_stay_flat_over_thousands_of_tasks(clean_db: None, worker_factory: Any) -> None:
    from app.core.redis import get_redis

    redis = get_redis()
    worker_factory(queues="marketing_high", concurrency=2, include=("tests.tasks.chaos_tasks",))

    def run(count: int) -> None:
        results = [
            celery_app.send_task("app.tasks.marketing.alerts.test_succeeds", args=[i]) for i in range(count)
        ]
        for i, result in enumerate(results):
            assert result.get(timeout=120) == {"value": i}

    def persistent_keys() -> set[str]:
        return {key for key in redis.scan_iter(count=1000) if redis.ttl(key) == -1}

    run(300)
    after_first = persistent_keys()
    total_first = redis.dbsize()
    run(1700)
    after_second = persistent_keys()
    # What grows with the number of tasks (results, delivery counters: named by task id) expires;
    # what does not is a fixed set of queues, bindings and our own hashes (`unacked` and the like
    # exist only while a message is in flight, so the sets are compared by their per-task names).
    per_task = [key for key in after_first | after_second if TASK_ID.search(str(key))]
    assert per_task == [], per_task[:20]
    assert len(after_second) < 40 and len(after_second - after_first) <= 5, sorted(after_second)
    print(
        f"SCENARIO 20 redis tasks=2000 persistent_keys={len(after_second)} "
        f"keys_after_300={total_first} keys_after_2000={redis.dbsize()} (the rest with a TTL)"
    )
