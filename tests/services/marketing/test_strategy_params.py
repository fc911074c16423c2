"""strategy_params validation: one-line messages naming the parameter (issue 6; DESIGN.md §4)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.services.marketing.strategies.params import (
    FixedParams,
    MaxTrafficParams,
    StrategyParamsError,
    TargetCpoParams,
    TargetDrrParams,
    TargetPositionParams,
    parse_strategy_params,
)


def test_defaults_are_filled_in() -> None:
    params = parse_strategy_params("target_drr", {"target_drr_pct": 12.5})
    assert isinstance(params, TargetDrrParams)
    assert (
        params.target_drr_pct,
        params.max_change_pct,
        params.gain,
        params.min_clicks,
        params.min_orders,
    ) == (
        Decimal("12.5"),
        Decimal(30),
        Decimal("0.5"),
        50,
        2,
    )
    assert params.stats_max_age_minutes == 45
    assert params.dayparting is None


@pytest.mark.parametrize(
    ("strategy", "raw", "model"),
    [
        ("target_position", {"position": 1}, TargetPositionParams),
        ("target_drr", {"target_drr_pct": 10}, TargetDrrParams),
        ("target_cpo", {"target_cpo": 50_000}, TargetCpoParams),
        ("max_traffic", {"bid_cap": 40_000}, MaxTrafficParams),
        ("fixed", {}, FixedParams),
        ("fixed", None, FixedParams),
    ],
)
def test_each_strategy_type_has_its_params(strategy: str, raw: dict[str, Any] | None, model: type) -> None:
    params = parse_strategy_params(strategy, raw)
    assert isinstance(params, model)
    assert params.strategy_type == strategy


def test_fixed_ignores_leftovers_of_an_earlier_strategy() -> None:
    assert isinstance(parse_strategy_params("fixed", {"target_drr_pct": 10, "position": 2}), FixedParams)


@pytest.mark.parametrize(
    ("strategy", "raw", "message"),
    [
        (
            "target_position",
            {},
            "target_position: strategy_params.position: is required; expected the auction position to win, integer 1..100",
        ),
        (
            "target_position",
            {"position": 0},
            "target_position: strategy_params.position: input should be greater than or equal to 1 (got 0); expected the auction position to win, integer 1..100",
        ),
        (
            "target_position",
            {"position": True},
            "target_position: strategy_params.position: input should be a valid integer (got True)",
        ),
        (
            "target_position",
            {"position": 2.5},
            "target_position: strategy_params.position: input should be a valid integer (got 2.5)",
        ),
        (
            "target_position",
            {"postion": 3},
            "target_position: strategy_params.postion: is not a parameter here (allowed: max_change_pct, stats_max_age_minutes, dayparting, competitor_max_age_minutes, recommendation_max_age_minutes, outbid_step, position)",
        ),
        (
            "target_drr",
            {"target_drr_pct": 0},
            "target_drr: strategy_params.target_drr_pct: input should be greater than 0 (got 0); expected target ad spend / revenue in percent, 0 < x <= 100",
        ),
        (
            "target_drr",
            {"target_drr_pct": "ten"},
            "target_drr: strategy_params.target_drr_pct: input should be a valid decimal (got 'ten')",
        ),
        (
            "target_drr",
            {"target_drr_pct": 10, "gain": 1.5},
            "target_drr: strategy_params.gain: input should be less than or equal to 1 (got 1.5)",
        ),
        (
            "target_cpo",
            {"target_cpo": 500.5},
            "target_cpo: strategy_params.target_cpo: input should be a valid integer (got 500.5); expected target ad spend per order in kopecks, integer > 0",
        ),
        (
            "max_traffic",
            {},
            "max_traffic: strategy_params.bid_cap: is required; expected the highest bid to pay, integer > 0 in the bid unit",
        ),
        (
            "max_traffic",
            {"bid_cap": 40_000, "max_change_pct": 0},
            "max_traffic: strategy_params.max_change_pct: input should be greater than 0 (got 0)",
        ),
        (
            "target_position",
            {"position": 1, "stats_max_age_minutes": 0},
            "target_position: strategy_params.stats_max_age_minutes: input should be greater than or equal to 1 (got 0)",
        ),
        ("target_position", [1, 2], "target_position: strategy_params must be a JSON object, got [1, 2]"),
        (
            "target_roas",
            {},
            "unknown strategy_type 'target_roas'; use one of target_position, target_drr, target_cpo, max_traffic, fixed",
        ),
    ],
)
def test_bad_params_get_a_one_line_message_naming_the_parameter(
    strategy: str, raw: Any, message: str
) -> None:
    with pytest.raises(StrategyParamsError) as error:
        parse_strategy_params(strategy, raw)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_params_are_immutable() -> None:
    params = parse_strategy_params("target_position", {"position": 2})
    with pytest.raises(ValueError, match="frozen"):
        params.position = 3  # type: ignore[misc]
