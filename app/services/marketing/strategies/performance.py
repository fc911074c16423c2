"""Strategies steered by measured conversion: target DRR and target CPO (issue 6, Deliver 1).

**Money units** (per click, per 1000 views). The bid that meets the target follows from what one
billing unit (a click, 1000 views) brought in the recent window:

    target DRR:  bid* = target_drr × revenue / units      (DRR = ad spend ÷ revenue)
    target CPO:  bid* = target_cpo × orders / units

This assumes a unit costs about its bid — exact for first-price auctions; where the marketplace
charges less than the bid, DRR/CPO land below target, the safe side. The engine then moves only
`gain` of the way to bid* (halved when the direction reverses, see `damp`) and bounds the change
per cycle: with stats that lag the bid, a full jump would overshoot and oscillate.

**A share of the price** (YM boost; issue 9 finding 2). The marketplace charges the bid as a share
of the price of each order it brought, so the bid *is* the CPO as a share of the price and the DRR
of boosted sales: target DRR X % → bid X %, target CPO Y % of the price → bid Y %. No revenue is
needed (YM reports none) and nothing lags, so there is no damping. A kopeck CPO target cannot be
expressed without the price and is refused when the parameters are validated.

docs/strategies.md works the numbers through.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from app.core.money import Bid, BidUnit, rub
from app.services.marketing.bidding import KeywordBidContext, PeriodStats
from app.services.marketing.strategies.params import PerformanceParams, TargetCpoParams, TargetDrrParams
from app.services.marketing.strategies.proposal import Damping, Proposal


def billing_units(stats: PeriodStats, unit: BidUnit) -> Fraction:
    if unit == BidUnit.PER_CLICK:
        return Fraction(stats.clicks)
    if unit == BidUnit.PER_MILLE:
        return Fraction(stats.views, 1000)
    return Fraction(stats.orders)


def observed_drr(stats: PeriodStats) -> str:
    if stats.revenue == 0:
        return f"spend {rub(stats.spend)} without revenue"
    return f"DRR {float(Fraction(stats.spend * 100, stats.revenue)):.1f} %"


def not_enough_data(stats: PeriodStats, unit: BidUnit, params: PerformanceParams) -> str | None:
    if stats.clicks < params.min_clicks:
        return f"not enough data: {stats.clicks} clicks < min_clicks {params.min_clicks}: holding"
    if billing_units(stats, unit) == 0:
        return "not enough data: clicks without views in the stats: holding"
    if stats.orders and not stats.revenue:
        # Orders without revenue is missing data, not worthless sales: acting on it would drive
        # the bid to the floor (issue 9 finding 2).
        return f"no revenue data: {stats.orders} orders reported without revenue: holding"
    return None


def damping(stats: PeriodStats, params: PerformanceParams) -> Damping:
    if stats.orders >= params.min_orders:
        return Damping(params.gain, may_raise=True)
    why = f"only {stats.orders} orders (< min_orders {params.min_orders}): not raising, holding"
    return Damping(params.gain, may_raise=False, why_not_raise=why)


def damp(ctx: KeywordBidContext, goal: Bid, damping: Damping) -> tuple[Bid, str]:
    """Move `gain` of the way from the current bid to `goal`; half that on a reversal."""
    current = ctx.current_bid
    if current is None:
        return goal, "no current bid: starting there"
    gain = Fraction(damping.gain)
    note = f"moving {float(gain) * 100:.0f} % of the way"
    previous = ctx.previous_bid
    if previous is not None and (current - previous).amount * (goal - current).amount < 0:
        gain /= 2
        note = f"direction reversed: moving {float(gain) * 100:.0f} % of the way"
    # Truncation toward the current bid never overshoots the goal.
    distance = goal - current
    move = ctx.bid(math.trunc(gain * distance.amount))
    if abs(move) < ctx.min_change <= abs(distance):
        # Without this, the minimum change and the gain together would leave a dead band of
        # min_change ÷ gain around the goal (±2 ₽ at gain 0.5) where the bid never moves.
        move = ctx.min_change if distance.amount > 0 else -ctx.min_change
        note = f"moving one {ctx.min_change} step"
    return current + move, note


def _share_of_price(percent: Decimal, ctx: KeywordBidContext) -> Bid:
    return ctx.bid(math.floor(Fraction(percent) * 100))


def target_drr(ctx: KeywordBidContext, params: TargetDrrParams) -> Proposal:
    label = f"target DRR {params.target_drr_pct} %"
    if ctx.unit == BidUnit.PRICE_SHARE:
        goal = _share_of_price(params.target_drr_pct, ctx)
        return Proposal(goal, f"{label}: the bid is the share of each order's price paid: {goal}")
    stats = ctx.performance_stats
    if stats is None:
        return Proposal(None, f"{label}: no stats for the keyword: holding")
    missing = not_enough_data(stats, ctx.unit, params)
    if missing:
        return Proposal(None, f"{label}: {missing}")
    value = Fraction(stats.revenue) / billing_units(stats, ctx.unit)
    goal = ctx.bid(math.floor(value * Fraction(params.target_drr_pct) / 100))
    why = (
        f"{label}: window {observed_drr(stats)}, revenue per {ctx.unit.billed_per} "
        f"{rub(math.floor(value))} → bid for target {goal}"
    )
    return Proposal(goal, why, damping=damping(stats, params))


def target_cpo(ctx: KeywordBidContext, params: TargetCpoParams) -> Proposal:
    if params.target_cpo_pct is not None:
        label = f"target CPO {params.target_cpo_pct} % of the price"
        if ctx.unit != BidUnit.PRICE_SHARE:
            return Proposal(None, f"{label}: only bids that are a share of the price can meet it: holding")
        goal = _share_of_price(params.target_cpo_pct, ctx)
        return Proposal(goal, f"{label}: pay-per-order bid is the CPO: {goal}")
    assert params.target_cpo is not None
    label = f"target CPO {rub(params.target_cpo)}"
    if ctx.unit == BidUnit.PRICE_SHARE:
        return Proposal(
            None, f"{label}: the bid is a share of an unknown price: give target_cpo_pct; holding"
        )
    stats = ctx.performance_stats
    if stats is None:
        return Proposal(None, f"{label}: no stats for the keyword: holding")
    missing = not_enough_data(stats, ctx.unit, params)
    if missing:
        return Proposal(None, f"{label}: {missing}")
    goal = ctx.bid(math.floor(params.target_cpo * stats.orders / billing_units(stats, ctx.unit)))
    measured = f"spend {rub(stats.spend)} without orders"
    if stats.orders:
        measured = f"CPO {rub(stats.spend // stats.orders)}"
    volume = f"{stats.clicks} clicks" if ctx.unit == BidUnit.PER_CLICK else f"{stats.views} views"
    why = f"{label}: window {measured}, {stats.orders} orders in {volume} → bid for target {goal}"
    return Proposal(goal, why, damping=damping(stats, params))
