"""Property tests (issue 6 "Done when"; units: issue 9): for arbitrary contexts in every bid unit,
bids stay within [marketplace min, max_bid] and on the marketplace's step, in the keyword's own
unit, never above 1.5 × what the top position costs, no change below the smallest step, paused,
fixed and held keywords are never touched, money is never negative, and the change per cycle is
bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.money import Bid, BidUnit
from app.models.marketing import KEYWORD_STATUSES
from app.services.marketing.bid_engine import OVERBID_FACTOR, BidEngine, max_change, stale_stats_note
from app.services.marketing.bidding import (
    BidAction,
    BidDecision,
    CompetitorBid,
    CompetitorData,
    CompetitorSource,
    KeywordBidContext,
    MarketplaceRecommendations,
    PeriodStats,
    RecommendedBid,
)
from app.services.marketing.strategies.competition import position_one_price
from app.services.marketing.strategies.params import CommonParams, parse_strategy_params

engine = BidEngine()
money = st.integers(min_value=0, max_value=2_000_000)
now_values = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
dayparting = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "hours": st.sampled_from([{}, {"0-7": 0.5}, {"8-19": 1.5, "20-23": 0.8}, {"12": 3}]),
            "weekdays": st.sampled_from([{}, {"sat-sun": 1.2}, {"mon": 0.1, "fri": 2}]),
        }
    ),
)
common = st.fixed_dictionaries(
    {
        "max_change_pct": st.integers(1, 100),
        "stats_max_age_minutes": st.integers(1, 180),
        "dayparting": dayparting,
    }
)
MIN_CHANGE = {BidUnit.PER_CLICK: 100, BidUnit.PER_MILLE: 100, BidUnit.PRICE_SHARE: 10}


def strategy_params(unit: BidUnit) -> st.SearchStrategy[tuple[str, dict[str, object]]]:
    cpo = (
        st.fixed_dictionaries(
            {"target_cpo_pct": st.integers(1, 100), "gain": st.sampled_from([0.25, 0.5, 1])}
        )
        if unit == BidUnit.PRICE_SHARE
        else st.fixed_dictionaries(
            {"target_cpo": st.integers(1, 1_000_000), "gain": st.sampled_from([0.25, 0.5, 1])}
        )
    )
    return st.one_of(
        st.tuples(
            st.just("target_position"),
            st.fixed_dictionaries({"position": st.integers(1, 12), "outbid_step": st.integers(1, 1_000)}),
        ),
        st.tuples(st.just("max_traffic"), st.fixed_dictionaries({"bid_cap": st.integers(1, 2_000_000)})),
        st.tuples(
            st.just("target_drr"),
            st.fixed_dictionaries(
                {
                    "target_drr_pct": st.integers(1, 100),
                    "gain": st.sampled_from([0.1, 0.5, 1]),
                    "min_clicks": st.integers(1, 100),
                    "min_orders": st.integers(1, 5),
                }
            ),
        ),
        st.tuples(st.just("target_cpo"), cpo),
        st.tuples(st.just("fixed"), st.just({})),
    )


HOURS_3 = timedelta(hours=3)


def minutes_ago(now: datetime, most: int) -> st.SearchStrategy[datetime]:
    return st.integers(0, most).map(lambda m: now - timedelta(minutes=m))


@st.composite
def period_stats(draw: st.DrawFn, now: datetime, actionable: bool) -> PeriodStats | None:
    if not actionable and draw(st.integers(0, 3)) == 0:
        return None
    # Actionable stats are fresh or clearly stale (max age <= 180 min), never missing.
    fresh_or_stale = st.one_of(minutes_ago(now, 1), minutes_ago(now, 400).filter(lambda t: now - t > HOURS_3))
    ages = fresh_or_stale if actionable else st.one_of(st.none(), minutes_ago(now, 30), minutes_ago(now, 240))
    return PeriodStats(
        views=draw(st.integers(0, 1_000_000)),
        clicks=draw(st.integers(100 if actionable else 0, 20_000)),
        orders=draw(st.integers(0, 500)),
        spend=draw(money),
        revenue=draw(st.integers(0, 50_000_000)),
        collected_at=draw(ages),
    )


def maybe_bid(draw: st.DrawFn, unit: BidUnit, values: st.SearchStrategy[int]) -> Bid | None:
    value = draw(st.one_of(st.none(), values))
    return unit.bid(value) if value is not None else None


@st.composite
def contexts(draw: st.DrawFn, actionable: bool) -> KeywordBidContext:
    """Arbitrary contexts; `actionable` ones are active, not fixed, with fresh stats and
    competitors, so that most of them reach the limits instead of holding early."""
    now = draw(now_values)
    unit = draw(st.sampled_from(list(BidUnit)))
    params_of = strategy_params(unit)
    name, params = draw(params_of.filter(lambda pair: pair[0] != "fixed") if actionable else params_of)
    if name != "fixed":
        params = {**params, **{k: v for k, v in draw(common).items() if v is not None}}
    competitors = None
    if actionable or draw(st.booleans()):
        # A per-click keyword may see the auction per 1000 views, converted at our entry's CTR.
        shown_in = draw(st.sampled_from([unit, BidUnit.PER_MILLE] if unit == BidUnit.PER_CLICK else [unit]))
        bids = draw(st.lists(st.tuples(money, st.booleans()), min_size=1 if actionable else 0, max_size=12))
        entries = [CompetitorBid(i, shown_in.bid(bid), ours) for i, (bid, ours) in enumerate(bids, start=1)]
        if shown_in != unit and draw(st.booleans()):
            ctr = Fraction(draw(st.integers(1, 200)), 1000)
            entries.append(CompetitorBid(len(entries) + 1, shown_in.bid(draw(money)), True, ctr))
        competitors = CompetitorData(
            source=CompetitorSource.WATCHER, bids=tuple(entries), fetched_at=draw(minutes_ago(now, 40))
        )
    recommendations = None
    if draw(st.booleans()):
        recs = draw(st.lists(st.tuples(money, st.one_of(st.none(), st.integers(1, 20))), max_size=5))
        recommendations = MarketplaceRecommendations(
            bids=tuple(RecommendedBid(unit.bid(bid), pos) for bid, pos in recs),
            fetched_at=draw(minutes_ago(now, 600)),
        )
    current = draw(money) if actionable else draw(st.one_of(st.none(), money))
    return KeywordBidContext(
        marketplace=draw(st.sampled_from(["wb", "ozon", "ym"])),
        keyword_id=1,
        keyword="k",
        status="active" if actionable else draw(st.sampled_from(KEYWORD_STATUSES)),
        is_fixed=False if actionable else draw(st.booleans()),
        unit=unit,
        current_bid=unit.bid(current) if current is not None else None,
        min_bid=unit.bid(draw(st.integers(0, 50_000))),
        marketplace_max_bid=maybe_bid(draw, unit, st.integers(1, 2_000_000)),
        campaign_max_bid=maybe_bid(draw, unit, money),
        strategy=parse_strategy_params(name, params, unit),
        now=now,
        min_change=unit.bid(MIN_CHANGE[unit]),
        bid_step=draw(st.sampled_from([1, 10, 100])),
        today=draw(period_stats(now, actionable)),
        window=draw(period_stats(now, actionable)),
        competitors=competitors,
        recommendations=recommendations,
        previous_bid=maybe_bid(draw, unit, money),
        held_until=None if actionable else draw(st.one_of(st.none(), st.just(now + timedelta(hours=1)))),
    )


any_context = st.one_of(contexts(actionable=False), contexts(actionable=True))


def limits(ctx: KeywordBidContext, with_guard: bool = False) -> tuple[Bid, Bid | None]:
    """(floor, lowest ceiling); `with_guard` adds the top-position guard to the ceilings."""
    floor = max(ctx.min_bid, ctx.bid(1))
    ceilings = [c for c in (ctx.marketplace_max_bid, ctx.campaign_max_bid) if c is not None]
    top = (
        position_one_price(ctx, ctx.strategy)
        if with_guard and isinstance(ctx.strategy, CommonParams)
        else None
    )
    if top is not None:
        ceilings.append(max(top[0].scaled(OVERBID_FACTOR), floor.rounded_to(ctx.bid_step, up=True)))
    return floor, min(ceilings) if ceilings else None


PROPERTY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def managed(ctx: KeywordBidContext) -> bool:
    held = ctx.held_until is not None and ctx.held_until > ctx.now
    return ctx.status == "active" and not ctx.is_fixed and not held and ctx.strategy.strategy_type != "fixed"


def decide(ctx: KeywordBidContext) -> BidDecision:
    decision = engine.calculate_bid(ctx)
    # Shape every decision has, whatever else holds.
    assert decision.reason and "\n" not in decision.reason
    assert (decision.new_bid is None) == (decision.action == BidAction.HOLD)
    assert decision.old_bid == ctx.current_bid
    if decision.new_bid is not None:
        assert decision.new_bid.unit == ctx.unit  # a bid never changes its unit
    return decision


@PROPERTY
@given(any_context)
def test_new_bids_stay_within_the_marketplace_minimum_and_max_bid_on_its_step(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    if decision.new_bid is not None:
        floor, ceiling = limits(ctx)
        assert decision.new_bid >= floor >= ctx.bid(1)  # never negative, never the YM "remove" 0
        assert ceiling is None or decision.new_bid <= ceiling
        assert decision.new_bid.amount % ctx.bid_step == 0


@PROPERTY
@given(any_context)
def test_no_bid_above_one_and_a_half_times_the_top_position(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    if decision.new_bid is None or not isinstance(ctx.strategy, CommonParams):
        return
    top = position_one_price(ctx, ctx.strategy)
    if top is not None:
        floor, _ = limits(ctx)
        guard = max(top[0].scaled(OVERBID_FACTOR), floor.rounded_to(ctx.bid_step, up=True))
        assert decision.new_bid <= guard


@PROPERTY
@given(any_context)
def test_no_change_below_the_minimum_step_and_the_change_per_cycle_is_bounded(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    current = ctx.current_bid
    if decision.new_bid is None or current is None:
        return
    assert decision.new_bid != current
    floor, ceiling = limits(ctx, with_guard=True)
    if floor <= current <= (ceiling if ceiling is not None else current):
        assert isinstance(ctx.strategy, CommonParams)
        change = abs(decision.new_bid - current)
        step = ctx.bid(ctx.bid_step)
        assert ctx.min_change <= change <= max_change(ctx, current, ctx.strategy) + step


@PROPERTY
@given(any_context)
def test_paused_fixed_held_and_manual_keywords_are_never_touched(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    if not managed(ctx):
        assert decision.action == BidAction.HOLD
        assert decision.new_bid is None
        assert decision.capped is False


@PROPERTY
@given(any_context)
def test_stale_stats_never_raise_a_bid(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    if not isinstance(ctx.strategy, CommonParams) or stale_stats_note(ctx, ctx.strategy) is None:
        return
    if ctx.current_bid is None:
        assert decision.action == BidAction.HOLD
    elif decision.new_bid is not None:
        assert decision.new_bid < ctx.current_bid


@PROPERTY
@given(any_context)
def test_capped_means_the_campaign_max_bid_cut_the_bid(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    if decision.capped:
        assert ctx.campaign_max_bid is not None
        assert decision.new_bid is None or decision.new_bid <= ctx.campaign_max_bid


@PROPERTY
@given(any_context)
def test_a_bid_above_max_bid_never_survives_a_cycle(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    floor, ceiling = limits(ctx)
    stepped_floor = floor.rounded_to(ctx.bid_step, up=True)
    if (
        managed(ctx)
        and ctx.current_bid is not None
        and ceiling is not None
        and stepped_floor <= ceiling < ctx.current_bid
    ):
        assert decision.action == BidAction.SET
        assert decision.new_bid is not None and decision.new_bid <= ceiling
