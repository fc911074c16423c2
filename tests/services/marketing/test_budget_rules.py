"""Budget rules (spec 7.3.3 + the spend-rate projection of issue 5)."""

from __future__ import annotations

import pytest

from app.core.config import ProjectionMode
from app.services.marketing.budget_rules import (
    BudgetAction,
    BudgetState,
    decide_budget,
    rub,
    spend_rate,
)


def state(spent: int, limit: int = 100_000, rate: float | None = None, warned: bool = False) -> BudgetState:
    return BudgetState(
        spent_today=spent, daily_limit=limit, spend_rate=rate, seconds_to_next_check=900, warned_today=warned
    )


def test_pauses_campaign_at_daily_limit() -> None:
    decision = decide_budget(state(100_000))
    assert decision.action is BudgetAction.PAUSE
    assert decision.reason == "spent 1000.00 ₽ reached the daily limit 1000.00 ₽"


def test_warns_once_at_eighty_percent() -> None:
    assert decide_budget(state(79_999)).action is BudgetAction.NONE
    assert decide_budget(state(80_000)).action is BudgetAction.WARN
    assert decide_budget(state(80_000, warned=True)).action is BudgetAction.NONE


def test_pauses_ahead_when_the_rate_reaches_the_limit_before_the_next_check() -> None:
    # 50 ₽ left, spending 10 ₽/min: gone in 5 minutes, the next check is in 15.
    decision = decide_budget(state(95_000, rate=1000 / 60))
    assert decision.action is BudgetAction.PAUSE_AHEAD
    assert "reached in 5 min" in decision.reason
    assert decision.projected_spend == 95_000 + 15_000


def test_the_projection_counts_the_spend_since_the_data_was_read() -> None:
    # 160 ₽ left at 10 ₽/min last 16 min from the reading — but a reading 2 min old leaves 14 min
    # from now, and the next check is 15 min from now.
    fresh = BudgetState(84_000, 100_000, 1000 / 60, 900, False, data_age_s=0)
    assert decide_budget(fresh).action is BudgetAction.WARN
    late = BudgetState(84_000, 100_000, 1000 / 60, 900, False, data_age_s=120)
    decision = decide_budget(late)
    assert decision.action is BudgetAction.PAUSE_AHEAD
    assert "reached in 14 min" in decision.reason
    assert decision.projected_spend == 84_000 + 17_000


def test_projection_alert_mode_alerts_once_instead_of_pausing() -> None:
    assert (
        decide_budget(state(95_000, rate=1000 / 60), ProjectionMode.ALERT).action is BudgetAction.ALERT_AHEAD
    )
    assert (
        decide_budget(state(95_000, rate=1000 / 60, warned=True), ProjectionMode.ALERT).action
        is BudgetAction.NONE
    )


def test_slow_spend_is_not_paused_ahead() -> None:
    assert decide_budget(state(50_000, rate=1.0)).action is BudgetAction.NONE


def test_projection_off_keeps_the_spec_rules_only() -> None:
    assert decide_budget(state(95_000, rate=1000.0), ProjectionMode.OFF).action is BudgetAction.WARN


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        decide_budget(state(0, limit=0))


def test_spend_rate_uses_the_last_two_distinct_points() -> None:
    assert spend_rate([(0.0, 0), (600.0, 6000), (1200.0, 18000)]) == pytest.approx(20.0)
    assert spend_rate([(0.0, 100)]) is None
    assert spend_rate([(0.0, 5000), (60.0, 100)]) is None  # counters reset at Moscow midnight


def test_rub_formats_kopecks() -> None:
    assert rub(12_345_67) == "12345.67 ₽"
    assert rub(5) == "0.05 ₽"
