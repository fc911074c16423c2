"""BidEngine: one keyword's bid for this cycle (spec 7.3.1 `bid_engine.calculate_bid`; issue 6).

The strategy proposes a bid; dayparting scales it; then the limits every strategy shares apply,
in this order:

1. untouchable keywords hold: not active (paused / excluded / removed), `is_fixed`, or a campaign
   on the `fixed` strategy;
2. the change per cycle is bounded by `max_change_pct` of the current bid (at least the 1 ₽ step,
   or small bids could never move);
3. stale stats (older than `stats_max_age_minutes`) never raise a bid;
4. the marketplace's maximum, then the campaign's `max_bid` — the latter sets `capped`, for which
   the caller sends the spec's CAP_BID warning alert;
5. the marketplace's minimum (never below 1 kopeck: a YM bid of 0 removes the SKU from boost);
6. the spec's minimum step: a change below 1 ₽ is not sent.

Steps 4–5 override step 2: a bid outside the marketplace's or the campaign's limits is brought
inside at once, and such a correction is sent whatever its size — also when the strategy
holds for lack of data. No Celery, Redis, HTTP or database here (DESIGN.md §2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from app.models.marketing import StrategyType
from app.services.marketing.bidding import (
    MIN_BID_STEP,
    BidAction,
    BidDecision,
    CompetitorSource,
    KeywordBidContext,
)
from app.services.marketing.strategies.competition import max_traffic, target_position
from app.services.marketing.strategies.params import CommonParams, StrategyParamsError
from app.services.marketing.strategies.performance import target_cpo, target_drr
from app.services.marketing.strategies.proposal import Proposal, age_minutes, rub

STRATEGIES: dict[StrategyType, Callable[[KeywordBidContext, Any], Proposal]] = {
    StrategyType.TARGET_POSITION: target_position,
    StrategyType.TARGET_DRR: target_drr,
    StrategyType.TARGET_CPO: target_cpo,
    StrategyType.MAX_TRAFFIC: max_traffic,
}


def max_change(current: int, params: CommonParams) -> int:
    """The largest move from `current` one cycle allows."""
    return max(math.floor(current * Fraction(params.max_change_pct) / 100), MIN_BID_STEP)


def stale_stats_note(ctx: KeywordBidContext, params: CommonParams) -> str | None:
    collected = ctx.stats_collected_at
    if collected is None:
        return "no stats collected"
    age = age_minutes(collected, ctx.now)
    if age > params.stats_max_age_minutes:
        return f"stats are {age} min old (max {params.stats_max_age_minutes})"
    return None


@dataclass
class _Draft:
    """A decision under construction: the bid so far and what shaped it."""

    ctx: KeywordBidContext
    proposal: Proposal
    bid: int
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    capped: bool = False

    def decide(self, action: BidAction, why: str | None = None) -> BidDecision:
        reason = "; ".join([self.proposal.reason, *self.steps, *([why] if why else [])])
        return BidDecision(
            action=action,
            new_bid=self.bid if action == BidAction.SET else None,
            old_bid=self.ctx.current_bid,
            reason=reason,
            strategy_type=self.ctx.strategy.strategy_type.value,
            target_bid=self.proposal.target,
            capped=self.capped,
            competitor_source=self.proposal.source,
            warnings=(*self.proposal.warnings, *self.warnings),
        )


class BidEngine:
    """Stateless; one instance serves any number of keywords and threads."""

    def calculate_bid(self, ctx: KeywordBidContext) -> BidDecision:
        untouched = self._untouched(ctx)
        if untouched is not None:
            return untouched
        params = ctx.strategy
        if not isinstance(params, CommonParams):  # only FixedParams lacks them, and it held above
            raise StrategyParamsError(f"strategy_type {params.strategy_type!r} has no bid strategy")
        proposal = STRATEGIES[params.strategy_type](ctx, params)
        current = ctx.current_bid
        if proposal.target is None and current is not None and self._outside_limits(ctx, current):
            # The strategy cannot say where to go, but a bid above a lowered max_bid (or below a
            # raised minimum) must not stay there: bring the current bid inside the limits.
            draft = _Draft(ctx, proposal, current, steps=["the current bid is outside the limits"])
            return self._apply_limits(draft, params)
        if proposal.target is None:
            return BidDecision(
                action=BidAction.HOLD,
                new_bid=None,
                old_bid=ctx.current_bid,
                reason=proposal.reason,
                strategy_type=params.strategy_type.value,
                competitor_source=proposal.source,
                warnings=proposal.warnings,
            )
        draft = _Draft(ctx, proposal, proposal.target)
        self._apply_dayparting(draft, params)
        return self._apply_limits(draft, params)

    @staticmethod
    def _outside_limits(ctx: KeywordBidContext, current: int) -> bool:
        ceilings = [c for c in (ctx.marketplace_max_bid, ctx.campaign_max_bid) if c is not None]
        return current < max(ctx.min_bid, 1) or any(current > c for c in ceilings)

    @staticmethod
    def _untouched(ctx: KeywordBidContext) -> BidDecision | None:
        strategy = ctx.strategy.strategy_type
        if not ctx.is_active:
            reason = f"keyword is {ctx.status}: not touched"
        elif ctx.is_fixed:
            reason = "keyword bid is fixed by hand: not touched"
        elif strategy == StrategyType.FIXED:
            reason = "strategy fixed: bids are set by hand"
        else:
            return None
        return BidDecision(
            action=BidAction.HOLD,
            new_bid=None,
            old_bid=ctx.current_bid,
            reason=reason,
            strategy_type=strategy.value,
            competitor_source=CompetitorSource.NONE,
        )

    @staticmethod
    def _apply_dayparting(draft: _Draft, params: CommonParams) -> None:
        if params.dayparting is None:
            return
        ctx = draft.ctx
        factor = params.dayparting.multiplier(ctx.moscow_hour, ctx.moscow_weekday)
        if factor != 1:
            draft.bid = math.floor(draft.bid * Fraction(factor))
            which = params.dayparting.describe(ctx.moscow_hour, ctx.moscow_weekday)
            draft.steps.append(f"dayparting ×{factor} ({which}) = {rub(draft.bid)}")

    @staticmethod
    def _apply_limits(draft: _Draft, params: CommonParams) -> BidDecision:
        ctx = draft.ctx
        current = ctx.current_bid
        floor = max(ctx.min_bid, 1)
        ceilings = [c for c in (ctx.marketplace_max_bid, ctx.campaign_max_bid) if c is not None]
        if ceilings and min(ceilings) < floor:
            draft.warnings.append(
                f"max bid {rub(min(ceilings))} is below the marketplace minimum {rub(floor)}: no valid bid"
            )
            return draft.decide(BidAction.HOLD, "no valid bid between the limits: holding")

        if current is not None:
            allowed = max_change(current, params)
            bounded = min(max(draft.bid, current - allowed), current + allowed)
            if bounded != draft.bid:
                draft.bid = bounded
                draft.steps.append(f"limited to ±{rub(allowed)} per cycle = {rub(bounded)}")

        stale = stale_stats_note(ctx, params)
        if stale and current is None:
            return draft.decide(BidAction.HOLD, f"{stale} and no current bid: holding")
        if stale and current is not None and draft.bid > current:
            draft.bid = current
            draft.steps.append(f"{stale}: not raising")

        if ctx.marketplace_max_bid is not None and draft.bid > ctx.marketplace_max_bid:
            draft.bid = ctx.marketplace_max_bid
            draft.steps.append(f"marketplace maximum {rub(draft.bid)}")
        if ctx.campaign_max_bid is not None and draft.bid > ctx.campaign_max_bid:
            draft.bid = ctx.campaign_max_bid
            draft.capped = True
            draft.steps.append(f"capped at campaign max_bid {rub(draft.bid)}")
        if draft.bid < floor:
            draft.bid = floor
            draft.steps.append(f"marketplace minimum {rub(floor)}")
            if stale and current is not None and floor > current:
                return draft.decide(BidAction.HOLD, f"{stale}: not raising to the minimum, holding")

        if current is None:
            return draft.decide(BidAction.SET, f"set {rub(draft.bid)}")
        inside_limits = floor <= current <= min(ceilings, default=current)
        if draft.bid == current or (inside_limits and abs(draft.bid - current) < MIN_BID_STEP):
            change = rub(draft.bid - current)
            return draft.decide(BidAction.HOLD, f"change {change} is below the 1 ₽ step: holding")
        return draft.decide(BidAction.SET, f"{rub(current)} → {rub(draft.bid)}")
