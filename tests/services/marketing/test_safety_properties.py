"""Property tests of SafetyLogic: an exhausted budget always pauses, a fixed or inactive keyword
is never paused, every decision names why."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.models.marketing import CAMPAIGN_STATUSES, KEYWORD_STATUSES
from app.services.marketing.bidding import PeriodStats
from app.services.marketing.safety_logic import (
    CampaignSafetyContext,
    KeywordSafetyContext,
    SafetyAction,
    SafetyAlertType,
    SafetyDecision,
    SafetyLogic,
    SafetyParams,
)

safety = SafetyLogic()
counts = st.integers(0, 2_000_000)
period = st.builds(
    PeriodStats,
    views=counts,
    clicks=st.integers(0, 50_000),
    orders=st.integers(0, 1_000),
    spend=counts,
    revenue=st.integers(0, 100_000_000),
)
params = st.builds(
    SafetyParams,
    drr_pause_factor=st.decimals(Decimal("1.1"), Decimal(5), places=1),
    min_spend_to_judge_drr=st.integers(0, 500_000),
    keyword_max_spend_without_orders=st.integers(1, 500_000),
    keyword_min_ctr_pct=st.decimals(Decimal(0), Decimal(5), places=2),
)
now = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))

campaigns = st.builds(
    CampaignSafetyContext,
    campaign_id=st.just(1),
    marketplace=st.just("wb"),
    status=st.sampled_from(CAMPAIGN_STATUSES),
    now=now,
    daily_limit=st.one_of(st.none(), counts),
    spent_today=counts,
    today=period,
    params=params,
    usual_day=st.one_of(st.none(), period),
    target_drr_pct=st.one_of(st.none(), st.decimals(Decimal(1), Decimal(100), places=1)),
)
keywords = st.builds(
    KeywordSafetyContext,
    campaign_id=st.just(1),
    keyword_id=st.just(1),
    keyword=st.just("k"),
    status=st.sampled_from(KEYWORD_STATUSES),
    is_fixed=st.booleans(),
    today=period,
    params=params,
    window=st.one_of(st.none(), period),
)


def well_formed(decision: SafetyDecision) -> None:
    assert decision.reason and "\n" not in decision.reason
    assert (decision.alert_type is None) == decision.is_ok
    assert all(f.reason for f in decision.findings)
    if decision.findings:
        assert (decision.action, decision.alert_type) == (
            decision.findings[0].action,
            decision.findings[0].alert_type,
        )


@settings(max_examples=500, deadline=None)
@given(campaigns)
def test_an_exhausted_budget_always_pauses_an_active_campaign(ctx: CampaignSafetyContext) -> None:
    decision = safety.check_campaign(ctx)
    well_formed(decision)
    assert decision.action != SafetyAction.PAUSE_KEYWORD
    if ctx.status != "active":
        assert decision.is_ok
    elif ctx.daily_limit and max(ctx.spent_today, ctx.today.spend) >= ctx.daily_limit:
        # A daily_limit of 0 is no limit, as a marketplace's daily budget of 0 is (budgets.py).
        assert (decision.action, decision.alert_type) == (
            SafetyAction.PAUSE_CAMPAIGN,
            SafetyAlertType.BUDGET_EXCEEDED,
        )


@settings(max_examples=500, deadline=None)
@given(keywords)
def test_fixed_and_inactive_keywords_are_never_paused(ctx: KeywordSafetyContext) -> None:
    decision = safety.check_keyword(ctx)
    well_formed(decision)
    assert decision.action != SafetyAction.PAUSE_CAMPAIGN
    if ctx.is_fixed or ctx.status != "active":
        assert decision.action != SafetyAction.PAUSE_KEYWORD
    if ctx.status != "active":
        assert decision.is_ok
