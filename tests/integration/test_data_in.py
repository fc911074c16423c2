"""Issue 5 against the sandbox over real HTTP: campaign sync, stats collection, budget protection."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from app.core.clock import moscow_today
from app.core.database import session_scope
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketingStats, MarketplaceAccount
from app.services.marketing.stats import run_collect_stats
from app.services.marketing.sync import run_sync
from tests.support.sandbox_system import SandboxSystem

MARKETPLACES = ["wb", "ozon", "ym"]


def campaigns_of(marketplace: str) -> list[MarketingCampaign]:
    with session_scope() as session:
        return list(
            session.scalars(select(MarketingCampaign).where(MarketingCampaign.marketplace == marketplace))
        )


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_sync_creates_campaigns_and_keywords_and_keeps_user_settings(
    sandbox_system: SandboxSystem, marketplace: str
) -> None:
    result = run_sync()
    assert result["errors"] == 0, result
    campaigns = campaigns_of(marketplace)
    assert campaigns, f"no {marketplace} campaigns synced"
    with session_scope() as session:
        keywords = session.scalar(
            select(func.count())
            .select_from(MarketingKeyword)
            .join(MarketingCampaign)
            .where(MarketingCampaign.marketplace == marketplace)
        )
        assert keywords and keywords > 0
        campaign = session.get(MarketingCampaign, campaigns[0].id)
        assert campaign is not None
        campaign.strategy_type = "target_position"
        campaign.strategy_params = {"position": 2}
        campaign.max_bid = 123_400
        campaign.daily_limit = 555_500
    run_sync()
    with session_scope() as session:
        again = session.get(MarketingCampaign, campaigns[0].id)
        assert again is not None
        assert (again.strategy_type, again.strategy_params, again.max_bid, again.daily_limit) == (
            "target_position",
            {"position": 2},
            123_400,
            555_500,
        )
        statuses = Counter(c.status for c in session.scalars(select(MarketingCampaign)))
        assert set(statuses) <= {"active", "paused", "stopped", "archived", "draft", "unknown"}


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_collect_stats_writes_snapshots_and_spent_today(
    sandbox_system: SandboxSystem, marketplace: str
) -> None:
    run_sync()
    sandbox_system.advance(900)
    first = run_collect_stats(marketplace)
    assert first["errors"] == 0, first
    assert first["stats_saved"] > 0
    sandbox_system.advance(900)
    second = run_collect_stats(marketplace)
    assert second["errors"] == 0, second
    today = moscow_today(sandbox_system.now())
    with session_scope() as session:
        active = session.scalars(
            select(MarketingCampaign).where(
                MarketingCampaign.marketplace == marketplace, MarketingCampaign.status == "active"
            )
        ).all()
        assert active
        per_campaign = Counter(
            session.scalars(
                select(MarketingStats.campaign_id).where(
                    MarketingStats.keyword_id.is_(None), MarketingStats.stat_date == today
                )
            )
        )
        for campaign in active:
            assert per_campaign[campaign.id] == 2, (
                f"campaign {campaign.external_id}: one snapshot per collection"
            )
            assert campaign.spent_date == today
        account = session.scalars(
            select(MarketplaceAccount).where(MarketplaceAccount.marketplace == marketplace)
        ).first()
        assert account is not None and account.last_stats_collected_at is not None
