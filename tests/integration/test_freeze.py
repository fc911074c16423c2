"""The stop switch (issue 12 item 4) against the sandbox: while frozen the cycle reads and reports but
changes no bid; a budget pause still happens; check_budgets does not resume a frozen account;
unfrozen, bidding goes on."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import moscow_today, now_utc
from app.core.database import session_scope
from app.core.redis import get_redis
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import FreezeScope, MarketingCampaign, MarketplaceAccount
from app.services.marketing.bid_cycle.coordinator import METRICS_KEY
from app.services.marketing.budgets import BudgetSettings, plan_budget_checks
from app.services.marketing.freeze import (
    FreezeError,
    FreezeTarget,
    freeze,
    frozen_account_ids,
    frozen_reason,
    unfreeze,
)
from tests.integration.test_bid_cycle import prepare, run_cycle, sandbox_bid_values
from tests.support.sandbox_system import SandboxSystem

EVERYTHING = FreezeTarget(FreezeScope.ALL)


def pause_effects(system: SandboxSystem, since: int) -> int:
    return sum(
        1
        for e in system.effects(since)
        if isinstance(e["effect"], dict)
        and "pause" in str(e["effect"].get("action", ""))
        and e["status"] == 200
    )


def test_a_frozen_cycle_reads_and_reports_but_changes_no_bid(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system)
    with session_scope() as session:
        freeze(session, EVERYTHING, "supplier price change", "anna")
    before = len(sandbox_system.effects())
    summary = run_cycle()
    assert summary["bids_updated"] == 0 and summary["keywords_paused"] == 0
    with session_scope() as session:
        accounts = len(session.scalars(select(MarketplaceAccount.id)).all())
    assert summary["frozen"] == accounts  # every account
    assert summary["frozen_changes"] > 0, summary
    assert summary["keywords"] > 0  # it did read and plan
    assert sandbox_bid_values(sandbox_system, before) == Counter()
    metrics = {k.decode(): v.decode() for k, v in get_redis().hgetall(METRICS_KEY).items()}  # type: ignore[union-attr]
    assert sum(m["frozen"] for m in json.loads(metrics["marketplaces"]).values()) == accounts
    with session_scope() as session:
        unfreeze(session, EVERYTHING, "anna")
    sandbox_system.advance(900)
    assert run_cycle()["bids_updated"] > 0


def test_a_budget_pause_still_happens_while_frozen(sandbox_system: SandboxSystem) -> None:
    prepare(sandbox_system)
    now = now_utc()
    with session_scope() as session:
        campaign = session.scalars(
            select(MarketingCampaign)
            .where(MarketingCampaign.marketplace == "wb", MarketingCampaign.status == "active")
            .order_by(MarketingCampaign.id)
        ).first()
        assert campaign is not None
        campaign.daily_limit, campaign.spent_today = 10_000, 20_000
        campaign.spent_date, campaign.spent_updated_at = moscow_today(now), now
        campaign_id, account_id = campaign.id, campaign.account_id
        freeze(session, FreezeTarget(FreezeScope.ACCOUNT, "wb", account_id), "checking a budget", "anna")
    before = len(sandbox_system.effects())
    summary = run_cycle()
    assert summary["marketplaces"]["wb"]["campaigns_paused"] == 1
    assert summary["marketplaces"]["wb"]["frozen"] == 1 and summary["marketplaces"]["ozon"]["frozen"] == 0
    assert summary["marketplaces"]["ozon"]["bids_updated"] > 0  # only the wb account is frozen
    assert pause_effects(sandbox_system, before) >= 1
    with session_scope() as session:
        paused = session.get(MarketingCampaign, campaign_id)
        assert paused is not None and (paused.status, paused.paused_reason) == ("paused", "budget_exceeded")
        # A new Moscow day: check_budgets would resume it, but not while its account is frozen.
        paused.budget_paused_on = moscow_today(now) - timedelta(days=1)
        session.flush()
        assert frozen_account_ids(session) == {account_id}
        plan, _ = plan_budget_checks(session, now, BudgetSettings())
        assert [item.campaign_id for item in plan if item.action == "resume"] == []
        unfreeze(session, FreezeTarget(FreezeScope.ACCOUNT, "wb", account_id), "anna")
        plan, _ = plan_budget_checks(session, now, BudgetSettings())
        assert [item.campaign_id for item in plan if item.action == "resume"] == [campaign_id]


def test_freezes_cover_their_scope_only(db_session: Session) -> None:
    brand = Brand(name="Brand")
    db_session.add(brand)
    db_session.flush()
    wb, ozon = (
        MarketplaceAccount(
            marketplace=mp,
            brand_id=brand.id,
            name="main",
            credentials_encrypted=encrypt_credentials({"token": "t"}),
        )
        for mp in ("wb", "ozon")
    )
    db_session.add_all([wb, ozon])
    db_session.flush()
    freeze(db_session, FreezeTarget(FreezeScope.MARKETPLACE, "ozon"), "ozon outage", "anna")
    assert frozen_account_ids(db_session) == {ozon.id}
    assert frozen_reason(db_session, "wb", wb.id) is None
    freeze(db_session, FreezeTarget(FreezeScope.ACCOUNT, "wb", wb.id), "new manager", "anna")
    assert frozen_account_ids(db_session) == {wb.id, ozon.id}
    reason = frozen_reason(db_session, "ozon", ozon.id)
    assert reason is not None and reason.startswith("frozen by anna at ") and reason.endswith(": ozon outage")
    with pytest.raises(FreezeError, match="is frozen already"):
        freeze(db_session, FreezeTarget(FreezeScope.MARKETPLACE, "ozon"), "again", "boris")
    with pytest.raises(FreezeError, match="has no freeze of its own to lift"):
        unfreeze(db_session, FreezeTarget(FreezeScope.ALL), "boris")
