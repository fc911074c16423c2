"""Strategies that read the auction: target position and max traffic (issue 6, Deliver 1).

Competitor bids come first (Watcher API or the marketplace's competitive bids, `is_ours` entries
excluded); when they are missing or older than `competitor_max_age_minutes`, the marketplace's own
recommendations are used; without either the keyword holds. The reason says which.
"""

from __future__ import annotations

from app.services.marketing.bidding import CompetitorBid, CompetitorSource, KeywordBidContext, RecommendedBid
from app.services.marketing.strategies.params import CompetitionParams, MaxTrafficParams, TargetPositionParams
from app.services.marketing.strategies.proposal import Proposal, age_minutes, rub

NO_DATA = "no fresh competitor bids and no marketplace recommendation: holding"


def fresh_competitors(
    ctx: KeywordBidContext, params: CompetitionParams
) -> tuple[list[CompetitorBid], CompetitorSource, tuple[str, ...]]:
    """Other bidders by position, their source, and a note when data was dropped as stale."""
    data = ctx.competitors
    if data is None or not data.others_by_position():
        return [], CompetitorSource.NONE, ()
    age = age_minutes(data.fetched_at, ctx.now)
    if age > params.competitor_max_age_minutes:
        limit = params.competitor_max_age_minutes
        note = f"{data.source} competitor bids are {age} min old (max {limit}): ignored"
        return [], CompetitorSource.NONE, (note,)
    return data.others_by_position(), data.source, ()


def fresh_recommendations(ctx: KeywordBidContext, params: CompetitionParams) -> list[RecommendedBid]:
    recs = ctx.recommendations
    if recs is None or age_minutes(recs.fetched_at, ctx.now) > params.recommendation_max_age_minutes:
        return []
    return list(recs.bids)


def target_position(ctx: KeywordBidContext, params: TargetPositionParams) -> Proposal:
    """The bid that wins position N: the bid now at position N plus the outbid step."""
    n = params.position
    others, source, notes = fresh_competitors(ctx, params)
    if others:
        if len(others) >= n:
            rival = others[n - 1].bid
            target = rival + params.outbid_step
            reason = (
                f"target position {n}: bid at position {n} is {rub(rival)} ({source}) "
                f"+ step {rub(params.outbid_step)} = {rub(target)}"
            )
        else:
            target = ctx.min_bid
            reason = (
                f"target position {n}: only {len(others)} competitor bids ({source}), "
                f"position {len(others) + 1} at the minimum bid {rub(target)}"
            )
        return Proposal(target, reason, source, notes)
    recs = fresh_recommendations(ctx, params)
    reaching = [r for r in recs if r.position is not None and r.position <= n]
    if reaching:
        best = min(reaching, key=lambda r: r.bid)
        return Proposal(
            best.bid,
            f"target position {n}: no competitor bids; marketplace recommends {rub(best.bid)} "
            f"for position {best.position}",
            CompetitorSource.MARKETPLACE_RECOMMENDATION,
            notes,
        )
    competitive = [r.bid for r in recs if r.position is None]
    if competitive:
        return Proposal(
            max(competitive),
            f"target position {n}: no competitor bids and no recommendation for position {n}; "
            f"using the marketplace's competitive bid {rub(max(competitive))}",
            CompetitorSource.MARKETPLACE_COMPETITIVE,
            notes,
        )
    return Proposal(None, f"target position {n}: {NO_DATA}", CompetitorSource.NONE, notes)


def max_traffic(ctx: KeywordBidContext, params: MaxTrafficParams) -> Proposal:
    """The highest useful bid within the cap: the top bid plus the step, or the cap if lower —
    paying more than the top position needs buys no traffic."""
    cap = params.bid_cap
    others, source, notes = fresh_competitors(ctx, params)
    if others:
        leader = max(b.bid for b in others)
        top = leader + params.outbid_step
        reason = f"max traffic: top bid {rub(leader)} ({source}) + step = {rub(top)}"
        if top > cap:
            reason = f"max traffic: top bid {rub(leader)} ({source}) + step beyond the bid cap {rub(cap)}"
        return Proposal(min(top, cap), reason, source, notes)
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
            f"max traffic: no competitor bids; highest marketplace recommendation {rub(best.bid)}, "
            f"bid cap {rub(cap)}",
            kind,
            notes,
        )
    return Proposal(None, f"max traffic: {NO_DATA}", CompetitorSource.NONE, notes)
