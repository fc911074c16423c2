"""Dayparting multipliers by Moscow hour and weekday, with any strategy (issue 6 Deliver 1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.core.clock import MOSCOW
from app.core.money import Bid, BidUnit
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


def moscow(hour: int) -> datetime:
    """A Wednesday (25 Nov 2026) at `hour` Moscow time."""
    return datetime(2026, 11, 25, hour, 0, tzinfo=MOSCOW).astimezone(UTC)


def run_day(hours: list[int], strategy: str, params: dict[str, object], **fields: object) -> list[int]:
    """The bid after each hour's decision, each fed back with the level it stands for — as the
    bid history keeps it (bid_apply) and inputs.last_changes reads it back."""
    current, base = fields.pop("current_bid"), None
    bids = []
    for hour in hours:
        ctx = keyword(strategy, params, current_bid=current, now=moscow(hour), **fields)
        decision = engine.calculate_bid(replace(ctx, base_bid=base))
        if decision.new_bid is not None:
            current, base = decision.new_bid, decision.base_bid
        bids.append(amount(current) if isinstance(current, Bid) else current)
    return bids


NIGHT = {"hours": {"0-5": 0.5}}
THIN_WINDOW = stats(views=10_000, clicks=200, orders=1, spend=300_000, revenue=2_000_000)


def test_a_held_level_follows_the_night_and_comes_back_in_the_morning() -> None:
    # One order: target DRR may lower the bid but not raise it (its goal, 10 ₽, is above 8 ₽).
    params = {"target_drr_pct": 15, "max_change_pct": 30, "dayparting": NIGHT}
    bids = run_day(
        [3, 4, 5, 6, 7, 8, 9],
        "target_drr",
        params,
        payment_type="cpc",
        min_bid=100,
        current_bid=800,
        window=THIN_WINDOW,
    )
    # ×0.5 from 00:00 to 05:59: down to 4 ₽ within ±30 % a cycle; back to the held 8 ₽ after 06:00.
    assert bids == [560, 400, 400, 520, 676, 800, 800]


def test_without_data_the_schedule_still_moves_the_current_level() -> None:
    params = {"target_drr_pct": 15, "max_change_pct": 100, "dayparting": NIGHT}
    no_data = stats(views=100, clicks=3, orders=0, spend=1_000, revenue=0)
    bids = run_day(
        [5, 6, 7], "target_drr", params, payment_type="cpc", min_bid=100, current_bid=800, window=no_data
    )
    assert bids == [400, 800, 800]
    ctx = keyword(
        "target_drr", params, payment_type="cpc", min_bid=100, current_bid=800, window=no_data, now=moscow(5)
    )
    assert "not enough data" in engine.calculate_bid(ctx).reason
    assert (
        "the held level 8.00 ₽/клик × dayparting ×0.5 (hours 0-5) = 4.00 ₽/клик"
        in engine.calculate_bid(ctx).reason
    )


def test_a_limit_moves_the_bid_and_keeps_the_level() -> None:
    # The 1.5 × top guard cuts the held 8 ₽ to 6 ₽ while the top costs 3 ₽ (+ a step); back once it lifts.
    params = {"target_drr_pct": 15, "max_change_pct": 100, "dayparting": NIGHT}
    no_data = stats(views=100, clicks=3, orders=0, spend=1_000, revenue=0)
    cheap_top = competitors(300, 250, unit=BidUnit.PER_CLICK, now=moscow(8))
    ctx = keyword(
        "target_drr",
        params,
        payment_type="cpc",
        min_bid=100,
        current_bid=800,
        window=no_data,
        competitors=cheap_top,
        now=moscow(8),
    )
    cut = engine.calculate_bid(ctx)
    assert (amount(cut.new_bid), amount(cut.base_bid)) == (600, 800)
    later = replace(ctx, current_bid=cut.new_bid, base_bid=cut.base_bid, competitors=None, now=moscow(9))
    assert amount(engine.calculate_bid(later).new_bid) == 800


def test_stale_stats_do_not_raise_a_held_level_back() -> None:
    params = {"target_drr_pct": 15, "max_change_pct": 100, "dayparting": NIGHT, "stats_max_age_minutes": 30}
    old = replace(THIN_WINDOW, collected_at=moscow(4))
    ctx = keyword(
        "target_drr",
        params,
        payment_type="cpc",
        min_bid=100,
        current_bid=400,
        base_bid=800,
        window=old,
        today=old,
        now=moscow(7),
    )
    decision = engine.calculate_bid(ctx)
    assert decision.new_bid is None and "not raising" in decision.reason


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
