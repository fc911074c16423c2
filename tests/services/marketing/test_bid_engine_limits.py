"""The limits every strategy shares (issue 6 Deliver 1; spec 7.3.1 cap and 1 ₽ step)."""

from __future__ import annotations

import pytest

from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.bidding import BidAction, CompetitorSource

from .factories import amount, competitors, keyword, stats

engine = BidEngine()
# Position 3 is held at 300 ₽ by the third competitor: the strategy wants 301 ₽.
AUCTION = competitors(41_000, 33_000, 30_000, 22_000)


@pytest.mark.parametrize("status", ["paused", "excluded", "removed"])
def test_inactive_keyword_is_held_untouched(status: str) -> None:
    decision = engine.calculate_bid(keyword(status=status, competitors=AUCTION))
    assert decision.action == BidAction.HOLD
    assert amount(decision.new_bid) is None
    assert decision.reason == f"keyword is {status}: not touched"


def test_fixed_keyword_is_held_untouched() -> None:
    decision = engine.calculate_bid(keyword(is_fixed=True, competitors=AUCTION))
    assert (decision.action, amount(decision.new_bid)) == (BidAction.HOLD, None)
    assert "fixed by hand" in decision.reason


def test_fixed_strategy_never_sets_a_bid() -> None:
    decision = engine.calculate_bid(keyword("fixed", {"position": 3}, competitors=AUCTION, current_bid=1))
    assert (decision.action, amount(decision.new_bid), decision.strategy_type) == (
        BidAction.HOLD,
        None,
        "fixed",
    )


def test_change_per_cycle_is_bounded_by_max_change_pct() -> None:
    decision = engine.calculate_bid(keyword(current_bid=20_000, competitors=AUCTION))
    # 30 % of 200 ₽ = 60 ₽: 260 ₽ this cycle, not 301 ₽.
    assert amount(decision.new_bid) == 26_000
    assert amount(decision.target_bid) == 30_100
    assert "limited to ±60.00 ₽/1000 показов per cycle" in decision.reason


def test_max_change_pct_parameter_widens_the_bound() -> None:
    ctx = keyword(params={"position": 3, "max_change_pct": 60}, current_bid=20_000, competitors=AUCTION)
    assert amount(engine.calculate_bid(ctx).new_bid) == 30_100


def test_lowering_is_bounded_too() -> None:
    decision = engine.calculate_bid(keyword(current_bid=50_000, competitors=AUCTION))
    assert amount(decision.new_bid) == 35_000


def test_no_bid_stays_above_one_and_a_half_times_the_top_position() -> None:
    # Finding 1's guard: the top bid is 410 ₽, so the top position costs 411 ₽ and no bid may
    # exceed 616.50 ₽ — a bid of 1000 ₽ comes down at once, past the per-cycle bound.
    decision = engine.calculate_bid(keyword(current_bid=100_000, competitors=AUCTION))
    assert amount(decision.new_bid) == 61_650
    assert (
        "at most 1.5 × the top position's 411.00 ₽/1000 показов (top bid (watcher) + step)" in decision.reason
    )


def test_the_top_position_guard_never_pushes_below_the_minimum() -> None:
    ctx = keyword(current_bid=20_000, min_bid=15_000, competitors=competitors(5_000, 4_000))
    decision = engine.calculate_bid(ctx)
    assert amount(decision.new_bid) == 15_000  # position 3 at the minimum: the guard (76.50 ₽) yields


def test_small_bid_may_move_at_least_one_step() -> None:
    # 30 % of 2 ₽ is 0.60 ₽, below the 1 ₽ step: the bound is widened to the step, or it could never move.
    ctx = keyword(current_bid=200, min_bid=100, competitors=competitors(5_000, 4_000, 3_000))
    assert amount(engine.calculate_bid(ctx).new_bid) == 300


