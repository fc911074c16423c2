"""The time budget is checked before each write batch (issue 16 item 1), against the sandbox over
real HTTP: a spent budget stops the cycle cleanly before a batch — no intent, no marketplace write,
counted in `not_written` and the run `partial`; spent between the intents and the send, the intents
stay open and the next attempt's reconciliation (bid_apply step 4) settles them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.database import session_scope
from app.models.marketing import MarketingBidIntent, MarketingCampaign
from app.services.marketing.bid_cycle import account as account_module
from app.services.marketing.bid_cycle.execution import PlanExecutor
from tests.integration.test_bid_cycle import prepare, run_cycle, sandbox_bid_values
from tests.support.sandbox_system import SandboxSystem


def budget(monkeypatch: pytest.MonkeyPatch, spent: Callable[[int], bool]) -> None:
    """Every account's executor sees this budget (given its account id) instead of the task's clock."""

    class Budgeted(PlanExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            account_id = self.account.id
            self.out_of_time = lambda: spent(account_id)

    monkeypatch.setattr(account_module, "PlanExecutor", Budgeted)


def open_intents(account_id: int | None = None) -> int:
    query = select(func.count()).select_from(MarketingBidIntent).where(MarketingBidIntent.status == "pending")
    if account_id is not None:
        query = query.join(MarketingCampaign).where(MarketingCampaign.account_id == account_id)
    with session_scope() as session:
        return session.scalar(query) or 0


def test_a_spent_budget_writes_nothing_and_says_so(
    sandbox_system: SandboxSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(sandbox_system)
    budget(monkeypatch, lambda _account: True)
    before = len(sandbox_system.effects())
    summary = run_cycle()
    assert summary["not_written"] > 0 and summary["bids_updated"] == 0
    assert summary["status"] == "partial"
    assert sandbox_bid_values(sandbox_system, before).total() == 0
    with session_scope() as session:
        assert session.scalars(select(MarketingBidIntent)).first() is None


def test_spent_after_the_intents_leaves_them_open_for_reconciliation(
    sandbox_system: SandboxSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(sandbox_system)
    tight = {"on": True}
    # Room for each account's intents, none for sending them.
    budget(monkeypatch, lambda account: tight["on"] and open_intents(account) > 0)
    before = len(sandbox_system.effects())
    summary = run_cycle()
    left_open = open_intents()
    assert left_open > 0 and summary["not_written"] == left_open and summary["bids_updated"] == 0
    assert sandbox_bid_values(sandbox_system, before).total() == 0
    tight["on"] = False
    sandbox_system.advance(200)  # past every apply delay: settled, not in flight
    run_cycle()
    with session_scope() as session:
        statuses = session.execute(
            select(MarketingBidIntent.status, MarketingBidIntent.error).where(
                MarketingBidIntent.cycle_run_id == summary["run_id"]
            )
        ).all()
    assert len(statuses) == left_open
    assert {s for s, _ in statuses} == {"failed"}
    assert all("after an interrupted attempt" in (e or "") for _, e in statuses)
