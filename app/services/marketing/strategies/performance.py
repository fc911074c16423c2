"""Strategies steered by measured conversion: target DRR and target CPO (issue 6, Deliver 1).

The bid that meets the target follows from what one billing unit (a click for cpc, 1000 views for
cpm, an order for cpo) brings in the recent window:

    target DRR:  bid* = target_drr × revenue / units      (DRR = ad spend ÷ revenue)
    target CPO:  bid* = target_cpo × orders / units

This assumes a unit costs about its bid — exact for first-price auctions; where the marketplace
charges less than the bid, DRR/CPO land below target, the safe side. The bid then moves only
`gain` of the way to bid* (halved when the direction reverses), and the engine bounds the change per
cycle: with stats that lag the bid, a full jump would overshoot and oscillate (issue 6: "damped so
it converges instead of oscillating"). docs/strategies.md works the numbers through.
"""

from __future__ import annotations

import math
from fractions import Fraction

from app.models.marketing import PaymentType
from app.services.marketing.bidding import MIN_BID_STEP, KeywordBidContext, PeriodStats
from app.services.marketing.strategies.params import PerformanceParams, TargetCpoParams, TargetDrrParams
from app.services.marketing.strategies.proposal import Proposal, rub

UNIT_NAMES = {PaymentType.CPC: "click", PaymentType.CPM: "1000 views", PaymentType.CPO: "order"}


def billing_units(stats: PeriodStats, payment_type: str) -> Fraction:
    if payment_type == PaymentType.CPC:
        return Fraction(stats.clicks)
    if payment_type == PaymentType.CPM:
        return Fraction(stats.views, 1000)
    return Fraction(stats.orders)


def observed_drr(stats: PeriodStats) -> str:
    if stats.revenue == 0:
        return f"spend {rub(stats.spend)} without revenue"
    return f"DRR {float(Fraction(stats.spend * 100, stats.revenue)):.1f} %"


def not_enough_data(stats: PeriodStats, payment_type: str, params: PerformanceParams) -> str | None:
    if payment_type == PaymentType.CPO:
        if stats.orders < params.min_orders:
            return f"not enough data: {stats.orders} orders < min_orders {params.min_orders}: holding"
        return None
    if stats.clicks < params.min_clicks:
        return f"not enough data: {stats.clicks} clicks < min_clicks {params.min_clicks}: holding"
    if billing_units(stats, payment_type) == 0:
        return "not enough data: clicks without views in the stats: holding"
    return None


def damped(ctx: KeywordBidContext, desired: int, params: PerformanceParams) -> tuple[int, str]:
    """Move `gain` of the way from the current bid to `desired`; half that on a reversal."""
    current = ctx.current_bid
    if current is None:
        return desired, "no current bid: starting there"
    gain = Fraction(params.gain)
    note = f"moving {float(gain) * 100:.0f} % of the way"
    previous = ctx.previous_bid
    if previous is not None and (current - previous) * (desired - current) < 0:
        gain /= 2
        note = f"direction reversed: moving {float(gain) * 100:.0f} % of the way"
    # Truncation toward the current bid never overshoots the computed bid.
    move = math.trunc(gain * (desired - current))
    if abs(move) < MIN_BID_STEP <= abs(desired - current):
        # Without this, the 1 ₽ minimum step and the gain together would leave a dead band of
        # step ÷ gain around the target (±2 ₽ at gain 0.5) where the bid never moves.
        move = MIN_BID_STEP if desired > current else -MIN_BID_STEP
        note = "moving one 1 ₽ step"
    return current + move, note


def _steer(
    ctx: KeywordBidContext, stats: PeriodStats, desired: int, params: PerformanceParams, why: str
) -> Proposal:
    if stats.orders < params.min_orders and (ctx.current_bid is None or desired > ctx.current_bid):
        few = f"only {stats.orders} orders (< min_orders {params.min_orders})"
        return Proposal(None, f"{why}; {few}: not raising, holding")
    target, note = damped(ctx, desired, params)
    return Proposal(target, f"{why}; {note}")


def target_drr(ctx: KeywordBidContext, params: TargetDrrParams) -> Proposal:
    stats = ctx.performance_stats
    label = f"target DRR {params.target_drr_pct} %"
    if stats is None:
        return Proposal(None, f"{label}: no stats for the keyword: holding")
    missing = not_enough_data(stats, ctx.payment_type, params)
    if missing:
        return Proposal(None, f"{label}: {missing}")
    units = billing_units(stats, ctx.payment_type)
    value = Fraction(stats.revenue) / units
    desired = math.floor(value * Fraction(params.target_drr_pct) / 100)
    why = (
        f"{label}: window {observed_drr(stats)}, revenue per {UNIT_NAMES[PaymentType(ctx.payment_type)]} "
        f"{rub(math.floor(value))} → bid for target {rub(desired)}"
    )
    return _steer(ctx, stats, desired, params, why)


def target_cpo(ctx: KeywordBidContext, params: TargetCpoParams) -> Proposal:
    label = f"target CPO {rub(params.target_cpo)}"
    if ctx.payment_type == PaymentType.CPO:
        # Paying per order, the bid is the CPO itself: no measurement needed.
        return Proposal(params.target_cpo, f"{label}: pay-per-order bid is the CPO")
    stats = ctx.performance_stats
    if stats is None:
        return Proposal(None, f"{label}: no stats for the keyword: holding")
    missing = not_enough_data(stats, ctx.payment_type, params)
    if missing:
        return Proposal(None, f"{label}: {missing}")
    units = billing_units(stats, ctx.payment_type)
    desired = math.floor(params.target_cpo * stats.orders / units)
    measured = f"spend {rub(stats.spend)} without orders"
    if stats.orders:
        measured = f"CPO {rub(stats.spend // stats.orders)}"
    volume = f"{stats.clicks} clicks" if ctx.payment_type == PaymentType.CPC else f"{stats.views} views"
    why = f"{label}: window {measured}, {stats.orders} orders in {volume} → bid for target {rub(desired)}"
    return _steer(ctx, stats, desired, params, why)
