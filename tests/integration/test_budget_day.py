"""Issue 5 "Done when" over a simulated Moscow evening, midnight and night (fast profile, the
system following the sandbox's virtual clock): snapshots every 15 minutes for every active campaign
and keyword; spent_today equal to the sandbox's spend; a campaign crossing its limit is paused
within one check and spends nothing after; the 80 % warning fires once per Moscow day, also when it
happens between 00:00 and 03:00; a budget-paused campaign resumes on the next Moscow day."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.clock import MOSCOW, moscow_today
from app.core.config import reset_settings_cache
from app.core.database import session_scope
from app.core.marketplaces import Marketplace
from app.models.marketing import MarketingAlert, MarketingCampaign, MarketingKeyword, MarketingStats
from app.sandbox.market import SPEND
from app.services.marketing.budgets import run_budget_check
from app.services.marketing.stats import run_collect_stats
from app.services.marketing.sync import run_sync
from tests.support.sandbox_system import SandboxSystem

STEP = 900  # the spec's 15-minute rhythm


def sandbox_spend(system: SandboxSystem, external_id: str, day: datetime) -> int:
    market = system.world.sandbox.market
    return round(market.totals(int(external_id), moscow_today(day))[SPEND])


def wb_campaigns() -> list[MarketingCampaign]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(MarketingCampaign)
                .where(MarketingCampaign.marketplace == "wb", MarketingCampaign.status == "active")
                .order_by(MarketingCampaign.id)
            )
        )


WB_SPEND_AT_COLLECTION: dict[str, int] = {}


def step(system: SandboxSystem) -> datetime:
    now = collect(system)
    run_budget_check()
    return now


def collect(system: SandboxSystem) -> datetime:
    now = system.advance(STEP)
    run_collect_stats("wb")
    # The sandbox's clock runs on between calls: remember its WB spend right at the collection.
    for campaign in system.world.sandbox.world.campaigns.values():
        WB_SPEND_AT_COLLECTION[str(campaign.id)] = sandbox_spend(system, str(campaign.id), now)
    for marketplace in ("ozon", "ym"):
        run_collect_stats(marketplace)
    return now


@pytest.fixture
def no_projection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The spec's two rules alone; the projection has its own test below.
    monkeypatch.setenv("BUDGET_PROJECTION", "off")
    reset_settings_cache()


def test_a_night_of_collection_and_budget_checks(sandbox_system: SandboxSystem, no_projection: None) -> None:
    # Money on every WB campaign's own budget for the whole run (as a deposit would put there), so
    # that only our daily limits stop them.
    for campaign in sandbox_system.world.sandbox.world.campaigns.values():
        if campaign.marketplace == Marketplace.WB:
            campaign.budget_kopecks += 10**10
    start = sandbox_system.now()
    evening = datetime.combine(moscow_today(start), datetime.min.time(), MOSCOW) + timedelta(
        hours=22, minutes=30
    )
    if evening <= start:
        evening += timedelta(days=1)
    sandbox_system.set_time(evening.astimezone(UTC))
    assert run_sync()["errors"] == 0
    now = step(sandbox_system)
    spenders = [c for c in wb_campaigns() if c.spent_today > 0]
    assert len(spenders) >= 2, "the seeded world needs two WB campaigns that spend"
    capped, warned = spenders[0], spenders[1]
    with session_scope() as session:
        # Crosses its limit within the next check or two; the other reaches 80 % but not 100 %.
        session.get(MarketingCampaign, capped.id).daily_limit = capped.spent_today + 500  # type: ignore[union-attr]
        session.get(MarketingCampaign, warned.id).daily_limit = int(warned.spent_today / 0.79) + 1  # type: ignore[union-attr]

    paused_at_spend = None
    night: list[datetime] = []
    night_limit_set = False
    while now < evening + timedelta(hours=5):  # 22:45 → 03:30 Moscow
        now = collect(sandbox_system)
        if not night_limit_set and moscow_today(now) > moscow_today(evening):
            with session_scope() as session:
                row = session.get(MarketingCampaign, warned.id)
                assert row is not None
                if row.spent_today > 0:
                    # Between 00:00 and 03:00: a limit the warned campaign has spent 85 % of, today.
                    row.daily_limit = row.spent_today * 100 // 85
                    night_limit_set = True
        run_budget_check()
        night.append(now)
        with session_scope() as session:
            row = session.get(MarketingCampaign, capped.id)
            assert row is not None
            if paused_at_spend is None and row.status == "paused":
                paused_at_spend = sandbox_spend(sandbox_system, capped.external_id, now)
                paused_day = moscow_today(now)
            # spent_today always equals the sandbox's own spend at the last collection (to the few
            # kopecks WB's rounding of rubles with two decimals per stats level can take).
            for campaign in session.scalars(
                select(MarketingCampaign).where(
                    MarketingCampaign.marketplace == "wb", MarketingCampaign.status == "active"
                )
            ):
                if campaign.spent_date == moscow_today(now):
                    assert abs(campaign.spent_today - WB_SPEND_AT_COLLECTION[campaign.external_id]) <= 5

    assert paused_at_spend is not None, "the capped campaign was never paused"
    sandbox_campaign = sandbox_system.world.sandbox.world.campaigns[int(capped.external_id)]
    # Paused for the budget on the marketplace, and it spent nothing more that Moscow day.
    assert (
        sandbox_spend(
            sandbox_system,
            capped.external_id,
            datetime.combine(paused_day, datetime.min.time(), MOSCOW) + timedelta(hours=23, minutes=59),
        )
        == paused_at_spend
    )
    with session_scope() as session:
        alerts = session.scalars(select(MarketingAlert).order_by(MarketingAlert.id)).all()
        by_type = Counter(
            (a.campaign_id, a.alert_type, a.created_at.astimezone(MOSCOW).date()) for a in alerts
        )
        assert by_type[(capped.id, "budget_exceeded", paused_day)] == 1
        # Resumed at the start of the next Moscow day, with an alert saying so.
        assert any(a.alert_type == "budget_resumed" and a.campaign_id == capped.id for a in alerts)
        assert sandbox_campaign.status == "9"
        warnings = [
            (day, n)
            for (cid, kind, day), n in by_type.items()
            if cid == warned.id and kind == "budget_warning"
        ]
        assert sorted(warnings) == [
            (moscow_today(evening), 1),
            (moscow_today(evening) + timedelta(days=1), 1),
        ]
        night_warning = next(
            a
            for a in alerts
            if a.campaign_id == warned.id
            and a.alert_type == "budget_warning"
            and a.created_at.astimezone(MOSCOW).date() > moscow_today(evening)
        )
        assert night_warning.created_at.astimezone(MOSCOW).hour < 3
        # A snapshot every 15 minutes for every active campaign and keyword.
        counts = Counter(
            (row.campaign_id, row.keyword_id)
            for row in session.execute(select(MarketingStats.campaign_id, MarketingStats.keyword_id))
        )
        always_active = [c for c in wb_campaigns() if c.id not in (capped.id,)]
        for campaign in always_active:
            assert counts[(campaign.id, None)] == len(night) + 1
        keyword = session.scalars(
            select(MarketingKeyword).where(
                MarketingKeyword.campaign_id == always_active[0].id, MarketingKeyword.kind == "cluster"
            )
        ).first()
        if keyword is not None:
            assert counts[(always_active[0].id, keyword.id)] >= len(night) - 1
