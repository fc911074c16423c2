"""Shared helpers of the fault-matrix scenarios 11–20 (celery-reliability.md §6): faults sent to the
sandbox over HTTP, a bid cycle run by a real worker, and the effect check.

The effect check compares what the sandbox saw (its effect log, `GET /_sandbox/effects`) with what
the system wrote (`marketing_bid_history`, `marketing_bid_intents`, `celery_failed_tasks`):

- every bid the sandbox applied has one history row, every history row one applied bid;
- every applied intent has exactly one history row, no intent is left open (pending/unknown);
- no keyword was sent a bid twice in one cycle run;
- every dead letter names its reason and the exception.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
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

BID_ACTIONS = {"set_cluster_bids", "set_nm_bids", "set_bids"}


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `condition` until it returns something truthy (and return that); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def add_fault(system: SandboxSystem, **rule: Any) -> list[dict[str, Any]]:
    """One fault rule over HTTP (POST /_sandbox/faults), as an operator or a test would send it."""
    reply = httpx.post(system.server.url("wildberries") + "/_sandbox/faults", json=rule, timeout=10)
    reply.raise_for_status()
    return list(reply.json()["faults"])


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
    """Every bid value the sandbox applied since `since`, counted (YM's pause-by-zero left out)."""
    values: Counter[int] = Counter()
    for effect in bid_effects(system, since):
        if effect["status"] != 200 and effect.get("fault") != "apply_then_timeout":
            continue
        for item in effect["effect"].get("bids", []):
            value = item.get("bid_kopecks", item.get("bid"))
            if value is not None and int(value) != 0:
                values[int(value)] += 1
    return values


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


@dataclass
class EffectCheck:
    applied: int  # bids the sandbox applied (and the history recorded)
    intended: int  # intents the system meant to apply
    history: int
    open_intents: int
    dead_letters: int

    def line(self) -> str:
        return f"applied={self.applied}/{self.intended} open={self.open_intents} dlq={self.dead_letters}"


def effect_check(system: SandboxSystem, since: int = 0) -> EffectCheck:
    """Assert the effect check (module docstring) for everything since effect `since`; return it."""
    sent = applied_bid_values(system, since)
    with session_scope() as session:
        history = Counter(int(v) for v in session.scalars(select(MarketingBidHistory.new_bid)) if v)
        statuses = Counter(session.scalars(select(MarketingBidIntent.status)))
        per_intent = session.execute(
            select(MarketingBidHistory.intent_id, func.count())
            .where(MarketingBidHistory.intent_id.is_not(None))
            .group_by(MarketingBidHistory.intent_id)
            .having(func.count() > 1)
        ).all()
        per_run_keyword = session.execute(
            select(MarketingBidIntent.cycle_run_id, MarketingBidIntent.keyword_id, func.count())
            .where(
                MarketingBidIntent.cycle_run_id.is_not(None),
                MarketingBidIntent.status.not_in(("dry_run",)),
            )
            .group_by(MarketingBidIntent.cycle_run_id, MarketingBidIntent.keyword_id)
            .having(func.count() > 1)
        ).all()
        dead = list(session.scalars(select(CeleryFailedTask)))
    assert sent == history, f"sandbox applied {sent} but the history holds {history}"
    assert not per_intent, f"intents with more than one history row: {per_intent}"
    assert not per_run_keyword, f"keywords decided twice in one cycle run: {per_run_keyword}"
    open_count = statuses["pending"] + statuses["unknown"]
    assert open_count == 0, f"intents left open: {statuses}"
    assert statuses["applied"] == history.total(), (statuses, history.total())
    for letter in dead:
        assert letter.reason and letter.exception, f"dead letter {letter.task_name} without a reason"
    intended = statuses["applied"] + statuses["failed"]
    return EffectCheck(history.total(), intended, history.total(), open_count, len(dead))
