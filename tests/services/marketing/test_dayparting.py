"""Dayparting multipliers by Moscow hour and weekday, with any strategy (issue 6 Deliver 1)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.strategies.dayparting import Dayparting
from app.services.marketing.strategies.params import StrategyParamsError, parse_strategy_params

from .factories import amount, competitors, keyword, stats

engine = BidEngine()
AUCTION = competitors(41_000, 33_000, 30_000)  # position 3 → 301 ₽


def table(**raw: object) -> Dayparting:
    return Dayparting.model_validate(raw)


@pytest.mark.parametrize(
    ("hour", "weekday", "factor"),
    [
        (0, 2, Decimal("0.5")),
        (7, 2, Decimal("0.5")),
        (8, 2, Decimal(1)),
        (23, 2, Decimal("0.8")),
        (8, 5, Decimal("1.2")),
        (3, 6, Decimal("0.60")),
    ],
)
def test_hour_and_weekday_multipliers_multiply(hour: int, weekday: int, factor: Decimal) -> None:
    daypart = table(hours={"0-7": 0.5, "23": 0.8}, weekdays={"sat-sun": 1.2})
    assert daypart.multiplier(hour, weekday) == factor


def test_engine_scales_the_strategy_target_by_the_moscow_hour() -> None:
    # NOW is 09:00 UTC = 12:00 in Moscow, a Wednesday.
    params = {"position": 3, "dayparting": {"hours": {"12": 0.6}, "weekdays": {"wed": 1.5}}}
    decision = engine.calculate_bid(keyword(params=params, current_bid=25_000, competitors=AUCTION))
    # 301 ₽ × 0.6 × 1.5 = 270.90 ₽
    assert amount(decision.new_bid) == 27_090
    assert "dayparting ×0.90 (hours 12, wed) = 270.90 ₽" in decision.reason


def test_utc_hour_does_not_count() -> None:
    params = {"position": 3, "dayparting": {"hours": {"9": 0.5}}}
    decision = engine.calculate_bid(keyword(params=params, current_bid=30_000, competitors=AUCTION))
    assert amount(decision.new_bid) == 30_100


def test_moscow_weekday_after_utc_midnight() -> None:
    # Sunday 22:30 UTC is Monday 01:30 in Moscow.
    now = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    params = {"position": 3, "dayparting": {"hours": {"0-5": 0.5}, "weekdays": {"sun": 2, "mon": 0.8}}}
    ctx = keyword(params=params, now=now)
    assert (ctx.moscow_hour, ctx.moscow_weekday) == (1, 0)
    assert Dayparting.model_validate(params["dayparting"]).multiplier(
        ctx.moscow_hour, ctx.moscow_weekday
    ) == Decimal("0.40")


def test_dayparting_works_with_performance_strategies() -> None:
    window = stats(views=10_000, clicks=200, orders=10, spend=300_000, revenue=2_000_000)
    params = {
        "target_drr_pct": 10,
        "gain": 1,
        "max_change_pct": 100,
        "dayparting": {"weekdays": {"mon-fri": 0.5}},
    }
    decision = engine.calculate_bid(
        keyword("target_drr", params, payment_type="cpc", min_bid=300, current_bid=1_000, window=window)
    )
    assert amount(decision.new_bid) == 500  # 10 ₽ for the target, halved on a weekday


def test_dayparting_is_ignored_for_fixed_keywords() -> None:
    params = {"position": 3, "dayparting": {"hours": {"0-23": 3}}}
    assert engine.calculate_bid(keyword(params=params, is_fixed=True, competitors=AUCTION)).new_bid is None


@pytest.mark.parametrize(
    ("dayparting", "message"),
    [
        (
            {"hours": {"0-7": 0.5, "7-9": 2}},
            "strategy_params.dayparting.hours: hour keys '0-7' and '7-9' overlap",
        ),
        ({"hours": {"22-5": 0.5}}, "hour range '22-5' runs backwards; split a range past midnight in two"),
        ({"hours": {"24": 0.5}}, "hour '24' is not an hour 0..23"),
        ({"weekdays": {"sunday": 1.2}}, "weekday 'sunday' is not one of mon, tue, wed, thu, fri, sat, sun"),
        ({"hours": {"1": 0}}, "multiplier 0 for '1' is outside 0.1..3"),
        ({"hours": {"1": 5}}, "multiplier 5 for '1' is outside 0.1..3"),
        (
            {"days": {"mon": 1}},
            "strategy_params.dayparting.days: is not a parameter here (allowed: hours, weekdays)",
        ),
    ],
)
def test_bad_dayparting_is_refused_with_a_clear_message(dayparting: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyParamsError) as error:
        parse_strategy_params("target_position", {"position": 1, "dayparting": dayparting})
    assert message in str(error.value)
    assert "\n" not in str(error.value)
