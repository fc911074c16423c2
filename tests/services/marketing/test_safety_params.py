"""safety_params validation and defaults (issue 6 Deliver 2: thresholds per campaign with defaults)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.services.marketing.safety_logic import SafetyParams, SafetyParamsError, parse_safety_params


def test_empty_params_are_the_defaults() -> None:
    assert parse_safety_params({}) == parse_safety_params(None) == SafetyParams()


def test_defaults() -> None:
    p = SafetyParams()
    assert p.budget_warning_pct == Decimal(80)  # spec 7.3.3
    assert (p.drr_pause_factor, p.min_spend_to_judge_drr) == (Decimal(2), 100_000)
    assert (p.spend_anomaly_factor, p.min_spend_for_anomaly) == (Decimal(3), 50_000)
    assert (p.ctr_collapse_factor, p.min_views_for_ctr, p.zero_views_min_expected) == (
        Decimal("0.3"),
        1000,
        200,
    )
    assert (p.keyword_max_spend_without_orders, p.keyword_min_ctr_pct, p.keyword_min_views_for_ctr) == (
        50_000,
        Decimal("0.3"),
        2000,
    )


def test_a_campaign_overrides_one_threshold() -> None:
    params = parse_safety_params({"keyword_max_spend_without_orders": 100_000})
    assert params.keyword_max_spend_without_orders == 100_000
    assert params.keyword_min_views_for_ctr == 2000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"drr_pause_factor": 1},
            "safety_params.drr_pause_factor: input should be greater than 1 (got 1); expected pause when today's DRR exceeds target × this factor, > 1",
        ),
        (
            {"keyword_max_spend_without_orders": "500"},
            "safety_params.keyword_max_spend_without_orders: input should be a valid integer (got '500')",
        ),
        (
            {"max_spend": 1},
            "safety_params.max_spend: is not a parameter here (allowed: budget_warning_pct, target_drr_pct,",
        ),
        ("strict", "safety_params must be a JSON object, got 'strict'"),
    ],
)
def test_bad_safety_params_get_a_one_line_message(raw: object, message: str) -> None:
    with pytest.raises(SafetyParamsError) as error:
        parse_safety_params(raw)  # type: ignore[arg-type]
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)
