"""Fault matrix scenarios 5-8 (celery-reliability.md §6): beat and the cycle lock.

Scenarios 5 (two beats) and 6 (beat down across slots) are tests/core/test_beat_lock.py, with real
beat and worker subprocesses; they print their figures. Here: a cycle longer than its period (7),
the lock expiring under a frozen worker (8), and the weak spot of issue 14 — `begin_cycle` takes
the lock before its database write, so a database blip there must not leave the lock to make
the task's own retry skip itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from typing import Any

import psycopg
import pytest
from celery.result import AsyncResult
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.core.celery_config import celery_app
from app.core.config import reset_settings_cache
from app.core.database import session_scope
from app.models.marketing import MarketingBidIntent, MarketingCycleRun
from app.services.marketing.bid_cycle.coordinator import LOCK_KEY, begin_cycle, finish_cycle
from tests.chaos.support import effect_check, figure, last_seq, signal_pool_children, wait_for
from tests.chaos.test_workers import ACCOUNT_TASK, FIRST_READ, fault_taken
from tests.integration.test_bid_cycle import prepare
from tests.integration.test_interrupted_send import wb_account
from tests.support.sandbox_system import SandboxSystem

pytestmark = pytest.mark.worker

CYCLE_TASK = "app.tasks.marketing.bid_cycle.run_bid_cycle"


def run_statuses() -> Counter[str]:
    with session_scope() as session:
        return Counter(session.scalars(select(MarketingCycleRun.status)))


def follow(result: AsyncResult, timeout: float = 240.0) -> dict[str, Any]:
    """The finished cycle of a `run_bid_cycle` result (its chord callback's summary)."""
    started = result.get(timeout=timeout)
    if started.get("follow_task_id"):
        return dict(AsyncResult(started["follow_task_id"], app=celery_app).get(timeout=timeout))
    return dict(started)


def test_scenario_7_cycle_longer_than_its_period(
    sandbox_system: SandboxSystem, worker_factory: Any, redis_client: Any
) -> None:
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    # WB's account takes long: the cycle outlasts the moment the next firing comes.
    rule = sandbox_system.world.sandbox.faults.add({"kind": "slow", "path": FIRST_READ, "delay_s": 20})
    worker = worker_factory(concurrency=2)
    first = celery_app.send_task(CYCLE_TASK)
    wait_for(lambda: fault_taken(sandbox_system, rule.id), what="the long account under way")
    assert redis_client.get(LOCK_KEY) is not None
    fired_at = time.monotonic()
    second = celery_app.send_task(CYCLE_TASK)  # beat's next firing
    assert second.get(timeout=120) == {"status": "skipped", "reason": "lock_not_acquired"}
    assert run_statuses()["running"] == 1  # the first still runs: nothing in parallel
    summary = follow(first)
    recovery = time.monotonic() - fired_at
    assert summary["status"] == "completed", summary
    assert run_statuses() == Counter({"completed": 1, "skipped": 1})
    assert redis_client.get(LOCK_KEY) is None
    effects = effect_check(sandbox_system, since)
    assert effects.applied == effects.expected == summary["bids_updated"] > 0
    assert effects.dead_letters == 0, worker.log()[-3000:]
    figure(7, effects.applied, effects.expected, recovery, skipped=1)


def test_scenario_8_lock_expires_mid_run(
    sandbox_system: SandboxSystem, worker_factory: Any, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker running run A is frozen (SIGSTOP) past the lock's TTL; run B starts meanwhile.
    Thawed, A must write nothing and must not release B's lock; B's changes are applied once."""
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    worker = worker_factory(queues="marketing_high", concurrency=1)
    # Only this process takes the lock: a 3-second TTL here, the worker keeps its consistent limits.
    monkeypatch.setenv("BID_CYCLE_LOCK_TTL", "3")
    reset_settings_cache()
    rule = sandbox_system.world.sandbox.faults.add({"kind": "slow", "path": FIRST_READ, "delay_s": 1})
    run_a = begin_cycle("scenario-8-a")
    assert run_a.run_id is not None
    account = wb_account()
    stale = celery_app.send_task(ACCOUNT_TASK, args=[run_a.run_id, account])
    wait_for(lambda: fault_taken(sandbox_system, rule.id), what="run A's account under way")
    frozen = signal_pool_children(worker, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        wait_for(lambda: redis_client.get(LOCK_KEY) is None, timeout=60, what="the lock expired")
        run_b = begin_cycle("scenario-8-b")
        assert run_b.run_id is not None and not run_b.skipped
    finally:
        for pid in frozen:
            signal_pid(pid, signal.SIGCONT)
    late = stale.get(timeout=180)
    assert late["bids_updated"] == 0, late
    assert any("lost its lock" in message for message in late["messages"]), late
    finish_cycle(run_a.run_id, run_a.lock_token, [late])  # A's release leaves B's lock alone
    assert redis_client.get(LOCK_KEY) is not None
    with session_scope() as session:
        assert (
            session.scalars(
                select(MarketingBidIntent).where(MarketingBidIntent.cycle_run_id == run_a.run_id)
            ).first()
            is None
        )
    summary = celery_app.send_task(ACCOUNT_TASK, args=[run_b.run_id, account]).get(timeout=180)
    recovery = time.monotonic() - frozen_at
    finish_cycle(run_b.run_id, run_b.lock_token, [summary])
    assert redis_client.get(LOCK_KEY) is None
    effects = effect_check(sandbox_system, since)
    assert effects.applied == effects.expected == summary["bids_updated"] > 0
    figure(8, effects.applied, effects.expected, recovery, stale_writes=0)


def signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def test_a_database_blip_after_the_lock_does_not_make_the_retry_skip_itself(
    sandbox_system: SandboxSystem, worker_factory: Any, redis_client: Any, database_url: str
) -> None:
    """`begin_cycle` takes the lock, then writes the run row. A table lock held elsewhere makes
    that write hit the statement timeout (OperationalError); the task retries in 60 s (its
    policy) and that retry must find the lock free and run the cycle."""
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    worker = worker_factory(concurrency=2, extra_env={"DB_STATEMENT_TIMEOUT_MS": "2000"})
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as blocker:
        blocker.execute("LOCK TABLE marketing_cycle_runs IN ACCESS EXCLUSIVE MODE")
        result = celery_app.send_task(CYCLE_TASK)
        wait_for(lambda: "Retry in" in worker.log(), timeout=120, what="the cycle's retry after the blip")
        blocker.rollback()
    blip_at = time.monotonic()
    assert "QueryCanceled" in worker.log() or "statement timeout" in worker.log(), worker.log()[-3000:]
    assert redis_client.get(LOCK_KEY) is None  # released for the retry
    summary = follow(result, timeout=240)
    recovery = time.monotonic() - blip_at
    assert summary["status"] == "completed", summary
    assert run_statuses() == Counter({"completed": 1})  # the retry ran, not skipped
    effects = effect_check(sandbox_system, since)
    assert effects.applied == effects.expected == summary["bids_updated"] > 0
    assert effects.dead_letters == 0
    figure("begin_cycle-blip", effects.applied, effects.expected, recovery)
