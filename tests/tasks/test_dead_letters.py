"""Permanently failed tasks reach celery_failed_tasks with one critical alert, through a real
prefork worker (spec 7.6.2; issue 2 item 6)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import CeleryFailedTask, MarketingAlert

pytestmark = pytest.mark.worker

CHAOS = ("tests.tasks.chaos_tasks",)


def wait_for_dead_letter(task_id: str, timeout: float = 60.0) -> CeleryFailedTask:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            row = session.scalars(select(CeleryFailedTask).where(CeleryFailedTask.task_id == task_id)).first()
            if row is not None:
                return row
        time.sleep(0.2)
    raise AssertionError(f"no dead letter for {task_id} within {timeout} s")


def critical_alerts_for(task_id: str) -> list[MarketingAlert]:
    with session_scope() as session:
        alerts = session.scalars(
            select(MarketingAlert).where(MarketingAlert.alert_type == "system_error")
        ).all()
        return [a for a in alerts if a.details.get("task_id") == task_id]


def test_task_exceeding_its_retries_is_a_dead_letter_with_a_critical_alert(clean_db, worker_factory) -> None:
    worker = worker_factory(include=CHAOS)
    result = celery_app.send_task(
        "app.tasks.marketing.alerts.test_always_fails", args=[7], kwargs={"api_key": "sk-live-123"}
    )
    row = wait_for_dead_letter(result.id)
    assert row.reason == "retries_exhausted", worker.log()[-3000:]
    assert row.retries == 2
    assert row.task_name == "app.tasks.marketing.alerts.test_always_fails"
    assert "marketplace answered 503 (attempt 3)" in row.exception
    assert row.args == [7]
    assert row.kwargs == {"api_key": "***"}
    assert row.traceback and "RuntimeError" in row.traceback
    alerts = critical_alerts_for(result.id)
    assert [a.severity for a in alerts] == ["critical"]
    assert alerts[0].campaign_id is None


def test_task_killed_by_the_hard_time_limit_is_a_dead_letter(clean_db, worker_factory) -> None:
    worker = worker_factory(include=CHAOS)
    result = celery_app.send_task("app.tasks.marketing.alerts.test_hangs")
    row = wait_for_dead_letter(result.id)
    assert row.reason == "time_limit", worker.log()[-3000:]
    assert "TimeLimitExceeded" in row.exception
    assert len(critical_alerts_for(result.id)) == 1


def test_worker_lost_past_the_redelivery_cap_is_a_dead_letter(clean_db, worker_factory) -> None:
    worker = worker_factory(include=CHAOS)
    result = celery_app.send_task("app.tasks.marketing.alerts.test_kills_its_worker")
    row = wait_for_dead_letter(result.id, timeout=90)
    assert row.reason == "redelivery_cap", worker.log()[-3000:]
    assert "keeps dying" in row.exception
    assert len(critical_alerts_for(result.id)) == 1


def test_expired_periodic_message_is_a_dead_letter(clean_db, worker_factory) -> None:
    result = celery_app.send_task("app.tasks.marketing.alerts.test_succeeds", args=[1], expires=0.5)
    time.sleep(1.0)
    worker_factory(include=CHAOS)
    row = wait_for_dead_letter(result.id)
    assert row.reason == "expired"


def test_successful_task_leaves_no_dead_letter_and_records_its_last_run(
    clean_db, worker_factory, redis_client
) -> None:
    worker_factory(include=CHAOS)
    result = celery_app.send_task("app.tasks.marketing.alerts.test_succeeds", args=[5])
    assert result.get(timeout=30) == {"value": 5}
    with session_scope() as session:
        assert session.scalars(select(CeleryFailedTask)).first() is None
    assert redis_client.hget("marketing:task_last_run", "app.tasks.marketing.alerts.test_succeeds")


def test_message_naming_an_unregistered_task_is_a_dead_letter_not_a_log_line(
    clean_db, worker_factory
) -> None:
    worker = worker_factory(queues="marketing_low")
    # A typo of a real task, routed to marketing_low by its module's route.
    name = "app.tasks.marketing.aggregation.aggregate_daily_stat"
    result = celery_app.send_task(name, args=[3], kwargs={"token": "wb-secret"})
    row = wait_for_dead_letter(result.id)
    assert row.reason == "unknown_task", worker.log()[-3000:]
    assert row.task_name == name
    assert "no task module of this worker registers" in row.exception
    assert (row.args, row.kwargs, row.queue) == ([3], {"token": "***"}, "marketing_low")
    alerts = critical_alerts_for(result.id)
    assert [a.severity for a in alerts] == ["critical"]


def test_message_the_worker_must_reject_is_a_dead_letter(clean_db, worker_factory) -> None:
    worker = worker_factory(queues="marketing_low")
    # pickle is outside accept_content: the worker refuses to deserialize it.
    result = celery_app.send_task(
        "app.tasks.marketing.cleanup.cleanup_old_stats", serializer="pickle", queue="marketing_low"
    )
    row = wait_for_dead_letter(result.id)
    assert row.reason == "rejected", worker.log()[-3000:]
    assert row.task_name == "app.tasks.marketing.cleanup.cleanup_old_stats"
    assert "ContentDisallowed" in row.exception and "pickle" in row.exception
    assert row.args == [] and row.kwargs == {}  # never unpickled
    assert len(critical_alerts_for(result.id)) == 1
