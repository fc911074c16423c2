"""The inputs of the analytics (issue 11 item 1): a campaign's daily totals and its keywords'
totals over a period, and the five metrics with their volume floors (docs/analytics.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

MIN_DAILY_SPEND = 100_00  # kopecks: below 100 ₽ a day a campaign is too small to alert on
MIN_CLICKS = 20
MIN_VIEWS = 500
MIN_ORDERS = 10  # a day's conversion measured on fewer orders is mostly Poisson noise
BASELINE_DAYS = 21  # three of every weekday before the days under review (reference §2)
TREND_FLAT_PCT = 10.0  # a week-over-week change below this is "flat"


class Metric(StrEnum):
    SPEND = "spend"
    CPC = "cpc"
    CTR = "ctr"
    CR = "cr"
    DRR = "drr"


METRICS: tuple[Metric, ...] = tuple(Metric)
# The direction in which each metric moving is bad news (spend: both).
HARMFUL: dict[Metric, tuple[str, ...]] = {
    Metric.SPEND: ("up", "down"),
    Metric.CPC: ("up",),
    Metric.CTR: ("down",),
    Metric.CR: ("down",),
    Metric.DRR: ("up",),
}


@dataclass(frozen=True)
class DayTotals:
    """One campaign's counters of one Moscow day (money in kopecks)."""

    day: date
    views: int = 0
    clicks: int = 0
    orders: int = 0
    spent: int = 0
    revenue: int = 0

    def __add__(self, other: DayTotals) -> DayTotals:
        return DayTotals(
            self.day,
            self.views + other.views,
            self.clicks + other.clicks,
            self.orders + other.orders,
            self.spent + other.spent,
            self.revenue + other.revenue,
        )


@dataclass(frozen=True)
class KeywordTotals:
    """One keyword over the rules' period, with what the rules need to know about it."""

    keyword_id: int
    keyword: str
    kind: str
    status: str
    current_bid: int | None
    min_bid: int | None
    is_fixed: bool
    views: int = 0
    clicks: int = 0
    orders: int = 0
    spent: int = 0
    revenue: int = 0


@dataclass(frozen=True)
class CampaignHistory:
    campaign_id: int
    name: str
    marketplace: str
    brand_id: int
    strategy_type: str = "fixed"
    payment_type: str | None = None
    campaign_type: str = "other"
    daily_limit: int | None = None
    max_bid: int | None = None
    days: tuple[DayTotals, ...] = ()  # campaign-level rows, ascending, complete days only
    keywords: tuple[KeywordTotals, ...] = ()

    def totals(self, first: date, last: date) -> DayTotals:
        total = DayTotals(first)
        for day in self.days:
            if first <= day.day <= last:
                total = total + day
        return total

    def to_dict(self) -> dict[str, Any]:
        """The campaign as the Claude prompt shows it (spec `campaign.to_dict()`)."""
        return {
            "id": self.campaign_id,
            "name": self.name,
            "marketplace": self.marketplace,
            "strategy_type": self.strategy_type,
            "payment_type": self.payment_type,
            "daily_limit_rub": rub(self.daily_limit),
            "max_bid": self.max_bid,
        }


def rub(kopecks: int | float | None) -> float | None:
    return None if kopecks is None else round(kopecks / 100, 2)


def metric_value(metric: Metric, day: DayTotals) -> float | None:
    """The metric's value of a day (or of a period's totals), None where it is undefined."""
    if metric == Metric.SPEND:
        return float(day.spent)
    if metric == Metric.CPC:
        return day.spent / day.clicks if day.clicks else None
    if metric == Metric.CTR:
        return day.clicks / day.views if day.views else None
    if metric == Metric.CR:
        return day.orders / day.clicks if day.clicks else None
    return day.spent / day.revenue if day.revenue else None


def metric_volume(metric: Metric, day: DayTotals) -> int:
    """The count a metric's value rests on; compared with `VOLUME_FLOORS`."""
    if metric == Metric.SPEND:
        return day.spent
    if metric == Metric.CTR:
        return day.views
    if metric == Metric.CPC:
        return day.clicks
    return day.orders


VOLUME_FLOORS: dict[Metric, int] = {
    Metric.SPEND: MIN_DAILY_SPEND,
    Metric.CPC: MIN_CLICKS,
    Metric.CTR: MIN_VIEWS,
    Metric.CR: MIN_ORDERS,
    Metric.DRR: MIN_ORDERS,
}


def format_metric(metric: Metric, value: float) -> str:
    if metric in (Metric.SPEND, Metric.CPC):
        return format_rub(value)
    return f"{value * 100:.2f} %"


def format_rub(kopecks: float) -> str:
    return f"{kopecks / 100:,.2f} ₽".replace(",", " ")
