"""What one account's bid cycle reads from PostgreSQL (spec 7.3.1 steps 1–2).

Stats come from the snapshots `collect_stats` wrote minutes earlier (:00/:05/:10 before the
cycle's :07): reading WB full stats again would spend a 3-per-minute limit twice. Current bids are
read fresh from the marketplace by the cycle itself (market.py).

Snapshots are counters accumulated since Moscow midnight (DESIGN.md "Stats semantics"), so the
counters of a period are differences of snapshots: the **recent window** of the last N hours is
"as of now" minus "as of the window's start", summed over the Moscow days it spans — never a sum
of snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from app.core.clock import moscow_today
from app.models.base import any_of
from app.models.marketing import (
    MarketingBidHistory,
    MarketingBidIntent,
    MarketingCampaign,
    MarketingKeyword,
    MarketingStats,
    MarketingStatsDaily,
)
from app.services.marketing.adapters.base import Keyword
from app.services.marketing.bidding import PeriodStats

USUAL_DAY_WINDOW = 7  # days of history behind the anomaly rules' "usual day"
Counters = tuple[int, int, int, int, int]  # views, clicks, orders, spend, revenue


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
    held_until: datetime | None = None
    paused_bid: int | None = None
    pause_mode: str | None = None
    refused_bid: int | None = None
    refused_reason: str | None = None

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

    @property
    def key(self) -> tuple[str, str]:
        return (self.campaign_external_id, self.external_id)


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
    spent_updated_at: datetime | None = None
    paused_reason: str | None = None
    keywords: list[KeywordRow] = field(default_factory=list)


KEYWORD_COLUMNS = (
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
    MarketingKeyword.held_until,
    MarketingKeyword.paused_bid,
    MarketingKeyword.pause_mode,
    MarketingKeyword.refused_bid,
    MarketingKeyword.refused_reason,
)


def keyword_row(k: Any, campaign_external_id: str) -> KeywordRow:
    return KeywordRow(
        k.id,
        campaign_external_id,
        k.external_id,
        k.keyword,
        k.kind,
        k.product_id,
        k.current_bid,
        k.min_bid,
        k.status,
        k.is_fixed,
        k.held_until,
        k.paused_bid,
        k.pause_mode,
        k.refused_bid,
        k.refused_reason,
    )


def campaign_row(c: MarketingCampaign, today: date) -> CampaignRow:
    return CampaignRow(
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
        c.spent_updated_at if c.spent_date == today else None,
        c.paused_reason,
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
    rows = {c.id: campaign_row(c, today) for c in campaigns}
    if not rows:
        return []
    keywords = session.execute(
        select(*KEYWORD_COLUMNS)
        .where(any_of(MarketingKeyword.campaign_id, rows), MarketingKeyword.status.in_(("active", "paused")))
        .order_by(MarketingKeyword.id)
    ).all()
    for k in keywords:
        campaign = rows[k.campaign_id]
        campaign.keywords.append(keyword_row(k, campaign.external_id))
    return list(rows.values())


def load_keyword_rows(session: Session, campaign_id: int, campaign_external_id: str) -> list[KeywordRow]:
    """One campaign's active and paused keywords (what a campaign pause acts on)."""
    rows = session.execute(
        select(*KEYWORD_COLUMNS)
        .where(MarketingKeyword.campaign_id == campaign_id, MarketingKeyword.status.in_(("active", "paused")))
        .order_by(MarketingKeyword.id)
    ).all()
    return [keyword_row(k, campaign_external_id) for k in rows]


def _stats(counters: Counters, **extra: Any) -> PeriodStats:
    views, clicks, orders, spend, revenue = (max(0, int(c)) for c in counters)
    return PeriodStats(views=views, clicks=clicks, orders=orders, spend=spend, revenue=revenue, **extra)


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
        .where(MarketingStats.stat_date == today, any_of(MarketingStats.campaign_id, campaign_ids))
        .ext(distinct_on(MarketingStats.campaign_id, MarketingStats.keyword_id))
        .order_by(MarketingStats.campaign_id, MarketingStats.keyword_id, MarketingStats.collected_at.desc())
    ).all()
    return {
        (r.campaign_id, r.keyword_id): _stats(
            (r.views, r.clicks, r.orders, r.spent, r.revenue),
            avg_position=float(r.avg_position) if r.avg_position is not None else None,
            collected_at=r.collected_at,
        )
        for r in rows
    }


def _as_of(
    session: Session, campaign_ids: list[int], first: date, last: date, moment: datetime
) -> dict[tuple[int, int | None, date], tuple[Counters, datetime]]:
    """Per (campaign, keyword, Moscow day in first..last): the counters of the newest snapshot
    taken at or before `moment`, with when it was taken."""
    rows = session.execute(
        select(
            MarketingStats.campaign_id,
            MarketingStats.keyword_id,
            MarketingStats.stat_date,
            MarketingStats.views,
            MarketingStats.clicks,
            MarketingStats.orders,
            MarketingStats.spent,
            MarketingStats.revenue,
            MarketingStats.collected_at,
        )
        .where(
            MarketingStats.stat_date.between(first, last),
            any_of(MarketingStats.campaign_id, campaign_ids),
            MarketingStats.collected_at <= moment,
        )
        .ext(distinct_on(MarketingStats.campaign_id, MarketingStats.keyword_id, MarketingStats.stat_date))
        .order_by(
            MarketingStats.campaign_id,
            MarketingStats.keyword_id,
            MarketingStats.stat_date,
            MarketingStats.collected_at.desc(),
        )
    ).all()
    return {
        (r.campaign_id, r.keyword_id, r.stat_date): (
            (r.views, r.clicks, r.orders, r.spent, r.revenue),
            r.collected_at,
        )
        for r in rows
    }


