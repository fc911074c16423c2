"""Builders of engine and safety inputs with realistic defaults (WB search cluster, CPM in
kopecks per 1000 views, min bid 150 ₽ — reference/marketplace-apis.md §1.7).

Bids are given as integers of the keyword's unit and lifted to typed `Bid`s here; `payment_type`
("cpc", "cpm", "cpo") picks the unit the way the marketplaces do (cpo = a share of the price)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from app.core.money import Bid, BidUnit
from app.services.marketing.bidding import (
    CompetitorBid,
    CompetitorData,
    CompetitorSource,
    KeywordBidContext,
    MarketplaceRecommendations,
    PeriodStats,
    RecommendedBid,
)
from app.services.marketing.safety_logic import (
    CampaignSafetyContext,
    KeywordSafetyContext,
    SafetyParams,
)
from app.services.marketing.strategies.params import parse_strategy_params

# Wednesday 2026-11-25, 12:00 in Moscow (UTC+3).
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
UNITS = {"cpc": BidUnit.PER_CLICK, "cpm": BidUnit.PER_MILLE, "cpo": BidUnit.PRICE_SHARE}
MIN_CHANGE = {BidUnit.PER_CLICK: 100, BidUnit.PER_MILLE: 100, BidUnit.PRICE_SHARE: 10}
BID_FIELDS = (
    "current_bid",
    "min_bid",
    "marketplace_max_bid",
    "campaign_max_bid",
    "previous_bid",
    "base_bid",
    "min_change",
)


def amount(bid: Bid | None) -> int | None:
    """A decision's bid as the integer of its unit (None stays None)."""
    return bid.amount if bid is not None else None


def stats(minutes_old: int = 5, now: datetime = NOW, **counters: Any) -> PeriodStats:
    return PeriodStats(collected_at=now - timedelta(minutes=minutes_old), **counters)


def competitors(
    *bids: int,
    minutes_old: int = 5,
    source: CompetitorSource = CompetitorSource.WATCHER,
    now: datetime = NOW,
    unit: BidUnit = BidUnit.PER_MILLE,
    ours: tuple[int, float] | None = None,
) -> CompetitorData:
    """Competitor bids given from position 1 down, in `unit`; `ours` adds our own entry
    (bid, click-through rate)."""
    entries = [CompetitorBid(position=i, bid=unit.bid(bid)) for i, bid in enumerate(bids, start=1)]
    if ours is not None:
        entries.append(
            CompetitorBid(len(entries) + 1, unit.bid(ours[0]), is_ours=True, ctr=Fraction(str(ours[1])))
        )
    return CompetitorData(source=source, bids=tuple(entries), fetched_at=now - timedelta(minutes=minutes_old))


def recommendations(
    *pairs: tuple[int, int | None],
    minutes_old: int = 60,
    now: datetime = NOW,
    unit: BidUnit = BidUnit.PER_MILLE,
) -> MarketplaceRecommendations:
    """(bid, position) pairs; position None = a plain competitive bid."""
    return MarketplaceRecommendations(
        bids=tuple(RecommendedBid(bid=unit.bid(bid), position=pos) for bid, pos in pairs),
        fetched_at=now - timedelta(minutes=minutes_old),
    )


def keyword(
    strategy: str = "target_position", params: dict[str, Any] | None = None, **fields: Any
) -> KeywordBidContext:
    """A keyword's context; bid fields may be plain integers of the unit (`payment_type` or `unit`)."""
    unit = fields.pop("unit", None) or UNITS[fields.pop("payment_type", "cpm")]
    fields.setdefault("min_change", MIN_CHANGE[unit])
    for name in BID_FIELDS:
        if isinstance(fields.get(name), int):
            fields[name] = unit.bid(fields[name])
    raw = {"position": 3} if params is None and strategy == "target_position" else params or {}
    base = KeywordBidContext(
        marketplace="wb",
        keyword_id=1,
        keyword="платье женское",
        status="active",
        is_fixed=False,
        unit=unit,
        current_bid=unit.bid(20_000),
        min_bid=unit.bid(15_000 if unit != BidUnit.PRICE_SHARE else 50),
        marketplace_max_bid=unit.bid(10_000_000 if unit != BidUnit.PRICE_SHARE else 9_999),
        campaign_max_bid=None,
        strategy=parse_strategy_params(strategy, raw, unit),
        now=NOW,
        min_change=unit.bid(MIN_CHANGE[unit]),
        today=stats(),
        window=None,
    )
    return replace(base, **fields)


def campaign_safety(**fields: Any) -> CampaignSafetyContext:
    base = CampaignSafetyContext(
        campaign_id=7,
        marketplace="wb",
        status="active",
        now=NOW,
        daily_limit=500_000,
        spent_today=100_000,
        today=stats(views=20_000, clicks=600, orders=10, spend=100_000, revenue=1_000_000),
        params=SafetyParams(),
        usual_day=PeriodStats(views=40_000, clicks=1_200, orders=20, spend=200_000, revenue=2_000_000),
        target_drr_pct=None,
    )
    return replace(base, **fields)


def keyword_safety(**fields: Any) -> KeywordSafetyContext:
    base = KeywordSafetyContext(
        campaign_id=7,
        keyword_id=1,
        keyword="платье женское",
        status="active",
        is_fixed=False,
        today=stats(views=1_000, clicks=30, orders=1, spend=20_000, revenue=300_000),
        params=SafetyParams(),
    )
    return replace(base, **fields)
