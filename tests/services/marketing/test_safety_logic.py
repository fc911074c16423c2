"""SafetyLogic rules at and around each threshold (issue 6 Deliver 2; spec 7.3.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.models.marketing import AlertSeverity
from app.services.marketing.bidding import PeriodStats
from app.services.marketing.safety_logic import (
    SafetyAction,
    SafetyAlertType,
    SafetyLogic,
    parse_safety_params,
)

from .factories import campaign_safety, keyword_safety, stats

safety = SafetyLogic()


def test_a_normal_campaign_is_ok() -> None:
    decision = safety.check_campaign(campaign_safety())
    assert (decision.action, decision.severity, decision.alert_type, decision.findings) == (
        SafetyAction.OK,
        AlertSeverity.INFO,
        None,
        (),
    )
    assert decision.is_ok
    assert decision.reason == "campaign checks passed"


@pytest.mark.parametrize("status", ["paused", "stopped", "archived"])
def test_inactive_campaigns_are_not_checked(status: str) -> None:
    decision = safety.check_campaign(campaign_safety(status=status, spent_today=10_000_000))
    assert decision.action == SafetyAction.OK
    assert decision.reason == f"campaign is {status}: not checked"


class TestBudget:
    """The daily limit is the one budget rule of budget_rules.py (issue 9 finding 14): the same
    thresholds and alert types as check_budgets."""

    @pytest.mark.parametrize(
        ("spent", "action", "alert_type"),
        [
            (399_999, SafetyAction.OK, None),
            (400_000, SafetyAction.ALERT, SafetyAlertType.BUDGET_WARNING),  # spec 7.3.3: 80 %
            (499_999, SafetyAction.ALERT, SafetyAlertType.BUDGET_WARNING),
            (500_000, SafetyAction.PAUSE_CAMPAIGN, SafetyAlertType.BUDGET_EXCEEDED),
            (500_001, SafetyAction.PAUSE_CAMPAIGN, SafetyAlertType.BUDGET_EXCEEDED),
        ],
    )
    def test_pauses_campaign_at_daily_limit(
        self, spent: int, action: SafetyAction, alert_type: SafetyAlertType | None
    ) -> None:
        decision = safety.check_campaign(campaign_safety(spent_today=spent))
        assert (decision.action, decision.alert_type) == (action, alert_type)

    def test_budget_pause_is_critical_with_a_reason(self) -> None:
        decision = safety.check_campaign(campaign_safety(spent_today=500_000))
        assert decision.severity == AlertSeverity.CRITICAL
        assert decision.pauses_for_budget
        assert decision.reason == (
            "spent 5000.00 ₽ reached the daily limit 5000.00 ₽: pausing until the next Moscow day"
        )

    def test_stats_spend_above_the_budget_figure_counts(self) -> None:
        today = stats(views=20_000, clicks=600, orders=10, spend=500_000, revenue=10_000_000)
        decision = safety.check_campaign(campaign_safety(spent_today=100_000, today=today, usual_day=None))
        assert decision.action == SafetyAction.PAUSE_CAMPAIGN

    def test_no_daily_limit_no_budget_rule(self) -> None:
        decision = safety.check_campaign(
            campaign_safety(daily_limit=None, spent_today=10_000_000, usual_day=None)
        )
        assert decision.is_ok and decision.budget is None

    def test_warning_share_is_a_parameter(self) -> None:
        params = parse_safety_params({"budget_warning_pct": 50})
        decision = safety.check_campaign(campaign_safety(spent_today=250_000, params=params))
        assert decision.alert_type == SafetyAlertType.BUDGET_WARNING

    def test_the_spend_rate_pauses_ahead_of_the_limit(self) -> None:
        # 3000 ₽ spent, 2.50 ₽/s: the remaining 2000 ₽ go in ~13 min, before the next check in 15.
        decision = safety.check_campaign(
            campaign_safety(spent_today=300_000, spend_rate=250.0, seconds_to_next_check=900)
        )
        assert decision.action == SafetyAction.PAUSE_CAMPAIGN and decision.pauses_for_budget

    def test_stale_spend_is_estimated_forward_and_alerted(self) -> None:
        # Finding 7: the spend figure is an hour old; at 1 ₽/s the campaign has spent ~3600 ₽ more.
        decision = safety.check_campaign(
            campaign_safety(spent_today=100_000, today=stats(), spend_rate=100.0, spend_age_s=3600)
        )
        kinds = [f.alert_type for f in decision.findings]
        assert SafetyAlertType.BUDGET_DATA_STALE in kinds
        assert decision.action == SafetyAction.PAUSE_CAMPAIGN  # 1000 ₽ + 3600 ₽ + 15 min ahead > 5000 ₽
        assert "spend data 60 min old: estimated 4600.00 ₽" in decision.reason

    def test_fresh_spend_is_not_stale(self) -> None:
        decision = safety.check_campaign(campaign_safety(spend_age_s=600, usual_day=None))
        assert decision.is_ok


class TestMissingData:
    """Finding 8: rules without the data they need say so instead of passing silently."""

    def test_without_a_baseline_the_anomaly_rules_say_so(self) -> None:
        decision = safety.check_campaign(campaign_safety(usual_day=None))
        assert decision.is_ok
        assert any("no baseline" in note for note in decision.notes)

    def test_without_revenue_from_the_marketplace_drr_does_not_pause(self) -> None:
        # Finding 2: YM reports no revenue; the DRR rule has no data, it must not see an infinite DRR.
        today = stats(views=20_000, clicks=600, orders=10, spend=500_000, revenue=0)
        decision = safety.check_campaign(
            campaign_safety(today=today, daily_limit=None, target_drr_pct=Decimal(10), reports_revenue=False)
        )
        assert decision.action != SafetyAction.PAUSE_CAMPAIGN
        assert "DRR not checked: the marketplace reports no revenue" in decision.notes


class TestDrr:
    def drr(self, spend: int, revenue: int, **fields: object) -> SafetyAction:
        today = stats(views=20_000, clicks=600, orders=10, spend=spend, revenue=revenue)
        return safety.check_campaign(
            campaign_safety(today=today, spent_today=spend, **{"target_drr_pct": Decimal(10), **fields})
        ).action

    def test_at_twice_the_target_it_runs(self) -> None:
        assert self.drr(100_000, 500_000) == SafetyAction.OK  # DRR exactly 20 %

    def test_above_twice_the_target_it_pauses(self) -> None:
        assert self.drr(100_000, 499_999) == SafetyAction.PAUSE_CAMPAIGN

    def test_below_the_minimum_spend_it_is_not_judged(self) -> None:
        assert self.drr(99_999, 0) == SafetyAction.OK

    def test_spend_without_revenue_pauses_once_enough_is_spent(self) -> None:
        today = stats(views=20_000, clicks=600, orders=0, spend=100_000, revenue=0)
        decision = safety.check_campaign(campaign_safety(today=today, target_drr_pct=Decimal(10)))
        assert (decision.action, decision.alert_type, decision.severity) == (
            SafetyAction.PAUSE_CAMPAIGN,
            SafetyAlertType.DRR_TOO_HIGH,
            AlertSeverity.CRITICAL,
        )
        assert (
            decision.reason
            == "today's DRR ∞ (no revenue) on 1000.00 ₽ spent is above 2 × target 10 %: pausing"
        )

    def test_without_a_target_there_is_no_drr_rule(self) -> None:
        assert self.drr(400_000, 1, target_drr_pct=None) != SafetyAction.PAUSE_CAMPAIGN

    def test_safety_params_target_is_the_fallback(self) -> None:
        params = parse_safety_params({"target_drr_pct": 10})
        assert self.drr(100_000, 400_000, target_drr_pct=None, params=params) == SafetyAction.PAUSE_CAMPAIGN

    def test_factor_and_minimum_spend_are_parameters(self) -> None:
        params = parse_safety_params({"drr_pause_factor": 3, "min_spend_to_judge_drr": 10_000})
        assert self.drr(100_000, 400_000, params=params) == SafetyAction.OK  # 25 % < 30 %
        assert self.drr(20_000, 0, params=params) == SafetyAction.PAUSE_CAMPAIGN


class TestSpendPace:
    def pace(self, today_spend: int, usual_spend: int = 200_000, now: datetime | None = None) -> SafetyAction:
        today = stats(views=20_000, clicks=600, orders=100, spend=today_spend, revenue=100_000_000)
        usual = PeriodStats(views=40_000, clicks=1_200, orders=20, spend=usual_spend, revenue=2_000_000)
        fields: dict[str, object] = {
            "today": today,
            "spent_today": today_spend,
            "usual_day": usual,
            "daily_limit": None,
        }
        if now is not None:
            fields["now"] = now
        return safety.check_campaign(campaign_safety(**fields)).action

    def test_three_times_the_usual_pace_is_still_ok(self) -> None:
        assert self.pace(300_000) == SafetyAction.OK

    def test_above_three_times_the_usual_pace_alerts(self) -> None:
        decision = safety.check_campaign(
            campaign_safety(
                today=stats(views=20_000, clicks=600, orders=100, spend=300_001, revenue=100_000_000),
                daily_limit=None,
            )
        )
        assert (decision.action, decision.alert_type, decision.severity) == (
            SafetyAction.ALERT,
            SafetyAlertType.SPEND_ANOMALY,
            AlertSeverity.WARNING,
        )
        assert decision.reason.startswith(
            "spent 3000.01 ₽ so far today, 3.0× the usual 1000.00 ₽ by this hour"
        )

    def test_small_spend_is_not_judged(self) -> None:
        assert self.pace(49_999, usual_spend=1_000) == SafetyAction.OK
        assert self.pace(50_000, usual_spend=1_000) == SafetyAction.ALERT

    def test_first_hour_of_the_day_counts_as_a_whole_hour(self) -> None:
        # 00:10 Moscow: a usual day of 24 000 ₽ is expected at 1000 ₽ (one hour), not 166 ₽.
        early = datetime(2026, 11, 24, 21, 10, tzinfo=UTC)
        assert self.pace(250_000, usual_spend=2_400_000, now=early) == SafetyAction.OK
        assert self.pace(300_001, usual_spend=2_400_000, now=early) == SafetyAction.ALERT

    def test_no_history_no_pace_rule(self) -> None:
        today = stats(views=20_000, clicks=600, orders=100, spend=400_000, revenue=100_000_000)
        assert safety.check_campaign(campaign_safety(today=today, usual_day=None, daily_limit=None)).is_ok


class TestCtrCollapse:
    # The usual CTR is 3 %: below 0.9 % after 1000 views today alerts.
    def ctr(self, views: int, clicks: int) -> SafetyAction:
        today = stats(views=views, clicks=clicks, orders=10, spend=100_000, revenue=1_000_000)
        return safety.check_campaign(campaign_safety(today=today)).action

    def test_at_the_collapse_line_it_is_ok(self) -> None:
        assert self.ctr(1_000, 9) == SafetyAction.OK

    def test_below_the_collapse_line_it_alerts(self) -> None:
        today = stats(views=1_000, clicks=8, orders=10, spend=100_000, revenue=1_000_000)
        decision = safety.check_campaign(campaign_safety(today=today))
        assert (decision.action, decision.alert_type) == (SafetyAction.ALERT, SafetyAlertType.CTR_COLLAPSE)
        assert (
            decision.reason
            == "CTR 0.80 % today after 1000 views against the usual 3.00 % (alert below 0.3 of usual)"
        )

    def test_too_few_views_are_not_judged(self) -> None:
        assert self.ctr(999, 0) == SafetyAction.OK


class TestZeroViews:
    def zero(self, usual_views: int, now: datetime | None = None) -> SafetyAction:
        usual = PeriodStats(views=usual_views, clicks=100, orders=1, spend=1_000, revenue=10_000)
        fields: dict[str, object] = {"today": stats(), "spent_today": 0, "usual_day": usual}
        if now is not None:
            fields["now"] = now
        return safety.check_campaign(campaign_safety(**fields)).action

    def test_alerts_when_views_were_expected_by_now(self) -> None:
        decision = safety.check_campaign(campaign_safety(today=stats(), spent_today=0))
        assert (decision.action, decision.alert_type) == (SafetyAction.ALERT, SafetyAlertType.ZERO_VIEWS)
        assert decision.reason == "active campaign has no views today; about 20000 expected by now"

    def test_threshold_of_expected_views(self) -> None:
        assert self.zero(400) == SafetyAction.ALERT  # 200 expected at noon
        assert self.zero(399) == SafetyAction.OK

    def test_not_before_the_usual_day_would_show_views(self) -> None:
        early = datetime(2026, 11, 24, 21, 10, tzinfo=UTC)  # 00:10 Moscow: one hour of 4000 = 166
        assert self.zero(4_000, now=early) == SafetyAction.OK


def test_a_pause_outranks_alerts_and_all_findings_are_kept() -> None:
    today = stats(views=1_000, clicks=1, orders=0, spend=600_000, revenue=0)
    decision = safety.check_campaign(
        campaign_safety(today=today, spent_today=600_000, target_drr_pct=Decimal(10))
    )
    assert decision.action == SafetyAction.PAUSE_CAMPAIGN
    assert decision.alert_type == SafetyAlertType.BUDGET_EXCEEDED
    kinds = [f.alert_type for f in decision.findings]
    assert kinds == [
        SafetyAlertType.BUDGET_EXCEEDED,
        SafetyAlertType.DRR_TOO_HIGH,
        SafetyAlertType.SPEND_ANOMALY,
        SafetyAlertType.CTR_COLLAPSE,
    ]


class TestKeyword:
    def test_a_normal_keyword_is_ok(self) -> None:
        decision = safety.check_keyword(keyword_safety())
        assert (decision.action, decision.reason) == (SafetyAction.OK, "keyword checks passed")

    @pytest.mark.parametrize(
        ("spend", "action"),
        [
            (49_999, SafetyAction.OK),
            (50_000, SafetyAction.PAUSE_KEYWORD),
            (50_001, SafetyAction.PAUSE_KEYWORD),
        ],
    )
    def test_pauses_keyword_spending_without_orders(self, spend: int, action: SafetyAction) -> None:
        decision = safety.check_keyword(
            keyword_safety(today=stats(views=1_000, clicks=30, orders=0, spend=spend))
        )
        assert decision.action == action

    def test_no_orders_reason_and_severity(self) -> None:
        decision = safety.check_keyword(
            keyword_safety(today=stats(views=1_000, clicks=30, orders=0, spend=50_000))
        )
        assert (decision.alert_type, decision.severity) == (
            SafetyAlertType.KEYWORD_NO_ORDERS,
            AlertSeverity.WARNING,
        )
        assert (
            decision.reason
            == "keyword 'платье женское' spent 500.00 ₽ without an order (limit 500.00 ₽): pausing"
        )

    def test_one_order_is_enough_to_keep_running(self) -> None:
        assert safety.check_keyword(
            keyword_safety(today=stats(views=1_000, clicks=30, orders=1, spend=1_000_000))
        ).is_ok

    def test_window_is_judged_instead_of_today(self) -> None:
        window = stats(views=1_500, clicks=40, orders=0, spend=60_000)
        assert safety.check_keyword(keyword_safety(window=window)).action == SafetyAction.PAUSE_KEYWORD

    @pytest.mark.parametrize(
        ("views", "clicks", "action"),
        [(2_000, 6, SafetyAction.OK), (2_000, 5, SafetyAction.PAUSE_KEYWORD), (1_999, 0, SafetyAction.OK)],
    )
    def test_pauses_keyword_with_low_ctr_after_enough_views(
        self, views: int, clicks: int, action: SafetyAction
    ) -> None:
        decision = safety.check_keyword(
            keyword_safety(today=stats(views=views, clicks=clicks, orders=1, spend=1_000))
        )
        assert decision.action == action
        if action == SafetyAction.PAUSE_KEYWORD:
            assert decision.alert_type == SafetyAlertType.KEYWORD_LOW_CTR
            assert (
                decision.reason
                == "keyword 'платье женское' CTR 0.25 % after 2000 views (minimum 0.3 %): pausing"
            )

    def test_thresholds_come_from_the_campaign(self) -> None:
        params = parse_safety_params({"keyword_max_spend_without_orders": 100_000})
        decision = safety.check_keyword(
            keyword_safety(params=params, today=stats(views=1_000, clicks=30, orders=0, spend=60_000))
        )
        assert decision.is_ok

    def test_a_fixed_keyword_is_alerted_on_not_paused(self) -> None:
        decision = safety.check_keyword(
            keyword_safety(is_fixed=True, today=stats(views=1_000, clicks=30, orders=0, spend=60_000))
        )
        assert (decision.action, decision.alert_type) == (
            SafetyAction.ALERT,
            SafetyAlertType.KEYWORD_NO_ORDERS,
        )
        assert decision.reason.endswith("bid is fixed by hand: not paused")

    @pytest.mark.parametrize("status", ["paused", "excluded", "removed"])
    def test_inactive_keywords_are_not_checked(self, status: str) -> None:
        decision = safety.check_keyword(
            keyword_safety(status=status, today=stats(views=5_000, orders=0, spend=1_000_000))
        )
        assert decision.action == SafetyAction.OK

    def test_both_rules_are_reported(self) -> None:
        decision = safety.check_keyword(
            keyword_safety(today=stats(views=5_000, clicks=1, orders=0, spend=60_000))
        )
        assert [f.alert_type for f in decision.findings] == [
            SafetyAlertType.KEYWORD_NO_ORDERS,
            SafetyAlertType.KEYWORD_LOW_CTR,
        ]
