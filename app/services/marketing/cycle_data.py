"""What one account's bid cycle reads from PostgreSQL (issue 6 item 3).

Stats come from the snapshots `collect_stats` wrote minutes earlier (:00/:05/:10 before the
cycle's :07): reading WB full stats again would spend a 3-per-minute limit twice. Current bids are
read fresh from the marketplace by the cycle itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from app.models.marketing import (
    MarketingBidHistory,
    MarketingCampaign,
    MarketingKeyword,
    MarketingStats,
    MarketingStatsDaily,
)
from app.services.marketing.adapters.base import Keyword
from app.services.marketing.bidding import PeriodStats

USUAL_DAY_WINDOW = 7  # days of history behind the anomaly rules' "usual day"


@dataclass
class CampaignRow:
    id: int
    external_id: str
    name: str
    marketplace: str
    campaign_type: str
    payment_type: str | None
    status: str
    strategy_type: str
    strategy_params: dict[str, object]
    safety_params: dict[str, object]
    daily_limit: int | None
    spent_today: int
    max_bid: int | None
    dry_run: bool
    keywords: list[KeywordRow] = field(default_factory=list)


@dataclass
class KeywordRow:
    id: int
    campaign_external_id: str
    external_id: str
    keyword: str
    kind: str
    product_id: str | None
    current_bid: int | None
    min_bid: int | None
    status: str
    is_fixed: bool

    def domain(self) -> Keyword:
        return Keyword(
            self.campaign_external_id,
            self.external_id,
            self.keyword,
            self.kind,
            self.product_id,
            self.current_bid,
            self.status,
        )


def load_campaigns(session: Session, account_id: int, today: date) -> list[CampaignRow]:
    """Active campaigns of the account with their active and paused keywords, in id order."""
    campaigns = session.scalars(
        select(MarketingCampaign)
        .where(
            MarketingCampaign.account_id == account_id,
            MarketingCampaign.status == "active",
            MarketingCampaign.is_removed.is_(False),
        )
        .order_by(MarketingCampaign.id)
    ).all()
    rows = {
        c.id: CampaignRow(
            c.id,
            c.external_id,
            c.name,
            c.marketplace,
            c.campaign_type,
            c.payment_type,
            c.status,
            c.strategy_type,
            dict(c.strategy_params or {}),
            dict(c.safety_params or {}),
            c.daily_limit,
            c.spent_on(today),
            c.max_bid,
            c.dry_run,
        )
        for c in campaigns
    }
    if not rows:
        return []
    keywords = session.execute(
        select(
            MarketingKeyword.id,
            MarketingKeyword.campaign_id,
            MarketingKeyword.external_id,
            MarketingKeyword.keyword,
            MarketingKeyword.kind,
            MarketingKeyword.product_id,
            MarketingKeyword.current_bid,
            MarketingKeyword.min_bid,
            MarketingKeyword.status,
            MarketingKeyword.is_fixed,
        )
        .where(MarketingKeyword.campaign_id.in_(rows), MarketingKeyword.status.in_(("active", "paused")))
        .order_by(MarketingKeyword.id)
    ).all()
    for k in keywords:
        campaign = rows[k.campaign_id]
        campaign.keywords.append(
            KeywordRow(
                k.id,
                campaign.external_id,
                k.external_id,
                k.keyword,
                k.kind,
                k.product_id,
                k.current_bid,
                k.min_bid,
                k.status,
                k.is_fixed,
            )
        )
    return list(rows.values())


def latest_stats(
    session: Session, campaign_ids: list[int], today: date
) -> dict[tuple[int, int | None], PeriodStats]:
    """The newest snapshot of today per (campaign, keyword): counters since Moscow midnight."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(
            MarketingStats.campaign_id,
            MarketingStats.keyword_id,
            MarketingStats.views,
            MarketingStats.clicks,
            MarketingStats.orders,
            MarketingStats.spent,
            MarketingStats.revenue,
            MarketingStats.avg_position,
            MarketingStats.collected_at,
        )
        .where(MarketingStats.stat_date == today, MarketingStats.campaign_id.in_(campaign_ids))
        .ext(distinct_on(MarketingStats.campaign_id, MarketingStats.keyword_id))
        .order_by(MarketingStats.campaign_id, MarketingStats.keyword_id, MarketingStats.collected_at.desc())
    ).all()
    return {
        (r.campaign_id, r.keyword_id): PeriodStats(
            views=max(0, r.views),
            clicks=max(0, r.clicks),
            orders=max(0, r.orders),
            spend=max(0, r.spent),
            revenue=max(0, r.revenue),
            avg_position=float(r.avg_position) if r.avg_position is not None else None,
            collected_at=r.collected_at,
        )
        for r in rows
    }


def usual_days(session: Session, campaign_ids: list[int], today: date) -> dict[int, PeriodStats]:
    """Average full day of the last week per campaign (campaign-level daily aggregates)."""
    if not campaign_ids:
        return {}
    since = today - timedelta(days=USUAL_DAY_WINDOW)
    rows = session.execute(
        select(
            MarketingStatsDaily.campaign_id,
            func.avg(MarketingStatsDaily.views),
            func.avg(MarketingStatsDaily.clicks),
            func.avg(MarketingStatsDaily.orders),
            func.avg(MarketingStatsDaily.spent),
            func.avg(MarketingStatsDaily.revenue),
        )
        .where(
            MarketingStatsDaily.campaign_id.in_(campaign_ids),
            MarketingStatsDaily.keyword_id.is_(None),
            MarketingStatsDaily.stat_date >= since,
            MarketingStatsDaily.stat_date < today,
        )
        .group_by(MarketingStatsDaily.campaign_id)
    ).all()
    return {
        r[0]: PeriodStats(
            views=int(r[1]), clicks=int(r[2]), orders=int(r[3]), spend=int(r[4]), revenue=int(r[5])
        )
        for r in rows
    }


def previous_bids(session: Session, keyword_ids: list[int]) -> dict[int, int | None]:
    """The bid before the current one, from the newest history row of each keyword."""
    if not keyword_ids:
        return {}
    rows = session.execute(
        select(MarketingBidHistory.keyword_id, MarketingBidHistory.old_bid)
        .where(MarketingBidHistory.keyword_id.in_(keyword_ids))
        .ext(distinct_on(MarketingBidHistory.keyword_id))
        .order_by(MarketingBidHistory.keyword_id, MarketingBidHistory.created_at.desc())
    ).all()
    return {keyword_id: old for keyword_id, old in rows if keyword_id is not None}
