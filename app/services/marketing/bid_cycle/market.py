"""What one account's bid cycle reads from the marketplace and the Watcher (spec 7.3.1 step 2), and
how those answers become the engine's typed inputs.

Reads, all batched by the adapter: the current bid of every biddable keyword; the competitors'
bids (Watcher first, the marketplace's own signals where the Watcher has none); the minimum bid of
items we have none for yet. Values enter the engine as `Bid`s of the keyword's unit — except the
Watcher's competitor bids, which keep the unit the Watcher names and are converted by the engine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from app.core.money import BidUnit
from app.services.marketing.adapters.base import AdapterError, MarketplaceAdapter
from app.services.marketing.bid_cycle.inputs import KeywordRow
from app.services.marketing.bidding import (
    CompetitorBid,
    CompetitorData,
    CompetitorSource,
    MarketplaceRecommendations,
    RecommendedBid,
)
from app.services.watcher.client import CompetitorBids, CompetitorLookup

logger = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass
class MarketView:
    """The marketplace's side of one account, read before planning."""

    current: dict[Key, int] = field(default_factory=dict)
    competitors: dict[Key, CompetitorBids] = field(default_factory=dict)
    min_bids: dict[Key, int] = field(default_factory=dict)  # learnt this cycle
    notes: list[str] = field(default_factory=list)


async def read_market(
    adapter: MarketplaceAdapter, lookup: CompetitorLookup, marketplace: str, keywords: list[KeywordRow]
) -> MarketView:
    """Current bids (an AdapterError here stops the account: without them nothing is decided),
    competitor data and the minimums of items that have none."""
    view = MarketView()
    if not keywords:
        return view
    domain = [k.domain() for k in keywords]
    view.current = await adapter.get_current_bids(domain)
    view.competitors = await lookup.for_keywords(marketplace, domain, adapter)
    unknown = [k.domain() for k in keywords if k.min_bid is None]
    if unknown:
        try:
            view.min_bids = await adapter.get_min_bids(unknown)
        except AdapterError as error:
            view.notes.append(f"minimum bids unavailable, the marketplace's defaults are used: {error}")
    return view


def engine_market(
    data: CompetitorBids | None, unit: BidUnit, our_sku: str | None, now: datetime
) -> tuple[CompetitorData | None, MarketplaceRecommendations | None, str | None]:
    """A lookup answer as the engine's competitors (Watcher) or recommendations (the marketplace's
    own, in the keyword's unit); a note when the answer could not be used."""
    if data is None or not data.has_data:
        return None, None, None
    fetched = data.observed_at or now
    if data.source != CompetitorSource.WATCHER:
        positions = data.positions or (None,) * len(data.bids)
        recommended = tuple(
            RecommendedBid(unit.bid(bid), position)
            for bid, position in zip(data.bids, positions, strict=True)
        )
        return None, MarketplaceRecommendations(recommended, fetched), None
    try:
        watcher_unit = BidUnit.parse(str(data.unit))
    except ValueError as error:
        return None, None, f"Watcher answer ignored: {error}"
    # One ranking over every keyword the answer covers (an SKU's answer lists all of its keywords):
    # beating the N-th bid overall wins position N or better in each of them.
    ranked = sorted(data.entries, key=lambda e: -e.bid)
    bids = tuple(
        CompetitorBid(
            position=i + 1,
            bid=watcher_unit.bid(entry.bid),
            is_ours=our_sku is not None and entry.sku == our_sku,
            ctr=Fraction(entry.ctr).limit_denominator(10**6) if entry.ctr is not None else None,
        )
        for i, entry in enumerate(ranked)
    )
    return CompetitorData(CompetitorSource.WATCHER, bids, fetched), None, None
