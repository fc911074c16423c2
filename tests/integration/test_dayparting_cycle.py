"""The level a dayparted bid stands for travels with it through PostgreSQL (bid_engine rule 3):
the cycle writes it on the intent and the history row, reads it back the next cycle, and a strategy
that holds its level moves the bid back to it — over real HTTP against the sandbox."""

from __future__ import annotations

from sqlalchemy import select

from app.core.database import session_scope
from app.models.marketing import MarketingBidHistory, MarketingBidIntent, MarketingCampaign
from app.services.marketing.bid_cycle.inputs import bases_of, last_changes
from tests.integration.test_bid_cycle import prepare, run_cycle
from tests.support.sandbox_system import SandboxSystem

ALL_DAY = {"hours": {"0-23": 0.5}}


def wb_history(run_id: int) -> list[MarketingBidHistory]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(MarketingBidHistory)
                .join(MarketingCampaign)
                .where(MarketingCampaign.marketplace == "wb", MarketingBidHistory.cycle_run_id == run_id)
            )
        )


def set_wb_strategy(strategy_type: str, params: dict[str, object]) -> None:
    with session_scope() as session:
        for campaign in session.scalars(
            select(MarketingCampaign).where(MarketingCampaign.marketplace == "wb")
        ):
            campaign.strategy_type, campaign.strategy_params = strategy_type, params


def test_the_held_level_is_kept_with_the_bid_and_brought_back(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system)
    set_wb_strategy("target_position", {"position": 2, "max_change_pct": 100, "dayparting": ALL_DAY})
    first = run_cycle()
    rows = wb_history(first["run_id"])
    assert rows, first
    for row in rows:
        assert row.base_bid is not None, row.reason
        assert row.base_bid == 2 * row.new_bid or "at most 1.5" in row.reason or "capped" in row.reason, (
            row.reason
        )
    with session_scope() as session:
        intents = session.scalars(
            select(MarketingBidIntent).where(MarketingBidIntent.id.in_([r.intent_id for r in rows]))
        ).all()
        assert {i.id: i.base_bid for i in intents} == {r.intent_id: r.base_bid for r in rows}
        changes = last_changes(session, [r.keyword_id for r in rows if r.keyword_id is not None])
    assert bases_of(changes) == {r.keyword_id: (r.new_bid, r.base_bid) for r in rows}

    # The strategy now holds (it never has enough clicks) and the multiplier is back to 1: every
    # bid goes back up to the level it stood for, within the ±100 % a cycle allows.
    set_wb_strategy(
        "target_drr",
        {
            "target_drr_pct": 10,
            "min_clicks": 1_000_000,
            "max_change_pct": 100,
            "dayparting": {"hours": {"0-23": 1}},
        },
    )
    sandbox_system.advance(900)
    second = run_cycle()
    back = {r.keyword_id: r for r in wb_history(second["run_id"])}
    held = {r.keyword_id: r.base_bid for r in rows if r.base_bid == 2 * r.new_bid}
    assert held and set(held) <= set(back), (held, back)
    for keyword_id, level in held.items():
        row = back[keyword_id]
        assert row.new_bid == level or "at most 1.5" in (row.reason or ""), row.reason
        assert "the held level" in (row.reason or "") and row.base_bid == level
