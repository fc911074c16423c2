"""Issue 9 findings 6, 7, 9, 11 and 12 against the sandbox over real HTTP, with the system on the
sandbox's virtual clock (tests/support/sandbox_system.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from app.core.clock import MOSCOW, moscow_today
from app.core.database import session_scope
from app.models.marketing import (
    MarketingAlert,
    MarketingBidHistory,
    MarketingBidIntent,
    MarketingCampaign,
    MarketingKeyword,
    MarketplaceAccount,
)
from app.services.marketing.adapters.rules import PauseMode
from app.services.marketing.bid_cycle.inputs import load_keyword_rows
from app.services.marketing.budgets import run_budget_check
from app.services.marketing.manual_bids import BidChangeBusy, BidChangeError, apply_manual_change
from app.services.marketing.pauses import ItemPause, keyword_of, pause_keywords, resume_keywords
from app.services.marketing.runtime import AdapterPool
from app.services.marketing.stats import run_collect_stats
from app.services.marketing.sync import run_sync
from tests.integration.test_bid_cycle import prepare, run_cycle, sandbox_bid_values
from tests.support.sandbox_system import SandboxSystem


def first_campaign(marketplace: str, **where: object) -> MarketingCampaign:
    with session_scope() as session:
        query = select(MarketingCampaign).where(
            MarketingCampaign.marketplace == marketplace, MarketingCampaign.status == "active"
        )
        for name, value in where.items():
            query = query.where(getattr(MarketingCampaign, name) == value)
        campaign = session.scalars(query.order_by(MarketingCampaign.id)).first()
        assert campaign is not None
        return campaign


def test_a_budget_pause_made_by_the_cycle_is_resumed_the_next_moscow_day(
    sandbox_system: SandboxSystem,
) -> None:
    # Finding 6: the cycle paused with paused_reason "safety"; the next-day resume looked for
    # "budget_exceeded", so the campaign stayed paused for good.
    prepare(sandbox_system)
    with session_scope() as session:
        campaign = session.scalars(
            select(MarketingCampaign)
            .where(MarketingCampaign.marketplace == "wb", MarketingCampaign.spent_today > 0)
            .order_by(MarketingCampaign.id)
        ).first()
        assert campaign is not None, "a WB campaign that spends"
        campaign.daily_limit = campaign.spent_today
        campaign_id, external_id = campaign.id, campaign.external_id
    summary = run_cycle()
    assert summary["campaigns_paused"] >= 1, summary
    today = moscow_today(sandbox_system.now())
    with session_scope() as session:
        row = session.get(MarketingCampaign, campaign_id)
        assert row is not None
        assert (row.status, row.paused_reason, row.budget_paused_on) == ("paused", "budget_exceeded", today)
        alert = session.scalars(
            select(MarketingAlert).where(
                MarketingAlert.campaign_id == campaign_id, MarketingAlert.alert_type == "budget_exceeded"
            )
        ).one()
        assert "pausing until the next Moscow day" in alert.message
    assert sandbox_system.world.sandbox.world.campaigns[int(external_id)].status == "11"
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), MOSCOW) + timedelta(minutes=5)
    sandbox_system.set_time(tomorrow.astimezone(UTC))
    assert run_budget_check()["campaigns_resumed"] == 1
    with session_scope() as session:
        row = session.get(MarketingCampaign, campaign_id)
        assert row is not None and (row.status, row.paused_reason) == ("active", None)
    assert sandbox_system.world.sandbox.world.campaigns[int(external_id)].status == "9"


def test_stale_spend_is_estimated_and_raises_one_alert(sandbox_system: SandboxSystem) -> None:
    # Finding 7: budgets trusted spent_today whatever its age; a failing collection let campaigns
    # overspend with nobody told.
    prepare(sandbox_system)
    run_collect_stats("wb")
    campaign = first_campaign("wb")
    with session_scope() as session:
        row = session.get(MarketingCampaign, campaign.id)
        assert row is not None
        row.daily_limit = row.spent_today * 10 + 100_000
    sandbox_system.advance(3 * 3600)  # three hours without a collection
    run_budget_check()
    run_budget_check()
    with session_scope() as session:
        stale = session.scalars(
            select(MarketingAlert).where(
                MarketingAlert.campaign_id == campaign.id, MarketingAlert.alert_type == "budget_data_stale"
            )
        ).all()
        assert len(stale) == 1 and stale[0].repeats == 1
        assert "spend data 180 min old" in stale[0].message


def test_a_manual_change_holds_until_the_next_moscow_day(sandbox_system: SandboxSystem) -> None:
    # Finding 9: the next cycle reverted a manual change.
    prepare(sandbox_system)
    with session_scope() as session:
        keyword = session.scalars(
            select(MarketingKeyword)
            .join(MarketingCampaign)
            .where(
                MarketingCampaign.campaign_type == "manual",
                MarketingCampaign.payment_type == "cpm",
                MarketingKeyword.kind == "cluster",
                MarketingKeyword.status == "active",
            )
            .order_by(MarketingKeyword.id)
        ).first()
        assert keyword is not None
        keyword_id, bid = keyword.id, (keyword.current_bid or 20_000) // 100 * 100 + 3_000
    result = apply_manual_change(keyword_id, bid, "by hand")
    assert result["status"] == "applied" and "held until" in result["hold"]
    sandbox_system.advance(900)
    run_collect_stats("wb")
    before = len(sandbox_system.effects())
    run_cycle()
    with session_scope() as session:
        row = session.get(MarketingKeyword, keyword_id)
        assert row is not None and row.current_bid == bid
        assert row.held_until is not None and row.held_until > sandbox_system.now()
        assert not session.scalars(
            select(MarketingBidIntent).where(
                MarketingBidIntent.keyword_id == keyword_id, MarketingBidIntent.source == "bid_cycle"
            )
        ).first()
    assert bid in sandbox_bid_values(sandbox_system, 0) and bid not in sandbox_bid_values(
        sandbox_system, before
    )


def test_a_manual_change_waits_for_an_open_intent_instead_of_failing(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system)
    run_cycle()
    with session_scope() as session:
        intent = session.scalars(
            select(MarketingBidIntent)
            .where(MarketingBidIntent.status == "applied")
            .order_by(MarketingBidIntent.id)
        ).first()
        assert intent is not None and intent.keyword_id is not None
        # As if the cycle's send were still on its way: pending, and no history yet.
        intent.status = "pending"
        intent.created_at = sandbox_system.now()
        session.execute(delete(MarketingBidHistory).where(MarketingBidHistory.intent_id == intent.id))
        keyword_id, new_bid = intent.keyword_id, intent.new_bid
        campaign = intent.campaign
        max_bid = campaign.max_bid
    target = min(new_bid + 1_000, max_bid or new_bid + 1_000) // 100 * 100
    with pytest.raises(BidChangeBusy, match="has a change on its way"):
        apply_manual_change(keyword_id, target, "by hand")
    sandbox_system.advance(200)  # past the apply delay: the open intent is settled first
    assert apply_manual_change(keyword_id, target, "by hand")["status"] in ("applied", "unchanged")
    with session_scope() as session:
        statuses = [
            i.status
            for i in session.scalars(
                select(MarketingBidIntent).where(MarketingBidIntent.keyword_id == keyword_id)
            )
        ]
        assert "pending" not in statuses


def test_manual_changes_are_checked_against_the_marketplace_rules(sandbox_system: SandboxSystem) -> None:
    run_sync()
    ym = first_campaign("ym")
    with session_scope() as session:
        sku = session.scalars(select(MarketingKeyword).where(MarketingKeyword.campaign_id == ym.id)).first()
        assert sku is not None
    before = len(sandbox_system.effects())
    with pytest.raises(
        BidChangeError, match=r"outside Yandex Market's range 0.50 % от цены … 99.99 % от цены"
    ):
        apply_manual_change(sku.id, 15_000, "a kopeck value on a percent bid")
    assert len(sandbox_system.effects()) == before
    with session_scope() as session:
        assert session.scalars(select(MarketingBidIntent)).first() is None


@pytest.mark.parametrize("marketplace", ["ozon", "ym", "wb"])
def test_keyword_pauses_are_undone_with_what_they_removed(
    sandbox_system: SandboxSystem, marketplace: str
) -> None:
    # Finding 11: Ozon deleted the SKU, YM set 0, sync then marked them removed — nothing to undo.
    assert run_sync()["errors"] == 0
    kind = "cluster" if marketplace == "wb" else "sku"
    with session_scope() as session:
        query = (
            select(MarketingKeyword, MarketingCampaign)
            .join(MarketingCampaign)
            .where(
                MarketingCampaign.marketplace == marketplace,
                MarketingCampaign.status == "active",
                MarketingKeyword.kind == kind,
                MarketingKeyword.status == "active",
                MarketingKeyword.current_bid.is_not(None),
            )
        )
        if marketplace == "wb":
            query = query.where(MarketingCampaign.campaign_type == "manual")
        keyword, campaign = session.execute(query.order_by(MarketingKeyword.id)).first()  # type: ignore[misc]
        account = session.get(MarketplaceAccount, campaign.account_id)
        rows = [
            r for r in load_keyword_rows(session, campaign.id, campaign.external_id) if r.id == keyword.id
        ]
        bid_before = keyword.current_bid
    mode = {"ozon": PauseMode.REMOVE_ITEM, "ym": PauseMode.ZERO_BID, "wb": PauseMode.MINUS_PHRASE}[
        marketplace
    ]

    async def pause() -> int:
        async with AdapterPool() as pool:
            outcome = await pause_keywords(pool.get(account), [ItemPause(rows[0], "no orders", mode)])
            return outcome.paused

    assert asyncio.run(pause()) == 1
    sandbox_system.advance(300)
    assert run_sync()["errors"] == 0  # the marketplace no longer lists it: it stays paused, not removed
    with session_scope() as session:
        row = session.get(MarketingKeyword, keyword.id)
        assert row is not None
        assert (row.status, row.pause_mode, row.paused_bid) == ("paused", mode.value, bid_before)
        item = keyword_of(row, campaign.external_id)

    async def resume() -> int:
        async with AdapterPool() as pool:
            return await resume_keywords(pool.get(account), [(keyword.id, item)])

    assert asyncio.run(resume()) == 1
    sandbox_system.advance(300)
    assert run_sync()["errors"] == 0
    with session_scope() as session:
        row = session.get(MarketingKeyword, keyword.id)
        assert row is not None
        assert (row.status, row.current_bid, row.paused_bid) == ("active", bid_before, None)
