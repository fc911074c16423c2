"""Fault matrix 11 (celery-reliability.md §6): PostgreSQL connections killed during a task.

A real prefork worker runs the bid cycle against the sandbox over HTTP. While the cycle's bid
calls are held on the wire (a `slow` fault), the test terminates every connection of the app to
the database (`pg_terminate_backend`), as a PostgreSQL restart or a failover would. Expected: the
intents were committed before any API call; the pool's pre-ping replaces the dead connections; each
change is applied once and recorded once (the effect check).

Second case, the weak spot of issue 14: a database blip in `begin_cycle` after it took the Redis
lock. The lock must be released so that the task's retry (or the next tick) runs instead of
skipping itself as "already running".
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select, text

from app.core.database import get_engine, session_scope
from app.core.redis import get_redis
from app.models.marketing import MarketingBidIntent, MarketingCycleRun, MarketplaceAccount
from app.services.marketing.bid_apply import FENCE_LOCK_KEY
from app.services.marketing.bid_cycle.coordinator import LOCK_KEY
from tests.chaos.support import (
    effect_check,
    fault_wb_bids,
    finished_runs,
    last_seq,
    send_cycle,
    wait_for,
    wait_for_runs,
)
from tests.integration.test_bid_cycle import prepare
from tests.support.sandbox_system import SandboxSystem

pytestmark = pytest.mark.worker


def terminate_app_connections() -> int:
    """Kill every other connection to the test database (the worker's pool, idle or busy)."""
    with get_engine().connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
        conn.commit()
    return int(killed)


def committed_open_intents() -> int:
    with session_scope() as session:
        return len(
            list(
                session.scalars(
                    select(MarketingBidIntent.id).where(MarketingBidIntent.status.in_(("pending", "unknown")))
                )
            )
        )


def test_11_connections_killed_mid_cycle_apply_every_change_once(
    sandbox_system: SandboxSystem, worker_factory: Any
) -> None:
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    fault_wb_bids(sandbox_system, kind="slow", delay_s=4, count=1)
    worker_factory(queues="marketing_high", concurrency=2)
    send_cycle()
    # Intents are committed (visible to another connection) while the bid call is on the wire.
    wait_for(committed_open_intents, 90, "intents committed before the bid call")
    killed = terminate_app_connections()
    killed_at = time.monotonic()
    runs = wait_for_runs(1, timeout=120)
    recovery_s = time.monotonic() - killed_at
    assert runs[0].status in ("completed", "partial"), runs[0].summary
    assert runs[0].summary["bids_updated"] > 0, runs[0].summary
    check = effect_check(sandbox_system, since)
    assert check.dead_letters == 0
    print(f"SCENARIO 11 {check.line()} connections_killed={killed} recovery_s={recovery_s:.1f}")


def test_11_a_database_blip_in_begin_cycle_releases_the_lock(
    sandbox_system: SandboxSystem, worker_factory: Any
) -> None:
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    redis = get_redis()
    worker_factory(queues="marketing_high", concurrency=2)
    # Hold the fence lock so that begin_cycle, lock taken, waits inside its database transaction.
    with get_engine().connect() as blocker:
        blocker.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FENCE_LOCK_KEY})
        send_cycle()

        def waiting_backend() -> int | None:
            with get_engine().connect() as conn:
                return conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                    )
                ).scalar()

        pid = wait_for(waiting_backend, 60, "begin_cycle waiting in PostgreSQL")
        assert redis.exists(LOCK_KEY), "begin_cycle waits with the cycle lock taken"
        with get_engine().connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
        blipped_at = time.monotonic()
        blocker.rollback()
    # The failed attempt released the lock: nothing blocks the retry or the next tick.
    wait_for(lambda: not redis.exists(LOCK_KEY), 30, "the cycle lock released after the blip")
    released_s = time.monotonic() - blipped_at
    with session_scope() as session:
        assert session.scalars(select(MarketingCycleRun)).first() is None  # the blip rolled back
    send_cycle()  # the next tick (the retry comes 60 s later and finds the lock free as well)
    runs = wait_for_runs(1, timeout=120)
    assert runs[0].status in ("completed", "partial"), runs[0].summary
    assert runs[0].summary["bids_updated"] > 0
    with session_scope() as session:
        skipped = session.scalars(select(MarketingCycleRun).where(MarketingCycleRun.status == "skipped"))
        assert list(skipped) == []
    check = effect_check(sandbox_system, since)
    print(
        f"SCENARIO 11 begin_cycle_blip lock_released_s={released_s:.1f} {check.line()} runs={len(finished_runs())}"
    )


def test_11_a_database_blip_when_an_account_task_starts_is_that_accounts_error(
    sandbox_system: SandboxSystem,
) -> None:
    """`run_account` never raises (its docstring): a raise would fail the chord, so the run would
    never be closed nor its lock released. Its first read, of the account, was outside the guard."""
    import threading

    from app.services.marketing.bid_cycle.account import run_account

    prepare(sandbox_system)
    with session_scope() as session:
        account_id = session.scalar(select(MarketplaceAccount.id).order_by(MarketplaceAccount.id))
    results: list[dict[str, Any]] = []
    with get_engine().connect() as blocker:
        blocker.execute(text("LOCK TABLE marketplace_accounts IN ACCESS EXCLUSIVE MODE"))
        thread = threading.Thread(target=lambda: results.append(run_account(None, int(account_id), "blip")))
        thread.start()

        def waiting_backend() -> int | None:
            with get_engine().connect() as conn:
                return conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND wait_event = 'relation'"
                    )
                ).scalar()

        pid = wait_for(waiting_backend, 60, "the account read waiting in PostgreSQL")
        with get_engine().connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
        blocker.rollback()
    thread.join(timeout=60)
    assert results and results[0]["errors"] == 1, results
    assert "OperationalError" in results[0]["messages"][0], results
    print("SCENARIO 11 account_read_blip raised=0/1 as_account_error=1/1")
