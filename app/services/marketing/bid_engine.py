"""BidEngine: one keyword's bid for this cycle (spec 7.3.1 `bid_engine.calculate_bid`; issue 6;
units and the fixes of issue 9).

Every bid is a typed `Bid` in the keyword's unit (app/core/money.py). The rules, in order:

1. untouchable keywords hold: not active (paused / excluded / removed), `is_fixed`, held after a
   manual change (`held_until`), or a campaign on the `fixed` strategy;
2. the strategy proposes a goal from the market (competitor bids, recommendations, conversion);
3. dayparting multiplies that goal — the strategy's own base bid, never the current bid, so the
   multiplier cannot compound from cycle to cycle (issue 9 finding 3). Where the strategy holds its
   level (no goal, or too few orders to raise above it), the schedule still applies to the level
   the current bid stands for (`base_bid`, kept with the bid): a night's lower bid comes back in
   the morning instead of staying down until the data allows a raise (the safety matrix's
   dayparting invariant);
4. strategies steered by lagging stats move only part of the way from the current bid to the goal;
5. the change per cycle is bounded by `max_change_pct` of the current bid (at least the
   marketplace's smallest change, or small bids could never move);
6. stale stats (older than `stats_max_age_minutes`) never raise a bid;
7. ceilings: the marketplace's maximum; at most 1.5 × what the top position costs now (from fresh
   competitor bids or the marketplace's recommendation for the top — paying more buys nothing);
   then the campaign's `max_bid`, which sets `capped` (the caller sends the spec's CAP_BID alert);
8. the marketplace's minimum for the item (never below one unit: a YM bid of 0 removes the SKU);
9. the marketplace's step: the bid is rounded to a multiple it accepts, inside the limits;
10. the smallest change worth sending (spec 7.3.1: 1 ₽; 0.10 % of the price on YM).

Steps 7–8 override step 5: a bid outside the limits is brought inside at once, and such a
correction is sent whatever its size — also when the strategy holds for lack of data. No Celery,
Redis, HTTP or database here (DESIGN.md §2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from app.core.money import Bid
from app.models.marketing import StrategyType
from app.services.marketing.bidding import BidAction, BidDecision, CompetitorSource, KeywordBidContext
from app.services.marketing.strategies.competition import max_traffic, position_one_price, target_position
from app.services.marketing.strategies.params import CommonParams, StrategyParamsError
from app.services.marketing.strategies.performance import damp, target_cpo, target_drr
from app.services.marketing.strategies.proposal import Proposal, age_minutes

STRATEGIES: dict[StrategyType, Callable[[KeywordBidContext, Any], Proposal]] = {
    StrategyType.TARGET_POSITION: target_position,
    StrategyType.TARGET_DRR: target_drr,
    StrategyType.TARGET_CPO: target_cpo,
    StrategyType.MAX_TRAFFIC: max_traffic,
}
# Step 7: no bid above this multiple of what the top position costs right now.
OVERBID_FACTOR = Fraction(3, 2)


def max_change(ctx: KeywordBidContext, current: Bid, params: CommonParams) -> Bid:
    """The largest move from `current` one cycle allows."""
    return max(current.scaled(Fraction(params.max_change_pct) / 100), ctx.min_change)


def dayparting_factor(ctx: KeywordBidContext) -> Fraction:
    """This hour's dayparting multiplier of the keyword's strategy (1 without dayparting)."""
    dayparting = getattr(ctx.strategy, "dayparting", None)
    if dayparting is None:
        return Fraction(1)
    return Fraction(dayparting.multiplier(ctx.moscow_hour, ctx.moscow_weekday))


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
    bid: Bid
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    capped: bool = False
    level: Bid | None = None  # set when the strategy held its level and the schedule moved the bid

    def base(self) -> Bid | None:
        """The strategy's level the new bid stands for (rule 3), kept with it: None where it is its
        own level (no dayparting)."""
        if self.level is not None:
            return self.level
        if getattr(self.ctx.strategy, "dayparting", None) is None:
            return None
        return self.bid.scaled(1 / dayparting_factor(self.ctx), "half_up")

    def decide(self, action: BidAction, why: str | None = None) -> BidDecision:
        reason = "; ".join([self.proposal.reason, *self.steps, *([why] if why else [])])
        return BidDecision(
            action=action,
            new_bid=self.bid if action == BidAction.SET else None,
            old_bid=self.ctx.current_bid,
            reason=reason,
            strategy_type=self.ctx.strategy.strategy_type.value,
            target_bid=self.proposal.goal,
            capped=self.capped,
            base_bid=self.base() if action == BidAction.SET else None,
            competitor_source=self.proposal.source,
            warnings=(*self.proposal.warnings, *self.warnings),
        )


def _hold(ctx: KeywordBidContext, reason: str, proposal: Proposal | None = None) -> BidDecision:
    return BidDecision(
        action=BidAction.HOLD,
        new_bid=None,
        old_bid=ctx.current_bid,
        reason=reason,
        strategy_type=ctx.strategy.strategy_type.value,
        target_bid=proposal.goal if proposal else None,
        competitor_source=proposal.source if proposal else CompetitorSource.NONE,
        warnings=proposal.warnings if proposal else (),
    )


class BidEngine:
    """Stateless; one instance serves any number of keywords and threads."""

    def calculate_bid(self, ctx: KeywordBidContext) -> BidDecision:
        untouched = self._untouched(ctx)
        if untouched is not None:
            return _hold(ctx, untouched)
        params = ctx.strategy
        if not isinstance(params, CommonParams):  # only FixedParams lacks them, and it held above
            raise StrategyParamsError(f"strategy_type {params.strategy_type!r} has no bid strategy")
        proposal = STRATEGIES[params.strategy_type](ctx, params)
        current = ctx.current_bid
        if proposal.goal is None:
            if current is not None and self._scheduled(ctx) != current:
                return self._follow_schedule(_Draft(ctx, proposal, current), params, proposal.reason)
            if current is not None and self._outside_limits(ctx, current, params):
                # The strategy cannot say where to go, but a bid above a lowered max_bid (or below a
                # raised minimum) must not stay there: bring the current bid inside the limits.
                draft = _Draft(ctx, proposal, current, steps=["the current bid is outside the limits"])
                draft.level = self._level(ctx)  # a limit moves the bid, not the level it holds
                return self._apply_limits(draft, params)
            return _hold(ctx, proposal.reason, proposal)
        draft = _Draft(ctx, proposal, proposal.goal)
        damping = proposal.damping
        level = self._level(ctx)
        if damping is not None and not damping.may_raise and (level is None or proposal.goal > level):
            if current is not None and self._scheduled(ctx) != current:
                return self._follow_schedule(draft, params, damping.why_not_raise)
            return _hold(ctx, f"{proposal.reason}; {damping.why_not_raise}", proposal)
        self._apply_dayparting(draft, params)
        self._apply_damping(draft)
        return self._apply_limits(draft, params)

    def bounds(self, ctx: KeywordBidContext) -> tuple[Bid, Bid | None]:
        """The lowest and highest bid rules 7–8 allow for the keyword now (None: no ceiling)."""
        if not isinstance(ctx.strategy, CommonParams):
            return self._floor(ctx), None
        ceilings = [c for c, _, _ in self._ceilings(ctx, ctx.strategy)]
        return self._floor(ctx), min(ceilings, default=None)

    @staticmethod
    def _floor(ctx: KeywordBidContext) -> Bid:
        return max(ctx.min_bid, ctx.bid(1))

    def _ceilings(self, ctx: KeywordBidContext, params: CommonParams) -> list[tuple[Bid, str, bool]]:
        """(ceiling, what it is, whether it is the campaign's cap) in the order they apply."""
        out: list[tuple[Bid, str, bool]] = []
        if ctx.marketplace_max_bid is not None:
            out.append((ctx.marketplace_max_bid, f"marketplace maximum {ctx.marketplace_max_bid}", False))
        top = position_one_price(ctx, params)
        if top is not None:
            price, where = top
            # Never below the marketplace minimum (on its step): the minimum is always a valid bid.
            limit = max(price.scaled(OVERBID_FACTOR), self._floor(ctx).rounded_to(ctx.bid_step, up=True))
            out.append((limit, f"at most 1.5 × the top position's {price} ({where}) = {limit}", False))
        if ctx.campaign_max_bid is not None:
            out.append((ctx.campaign_max_bid, f"capped at campaign max_bid {ctx.campaign_max_bid}", True))
        return out

    def _outside_limits(self, ctx: KeywordBidContext, current: Bid, params: CommonParams) -> bool:
        floor = self._floor(ctx)
        return current < floor or any(current > c for c, _, _ in self._ceilings(ctx, params))

    @staticmethod
    def _untouched(ctx: KeywordBidContext) -> str | None:
        if not ctx.is_active:
            return f"keyword is {ctx.status}: not touched"
        if ctx.is_fixed:
            return "keyword bid is fixed by hand: not touched"
        if ctx.held_until is not None and ctx.held_until > ctx.now:
            until = ctx.held_until.isoformat(timespec="minutes")
            return f"held after a manual change until {until}: not touched"
        if ctx.strategy.strategy_type == StrategyType.FIXED:
            return "strategy fixed: bids are set by hand"
        return None

    @staticmethod
    def _level(ctx: KeywordBidContext) -> Bid | None:
        """The strategy's level the current bid stands for: before the dayparting multiplier."""
        return ctx.base_bid if ctx.base_bid is not None else ctx.current_bid

    def _scheduled(self, ctx: KeywordBidContext) -> Bid | None:
        """Where the held level stands on this hour's dayparting schedule."""
        level = self._level(ctx)
        return level.scaled(dayparting_factor(ctx)) if level is not None else None

    def _follow_schedule(self, draft: _Draft, params: CommonParams, why_held: str) -> BidDecision:
        """The strategy holds its level; the dayparting schedule moves the bid around it."""
        ctx = draft.ctx
        level, scheduled = self._level(ctx), self._scheduled(ctx)
        assert level is not None and scheduled is not None
        factor = dayparting_factor(ctx)
        if draft.proposal.goal is not None:
            draft.steps.append(why_held.removesuffix(", holding").removesuffix(": holding"))
        schedule = params.dayparting
        if schedule is None:
            draft.steps.append(f"back to the held level {level}")
        elif factor == 1:
            draft.steps.append(f"the held level {level} × dayparting ×1 = {scheduled}")
        else:
            which = schedule.describe(ctx.moscow_hour, ctx.moscow_weekday)
            shown = schedule.multiplier(ctx.moscow_hour, ctx.moscow_weekday)
            draft.steps.append(f"the held level {level} × dayparting ×{shown} ({which}) = {scheduled}")
        draft.bid, draft.level = scheduled, level
        return self._apply_limits(draft, params)

    @staticmethod
    def _apply_dayparting(draft: _Draft, params: CommonParams) -> None:
        if params.dayparting is None:
            return
        ctx = draft.ctx
        factor = params.dayparting.multiplier(ctx.moscow_hour, ctx.moscow_weekday)
        if factor != 1:
            draft.bid = draft.bid.scaled(factor)
            which = params.dayparting.describe(ctx.moscow_hour, ctx.moscow_weekday)
            draft.steps.append(f"dayparting ×{factor} ({which}) = {draft.bid}")

    @staticmethod
    def _apply_damping(draft: _Draft) -> None:
        damping = draft.proposal.damping
        if damping is None:
            return
        draft.bid, note = damp(draft.ctx, draft.bid, damping)
        draft.steps.append(note)

    def _apply_limits(self, draft: _Draft, params: CommonParams) -> BidDecision:
        ctx = draft.ctx
        current = ctx.current_bid
        floor = self._floor(ctx)
        ceilings = self._ceilings(ctx, params)
        lowest = min((c for c, _, _ in ceilings), default=None)
        if lowest is not None and lowest < floor:
            binding = next(what for c, what, _ in ceilings if c == lowest)
            draft.warnings.append(
                f"the limit '{binding}' is below the marketplace minimum {floor}: no valid bid"
            )
            return draft.decide(BidAction.HOLD, "no valid bid between the limits: holding")

        if current is not None:
            allowed = max_change(ctx, current, params)
            bounded = min(max(draft.bid, current - allowed), current + allowed)
            if bounded != draft.bid:
                draft.bid = bounded
                draft.steps.append(f"limited to ±{allowed} per cycle = {bounded}")

        stale = stale_stats_note(ctx, params)
        if stale and current is None:
            return draft.decide(BidAction.HOLD, f"{stale} and no current bid: holding")
        if stale and current is not None and draft.bid > current:
            draft.bid = current
            draft.steps.append(f"{stale}: not raising")

        for ceiling, what, is_cap in ceilings:
            if draft.bid > ceiling:
                draft.bid = ceiling
                draft.capped = draft.capped or is_cap
                draft.steps.append(what)
        if draft.bid < floor:
            draft.bid = floor
            draft.steps.append(f"marketplace minimum {floor}")
            if stale and current is not None and floor > current:
                return draft.decide(BidAction.HOLD, f"{stale}: not raising to the minimum, holding")
        stepped = self._on_step(ctx, draft.bid, floor, lowest)
        if stepped is None:
            draft.warnings.append(f"no multiple of the step {ctx.bid(ctx.bid_step)} fits the limits")
            return draft.decide(BidAction.HOLD, "no valid bid on the marketplace's step: holding")
        if stepped != draft.bid:
            draft.bid = stepped
            draft.steps.append(f"on the marketplace's step {ctx.bid(ctx.bid_step)} = {stepped}")

        if current is None:
            return draft.decide(BidAction.SET, f"set {draft.bid}")
        inside_limits = floor <= current and (lowest is None or current <= lowest)
        if draft.bid == current or (inside_limits and abs(draft.bid - current) < ctx.min_change):
            change = draft.bid - current
            return draft.decide(
                BidAction.HOLD, f"change {change} is below the {ctx.min_change} step: holding"
            )
        return draft.decide(BidAction.SET, f"{current} → {draft.bid}")

    @staticmethod
    def _on_step(ctx: KeywordBidContext, bid: Bid, floor: Bid, ceiling: Bid | None) -> Bid | None:
        """A multiple of the marketplace's step inside [floor, ceiling]: up first, else down."""
        up = bid.rounded_to(ctx.bid_step, up=True)
        if ceiling is None or up <= ceiling:
            return up
        down = bid.rounded_to(ctx.bid_step, up=False)
        return down if down >= floor else None
