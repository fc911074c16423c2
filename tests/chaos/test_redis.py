"""Fault matrix scenarios 9 and 10 (celery-reliability.md §6): Redis — broker, results and the
cycle lock — dies mid-cycle. The test's own redis-server (free loopback port, its own folder) is
the worker's and this process's Redis; it is SIGKILLed while an account's share of a cycle runs
and started again on the same port, with its AOF (9) or wiped, without persistence (10).

Found here: with celery/kombu 5.7.0 the worker exited ("Unrecoverable error: AttributeError
'NoneType' object has no attribute 'hostname'") when Redis went away while it held an unacked
message; app/core/redis_transport.py fixes it, and `reconnected` fails at once should it recur."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult

from app.core.celery_config import celery_settings
from app.core.config import get_settings, reset_settings_cache
from app.core.database import session_scope
from app.core.embedded import EmbeddedRedis
from app.models.marketing import MarketingBidIntent
from app.services.marketing.bid_cycle.coordinator import LOCK_KEY, begin_cycle, finish_cycle
from tests.chaos.support import effect_check, figure, last_seq, past_the_visibility_timeout, wait_for
from tests.chaos.test_workers import ACCOUNT_TASK, FIRST_READ, all_accounts, fault_taken
from tests.integration.test_bid_cycle import prepare
from tests.integration.test_interrupted_send import wb_account
from tests.support.sandbox_system import SandboxSystem

pytestmark = pytest.mark.worker

LOST_BROKER = ("Connection to broker lost", "Cannot connect to redis", "Error while reading from")


def own_app(url: str) -> Celery:
    """The project's Celery settings with broker and results on the test's own Redis."""
    settings = get_settings()
    app = Celery("adolf_marketing", broker=url, backend=url, set_as_current=False)
    app.conf.update(celery_settings(settings))
    return app


def on_own_redis(server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch) -> Celery:
    monkeypatch.setenv("REDIS_URL", server.url)
    reset_settings_cache()
    return own_app(server.url)


def send(app: Celery, *args: int) -> str:
    """Sends an account's share and keeps only its id. A live AsyncResult stays subscribed to its
    result channel and unsubscribes when it is collected; should that happen after the test's Redis
    is gone (a failed test's traceback keeps it), it breaks some later test."""
    result = app.send_task(ACCOUNT_TASK, args=list(args))
    task_id = str(result.id)
    del result  # unsubscribes now, while this Redis is up
    return task_id


def state_of(app: Celery, task_id: str) -> str | None:
    """The task's state, or None while the backend cannot be reached."""
    with contextlib.suppress(Exception):
        return str(AsyncResult(task_id, app=app).state)
    return None


def outcome(app: Celery, task_id: str, timeout: float = 90.0) -> dict[str, Any]:
    wait_for(lambda: state_of(app, task_id) == "SUCCESS", timeout=timeout, what=f"task {task_id} done")
    return dict(AsyncResult(task_id, app=app).result)


def unacked(server: EmbeddedRedis) -> int:
    return int(server._client().hlen("unacked"))


def kill_redis(server: EmbeddedRedis) -> None:
    pid = server._pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not server.is_running(), timeout=30, what="redis gone")


def worker_lost_broker(log: Callable[[], str]) -> bool:
    text = log()
    return any(marker in text for marker in LOST_BROKER)


def reconnected(worker: Any) -> bool:
    """The worker is connected to the restarted Redis again; fails at once if it exited."""
    log = worker.log()
    if worker.process.poll() is not None:
        last = [line for line in log.splitlines() if "Unrecoverable error" in line or "CRITICAL" in line]
        raise AssertionError(
            f"the worker exited (code {worker.process.returncode}) on the Redis restart: {last}"
        )
    return log.count("Connected to redis") >= 2


