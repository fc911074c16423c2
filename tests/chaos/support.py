"""Shared helpers of the fault matrix (celery-reliability.md §6, issue 14 item 1).

Every scenario runs real `celery worker`/`beat` subprocesses on real PostgreSQL and Redis against
the sandbox over HTTP with its fault injection, and ends with `effect_check`, which compares what
the sandbox saw (its effect log, `GET /_sandbox/effects`) with what the system wrote
(`marketing_bid_history`, `marketing_bid_intents`, `celery_failed_tasks`):

- every bid the sandbox applied has exactly one history row and every history row one applied bid
  (no change twice, none unintended);
- each history row belongs to an applied intent, each applied intent has exactly one history row;
- no intent is left open (pending/unknown): every send is settled;
- a keyword is decided at most once per cycle run;
- an intent failed only as the marketplace's refusal, its reason recorded (a refused value is not
  resent), so every other intended change was applied;
- every dead letter names its reason and its exception.

Each scenario prints its figure in one line (`figure`, or `EffectCheck.line`), which
docs/reliability.md "The fault matrix" quotes. Tests synchronise by polling (`wait_for`) with
generous timeouts, never by sleeping.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
from celery import Celery
from kombu.transport.redis import Mutex, MutexHeld
from sqlalchemy import func, select

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import (
    CeleryFailedTask,
    MarketingBidHistory,
    MarketingBidIntent,
    MarketingCycleRun,
)
from tests.support.sandbox_system import SandboxSystem
from tests.support.worker import WorkerProcess

# Bid-changing actions in the sandbox's effect log (WB, Ozon, YM), and WB's bid-setting paths.
BID_ACTIONS = {"set_cluster_bids", "set_nm_bids", "set_bids"}
WB_BID_PATHS = ("/api/advert/v1/bids", "/api/advert/v1/normquery/bids", "/adv/v0/normquery/bids")


def wait_for(
    condition: Callable[[], Any], timeout: float = 180.0, what: str = "condition", interval: float = 0.1
) -> Any:
    """Poll `condition` until it returns something truthy (and return that); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def figure(scenario: int | str, applied: int, expected: int, recovery_s: float, **extra: object) -> str:
    """The one line of a scenario's figure, printed (pytest -s shows it) and returned."""
    rest = "".join(f" {key}={value}" for key, value in extra.items())
    line = f"SCENARIO {scenario} applied={applied}/{expected} recovery_s={recovery_s:.1f}{rest}"
    print(line)
    return line


# --- the sandbox: faults and effects --------------------------------------------------------------


def add_fault(system: SandboxSystem, **rule: Any) -> list[dict[str, Any]]:
    """One fault rule over HTTP (POST /_sandbox/faults), as an operator or a test would send it."""
    reply = httpx.post(system.server.url("wildberries") + "/_sandbox/faults", json=rule, timeout=10)
    reply.raise_for_status()
    return list(reply.json()["faults"])


def fault_wb_bids(system: SandboxSystem, **rule: Any) -> None:
    """The same fault rule on each of WB's bid-setting paths."""
    for path in WB_BID_PATHS:
        add_fault(system, path=path, marketplace="wildberries", **rule)


def active_faults(system: SandboxSystem) -> list[dict[str, Any]]:
    reply = httpx.get(system.server.url("wildberries") + "/_sandbox/faults", timeout=10)
    reply.raise_for_status()
    return list(reply.json()["faults"])


def clear_faults(system: SandboxSystem) -> None:
    httpx.delete(system.server.url("wildberries") + "/_sandbox/faults", timeout=10).raise_for_status()


def last_seq(system: SandboxSystem) -> int:
    effects = system.effects()
    return int(effects[-1]["seq"]) if effects else 0


def bid_effects(system: SandboxSystem, since: int = 0) -> list[dict[str, Any]]:
    return [
        e
        for e in system.effects(since)
        if isinstance(e["effect"], dict) and e["effect"].get("action") in BID_ACTIONS
    ]


def applied_bid_values(system: SandboxSystem, since: int = 0) -> Counter[int]:
    """Every bid value the sandbox applied since `since`, counted: answered 200, or applied and
    then left unanswered (`apply_then_timeout`). YM pauses a keyword by setting its bid to 0:
    those are pauses, not bid changes, and left out."""
    values: Counter[int] = Counter()
    for effect in bid_effects(system, since):
        if effect["status"] != 200 and effect.get("fault") != "apply_then_timeout":
            continue
        for item in effect["effect"].get("bids", []):
            value = item.get("bid_kopecks", item.get("bid"))
            if value is not None and int(value) != 0:
                values[int(value)] += 1
    return values


# --- the system: cycles, workers ------------------------------------------------------------------


def send_cycle() -> str:
    return str(celery_app.send_task("app.tasks.marketing.bid_cycle.run_bid_cycle").id)


