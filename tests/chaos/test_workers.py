"""Fault matrix scenarios 1-4 (celery-reliability.md §6): workers killed or given a message twice.

Scenario 1 (pool child killed after the marketplace took the bid call) is
tests/integration/test_interrupted_send.py, which prints its figure.

Messages a dead worker held wait in Redis's `unacked` hash for the visibility timeout (30 min)
before a live worker's sweep restores them; scenario 3 runs that sweep itself
(`past_the_visibility_timeout`) rather than wait half an hour.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any, NamedTuple

import psutil
import pytest
from celery.result import AsyncResult

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import MarketplaceAccount
from app.sandbox.faults import FaultRule
from app.services.marketing.bid_cycle.coordinator import begin_cycle, finish_cycle
from tests.chaos.support import (
    effect_check,
    figure,
    last_seq,
    past_the_visibility_timeout,
    pool_children,
    signal_pool_children,
    wait_for,
)
from tests.integration.test_bid_cycle import prepare
from tests.integration.test_interrupted_send import wb_account
from tests.support.sandbox_system import SandboxSystem

pytestmark = pytest.mark.worker

ACCOUNT_TASK = "app.tasks.marketing.bid_cycle.run_bid_cycle_account"
# WB's first read of an account's cycle (the campaigns' details, before any bid is decided).
FIRST_READ = "/api/advert/v2/adverts"


class CycleUnderFault(NamedTuple):
    since: int  # the sandbox's last effect before the cycle
    rule: FaultRule
    run_id: int
    lock_token: str | None


def fault_taken(system: SandboxSystem, rule_id: int) -> bool:
    """The sandbox matched the rule's last call (a rule is dropped once its calls are used up)."""
    return all(rule.id != rule_id for rule in system.world.sandbox.faults.rules())


def cycle_with_a_fault(system: SandboxSystem, task_id: str, fault: dict[str, Any]) -> CycleUnderFault:
    """The cycle test world, `fault` on WB's first read, a cycle begun."""
    prepare(system)
    since = last_seq(system)
    rule = system.world.sandbox.faults.add({"path": FIRST_READ, **fault})
    start = begin_cycle(task_id)
    assert start.run_id is not None
    return CycleUnderFault(since, rule, start.run_id, start.lock_token)


def all_accounts() -> list[int]:
    with session_scope() as session:
        return [a.id for a in session.query(MarketplaceAccount).order_by(MarketplaceAccount.id)]


def test_scenario_2_child_killed_before_the_call(sandbox_system: SandboxSystem, worker_factory: Any) -> None:
    since, rule, run_id, lock_token = cycle_with_a_fault(
        sandbox_system, "scenario-2", {"kind": "timeout", "delay_s": 120}
    )
    worker = worker_factory(queues="marketing_high", concurrency=1)
    result = celery_app.send_task(ACCOUNT_TASK, args=[run_id, wb_account()])
    wait_for(lambda: fault_taken(sandbox_system, rule.id), what="the account's first read")
    assert last_seq(sandbox_system) == since  # nothing sent yet
    killed_at = time.monotonic()
    signal_pool_children(worker)
    summary = result.get(timeout=240)
    recovery = time.monotonic() - killed_at
    finish_cycle(run_id, lock_token, [summary])
    assert summary["errors"] == 0, summary
    assert summary["bids_updated"] > 0, summary
    assert "WorkerLostError" in worker.log() or "Process" in worker.log(), worker.log()[-3000:]
    effects = effect_check(sandbox_system, since)
    assert effects.applied == effects.expected == summary["bids_updated"]
    assert effects.dead_letters == 0
    figure(2, effects.applied, effects.expected, recovery)


