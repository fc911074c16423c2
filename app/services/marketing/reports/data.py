"""What a report reads from PostgreSQL (functions take a session and never write).

Past Moscow days come from `marketing_stats_daily` (the day's last snapshot, written by
`fn_marketing_aggregate_daily_stats`). The current day has no daily row yet: it comes from the
newest snapshot in `marketing_stats` (`bid_cycle.inputs.latest_stats`) — counters accumulated since
Moscow midnight, never a sum of snapshots (DESIGN.md "Stats semantics").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.core.clock import moscow_day_start
from app.models.marketing import (
    MarketingBidHistory,
    MarketingCampaign,
    MarketingKeyword,
    MarketingRecommendation,
    MarketingStatsDaily,
    MarketplaceAccount,
    RecommendationStatus,
)
from app.services.marketing.bid_cycle.inputs import latest_stats
from app.services.marketing.bidding import PeriodStats
from app.services.marketing.reports.metrics import Totals, total
from app.services.marketing.reports.request import ReportRequest, ReportScope

# Recommendations still waiting for a person (issue 11: pending → accepted | rejected | expired;
# accepted → applied). Kept in one place: the statuses of the recommendations code may grow.
OPEN_RECOMMENDATION_STATUSES: Final[tuple[str, ...]] = (RecommendationStatus.PENDING,)
TOP_KEYWORDS: Final = 20
# Long lists (bid changes, recommendations) stop here; the sheet says how many there were.
MAX_LIST_ROWS: Final = 10_000

TodaySnapshots = dict[tuple[int, int | None], PeriodStats]  # (campaign, keyword) → newest snapshot


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    name: str
    external_id: str
    marketplace: str
    account_name: str
    status: str
    strategy_type: str
    payment_type: str | None
    campaign_type: str = "other"


@dataclass(frozen=True)
class CampaignDay:
    day: date
    campaign_id: int
    totals: Totals


@dataclass(frozen=True)
class KeywordTotal:
    keyword_id: int
    campaign_id: int
    keyword: str
    kind: str
    totals: Totals


@dataclass(frozen=True)
class BidChange:
    at: datetime
    campaign_id: int
    keyword: str | None
    old_bid: int | None
    new_bid: int
    source: str
    strategy_type: str | None
    reason: str | None
    bid_unit: str | None = None  # BidUnit value the bids are in (None on rows older than units)


@dataclass(frozen=True)
class OpenRecommendation:
    created_at: datetime
    campaign_id: int
    keyword: str | None
    priority: str
    recommendation_type: str
    title: str
    description: str
    expected_effect: str | None
    source: str
    status: str


@dataclass
class ReportData:
    request: ReportRequest
    scope: ReportScope
    today: date
    generated_at: datetime
    campaigns: dict[int, CampaignInfo] = field(default_factory=dict)
    campaign_days: list[CampaignDay] = field(default_factory=list)
    # When today's newest campaign snapshot was taken (None: today not in the period, or no data).
    today_collected_at: datetime | None = None
    keywords: list[KeywordTotal] = field(default_factory=list)
    bid_changes: list[BidChange] = field(default_factory=list)
    bid_changes_total: int = 0
    recommendations: list[OpenRecommendation] = field(default_factory=list)
    recommendations_total: int = 0

    @property
    def includes_today(self) -> bool:
        return self.request.date_from <= self.today <= self.request.date_to

    def days_with_data(self) -> set[date]:
        return {row.day for row in self.campaign_days}

    def daily_totals(self) -> dict[date, Totals]:
        """Every day of the period (a day without rows is all zeros) → the scope's totals."""
        by_day: dict[date, list[Totals]] = defaultdict(list)
        for row in self.campaign_days:
            by_day[row.day].append(row.totals)
        return {day: total(by_day.get(day, [])) for day in self.request.days}

    def campaign_totals(self) -> list[tuple[CampaignInfo, Totals]]:
        """Campaigns with any data in the period, by spend (highest first), then orders."""
        by_campaign: dict[int, list[Totals]] = defaultdict(list)
        for row in self.campaign_days:
            by_campaign[row.campaign_id].append(row.totals)
        ranked = [(self.campaigns[cid], total(rows)) for cid, rows in by_campaign.items()]
        ranked.sort(key=lambda pair: (-pair[1].spent, -pair[1].orders, pair[0].id))
        return ranked

    def top_keywords(self, by: str) -> list[KeywordTotal]:
        """TOP_KEYWORDS keywords by "spent" or "orders" (ties: the other counter, then id); zero rows
        left out."""
        other = "orders" if by == "spent" else "spent"
        ranked = sorted(
            (k for k in self.keywords if getattr(k.totals, by) > 0),
            key=lambda k: (-getattr(k.totals, by), -getattr(k.totals, other), k.keyword_id),
        )
        return ranked[:TOP_KEYWORDS]