def finished_runs() -> list[MarketingCycleRun]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(MarketingCycleRun)
                .where(MarketingCycleRun.status.not_in(("running", "skipped")))
                .order_by(MarketingCycleRun.id)
            )
        )


def wait_for_runs(count: int, timeout: float = 120.0) -> list[MarketingCycleRun]:
    return list(wait_for(lambda: len(finished_runs()) >= count and finished_runs(), timeout, "cycle runs"))


def pool_children(worker: WorkerProcess) -> list[psutil.Process]:
    return psutil.Process(worker.process.pid).children(recursive=True)


def signal_pool_children(worker: WorkerProcess, sig: int = signal.SIGKILL) -> list[int]:
    """Send `sig` to every pool child of `worker` (not its main process); their pids."""
    children = pool_children(worker)
    assert children, f"worker {worker.node} has no pool child"
    for child in children:
        child.send_signal(sig)
    return [child.pid for child in children]


# --- the effect check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectCheck:
    applied: int  # bids the sandbox applied, each with its one history row
    expected: int  # intents applied (none is left open, so: every change that was to be applied)
    intended: int  # intents decided: applied, or failed as the marketplace's refusal
    refused: int  # intents the marketplace refused, each failed with its reason (not resent)
    open_intents: int
    dead_letters: int  # rows of celery_failed_tasks, each with a reason

    def line(self) -> str:
        return f"applied={self.applied}/{self.intended} open={self.open_intents} dlq={self.dead_letters}"


def effect_check(system: SandboxSystem, since: int = 0) -> EffectCheck:
    """Assert the effect check (module docstring) for everything since effect `since`; return it."""
    sent = applied_bid_values(system, since)
    with session_scope() as session:
        history = list(session.scalars(select(MarketingBidHistory)))
        intents = list(session.scalars(select(MarketingBidIntent)))
        dead = list(session.scalars(select(CeleryFailedTask)))
        per_run_keyword = session.execute(
            select(MarketingBidIntent.cycle_run_id, MarketingBidIntent.keyword_id, func.count())
            .where(MarketingBidIntent.cycle_run_id.is_not(None), MarketingBidIntent.status != "dry_run")
            .group_by(MarketingBidIntent.cycle_run_id, MarketingBidIntent.keyword_id)
            .having(func.count() > 1)
        ).all()
        history_values = Counter(int(row.new_bid) for row in history if row.new_bid)
        assert sent == history_values, (
            f"sandbox took {sorted((sent - history_values).elements())} without history, history has "
            f"{sorted((history_values - sent).elements())} the sandbox never took"
        )
        applied = {i.id for i in intents if i.status == "applied"}
        by_intent = Counter(row.intent_id for row in history if row.intent_id is not None)
        assert set(by_intent) <= applied, f"history of intents not applied: {set(by_intent) - applied}"
        assert all(count == 1 for count in by_intent.values()), f"an intent recorded twice: {by_intent}"
        statuses = Counter(i.status for i in intents)
        open_count = statuses["pending"] + statuses["unknown"]
        assert open_count == 0, f"unsettled intents: {statuses}"
        assert statuses["applied"] == history_values.total(), (statuses, history_values.total())
        refused = [i for i in intents if i.status == "failed"]
        assert all(i.error for i in refused), "a failed intent without the marketplace's reason"
        assert not per_run_keyword, f"keywords decided twice in one cycle run: {per_run_keyword}"
        for row in dead:
            assert row.reason and row.exception, (
                f"dead letter {row.task_id} ({row.task_name}) without a reason"
            )
        return EffectCheck(
            applied=history_values.total(),
            expected=statuses["applied"],
            intended=statuses["applied"] + statuses["failed"],
            refused=len(refused),
            open_intents=open_count,
            dead_letters=len(dead),
        )


def past_the_visibility_timeout(app: Celery, delivered_before: float | None = None) -> int:
    """What the workers' sweep does once the visibility timeout (30 min) has passed, done now
    instead of in half an hour: under kombu's unacked mutex (waited for while a worker's own sweep
    holds it), every message delivered before `delivered_before` (a `time.time()`; default now)
    and not acked goes back to its queue. The number restored."""
    ceiling = time.time() if delivered_before is None else delivered_before
    deadline = time.monotonic() + 60
    with app.connection_for_write() as connection:
        qos = connection.default_channel.qos
        with qos.channel.conn_or_acquire() as client:
            while time.monotonic() < deadline:
                with (
                    contextlib.suppress(MutexHeld),
                    Mutex(client, qos.unacked_mutex_key, qos.unacked_mutex_expire),
                ):
                    tags = client.zrangebyscore(qos.unacked_index_key, 0, ceiling)
                    for tag in tags:
                        qos.restore_by_tag(tag, client)
                    return len(tags)
                time.sleep(0.2)
    raise AssertionError("kombu's unacked mutex stayed held for 60 s")
