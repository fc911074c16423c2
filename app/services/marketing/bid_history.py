"""Reading `marketing_bid_history` for people (issue 12 item 3): `history`, `rollback`, `campaigns
show` and the rollback button all read it here, and print each bid in its own unit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.core.money import BidUnit
from app.models.marketing import BidSource, MarketingBidHistory, MarketingCampaign, MarketingKeyword


def format_bid(amount: int | None, unit: str | None) -> str:
    """`15000` in kopecks per 1000 views → "150.00 ₽/1000 показов"; without a unit, the number."""
    if amount is None:
        return "?"
    try:
        return str(BidUnit(unit).bid(amount)) if unit else str(amount)
    except ValueError:
        return str(amount)


@dataclass(frozen=True)
class HistoryQuery:
    campaign_id: int | None = None
    keyword_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    run_id: int | None = None
    limit: int | None = 50
    oldest_first: bool = False


@dataclass(frozen=True)
class HistoryRow:
    change: MarketingBidHistory
    keyword: str | None
    campaign: str
    marketplace: str

    @property
    def old(self) -> str:
        return format_bid(self.change.old_bid, self.change.bid_unit)

    @property
    def new(self) -> str:
        return format_bid(self.change.new_bid, self.change.bid_unit)

    @property
    def by(self) -> str:
        return made_by(self.change)


def made_by(change: MarketingBidHistory) -> str:
    """Who or what made a change: "bid cycle run 12 (target_position)", "manual", "rollback"."""
    if change.source == BidSource.BID_CYCLE:
        return f"bid cycle run {change.cycle_run_id} ({change.strategy_type or '?'})"
    return change.source


def _query(query: HistoryQuery) -> Select[MarketingBidHistory, str, str, str]:
    history = MarketingBidHistory
    statement = (
        select(history, MarketingKeyword.keyword, MarketingCampaign.name, MarketingCampaign.marketplace)
        .join(MarketingCampaign, history.campaign_id == MarketingCampaign.id)
        .outerjoin(MarketingKeyword, history.keyword_id == MarketingKeyword.id)
    )
    filters = (
        (query.campaign_id, lambda v: history.campaign_id == v),
        (query.keyword_id, lambda v: history.keyword_id == v),
        (query.since, lambda v: history.created_at >= v),
        (query.until, lambda v: history.created_at < v),
        (query.source, lambda v: history.source == v),
        (query.run_id, lambda v: history.cycle_run_id == v),
    )
    for value, condition in filters:
        if value is not None:
            statement = statement.where(condition(value))
    order = history.id.asc() if query.oldest_first else history.id.desc()
    statement = statement.order_by(order)
    return statement.limit(query.limit) if query.limit else statement


def history_rows(session: Session, query: HistoryQuery) -> list[HistoryRow]:
    return [
        HistoryRow(change, keyword, campaign, mp)
        for change, keyword, campaign, mp in session.execute(_query(query))
    ]


def latest_change(session: Session, keyword_id: int, since: datetime) -> MarketingBidHistory | None:
    """The keyword's newest bid change made at or after `since`."""
    return session.scalars(
        select(MarketingBidHistory)
        .where(MarketingBidHistory.keyword_id == keyword_id, MarketingBidHistory.created_at >= since)
        .order_by(MarketingBidHistory.id.desc())
        .limit(1)
    ).first()
