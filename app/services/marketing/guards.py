"""The one guard every recommended bid passes, whoever proposed it (issue 11 item 2): never above
the campaign's `max_bid` or the marketplace's maximum, never below the keyword's `min_bid` or the
marketplace's minimum, and on the marketplace's bid step — all in the campaign's bid unit, from the
marketplace's rules (adapters/*_rules.py), the same the bid cycle obeys.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.money import BidUnit
from app.services.marketing.adapters.rules import rules_for


@dataclass(frozen=True)
class MarketplaceLimits:
    marketplace: str
    unit: BidUnit
    min_bid: int
    max_bid: int
    step: int = 1


def marketplace_limits(
    marketplace: str, campaign_type: str, payment_type: str | None
) -> MarketplaceLimits | None:
    """The limits of a campaign's bids, in its unit; None where the marketplace takes no bids."""
    rules = rules_for(marketplace)
    unit = rules.campaign_unit(campaign_type, payment_type)
    if unit is None:
        return None
    return MarketplaceLimits(
        marketplace, unit, rules.min_bid(unit).amount, rules.max_bid(unit).amount, rules.step(unit)
    )


@dataclass(frozen=True)
class GuardedBid:
    raw: int
    bid: int | None  # None: no bid satisfies every limit
    clamped: bool
    note: str


def guard_bid(
    raw: int, *, keyword_min_bid: int | None, campaign_max_bid: int | None, limits: MarketplaceLimits | None
) -> GuardedBid:
    """`raw` brought inside [max(keyword min, marketplace min), min(campaign max, marketplace max)]
    and onto the marketplace's step (in the campaign's bid unit)."""
    if limits is None:
        return GuardedBid(raw, None, True, "the marketplace takes no bids for this campaign")
    floor = max(keyword_min_bid or 0, limits.min_bid, 1)
    ceiling = min(campaign_max_bid if campaign_max_bid is not None else limits.max_bid, limits.max_bid)
    if ceiling < floor:
        return GuardedBid(
            raw, None, True, f"no valid bid: the maximum {ceiling} is below the minimum {floor}"
        )
    bid = min(max(raw, floor), ceiling)
    step = max(limits.step, 1)
    up = -(-bid // step) * step
    bid = up if up <= ceiling else bid // step * step
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
