"""Strategies that read the auction: target position and max traffic (issue 6, Deliver 1).

Competitor bids come first (the Watcher API, our own entries excluded); when they are missing or
older than `competitor_max_age_minutes`, the marketplace's own recommendations are used; without
either the keyword holds. The reason says which.

Competitor bids arrive in the Watcher's unit: per 1000 views on WB and Ozon (per-click bidders
converted by their click-through rate), a share of the price on YM. A per-click keyword compares
them with its own bid through the click-through rate the marketplace credits *our* item with, as
the Watcher reports it on our own entry (price per click = price per 1000 views ÷ (1000 × CTR)).
Without that rate the competitor bids are not used at all (issue 9 finding 1: reading them as
per-click bids multiplied the bid ~30×): the marketplace's own per-click recommendations are, and
without those the keyword holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.money import Bid, UnitConversionError, convert
from app.services.marketing.bidding import CompetitorSource, KeywordBidContext, RecommendedBid
from app.services.marketing.strategies.params import CommonParams, MaxTrafficParams, TargetPositionParams
from app.services.marketing.strategies.proposal import Proposal, age_minutes

NO_DATA = "no fresh competitor bids and no marketplace recommendation: holding"


@dataclass(frozen=True)
class Auction:
    """The other bidders' bids in the keyword's unit, best position first."""

    bids: tuple[Bid, ...]
    source: CompetitorSource
    notes: tuple[str, ...] = ()
    converted: str = ""  # how the bids were brought into the keyword's unit, for the reason

    def label(self) -> str:
        return f"{self.source}{self.converted}"


def auction(ctx: KeywordBidContext, params: CommonParams) -> Auction:
    """Fresh competitor bids of other bidders, converted to the keyword's unit, or none with a note."""
    data = ctx.competitors
    others = data.others_by_position() if data is not None else []
    if data is None or not others:
        return Auction((), CompetitorSource.NONE)
    age = age_minutes(data.fetched_at, ctx.now)
    if age > params.competitor_max_age_minutes:
        limit = params.competitor_max_age_minutes
        note = f"{data.source} competitor bids are {age} min old (max {limit}): ignored"
        return Auction((), CompetitorSource.NONE, (note,))
    if data.unit == ctx.unit:
        return Auction(tuple(b.bid for b in others), data.source)
    ctr = data.our_ctr()
    try:
        bids = tuple(convert(b.bid, ctx.unit, ctr=ctr) for b in others)
    except UnitConversionError as error:
        why = "no click-through rate of our item was reported" if ctr is None else str(error)
        note = f"{data.source} competitor bids are {data.unit}, the keyword bids {ctx.unit}: {why}; not used"
        return Auction((), CompetitorSource.NONE, (note,))
    assert ctr is not None
    return Auction(bids, data.source, converted=f", converted at our CTR {float(ctr) * 100:.2f} %")


def _no_data(market: Auction) -> str:
    """Why there is nothing to go on, with what was dropped (stale or unconvertible bids)."""
    return "; ".join([*market.notes, NO_DATA])


def fresh_recommendations(ctx: KeywordBidContext, params: CommonParams) -> list[RecommendedBid]:
    recs = ctx.recommendations
    if recs is None or age_minutes(recs.fetched_at, ctx.now) > params.recommendation_max_age_minutes:
        return []
    return [r for r in recs.bids if r.bid.amount > 0]


def outbid_step(ctx: KeywordBidContext, params: CommonParams) -> Bid:
    step = getattr(params, "outbid_step", None)
    return ctx.bid(step) if step is not None else ctx.min_change


def position_one_price(ctx: KeywordBidContext, params: CommonParams) -> tuple[Bid, str] | None:
    """What the top position costs now — the best other bid plus the step, else the marketplace's
    recommendation for the top — with where it came from; None when nothing fresh says."""
    market = auction(ctx, params)
    if market.bids:
        return max(market.bids) + outbid_step(ctx, params), f"top bid ({market.label()}) + step"
    tops = [r for r in fresh_recommendations(ctx, params) if r.position is not None and r.position <= 2]
    if tops:
        best = min(tops, key=lambda r: (r.position or 0, -r.bid.amount))
        return best.bid, f"marketplace recommendation for position {best.position}"
    return None


def target_position(ctx: KeywordBidContext, params: TargetPositionParams) -> Proposal:
    """The bid that wins position N: the bid now at position N plus the outbid step."""
    n = params.position
    market = auction(ctx, params)
    step = outbid_step(ctx, params)
    if market.bids:
        if len(market.bids) >= n:
            rival = market.bids[n - 1]
            goal = rival + step
            reason = (
                f"target position {n}: bid at position {n} is {rival} ({market.label()}) "
                f"+ step {step} = {goal}"
            )
        else:
            goal = ctx.min_bid
            reason = (
                f"target position {n}: only {len(market.bids)} competitor bids ({market.label()}), "
                f"position {len(market.bids) + 1} at the minimum bid {goal}"
            )
        return Proposal(goal, reason, market.source, market.notes)
    recs = fresh_recommendations(ctx, params)
    reaching = [r for r in recs if r.position is not None and r.position <= n]
    if reaching:
        best = min(reaching, key=lambda r: r.bid)
        return Proposal(
            best.bid,
            f"target position {n}: no competitor bids; marketplace recommends {best.bid} "
            f"for position {best.position}",
            CompetitorSource.MARKETPLACE_RECOMMENDATION,
            market.notes,
        )
    competitive = [r.bid for r in recs if r.position is None]
    if competitive:
        return Proposal(
            max(competitive),
            f"target position {n}: no competitor bids and no recommendation for position {n}; "
            f"using the marketplace's competitive bid {max(competitive)}",
            CompetitorSource.MARKETPLACE_COMPETITIVE,
            market.notes,
        )
    return Proposal(None, f"target position {n}: {_no_data(market)}", CompetitorSource.NONE, market.notes)


def max_traffic(ctx: KeywordBidContext, params: MaxTrafficParams) -> Proposal:
    """The highest useful bid within the cap: the top bid plus the step, or the cap if lower —
    paying more than the top position needs buys no traffic."""
    cap = ctx.bid(params.bid_cap)
    market = auction(ctx, params)
    if market.bids:
        leader = max(market.bids)
        top = leader + outbid_step(ctx, params)
        reason = f"max traffic: top bid {leader} ({market.label()}) + step = {top}"
        if top > cap:
            reason = f"max traffic: top bid {leader} ({market.label()}) + step beyond the bid cap {cap}"
        return Proposal(min(top, cap), reason, market.source, market.notes)
    recs = fresh_recommendations(ctx, params)
    if recs:
        best = max(recs, key=lambda r: r.bid)
        kind = (
            CompetitorSource.MARKETPLACE_COMPETITIVE
            if best.position is None
            else CompetitorSource.MARKETPLACE_RECOMMENDATION
        )
        return Proposal(
            min(best.bid, cap),
            f"max traffic: no competitor bids; highest marketplace recommendation {best.bid}, bid cap {cap}",
            kind,
            market.notes,
        )
    return Proposal(None, f"max traffic: {_no_data(market)}", CompetitorSource.NONE, market.notes)