def load_report_data(
    session: Session, request: ReportRequest, scope: ReportScope, today: date, generated_at: datetime
) -> ReportData:
    data = ReportData(request, scope, today, generated_at)
    data.campaigns = load_campaigns(session, scope)
    snapshots = latest_stats(session, list(data.campaigns), today) if data.includes_today else {}
    data.campaign_days = load_campaign_days(session, data, snapshots)
    data.keywords = load_keywords(session, data, snapshots)
    data.bid_changes, data.bid_changes_total = load_bid_changes(session, data)
    data.recommendations, data.recommendations_total = load_recommendations(session, data)
    return data


def load_campaigns(session: Session, scope: ReportScope) -> dict[int, CampaignInfo]:
    """Every campaign in scope, removed ones too: their past spend belongs to the period."""
    rows = session.execute(
        select(
            MarketingCampaign.id,
            MarketingCampaign.name,
            MarketingCampaign.external_id,
            MarketingCampaign.marketplace,
            MarketplaceAccount.name,
            MarketingCampaign.status,
            MarketingCampaign.strategy_type,
            MarketingCampaign.payment_type,
            MarketingCampaign.campaign_type,
        )
        .join(MarketplaceAccount, MarketplaceAccount.id == MarketingCampaign.account_id)
        .where(*scope.campaign_filter())
        .order_by(MarketingCampaign.id)
    ).all()
    return {row[0]: CampaignInfo(*row) for row in rows}


def _past_days(data: ReportData) -> tuple[date, date] | None:
    """The period's days before today (daily rows), or None."""
    last = min(data.request.date_to, data.today - timedelta(days=1))
    return (data.request.date_from, last) if data.request.date_from <= last else None


def load_campaign_days(session: Session, data: ReportData, snapshots: TodaySnapshots) -> list[CampaignDay]:
    """Campaign-level counters (keyword_id NULL) per day: daily rows for past days, the newest
    snapshot of today (`snapshots`) for today."""
    rows: list[CampaignDay] = []
    ids = list(data.campaigns)
    past = _past_days(data)
    if past and ids:
        daily = session.execute(
            select(
                MarketingStatsDaily.stat_date,
                MarketingStatsDaily.campaign_id,
                MarketingStatsDaily.views,
                MarketingStatsDaily.clicks,
                MarketingStatsDaily.orders,
                MarketingStatsDaily.spent,
                MarketingStatsDaily.revenue,
            )
            .where(
                MarketingStatsDaily.campaign_id.in_(ids),
                MarketingStatsDaily.keyword_id.is_(None),
                MarketingStatsDaily.stat_date.between(*past),
            )
            .order_by(MarketingStatsDaily.stat_date, MarketingStatsDaily.campaign_id)
        ).all()
        for day, campaign_id, views, clicks, orders, spent, revenue in daily:
            marketplace = data.campaigns[campaign_id].marketplace
            rows.append(
                CampaignDay(day, campaign_id, Totals.of(marketplace, views, clicks, orders, spent, revenue))
            )
    for (campaign_id, keyword_id), snap in sorted(snapshots.items(), key=lambda item: item[0][0]):
        if keyword_id is not None:
            continue
        rows.append(CampaignDay(data.today, campaign_id, _snapshot_totals(data, campaign_id, snap)))
        if snap.collected_at and (
            data.today_collected_at is None or snap.collected_at > data.today_collected_at
        ):
            data.today_collected_at = snap.collected_at
    return rows


def _snapshot_totals(data: ReportData, campaign_id: int, snap: PeriodStats) -> Totals:
    marketplace = data.campaigns[campaign_id].marketplace
    return Totals.of(marketplace, snap.views, snap.clicks, snap.orders, snap.spend, snap.revenue)


