"""Issue 9 finding 13: a worker killed while a WB bid batch is in flight breaks exactly-once.

WB applies bids on a 30-second tick, so what the redelivered attempt reads back depends on where
the kill lands. Before the fix: (a) the batch had taken effect — the attempt recorded it and then
decided those keywords *again* in the same cycle (−51 % in one cycle, past the 30 % cap); (b) it
had not — the attempt marked the intents WB had accepted as "not applied" and sent the same bids
again. Now each keyword is decided at most once per cycle run, and an interrupted send is settled
by reading back after the marketplace's apply delay, never re-planned.

A real prefork worker runs one account's share of a cycle; the sandbox applies WB's bid call and
withholds the reply (`apply_then_timeout`); the test SIGKILLs the pool child while it waits. The
sandbox's clock is frozen so the 30-second tick passes only when the test says so.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import MarketingBidHistory, MarketingBidIntent, MarketplaceAccount
from app.services.marketing.bid_cycle.coordinator import begin_cycle
from app.services.marketing.bid_cycle.readback import confirm_applied
from tests.integration.test_bid_cycle import prepare
from tests.support.sandbox_system import SandboxSystem
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.worker

WB_BID_PATHS = ("/api/advert/v1/bids", "/api/advert/v1/normquery/bids", "/adv/v0/normquery/bids")
BID_ACTIONS = {"set_nm_bids", "set_cluster_bids"}


def wb_account() -> int:
    with session_scope() as session:
        return int(
            session.scalar(
                select(MarketplaceAccount.id)
                .where(MarketplaceAccount.marketplace == "wb")
                .order_by(MarketplaceAccount.id)
            )
        )


def bid_effects(system: SandboxSystem) -> list[dict[str, Any]]:
    return [
        e
        for e in system.effects()
        if e["marketplace"] == "wildberries"
        and isinstance(e["effect"], dict)
        and e["effect"].get("action") in BID_ACTIONS
    ]


def sent_values(effects: list[dict[str, Any]]) -> Counter[tuple[int, str]]:
    """How often each (campaign, item) was sent a bid, over the given effects."""
    sent: Counter[tuple[int, str]] = Counter()
    for effect in effects:
        for bid in effect["effect"].get("bids", []):
            item = bid.get("norm_query") or bid.get("normQuery") or str(bid.get("nm_id") or bid.get("nm"))
            sent[(int(bid.get("advert_id") or bid.get("advertId") or 0), str(item))] += 1
    return sent


def kill_the_child_in_flight(system: SandboxSystem, worker: WorkerProcess, timeout: float = 120.0) -> None:
    """Wait until WB has taken a bid call whose reply is withheld, then SIGKILL the pool child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.get("fault") == "apply_then_timeout" for e in bid_effects(system)):
            children = psutil.Process(worker.process.pid).children(recursive=True)
            assert children, "the worker has no pool child"
            for child in children:
                child.send_signal(signal.SIGKILL)
            return
        time.sleep(0.1)
    raise AssertionError(f"no bid call reached the sandbox:\n{worker.log()[-3000:]}")


@pytest.mark.parametrize("tick", ["before", "after"])
def test_a_send_interrupted_by_a_kill_is_settled_once_and_never_replanned(
    sandbox_system: SandboxSystem, worker_factory: Any, tick: str
) -> None:
    prepare(sandbox_system)
    clock = sandbox_system.world.sandbox.clock
    clock.set_speed(0)  # WB's 30-s apply tick passes only when the test advances the clock
    for path in WB_BID_PATHS:
        sandbox_system.world.sandbox.faults.add(
            {"kind": "apply_then_timeout", "path": path, "delay_s": 90, "remaining": 1}
        )
    account_id = wb_account()
    start = begin_cycle("interrupted")
    assert start.run_id is not None
    worker = worker_factory(queues="marketing_high", concurrency=1)
    result = celery_app.send_task(
        "app.tasks.marketing.bid_cycle.run_bid_cycle_account", args=[start.run_id, account_id]
    )
    kill_the_child_in_flight(sandbox_system, worker)
    killed_at = time.monotonic()
    first_send = bid_effects(sandbox_system)
    if tick == "after":
        clock.advance(60)  # the batch takes effect at WB's tick before the attempt comes back
    summary = result.get(timeout=240)
    recovery = time.monotonic() - killed_at
    assert summary["errors"] == 0, summary
    # The redelivered attempt sent nothing again: every bid went out once, in the first attempt.
    later = bid_effects(sandbox_system)[len(first_send) :]
    assert later == [], later
    clock.advance(120)  # past WB's apply delay (45 s): the read-back settles what is still open
    settled = confirm_applied(start.run_id)
    with session_scope() as session:
        per_keyword = Counter(
            session.scalars(
                select(MarketingBidIntent.keyword_id).where(MarketingBidIntent.cycle_run_id == start.run_id)
            )
        )
        assert per_keyword and max(per_keyword.values()) == 1  # decided at most once in the run
        statuses = Counter(
            session.scalars(
                select(MarketingBidIntent.status).where(MarketingBidIntent.cycle_run_id == start.run_id)
            )
        )
        assert statuses["pending"] == statuses["unknown"] == 0, statuses
        history = session.scalar(
            select(func.count())
            .select_from(MarketingBidHistory)
            .where(MarketingBidHistory.cycle_run_id == start.run_id)
        )
        assert history == statuses["applied"]
        # No change larger than the strategy's 30 % per cycle (finding 13a: −51 %).
        for old, new in session.execute(
            select(MarketingBidIntent.old_bid, MarketingBidIntent.new_bid).where(
                MarketingBidIntent.cycle_run_id == start.run_id, MarketingBidIntent.status == "applied"
            )
        ):
            if old:
                assert abs(new - old) <= max(old * 0.3, 100) + 100, (old, new)
    sent = sent_values(first_send)
    assert statuses["applied"] <= sum(sent.values())
    assert max(sent.values()) == 1
    assert settled["settled_applied"] + settled["confirmed"] >= 1, settled
    # Fault matrix scenario 1 (docs/reliability.md): changes applied of those sent, recovery time.
    print(
        f"SCENARIO 1 applied={statuses['applied']}/{sum(sent.values())} recovery_s={recovery:.1f} tick={tick}"
    )