def test_scenario_9_redis_restarted_with_aof(
    sandbox_system: SandboxSystem,
    worker_factory: Any,
    own_redis: EmbeddedRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    app = on_own_redis(own_redis, monkeypatch)
    worker = worker_factory(
        queues="marketing_high", extra_env={"REDIS_URL": own_redis.url}, broker_url=own_redis.url
    )
    rule = sandbox_system.world.sandbox.faults.add({"kind": "slow", "path": FIRST_READ, "delay_s": 8})
    start = begin_cycle("scenario-9")
    assert start.run_id is not None
    wb = wb_account()
    in_flight = send(app, start.run_id, wb)
    wait_for(lambda: fault_taken(sandbox_system, rule.id), what="the account under way")
    kill_redis(own_redis)
    killed_at = time.monotonic()
    wait_for(lambda: worker_lost_broker(worker.log), timeout=120, what="the worker noticing")
    own_redis.start()
    wait_for(lambda: reconnected(worker), timeout=120, what="the worker back on Redis")
    # The running share was cancelled on the connection loss (acks_late: it could not be acked);
    # its message survived in the AOF, unacked, and comes back after the visibility timeout.
    assert unacked(own_redis) == 1
    assert past_the_visibility_timeout(app) == 1
    first = outcome(app, in_flight)
    # The worker consumes again: the other accounts' shares, sent after the restart, complete.
    rest = [send(app, start.run_id, a) for a in all_accounts() if a != wb]
    results = [first] + [outcome(app, task_id) for task_id in rest]
    recovery = time.monotonic() - killed_at
    summary = finish_cycle(start.run_id, start.lock_token, results)
    assert summary["errors"] == 0, summary
    effects = effect_check(sandbox_system, since)
    assert effects.applied == effects.expected == summary["bids_updated"] > 0
    assert effects.dead_letters == 0
    figure(9, effects.applied, effects.expected, recovery)


class VolatileRedis(EmbeddedRedis):
    """A redis-server without persistence: a restart starts empty."""

    def _config(self) -> str:
        return super()._config().replace("appendonly yes", "appendonly no")


def test_scenario_10_redis_restarted_without_persistence(
    sandbox_system: SandboxSystem,
    worker_factory: Any,
    own_redis: EmbeddedRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis comes back empty: run A's running share (cancelled on the connection loss), its
    message, the queues and the cycle lock are gone. The next firing starts run B from PostgreSQL;
    a late copy of A's share is fenced and writes nothing; B does the work once."""
    own_redis.stop()
    server = VolatileRedis(own_redis.folder, port=own_redis.port)
    server.start()
    prepare(sandbox_system)
    since = last_seq(sandbox_system)
    app = on_own_redis(server, monkeypatch)
    worker = worker_factory(
        queues="marketing_high", extra_env={"REDIS_URL": server.url}, broker_url=server.url
    )
    rule = sandbox_system.world.sandbox.faults.add({"kind": "slow", "path": FIRST_READ, "delay_s": 8})
    run_a = begin_cycle("scenario-10-a")
    assert run_a.run_id is not None
    wb = wb_account()
    send(app, run_a.run_id, wb)
    wait_for(lambda: fault_taken(sandbox_system, rule.id), what="run A's account under way")
    try:
        kill_redis(server)
        killed_at = time.monotonic()
        wait_for(lambda: worker_lost_broker(worker.log), timeout=120, what="the worker noticing")
        for item in server.folder.iterdir():
            if item.is_dir():
                shutil.rmtree(item)
            elif item.suffix != ".conf":
                item.unlink()
        server.start()
        assert server._client().get(LOCK_KEY) is None  # the lock is gone with the queues
        wait_for(lambda: reconnected(worker), timeout=120, what="the worker back on Redis")
        run_b = begin_cycle("scenario-10-b")  # beat's next firing finds no lock
        assert run_b.run_id is not None and not run_b.skipped
        # A late copy of run A's share (a redelivery from elsewhere) is fenced: it writes nothing.
        late = outcome(app, send(app, run_a.run_id, wb))
        assert late["bids_updated"] == 0, late
        assert any("lost its lock" in m for m in late["messages"]), late
        results = [outcome(app, send(app, run_b.run_id, a)) for a in all_accounts()]
        recovery = time.monotonic() - killed_at
        with session_scope() as session:
            assert session.query(MarketingBidIntent).filter_by(cycle_run_id=run_a.run_id).first() is None
        summary = finish_cycle(run_b.run_id, run_b.lock_token, results)
        assert server._client().get(LOCK_KEY) is None
        assert summary["errors"] == 0, summary
        effects = effect_check(sandbox_system, since)
        assert effects.applied == effects.expected == summary["bids_updated"] > 0
        figure(10, effects.applied, effects.expected, recovery, fenced_runs=1)
    finally:
        worker.stop()
        server.stop()