def _total(
    snapshots: dict[tuple[int, int | None, date], tuple[Counters, datetime]],
    key: tuple[int, int | None],
    days: Sequence[date],
) -> Counters:
    out = [0, 0, 0, 0, 0]
    for day in days:
        found = snapshots.get((*key, day))
        if found is not None:
            for i, value in enumerate(found[0]):
                out[i] += value
    return (out[0], out[1], out[2], out[3], out[4])


def recent_window(
    session: Session, campaign_ids: list[int], now: datetime, hours: int, attribution_lag: timedelta
) -> dict[tuple[int, int | None], PeriodStats]:
    """Counters of the last `hours` per (campaign, keyword), across Moscow midnight; the part of the
    spend older than `attribution_lag` is `spend_settled` (its orders have had time to arrive)."""
    if not campaign_ids:
        return {}
    start = now - timedelta(hours=hours)
    settled_at = now - attribution_lag
    first, last = moscow_today(start), moscow_today(now)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    at_now = _as_of(session, campaign_ids, first, last, now)
    at_start = _as_of(session, campaign_ids, first, first, start)
    lagless = attribution_lag <= timedelta(0)
    at_settled = at_now if lagless else _as_of(session, campaign_ids, first, last, settled_at)
    newest: dict[tuple[int, int | None], datetime] = {}
    for (cid, kid, _), (_, taken) in at_now.items():
        newest[(cid, kid)] = max(taken, newest.get((cid, kid), taken))
    out: dict[tuple[int, int | None], PeriodStats] = {}
    for key, collected in newest.items():
        total = _total(at_now, key, days)
        base = _total(at_start, key, [first])
        window = tuple(max(0, t - b) for t, b in zip(total, base, strict=True))
        settled = 0
        if settled_at > start:
            settled_days = [d for d in days if d <= moscow_today(settled_at)]
            settled = max(0, _total(at_settled, key, settled_days)[3] - base[3])
        counters: Counters = (window[0], window[1], window[2], window[3], window[4])
        out[key] = _stats(counters, collected_at=collected, spend_settled=min(settled, counters[3]))
    return out


def usual_days(session: Session, campaign_ids: list[int], today: date) -> dict[int, PeriodStats]:
    """Average full day of the last week per campaign (campaign-level daily aggregates). A
    campaign without any is absent: the anomaly rules then say they have no baseline."""
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
            any_of(MarketingStatsDaily.campaign_id, campaign_ids),
            MarketingStatsDaily.keyword_id.is_(None),
            MarketingStatsDaily.stat_date >= since,
            MarketingStatsDaily.stat_date < today,
        )
        .group_by(MarketingStatsDaily.campaign_id)
    ).all()
    return {r[0]: _stats((r[1], r[2], r[3], r[4], r[5])) for r in rows}


@dataclass(frozen=True)
class LastChange:
    """A keyword's newest bid history row: the bid it set, the one before, and the strategy's level
    before dayparting it stood for (None: the bid itself)."""

    old_bid: int | None
    new_bid: int
    base_bid: int | None


def last_changes(session: Session, keyword_ids: list[int]) -> dict[int, LastChange]:
    """The newest history row of each keyword."""
    if not keyword_ids:
        return {}
    rows = session.execute(
        select(
            MarketingBidHistory.keyword_id,
            MarketingBidHistory.old_bid,
            MarketingBidHistory.new_bid,
            MarketingBidHistory.base_bid,
        )
        .where(any_of(MarketingBidHistory.keyword_id, keyword_ids))
        .ext(distinct_on(MarketingBidHistory.keyword_id))
        .order_by(MarketingBidHistory.keyword_id, MarketingBidHistory.created_at.desc())
    ).all()
    return {r[0]: LastChange(r[1], r[2], r[3]) for r in rows if r[0] is not None}


def bases_of(changes: dict[int, LastChange]) -> dict[int, tuple[int, int]]:
    """keyword id → (the bid our last change set, the level before dayparting it stood for)."""
    return {k: (c.new_bid, c.base_bid) for k, c in changes.items() if c.base_bid is not None}


def decided_in_run(session: Session, run_id: int | None, keyword_ids: list[int]) -> set[int]:
    """Keywords this cycle run already has an intent for (issue 9 finding 13): a redelivered attempt
    of the run decides each keyword at most once, whatever became of the first attempt's send."""
    if run_id is None or not keyword_ids:
        return set()
    return set(
        session.scalars(
            select(MarketingBidIntent.keyword_id).where(
                MarketingBidIntent.cycle_run_id == run_id, any_of(MarketingBidIntent.keyword_id, keyword_ids)
            )
        )
    )
