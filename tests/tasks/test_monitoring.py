"""Spec 7.4.2 through real prefork workers (issue 10 item 1): each threshold crossed on purpose
gives exactly one alert however often `check_metrics` runs, and exactly one recovery when it is
back; `marketing:workers` (spec 7.4.3) follows the workers online."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.core.beat_lock import BEAT_HEARTBEAT_KEY
from app.core.celery_config import celery_app
from app.core.clock import now_utc
from app.core.database import session_scope
from app.models.core import User
from app.models.marketing import MarketingAlert, MarketingCycleRun, MarketplaceAccount
from app.services.marketing.api_calls import record_calls_sync
from app.services.marketing.monitoring import (
    LAST_CHECK_KEY,
    PRIORITY_SEP,
    STATE_KEY,
    WORKERS_KEY,
    queue_length,
)
from tests.support.rows import add_account

pytestmark = pytest.mark.worker


def check(redis_client: Any, beat_age: timedelta = timedelta(0)) -> dict[str, Any]:
    """One run of the monitor on a worker; beat's heartbeat written as beat writes it."""
    redis_client.set(BEAT_HEARTBEAT_KEY, (datetime.now(UTC) - beat_age).isoformat())
    result = celery_app.send_task("app.tasks.marketing.health.check_metrics")
    summary: dict[str, Any] = result.get(timeout=120)
    assert not summary["skipped"]
    return summary


def alert_types() -> Counter[str]:
    with session_scope() as session:
        return Counter(session.scalars(select(MarketingAlert.alert_type)))


def cycle_run(minutes: float, errors: int = 0) -> None:
    finished = now_utc()
    with session_scope() as session:
        session.add(
            MarketingCycleRun(
                status="completed" if not errors else "partial",
                started_at=finished - timedelta(minutes=minutes),
                finished_at=finished,
                summary={"errors": errors},
            )
        )


