"""Builders of engine and safety inputs with realistic defaults (WB search cluster, CPM in
kopecks per 1000 views, min bid 150 ₽ — reference/marketplace-apis.md §1.7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

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


def stats(minutes_old: int = 5, now: datetime = NOW, **counters: Any) -> PeriodStats:
    return PeriodStats(collected_at=now - timedelta(minutes=minutes_old), **counters)


def competitors(
    *bids: int, minutes_old: int = 5, source: CompetitorSource = CompetitorSource.WATCHER, now: datetime = NOW
) -> CompetitorData:
    """Competitor bids given from position 1 down."""
    return CompetitorData(
        source=source,
        bids=tuple(CompetitorBid(position=i, bid=bid) for i, bid in enumerate(bids, start=1)),
        fetched_at=now - timedelta(minutes=minutes_old),
    )


def recommendations(
    *pairs: tuple[int, int | None], minutes_old: int = 60, now: datetime = NOW
) -> MarketplaceRecommendations:
    """(bid, position) pairs; position None = a plain competitive bid."""
    return MarketplaceRecommendations(
        bids=tuple(RecommendedBid(bid=bid, position=pos) for bid, pos in pairs),
        fetched_at=now - timedelta(minutes=minutes_old),
    )


def keyword(
    strategy: str = "target_position", params: dict[str, Any] | None = None, **fields: Any
) -> KeywordBidContext:
    base = KeywordBidContext(
        marketplace="wb",
        keyword_id=1,
        keyword="платье женское",
        status="active",
        is_fixed=False,
        payment_type="cpm",
        current_bid=20_000,
        min_bid=15_000,
        marketplace_max_bid=10_000_000,
        campaign_max_bid=None,
        strategy=parse_strategy_params(
            strategy, {"position": 3} if params is None and strategy == "target_position" else params or {}
        ),
        now=NOW,
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