@pytest.mark.parametrize(
    ("current", "action"),
    [(30_001, BidAction.HOLD), (30_000, BidAction.SET), (30_199, BidAction.HOLD), (30_200, BidAction.SET)],
)
def test_changes_below_one_ruble_are_not_sent(current: int, action: BidAction) -> None:
    decision = engine.calculate_bid(keyword(current_bid=current, competitors=AUCTION))
    assert decision.action == action
    if action == BidAction.HOLD:
        assert "is below the 1.00 ₽/1000 показов step" in decision.reason
        assert amount(decision.new_bid) is None
    else:
        assert amount(decision.new_bid) == 30_100


def test_campaign_max_bid_caps_and_flags() -> None:
    decision = engine.calculate_bid(keyword(current_bid=28_000, campaign_max_bid=29_000, competitors=AUCTION))
    assert (decision.action, amount(decision.new_bid), decision.capped) == (BidAction.SET, 29_000, True)
    assert "capped at campaign max_bid 290.00 ₽/1000 показов" in decision.reason


def test_bid_already_at_the_cap_holds_and_still_reports_capped() -> None:
    decision = engine.calculate_bid(keyword(current_bid=29_000, campaign_max_bid=29_000, competitors=AUCTION))
    assert (decision.action, decision.capped) == (BidAction.HOLD, True)


def test_not_capped_when_the_bid_fits() -> None:
    decision = engine.calculate_bid(keyword(current_bid=28_000, campaign_max_bid=40_000, competitors=AUCTION))
    assert (amount(decision.new_bid), decision.capped) == (30_100, False)


def test_marketplace_maximum_cuts_without_the_campaign_cap_flag() -> None:
    decision = engine.calculate_bid(
        keyword(current_bid=28_000, marketplace_max_bid=29_500, campaign_max_bid=40_000, competitors=AUCTION)
    )
    assert (amount(decision.new_bid), decision.capped) == (29_500, False)


def test_campaign_cap_lowered_below_current_bid_applies_at_once() -> None:
    # The cap dominates the per-cycle bound and the step: 400 ₽ → 299.50 ₽ in one cycle.
    decision = engine.calculate_bid(keyword(current_bid=40_000, campaign_max_bid=29_950, competitors=AUCTION))
    assert (decision.action, amount(decision.new_bid), decision.capped) == (BidAction.SET, 29_950, True)


def test_cap_correction_smaller_than_the_step_is_still_sent() -> None:
    decision = engine.calculate_bid(keyword(current_bid=30_050, campaign_max_bid=30_000, competitors=AUCTION))
    assert (decision.action, amount(decision.new_bid)) == (BidAction.SET, 30_000)


def test_never_below_the_marketplace_minimum() -> None:
    # Two competitors only: position 3 at the minimum bid of 150 ₽.
    decision = engine.calculate_bid(keyword(current_bid=16_000, competitors=competitors(20_000, 18_000)))
    assert amount(decision.new_bid) == 15_000


def test_bid_below_a_raised_minimum_is_lifted_at_once() -> None:
    decision = engine.calculate_bid(
        keyword(current_bid=10_000, min_bid=15_050, competitors=competitors(9_000))
    )
    assert (decision.action, amount(decision.new_bid)) == (BidAction.SET, 15_050)


def test_zero_minimum_still_gives_a_positive_bid() -> None:
    # A YM bid of 0 removes the SKU from boost: the engine's floor is 1 kopeck.
    ctx = keyword(
        current_bid=None,
        min_bid=0,
        competitors=competitors(0, 0, 0),
        params={"position": 1, "outbid_step": 1},
    )
    assert amount(engine.calculate_bid(ctx).new_bid) == 1


def test_cap_below_the_marketplace_minimum_holds_with_a_warning() -> None:
    decision = engine.calculate_bid(keyword(campaign_max_bid=10_000, competitors=AUCTION))
    assert decision.action == BidAction.HOLD
    assert decision.warnings == (
        "the limit 'capped at campaign max_bid 100.00 ₽/1000 показов' is below the marketplace minimum 150.00 ₽/1000 показов: no valid bid",
    )


def test_unknown_current_bid_starts_at_the_target_within_limits() -> None:
    decision = engine.calculate_bid(keyword(current_bid=None, campaign_max_bid=29_000, competitors=AUCTION))
    assert (decision.action, amount(decision.new_bid), amount(decision.old_bid), decision.capped) == (
        BidAction.SET,
        29_000,
        None,
        True,
    )