def test_each_threshold_alerts_once_and_recovers_once(clean_db, redis_client, worker_factory) -> None:
    worker_factory(queues="marketing_high", node="monitor-high@localhost")
    rest = worker_factory(
        queues="marketing_default,marketing_low", node="monitor-rest@localhost", concurrency=2
    )
    with session_scope() as session:
        session.add(User(email="admin@x", full_name="Admin", role="administrator"))
        add_account(session, "ozon", last_stats_collected_at=now_utc())
    cycle_run(minutes=1)

    healthy = check(redis_client)
    assert healthy["breaches"] == [], healthy
    assert alert_types() == Counter()
    assert {
        k.decode(): v.decode() for k, v in redis_client.hgetall(WORKERS_KEY).items() if k != b"updated_at"
    } == {
        "high": "1",
        "default": "2",
        "low": "2",
    }

    def crossed(metric_keys: list[str], cross: Any, restore: Any, **kwargs: Any) -> None:
        before = alert_types()
        cross()
        for _ in range(2):  # the same breach, evaluated again: no second alert
            summary = check(redis_client, **kwargs.get("broken", {}))
            assert sorted(summary["breaches"]) == sorted(metric_keys), summary
        metrics = {key.split(":")[0] for key in metric_keys}
        raised = alert_types() - before
        assert raised == Counter({m: len([k for k in metric_keys if k.split(":")[0] == m]) for m in metrics})
        restore()
        for _ in range(2):
            summary = check(redis_client)
            assert summary["breaches"] == [], summary
        recovered = alert_types() - before - raised
        assert recovered == Counter({f"{m}_recovered": raised[m] for m in metrics}), recovered

    # bid_cycle_duration > 5 min, then a cycle within it.
    crossed(["bid_cycle_duration"], lambda: cycle_run(minutes=7), lambda: cycle_run(minutes=1))
    # bid_cycle_errors > 0, then a clean cycle.
    crossed(["bid_cycle_errors"], lambda: cycle_run(minutes=1, errors=3), lambda: cycle_run(minutes=1))

    def set_collected(minutes_ago: float) -> None:
        with session_scope() as session:
            session.execute(
                update(MarketplaceAccount).values(
                    last_stats_collected_at=now_utc() - timedelta(minutes=minutes_ago)
                )
            )

    # stats_collection_lag > 20 min on ozon, then a collection.
    crossed(["stats_collection_lag:ozon"], lambda: set_collected(45), lambda: set_collected(0))

    # api_errors_rate > 5 % on wb (6 of 40 calls), then enough good calls to dilute it under 5 %.
    crossed(
        ["api_errors_rate:wb"],
        lambda: record_calls_sync(redis_client, "wb", 40, 6),
        lambda: record_calls_sync(redis_client, "wb", 100, 0),
    )

    # queue_length > 100, counting kombu's priority sub-lists: half the messages wait at priority 9.
    # The queue's workers are stopped first, so worker_status breaches for their queues too.
    low_priority = f"marketing_low{PRIORITY_SEP}9"

    def fill() -> None:
        rest.stop()  # nothing consumes marketing_low while it fills
        redis_client.rpush("marketing_low", *["x"] * 60)
        redis_client.rpush(low_priority, *["x"] * 60)
        assert queue_length(redis_client, "marketing_low") == 120

    def drain() -> None:
        redis_client.delete("marketing_low", low_priority)

    before = alert_types()
    fill()
    for _ in range(2):
        summary = check(redis_client)
        assert sorted(summary["breaches"]) == [
            "queue_length:marketing_low",
            "worker_status:marketing_default",
            "worker_status:marketing_low",
        ], summary
    assert alert_types() - before == Counter({"queue_length": 1, "worker_status": 2})
    assert redis_client.hget(WORKERS_KEY, "low") == b"0"
    drain()
    worker_factory(queues="marketing_default,marketing_low", node="monitor-back@localhost")
    for _ in range(2):
        assert check(redis_client)["breaches"] == []
    assert alert_types() - before == Counter(
        {"queue_length": 1, "worker_status": 2, "queue_length_recovered": 1, "worker_status_recovered": 2}
    )
    assert redis_client.hget(WORKERS_KEY, "low") == b"1"

    # beat silent for longer than ALERT_BEAT_SILENT_MINUTES (5), then ticking again.
    crossed(["beat_heartbeat"], lambda: None, lambda: None, broken={"beat_age": timedelta(minutes=12)})

    assert redis_client.hlen(STATE_KEY) == 0
    with session_scope() as session:
        alerts = session.scalars(select(MarketingAlert).order_by(MarketingAlert.id)).all()
        assert all(a.campaign_id is None for a in alerts)
        worker_alert = next(a for a in alerts if a.alert_type == "worker_status")
        assert worker_alert.severity == "critical" and worker_alert.notification_id is not None
        assert {a.severity for a in alerts if a.alert_type.endswith("_recovered")} == {"info"}


def test_a_breach_that_worsens_alerts_again(clean_db, redis_client, worker_factory) -> None:
    worker_factory()  # every queue
    cycle_run(minutes=6)
    assert check(redis_client)["raised"] == ["bid_cycle_duration"]
    cycle_run(minutes=7)  # worse, but by less than ALERT_WORSE_FACTOR (1.5)
    assert check(redis_client)["raised"] == []
    cycle_run(minutes=12)
    assert check(redis_client)["raised"] == ["bid_cycle_duration"]
    assert alert_types() == Counter({"bid_cycle_duration": 2})


def test_without_beat_a_worker_sends_the_check_and_the_beat_alert_goes_out(
    clean_db, redis_client, worker_factory
) -> None:
    # No beat: nothing ever sent check_metrics, and there is no heartbeat.
    worker = worker_factory(queues="marketing_high", extra_env={"MONITOR_WATCHDOG_S": "1"})
    deadline = time.monotonic() + 120
    while not alert_types()["beat_heartbeat"]:
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.5)
    assert "no check_metrics in 10 min (is beat running?); sending one" in worker.log()
    assert 0 < redis_client.ttl(LAST_CHECK_KEY) <= 600
    assert alert_types()["beat_heartbeat"] == 1
