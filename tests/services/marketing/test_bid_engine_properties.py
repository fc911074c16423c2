"""Property tests (issue 6 "Done when"): for arbitrary contexts, bids stay within
[marketplace min, max_bid], no change below the 1 ₽ step, paused and fixed keywords are never
touched, money is never negative, and the change per cycle is bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models.marketing import KEYWORD_STATUSES, PAYMENT_TYPES
from app.services.marketing.bid_engine import BidEngine, max_change, stale_stats_note
from app.services.marketing.bidding import (
    MIN_BID_STEP,
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
strategy_params = st.one_of(
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
    st.tuples(
        st.just("target_cpo"),
        st.fixed_dictionaries(
            {"target_cpo": st.integers(1, 1_000_000), "gain": st.sampled_from([0.25, 0.5, 1])}
        ),
    ),
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


@st.composite
def contexts(draw: st.DrawFn, actionable: bool) -> KeywordBidContext:
    """Arbitrary contexts; `actionable` ones are active, not fixed, with fresh stats and
    competitors, so that most of them reach the limits instead of holding early."""
    now = draw(now_values)
    name, params = draw(
        strategy_params.filter(lambda pair: pair[0] != "fixed") if actionable else strategy_params
    )
    if name != "fixed":
        params = {**params, **{k: v for k, v in draw(common).items() if v is not None}}
    competitors = None
    if actionable or draw(st.booleans()):
        bids = draw(st.lists(st.tuples(money, st.booleans()), min_size=1 if actionable else 0, max_size=12))
        competitors = CompetitorData(
            source=draw(
                st.sampled_from([CompetitorSource.WATCHER, CompetitorSource.MARKETPLACE_COMPETITIVE])
            ),
            bids=tuple(CompetitorBid(i, bid, ours) for i, (bid, ours) in enumerate(bids, start=1)),
            fetched_at=draw(minutes_ago(now, 30 if actionable else 40)),
        )
    recommendations = None
    if draw(st.booleans()):
        recs = draw(st.lists(st.tuples(money, st.one_of(st.none(), st.integers(1, 20))), max_size=5))
        recommendations = MarketplaceRecommendations(
            bids=tuple(RecommendedBid(bid, pos) for bid, pos in recs),
            fetched_at=draw(minutes_ago(now, 600)),
        )
    return KeywordBidContext(
        marketplace=draw(st.sampled_from(["wb", "ozon", "ym"])),
        keyword_id=1,
        keyword="k",
        status="active" if actionable else draw(st.sampled_from(KEYWORD_STATUSES)),
        is_fixed=False if actionable else draw(st.booleans()),
        payment_type=draw(st.sampled_from(PAYMENT_TYPES)),
        current_bid=draw(money if actionable else st.one_of(st.none(), money)),
        min_bid=draw(st.integers(0, 50_000)),
        marketplace_max_bid=draw(st.one_of(st.none(), st.integers(1, 2_000_000))),
        campaign_max_bid=draw(st.one_of(st.none(), money)),
        strategy=parse_strategy_params(name, params),
        now=now,
        today=draw(period_stats(now, actionable)),
        window=draw(period_stats(now, actionable)),
        competitors=competitors,
        recommendations=recommendations,
        previous_bid=draw(st.one_of(st.none(), money)),
    )


any_context = st.one_of(contexts(actionable=False), contexts(actionable=True))


def limits(ctx: KeywordBidContext) -> tuple[int, int | None]:
    ceilings = [c for c in (ctx.marketplace_max_bid, ctx.campaign_max_bid) if c is not None]
    return max(ctx.min_bid, 1), min(ceilings) if ceilings else None


PROPERTY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decide(ctx: KeywordBidContext) -> BidDecision:
    decision = engine.calculate_bid(ctx)
    # Shape every decision has, whatever else holds.
    assert decision.reason and "\n" not in decision.reason
    assert (decision.new_bid is None) == (decision.action == BidAction.HOLD)
    assert decision.old_bid == ctx.current_bid
    return decision


@PROPERTY
@given(any_context)
def test_new_bids_stay_within_the_marketplace_minimum_and_max_bid(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    if decision.new_bid is not None:
        floor, ceiling = limits(ctx)
        assert decision.new_bid >= floor >= 1  # never negative, never the YM "remove" 0
        assert ceiling is None or decision.new_bid <= ceiling


@PROPERTY
@given(any_context)
def test_no_change_below_the_minimum_step_and_the_change_per_cycle_is_bounded(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    current = ctx.current_bid
    if decision.new_bid is None or current is None:
        return
    assert decision.new_bid != current
    floor, ceiling = limits(ctx)
    if floor <= current <= (ceiling if ceiling is not None else current):
        assert isinstance(ctx.strategy, CommonParams)
        change = abs(decision.new_bid - current)
        assert MIN_BID_STEP <= change <= max_change(current, ctx.strategy)
        assert max_change(current, ctx.strategy) <= max(
            current * int(ctx.strategy.max_change_pct) // 100, MIN_BID_STEP
        )


@PROPERTY
@given(any_context)
def test_paused_fixed_and_manual_keywords_are_never_touched(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    if ctx.status != "active" or ctx.is_fixed or ctx.strategy.strategy_type == "fixed":
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
        assert decision.new_bid in (None, ctx.campaign_max_bid)
    if (
        decision.new_bid is not None
        and ctx.campaign_max_bid is not None
        and decision.new_bid < ctx.campaign_max_bid
    ):
        assert not decision.capped


@PROPERTY
@given(any_context)
def test_a_bid_above_max_bid_never_survives_a_cycle(ctx: KeywordBidContext) -> None:
    decision = decide(ctx)
    floor, ceiling = limits(ctx)
    managed = ctx.status == "active" and not ctx.is_fixed and ctx.strategy.strategy_type != "fixed"
    if managed and ctx.current_bid is not None and ceiling is not None and floor <= ceiling < ctx.current_bid:
        assert decision.action == BidAction.SET
        assert decision.new_bid is not None and decision.new_bid <= ceiling
