"""Fault matrix 18–19 (celery-reliability.md §6): a deploy's SIGTERM during a running bid cycle,
and a pool child that outgrows its memory limit."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from sqlalchemy import select

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import MarketingBidIntent
from tests.chaos.support import effect_check, fault_wb_bids, last_seq, send_cycle, wait_for, wait_for_runs
from tests.integration.test_bid_cycle import prepare
from tests.support.sandbox_system import SandboxSystem

pytestmark = pytest.mark.worker


def open_intents() -> int:
    with session_scope() as session:
        return len(
            list(session.scalars(select(MarketingBidIntent.id).where(MarketingBidIntent.status == "pending")))
        )


def test_18_sigterm_during_a_running_cycle_lets_it_finish_and_loses_nothing(
    sandbox_system: SandboxSystem, worker_factory: Any
) -> None:
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    fault_wb_bids(sandbox_system, kind="slow", delay_s=4, count=1)
    first = worker_factory(queues="marketing_high", concurrency=2)
    send_cycle()
    wait_for(open_intents, 90, "a bid call on the wire")
    os.kill(first.process.pid, signal.SIGTERM)  # what systemd / docker stop sends on a deploy
    stopped_at = time.monotonic()
    first.process.wait(timeout=90)  # warm shutdown: running tasks finish first
    # What the first worker did not get to (the chord's callback, the read-back) a second one does.
    worker_factory(queues="marketing_high", concurrency=2)
    runs = wait_for_runs(1, timeout=120)
    recovery_s = time.monotonic() - stopped_at
    assert runs[0].status in ("completed", "partial"), runs[0].summary
    assert runs[0].summary["bids_updated"] > 0
    log = first.log()
    assert "WorkerLostError" not in log, log[-3000:]
    check = effect_check(sandbox_system, since)
    assert check.dead_letters == 0
    print(f"SCENARIO 18 {check.line()} exit={first.process.returncode} recovery_s={recovery_s:.1f}")


def test_19_a_child_over_its_memory_limit_is_replaced_and_the_queue_flows(worker_factory: Any) -> None:
    worker_factory(
        queues="marketing_high",
        concurrency=1,
        include=("tests.chaos.tasks_b",),
        extra_env={"WORKER_MAX_MEMORY_PER_CHILD": "100000"},  # KiB
    )
    results = [
        celery_app.send_task("app.tasks.marketing.alerts.test_leaks_memory", args=[150]).get(timeout=60)
        for _ in range(3)
    ]
    pids = [r["pid"] for r in results]
    # Each task left its child above 100 MB: the child was recycled after it, so none accumulates.
    assert len(set(pids)) == 3, results
    assert all(r["held_mib"] == 150 for r in results), results
    print(
        f"SCENARIO 19 tasks_done=3/3 children={len(set(pids))} max_held_mib={max(r['held_mib'] for r in results)}"
    )
