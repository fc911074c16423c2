"""What the analytics read from PostgreSQL (spec `get_active_campaigns_with_stats`): per campaign
not removed, its campaign-level daily rows of `marketing_stats_daily` and its keywords' totals
over the rules' period, as the pure inputs of analytics_model.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketingStatsDaily
from app.services.marketing.analytics_model import BASELINE_DAYS, CampaignHistory, DayTotals, KeywordTotals

ANOMALY_PERIOD_DAYS = 7
RULES_PERIOD_DAYS = 14


def load_histories(
    session: Session,
    today: date,
    *,
    history_days: int = BASELINE_DAYS + ANOMALY_PERIOD_DAYS,
    keyword_days: int = RULES_PERIOD_DAYS,
    campaign_ids: Collection[int] | None = None,
) -> list[CampaignHistory]:
    """Campaigns with daily rows among the `history_days` complete days before `today`."""
    first, last = today - timedelta(days=history_days), today - timedelta(days=1)
    daily = MarketingStatsDaily
    rows = select(daily).where(daily.keyword_id.is_(None), daily.stat_date.between(first, last))
    if campaign_ids is not None:
        rows = rows.where(daily.campaign_id.in_(list(campaign_ids)))
    days: dict[int, list[DayTotals]] = defaultdict(list)
    for row in session.scalars(rows.order_by(daily.campaign_id, daily.stat_date)):
        days[row.campaign_id].append(
            DayTotals(row.stat_date, row.views, row.clicks, row.orders, row.spent, row.revenue)
        )
    if not days:
        return []
    campaigns = session.scalars(
        select(MarketingCampaign)
        .where(MarketingCampaign.id.in_(list(days)), MarketingCampaign.is_removed.is_(False))
        .order_by(MarketingCampaign.id)
    ).all()
    keywords = _keyword_totals(session, [c.id for c in campaigns], today - timedelta(days=keyword_days), last)
    return [
        CampaignHistory(
            campaign_id=c.id,
            name=c.name,
            marketplace=c.marketplace,
            brand_id=c.brand_id,
            strategy_type=c.strategy_type,
            payment_type=c.payment_type,
            campaign_type=c.campaign_type,
            daily_limit=c.daily_limit,
            max_bid=c.max_bid,
            days=tuple(days[c.id]),
            keywords=tuple(keywords.get(c.id, ())),
        )
        for c in campaigns
    ]


def _keyword_totals(
    session: Session, campaign_ids: list[int], first: date, last: date
) -> dict[int, list[KeywordTotals]]:
    daily = MarketingStatsDaily
    sums = (
        select(
            daily.keyword_id,
            func.sum(daily.views),
            func.sum(daily.clicks),
            func.sum(daily.orders),
            func.sum(daily.spent),
            func.sum(daily.revenue),
        )
        .where(
            daily.campaign_id.in_(campaign_ids),
            daily.keyword_id.is_not(None),
            daily.stat_date.between(first, last),
        )
        .group_by(daily.keyword_id)
        .subquery()
    )
    rows = session.execute(
        select(MarketingKeyword, sums)
        .join(sums, sums.c.keyword_id == MarketingKeyword.id)
        .order_by(MarketingKeyword.id)
    ).all()
    out: dict[int, list[KeywordTotals]] = defaultdict(list)
    for keyword, _, views, clicks, orders, spent, revenue in rows:
        out[keyword.campaign_id].append(
            KeywordTotals(
                keyword.id,
                keyword.keyword,
                keyword.kind,
                keyword.status,
                keyword.current_bid,
                keyword.min_bid,
                keyword.is_fixed,
                int(views or 0),
                int(clicks or 0),
                int(orders or 0),
                int(spent or 0),
                int(revenue or 0),
            )
        )
    return out
