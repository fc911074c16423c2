"""Fault matrix 16–17 (celery-reliability.md §6): poison messages and time limits.

Proved elsewhere and referenced in docs/reliability.md: an unknown task name, a message the worker
must reject, a task that kills its child every time (the redelivery cap) and the hard time limit
each end as a dead letter (tests/tasks/test_dead_letters.py). Here: a body that cannot be decoded
pushed straight into the queue, and a marketplace that hangs past a bid cycle's soft time limit.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.core.redis import get_redis
from app.models.marketing import CeleryFailedTask, MarketingBidIntent
from app.services.marketing.bid_cycle.coordinator import LOCK_KEY
from tests.chaos.support import (
    clear_faults,
    effect_check,
    fault_wb_bids,
    last_seq,
    send_cycle,
    wait_for,
    wait_for_runs,
)
from tests.integration.test_bid_cycle import prepare
from tests.support.sandbox_system import SandboxSystem

pytestmark = pytest.mark.worker


def garbage_envelope(body: bytes, content_type: str) -> str:
    """A kombu envelope as a producer would LPUSH it, with a body nobody can decode."""
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": content_type,
            "headers": {"id": str(uuid.uuid4()), "task": "app.tasks.marketing.alerts.test_succeeds"},
            "properties": {
                "delivery_tag": str(uuid.uuid4()),
                "delivery_info": {"exchange": "", "routing_key": "marketing_high"},
                "body_encoding": "base64",
                "priority": 0,
                "correlation_id": str(uuid.uuid4()),
            },
        }
    )


def test_16_undecodable_messages_do_not_loop_and_the_queue_keeps_flowing(
    clean_db: None, worker_factory: Any
) -> None:
    redis = get_redis()
    worker = worker_factory(queues="marketing_high", concurrency=1, include=("tests.tasks.chaos_tasks",))
    redis.lpush("marketing_high", "not json at all {")
    redis.lpush("marketing_high", garbage_envelope(b"\x80\x04 not a pickle", "application/json"))
    redis.lpush("marketing_high", garbage_envelope(b"{}", "application/x-unknown"))
    started = time.monotonic()
    # A good task behind the poison ones runs: nothing loops, nothing blocks the queue.
    result = celery_app.send_task("app.tasks.marketing.alerts.test_succeeds", args=[7])
    try:
        assert result.get(timeout=60) == {"value": 7}
    except Exception:
        raise AssertionError(worker.log()[-5000:]) from None
    flowing_s = time.monotonic() - started
    wait_for(lambda: redis.llen("marketing_high") == 0, 30, "the queue drained")
    wait_for(lambda: not redis.hlen("unacked"), 30, "no message waiting to be redelivered")
    with session_scope() as session:
        letters = list(session.scalars(select(CeleryFailedTask)))
    # Each poison message is one dead letter with its reason: not an envelope, an undecodable
    # body, a content type the worker does not accept.
    assert sorted(x.exception.split(":")[0] for x in letters) == [
        "ContentDisallowed",
        "DecodeError",
        "UndecodableMessage",
    ], [(x.reason, x.exception) for x in letters]
    assert {x.reason for x in letters} == {"rejected"}
    print(f"SCENARIO 16 poison=3 good_done=1/1 queue_left=0 dlq={len(letters)} flowing_s={flowing_s:.1f}")


def test_17_a_hanging_marketplace_meets_the_soft_limit_and_nothing_is_stale(
    sandbox_system: SandboxSystem, worker_factory: Any
) -> None:
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    fault_wb_bids(sandbox_system, kind="timeout", delay_s=60, count=1)
    worker = worker_factory(
        queues="marketing_high",
        concurrency=2,
        extra_env={"BID_CYCLE_SOFT_TIME_LIMIT": "8", "BID_CYCLE_TIME_LIMIT": "12", "HTTP_TIMEOUT": "60"},
    )
    started = time.monotonic()
    send_cycle()
    runs = wait_for_runs(1, timeout=120)
    ended_s = time.monotonic() - started
    summary = runs[0].summary
    wb = summary["marketplaces"]["wb"]
    assert runs[0].status == "partial" and wb["errors"] >= 1, [
        (a["marketplace"], a["errors"], a["messages"]) for a in summary["accounts"]
    ]
    assert any("SoftTimeLimitExceeded" in m for a in summary["accounts"] for m in a["messages"]), [
        (a["marketplace"], a["errors"], a["messages"]) for a in summary["accounts"]
    ]
    assert not get_redis().exists(LOCK_KEY), "the cycle lock is released, not left to its TTL"
    with session_scope() as session:
        stuck = list(
            session.scalars(
                select(MarketingBidIntent).where(MarketingBidIntent.status.in_(("pending", "unknown")))
            )
        )
    # The WB intents whose send hung stay open, never lost: the next cycle reads the marketplace
    # once their apply delay has passed and settles them before deciding anything.
    assert stuck, "the hung send's intents are open"
    clear_faults(sandbox_system)
    sandbox_system.advance(200)
    send_cycle()
    try:
        wait_for_runs(2, timeout=120)
    except AssertionError:
        raise AssertionError(worker.log()[-6000:]) from None
    check = effect_check(sandbox_system, since)
    assert check.dead_letters == 0
    print(f"SCENARIO 17 soft_limit {check.line()} hung_open={len(stuck)} ended_s={ended_s:.1f}")


def test_16_an_account_task_that_keeps_dying_fails_the_run_not_its_lock(
    sandbox_system: SandboxSystem, worker_factory: Any
) -> None:
    """The weak spot of issue 14, a per-account task that ends in something unexpected: killed past
    the redelivery cap (or by the hard time limit) it fails the chord, so `finish_bid_cycle` never
    runs. The chord's error callback closes the run and releases the lock; the next cycle settles
    the sends the kill interrupted."""
    import psutil

    from app.models.marketing import MarketingCycleRun

    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    fault_wb_bids(sandbox_system, kind="slow", delay_s=20, rate=1.0)
    worker = worker_factory(queues="marketing_high", concurrency=2, extra_env={"MAX_REDELIVERIES": "1"})
    send_cycle()

    def sending() -> int:
        with session_scope() as session:
            return len(
                list(
                    session.scalars(
                        select(MarketingBidIntent.id).where(MarketingBidIntent.status == "pending")
                    )
                )
            )

    wait_for(sending, 90, "a WB bid call on the wire")
    for child in psutil.Process(worker.process.pid).children(recursive=True):
        child.kill()  # the OOM killer, as far as the task can tell
    killed_at = time.monotonic()
    clear_faults(sandbox_system)

    def closed() -> MarketingCycleRun | None:
        with session_scope() as session:
            return session.scalars(
                select(MarketingCycleRun).where(MarketingCycleRun.status == "failed")
            ).first()

    try:
        run = wait_for(closed, 120, "the run closed as failed")
    except AssertionError:
        raise AssertionError(worker.log()[-5000:]) from None
    closed_s = time.monotonic() - killed_at
    assert not get_redis().exists(LOCK_KEY), "the lock is released, not left to its TTL"
    with session_scope() as session:
        letters = list(session.scalars(select(CeleryFailedTask)))
    assert letters and {x.reason for x in letters} <= {"redelivery_cap", "worker_lost"}, letters
    assert {x.task_name for x in letters} == {"app.tasks.marketing.bid_cycle.run_bid_cycle_account"}
    sandbox_system.advance(200)  # past every apply delay: the next cycle reads what the kill left open
    send_cycle()
    wait_for_runs(2, timeout=120)
    check = effect_check(sandbox_system, since)
    print(
        f"SCENARIO 16 account_task_dies run={run.status} lock_released=1 {check.line()} "
        f"closed_s={closed_s:.1f}"
    )
