"""Issue 6 against the sandbox over real HTTP: the bid cycle changes bids, every change the sandbox
saw has exactly one history row and every history row one change; dry-run applies nothing; a cycle
that lost its lock cannot write; a redelivered attempt does not send twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, update

from app.core.database import session_scope
from app.models.marketing import MarketingBidHistory, MarketingBidIntent, MarketingCampaign, MarketingCycleRun
from app.services.marketing.bid_apply import start_cycle_run
from app.services.marketing.bid_cycle.account import run_account
from app.services.marketing.bid_cycle.coordinator import begin_cycle, finish_cycle
from app.services.marketing.stats import run_collect_stats
from app.services.marketing.sync import run_sync
from tests.support.sandbox_system import SandboxSystem

STRATEGIES: dict[str, dict[str, Any]] = {
    "wb": {"strategy_type": "target_position", "strategy_params": {"position": 2}, "max_bid": 200_000},
    "ozon": {"strategy_type": "max_traffic", "strategy_params": {"bid_cap": 4_000}, "max_bid": 6_000},
    "ym": {"strategy_type": "max_traffic", "strategy_params": {"bid_cap": 900}, "max_bid": 1_000},
}
BID_ACTIONS = {"set_cluster_bids", "set_nm_bids", "set_bids"}


def prepare(system: SandboxSystem, dry_run: bool = False) -> None:
    assert run_sync()["errors"] == 0
    with session_scope() as session:
        for campaign in session.scalars(select(MarketingCampaign)):
            config = STRATEGIES[campaign.marketplace]
            campaign.strategy_type = config["strategy_type"]
            campaign.strategy_params = config["strategy_params"]
            campaign.max_bid = config["max_bid"]
            campaign.dry_run = dry_run
    system.advance(600)
    for marketplace in ("wb", "ozon", "ym"):
        run_collect_stats(marketplace)


def run_cycle() -> dict[str, Any]:
    start = begin_cycle("test")
    assert start.run_id is not None
    results = [run_account(start.run_id, account_id, "test") for account_id in start.account_ids]
    return finish_cycle(start.run_id, start.lock_token, results)


def sandbox_bid_values(system: SandboxSystem, since: int = 0) -> Counter[int]:
    values: Counter[int] = Counter()
    for effect in system.effects(since):
        body = effect["effect"]
        if effect["status"] == 200 and isinstance(body, dict) and body.get("action") in BID_ACTIONS:
            for item in body.get("bids", []):
                value = item.get("bid_kopecks", item.get("bid"))
                if value is not None:
                    values[int(value)] += 1
    return values


def history_values() -> Counter[int]:
    with session_scope() as session:
        return Counter(session.scalars(select(MarketingBidHistory.new_bid)))


def test_cycle_changes_bids_and_history_matches_the_effect_log(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system)
    before = sandbox_system.effects()[-1]["seq"] if sandbox_system.effects() else 0
    summary = run_cycle()
    assert summary["status"] in ("completed", "partial"), summary
    assert summary["bids_updated"] > 0, summary
    seen = sandbox_bid_values(sandbox_system, int(before))
    # A YM keyword is paused by setting its bid to 0 (its API has no pause): those are pauses, in
    # the keywords' status and the alerts, not bid changes.
    paused = seen.pop(0, 0)
    assert paused == summary["marketplaces"].get("ym", {}).get("keywords_paused", 0)
    assert seen == history_values()
    with session_scope() as session:
        intents = Counter(session.scalars(select(MarketingBidIntent.status)))
        assert intents["applied"] == summary["bids_updated"]
        assert intents["pending"] == 0


def test_dry_run_records_intents_and_applies_nothing(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system, dry_run=True)
    before = len(sandbox_system.effects())
    summary = run_cycle()
    assert summary["dry_run_changes"] > 0, summary
    assert summary["bids_updated"] == 0
    assert sandbox_bid_values(sandbox_system, before) == Counter()
    with session_scope() as session:
        statuses = Counter(session.scalars(select(MarketingBidIntent.status)))
        assert statuses == Counter({"dry_run": summary["dry_run_changes"]})
        assert session.scalars(select(MarketingBidHistory)).first() is None


def test_a_cycle_that_lost_its_lock_writes_nothing(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system)
    start = begin_cycle("stale")
    assert start.run_id is not None
    with session_scope() as session:
        start_cycle_run(session, "newer")  # a newer cycle took over (our lock expired)
    before = len(sandbox_system.effects())
    results = [run_account(start.run_id, account_id, "stale") for account_id in start.account_ids]
    assert all(r["bids_updated"] == 0 for r in results)
    assert any("lost its lock" in m for r in results for m in r["messages"]), results
    assert sandbox_bid_values(sandbox_system, before) == Counter()
    with session_scope() as session:
        assert session.scalars(select(MarketingBidIntent)).first() is None
        session.execute(update(MarketingCycleRun).values(status="failed"))


def test_a_redelivered_attempt_reads_the_bid_and_does_not_send_again(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system)
    run_cycle()
    # The worker "died" after the API call and before marking: the intents are still pending.
    with session_scope() as session:
        applied = list(
            session.scalars(select(MarketingBidIntent).where(MarketingBidIntent.status == "applied"))
        )
        assert applied
        for intent in applied:
            intent.status = "pending"
        session.execute(MarketingBidHistory.__table__.delete())
    sandbox_system.advance(200)  # past every apply delay (YM: 180 s): settled, not in flight
    before = len(sandbox_system.effects())
    run_cycle()
    with session_scope() as session:
        reconciled = session.scalars(
            select(MarketingBidIntent).where(MarketingBidIntent.id.in_([i.id for i in applied]))
        )
        assert {i.status for i in reconciled} == {"applied"}
        assert len(list(session.scalars(select(MarketingBidHistory)))) >= len(applied)
    resent = sandbox_bid_values(sandbox_system, before)
    assert sum(resent.values()) <= history_values().total() - len(applied)


@pytest.mark.parametrize("marketplace", ["wb"])
def test_skipped_cycle_is_recorded_when_the_lock_is_held(
    sandbox_system: SandboxSystem, marketplace: str
) -> None:
    first = begin_cycle("a")
    second = begin_cycle("b")
    assert first.run_id is not None and second.skipped
    with session_scope() as session:
        statuses = Counter(session.scalars(select(MarketingCycleRun.status)))
    assert statuses == Counter({"running": 1, "skipped": 1})
    finish_cycle(first.run_id, first.lock_token, [])