class TestStaleStats:
    def test_stale_stats_never_raise(self) -> None:
        decision = engine.calculate_bid(keyword(today=stats(minutes_old=46), competitors=AUCTION))
        assert decision.action == BidAction.HOLD
        assert "stats are 46 min old (max 45): not raising" in decision.reason

    def test_stats_at_the_max_age_still_count_as_fresh(self) -> None:
        decision = engine.calculate_bid(keyword(today=stats(minutes_old=45), competitors=AUCTION))
        assert amount(decision.new_bid) == 26_000

    def test_stale_stats_still_allow_lowering(self) -> None:
        decision = engine.calculate_bid(
            keyword(current_bid=35_000, today=stats(minutes_old=120), competitors=AUCTION)
        )
        assert (decision.action, amount(decision.new_bid)) == (BidAction.SET, 30_100)

    def test_missing_stats_count_as_stale(self) -> None:
        decision = engine.calculate_bid(keyword(today=None, competitors=AUCTION))
        assert decision.action == BidAction.HOLD
        assert "no stats collected" in decision.reason

    def test_stale_stats_without_a_current_bid_hold(self) -> None:
        decision = engine.calculate_bid(
            keyword(current_bid=None, today=stats(minutes_old=60), competitors=AUCTION)
        )
        assert decision.action == BidAction.HOLD

    def test_stale_stats_do_not_lift_a_bid_to_a_raised_minimum(self) -> None:
        decision = engine.calculate_bid(
            keyword(current_bid=10_000, today=stats(minutes_old=60), competitors=AUCTION)
        )
        assert decision.action == BidAction.HOLD
        assert "not raising to the minimum" in decision.reason

    def test_stats_max_age_is_a_parameter(self) -> None:
        ctx = keyword(
            params={"position": 3, "stats_max_age_minutes": 120},
            today=stats(minutes_old=60),
            competitors=AUCTION,
        )
        assert amount(engine.calculate_bid(ctx).new_bid) == 26_000

    def test_newest_of_today_and_window_decides_freshness(self) -> None:
        ctx = keyword(today=stats(minutes_old=300), window=stats(minutes_old=10), competitors=AUCTION)
        assert engine.calculate_bid(ctx).action == BidAction.SET


def test_decision_names_the_competitor_source() -> None:
    decision = engine.calculate_bid(keyword(competitors=AUCTION))
    assert decision.competitor_source == CompetitorSource.WATCHER


class TestLimitsWhenTheStrategyHolds:
    """No competitor data: the strategy holds, but a bid outside the limits must not stay there."""

    def test_bid_above_a_lowered_max_bid_comes_down_to_it(self) -> None:
        decision = engine.calculate_bid(keyword(current_bid=30_000, campaign_max_bid=20_000))
        assert (decision.action, amount(decision.new_bid), decision.capped) == (BidAction.SET, 20_000, True)
        assert decision.reason == (
            "target position 3: no fresh competitor bids and no marketplace recommendation: holding; "
            "the current bid is outside the limits; capped at campaign max_bid 200.00 ₽/1000 показов; 300.00 ₽/1000 показов → 200.00 ₽/1000 показов"
        )

    def test_bid_below_a_raised_minimum_goes_up_to_it(self) -> None:
        decision = engine.calculate_bid(keyword(current_bid=10_000))
        assert (decision.action, amount(decision.new_bid)) == (BidAction.SET, 15_000)

    def test_with_stale_stats_a_bid_below_the_minimum_is_not_raised(self) -> None:
        decision = engine.calculate_bid(keyword(current_bid=10_000, today=stats(minutes_old=90)))
        assert decision.action == BidAction.HOLD

    def test_inside_the_limits_it_just_holds(self) -> None:
        decision = engine.calculate_bid(keyword(current_bid=20_000, campaign_max_bid=30_000))
        assert (decision.action, decision.reason) == (
            BidAction.HOLD,
            "target position 3: no fresh competitor bids and no marketplace recommendation: holding",
        )