def load_keywords(session: Session, data: ReportData, snapshots: TodaySnapshots) -> list[KeywordTotal]:
    """Every keyword's counters over the period (past daily rows summed, plus today's snapshot)."""
    ids = list(data.campaigns)
    if not ids:
        return []
    sums: dict[int, Totals] = defaultdict(Totals)
    owners: dict[int, int] = {}
    past = _past_days(data)
    if past:
        daily = session.execute(
            select(
                MarketingStatsDaily.keyword_id,
                MarketingStatsDaily.campaign_id,
                func.sum(MarketingStatsDaily.views),
                func.sum(MarketingStatsDaily.clicks),
                func.sum(MarketingStatsDaily.orders),
                func.sum(MarketingStatsDaily.spent),
                func.sum(MarketingStatsDaily.revenue),
            )
            .where(
                MarketingStatsDaily.campaign_id.in_(ids),
                MarketingStatsDaily.keyword_id.is_not(None),
                MarketingStatsDaily.stat_date.between(*past),
            )
            .group_by(MarketingStatsDaily.keyword_id, MarketingStatsDaily.campaign_id)
        ).all()
        for keyword_id, campaign_id, views, clicks, orders, spent, revenue in daily:
            assert keyword_id is not None  # the query's own condition
            marketplace = data.campaigns[campaign_id].marketplace
            counters = (int(views), int(clicks), int(orders), int(spent), int(revenue))
            sums[keyword_id] += Totals.of(marketplace, *counters)
            owners[keyword_id] = campaign_id
    for (campaign_id, keyword_id), snap in snapshots.items():
        if keyword_id is None:
            continue
        sums[keyword_id] += _snapshot_totals(data, campaign_id, snap)
        owners[keyword_id] = campaign_id
    if not sums:
        return []
    names = {
        keyword_id: (text, kind)
        for keyword_id, text, kind in session.execute(
            select(MarketingKeyword.id, MarketingKeyword.keyword, MarketingKeyword.kind).where(
                MarketingKeyword.id.in_(list(sums))
            )
        )
    }
    return [
        KeywordTotal(keyword_id, owners[keyword_id], *names.get(keyword_id, (f"#{keyword_id}", "")), totals)
        for keyword_id, totals in sums.items()
    ]


def load_bid_changes(session: Session, data: ReportData) -> tuple[list[BidChange], int]:
    """Bid changes that reached the marketplace within the period's Moscow days, newest first."""
    ids = list(data.campaigns)
    if not ids:
        return [], 0
    start = moscow_day_start(data.request.date_from)
    end = moscow_day_start(data.request.date_to + timedelta(days=1))
    conditions = (
        MarketingBidHistory.campaign_id.in_(ids),
        MarketingBidHistory.created_at >= start,
        MarketingBidHistory.created_at < end,
    )
    count = session.scalar(select(func.count()).select_from(MarketingBidHistory).where(*conditions)) or 0
    rows = session.execute(
        select(
            MarketingBidHistory.created_at,
            MarketingBidHistory.campaign_id,
            MarketingKeyword.keyword,
            MarketingBidHistory.old_bid,
            MarketingBidHistory.new_bid,
            MarketingBidHistory.source,
            MarketingBidHistory.strategy_type,
            MarketingBidHistory.reason,
            MarketingBidHistory.bid_unit,
        )
        .outerjoin(MarketingKeyword, MarketingKeyword.id == MarketingBidHistory.keyword_id)
        .where(*conditions)
        .order_by(MarketingBidHistory.created_at.desc(), MarketingBidHistory.id.desc())
        .limit(MAX_LIST_ROWS)
    ).all()
    return [BidChange(*row) for row in rows], int(count)


def load_recommendations(session: Session, data: ReportData) -> tuple[list[OpenRecommendation], int]:
    """Open recommendations of the scope's campaigns, whenever they were made: high priority first."""
    ids = list(data.campaigns)
    if not ids:
        return [], 0
    conditions = (
        MarketingRecommendation.campaign_id.in_(ids),
        MarketingRecommendation.status.in_(OPEN_RECOMMENDATION_STATUSES),
    )
    count = session.scalar(select(func.count()).select_from(MarketingRecommendation).where(*conditions)) or 0
    priority_rank = case({"high": 0, "medium": 1, "low": 2}, value=MarketingRecommendation.priority, else_=3)
    rows = session.execute(
        select(
            MarketingRecommendation.created_at,
            MarketingRecommendation.campaign_id,
            MarketingKeyword.keyword,
            MarketingRecommendation.priority,
            MarketingRecommendation.recommendation_type,
            MarketingRecommendation.title,
            MarketingRecommendation.description,
            MarketingRecommendation.expected_effect,
            MarketingRecommendation.source,
            MarketingRecommendation.status,
        )
        .outerjoin(MarketingKeyword, MarketingKeyword.id == MarketingRecommendation.keyword_id)
        .where(*conditions)
        .order_by(priority_rank, MarketingRecommendation.created_at.desc(), MarketingRecommendation.id.desc())
        .limit(MAX_LIST_ROWS)
    ).all()
    return [OpenRecommendation(*tuple(row)) for row in rows], int(count)
