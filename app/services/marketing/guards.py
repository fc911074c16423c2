"""The one guard every recommended bid passes, whoever proposed it (issue 11 item 2): never above
the campaign's `max_bid` or the marketplace's maximum, never below the keyword's `min_bid` or the
marketplace's minimum, and on the marketplace's bid step.

The marketplace limits are those the bid cycle uses today (`bid_cycle.DEFAULT_MIN_BID` /
`DEFAULT_MAX_BID` / `on_step`); issue 9 moves them next to the adapters, and then only
`marketplace_limits` changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.marketing.bid_cycle import DEFAULT_MAX_BID, DEFAULT_MIN_BID, on_step


@dataclass(frozen=True)
class MarketplaceLimits:
    marketplace: str
    min_bid: int
    max_bid: int


def marketplace_limits(marketplace: str) -> MarketplaceLimits:
    return MarketplaceLimits(marketplace, DEFAULT_MIN_BID[marketplace], DEFAULT_MAX_BID[marketplace])


@dataclass(frozen=True)
class GuardedBid:
    raw: int
    bid: int | None  # None: no bid satisfies every limit
    clamped: bool
    note: str


def guard_bid(
    raw: int, *, keyword_min_bid: int | None, campaign_max_bid: int | None, limits: MarketplaceLimits
) -> GuardedBid:
    """`raw` brought inside [max(keyword min, marketplace min), min(campaign max, marketplace max)]
    and onto the marketplace's step (in the marketplace's bid unit)."""
    floor = max(keyword_min_bid or 0, limits.min_bid, 1)
    ceiling = min(campaign_max_bid if campaign_max_bid is not None else limits.max_bid, limits.max_bid)
    if ceiling < floor:
        return GuardedBid(
            raw, None, True, f"no valid bid: the maximum {ceiling} is below the minimum {floor}"
        )
    bid = min(max(raw, floor), ceiling)
    bid = on_step(bid, limits.marketplace, ceiling)
    if not floor <= bid <= ceiling:
        return GuardedBid(raw, None, True, f"no bid on the marketplace's step between {floor} and {ceiling}")
    if bid == raw:
        return GuardedBid(raw, bid, False, "")
    if raw > ceiling:
        why = f"above the maximum {ceiling}"
    elif raw < floor:
        why = f"below the minimum {floor}"
    else:
        why = "off the marketplace's bid step"
    return GuardedBid(raw, bid, True, f"{raw} was {why}: {bid}")