def test_scenario_4_same_message_twice_at_once(sandbox_system: SandboxSystem, worker_factory: Any) -> None:
    """Two copies of one account task (same id, same run) run at the same time on two workers, as
    when the broker redelivers a message whose first delivery still runs."""
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    # The second copy reads the run's decided keywords before the first has written any, and
    # plans after the first has sent and marked its changes: the window in which only the intent
    # write itself can tell that the keywords are taken.
    early = sandbox_system.world.sandbox.faults.add({"kind": "slow", "path": FIRST_READ, "delay_s": 1})
    late = sandbox_system.world.sandbox.faults.add({"kind": "slow", "path": FIRST_READ, "delay_s": 10})
    start = begin_cycle("scenario-4")
    assert start.run_id is not None
    first = worker_factory(queues="marketing_high", concurrency=1)
    second = worker_factory(queues="marketing_default", concurrency=1)
    task_id = str(uuid.uuid4())
    args = [start.run_id, wb_account()]
    began = time.monotonic()
    copies = [celery_app.send_task(ACCOUNT_TASK, args=args, task_id=task_id, queue="marketing_high")]
    wait_for(lambda: fault_taken(sandbox_system, early.id), what="the first copy in its first read")
    copies.append(celery_app.send_task(ACCOUNT_TASK, args=args, task_id=task_id, queue="marketing_default"))
    wait_for(lambda: fault_taken(sandbox_system, late.id), what="the second copy in its first read")
    done = [worker.log_path for worker in (first, second)]
    wait_for(
        lambda: all("succeeded in" in path.read_text(errors="replace") for path in done),
        timeout=240,
        what="both copies finished",
    )
    recovery = time.monotonic() - began
    summary = copies[0].get(timeout=60)
    finish_cycle(start.run_id, start.lock_token, [summary])
    effects = effect_check(sandbox_system, since)
    assert effects.applied > 0
    assert effects.applied == effects.expected
    assert effects.dead_letters == 0
    figure(4, effects.applied, effects.expected, recovery)


def alive(processes: list[psutil.Process]) -> bool:
    return any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes)


@pytest.mark.parametrize("kill", ["process_group", "main_pid_only"])
def test_scenario_3_whole_worker_killed(
    sandbox_system: SandboxSystem, worker_factory: Any, redis_client: Any, kill: str
) -> None:
    """Worker A holds a running share (WB, in its first read) and a prefetched one when it is
    SIGKILLed: the whole process group (a host crash), or only its main process, whose pool child
    then finishes its task unsupervised. Both messages wait unacked; worker B does every share
    after the visibility sweep; nothing is applied twice, nothing is lost."""
    since, rule, run_id, lock_token = cycle_with_a_fault(
        sandbox_system, "scenario-3", {"kind": "slow", "delay_s": 6}
    )
    a = worker_factory(queues="marketing_high", concurrency=1)
    wb = wb_account()
    accounts = [wb] + [x for x in all_accounts() if x != wb]
    task_ids = [str(celery_app.send_task(ACCOUNT_TASK, args=[run_id, x]).id) for x in accounts]
    wait_for(lambda: fault_taken(sandbox_system, rule.id), what="A running the WB share")
    # worker_prefetch_multiplier=2: the running share and the next one are both A's, unacked.
    wait_for(lambda: redis_client.hlen("unacked") == 2, what="A holding a running and a prefetched share")
    orphans = pool_children(a)
    if kill == "process_group":
        os.killpg(a.process.pid, signal.SIGKILL)
    else:
        os.kill(a.process.pid, signal.SIGKILL)
    killed_at, killed_wall = time.monotonic(), time.time()
    a.process.wait(timeout=30)
    held = set(redis_client.hkeys("unacked"))
    b = worker_factory(queues="marketing_high", concurrency=1)
    assert held <= set(redis_client.hkeys("unacked"))  # not lost: waiting for the visibility timeout
    if kill == "main_pid_only":
        # The orphan finishes its share (its ack died with the main process), then exits.
        wait_for(lambda: not alive(orphans), timeout=120, what="A's orphaned pool child gone")
    assert past_the_visibility_timeout(celery_app, delivered_before=killed_wall) == 2
    wait_for(
        lambda: b.log().count("succeeded in") >= len(accounts),
        timeout=240,
        what="B doing every share",
    )
    recovery = time.monotonic() - killed_at
    results = [dict(AsyncResult(task_id, app=celery_app).get(timeout=60)) for task_id in task_ids]
    finish_cycle(run_id, lock_token, results)
    # B acks each share just after its "succeeded" line.
    wait_for(lambda: redis_client.hlen("unacked") == 0, timeout=30, what="every share acked")
    effects = effect_check(sandbox_system, since)
    assert effects.applied == effects.expected > 0
    assert effects.dead_letters == 0
    figure(3, effects.applied, effects.expected, recovery, kill=kill)
