"""AnalyticsEngine (spec 7.3.4; issue 11 item 1): anomalies, trends and rule-based
recommendations over the daily aggregates (`marketing_stats_daily`).

The engine is pure: `analytics_data.load_histories` reads the rows, the engine judges them. The
days it judges are complete Moscow days before `today` (the current day is still being counted).

Metrics per campaign (money in kopecks, ratios as fractions):

| metric | value | volume floor |
|---|---|---|
| spend | spent | spend ≥ `MIN_DAILY_SPEND` |
| cpc | spent / clicks | clicks ≥ `MIN_CLICKS` |
| ctr | clicks / views | views ≥ `MIN_VIEWS` |
| cr | orders / clicks | orders ≥ `MIN_ORDERS` |
| drr | spent / revenue | orders ≥ `MIN_ORDERS` |

A metric is judged for a campaign only when the median day of its baseline reaches the floor;
a ratio metric's day under review must reach it too (spend is judged on any day: a fall to zero
is the news). For cr the floor is on expected orders (clicks × usual CR), since a collapse of
conversion is exactly a day with few orders.

Money at stake of an anomaly: what the day cost beyond what the usual value would have cost for
the same result — spend: |spent − expected|; cpc: |spent − clicks × expected CPC|; ctr and cr:
spent × |1 − observed / expected| (the share of the day's money that bought less than usual);
drr: |spent − expected DRR × revenue|.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median
from typing import Any

from app.services.marketing.analytics_model import (
    BASELINE_DAYS,
    HARMFUL,
    METRICS,
    MIN_ORDERS,
    TREND_FLAT_PCT,
    VOLUME_FLOORS,
    CampaignHistory,
    DayTotals,
    Metric,
    format_metric,
    format_rub,
    metric_value,
    metric_volume,
    rub,
)
from app.services.marketing.anomalies import Baseline, fit_baseline, score_day
from app.services.marketing.recommendation_rules import BidLimitsFor, Proposal, recommend


def _enough_volume(metric: Metric, day: DayTotals, expected: float) -> bool:
    """The day under review has the volume to judge its metric by."""
    if metric == Metric.SPEND:
        return True
    if metric == Metric.CR:
        return day.clicks * expected >= MIN_ORDERS
    return metric_volume(metric, day) >= VOLUME_FLOORS[metric]


def money_at_stake(metric: Metric, day: DayTotals, expected: float, observed: float) -> int:
    if metric == Metric.SPEND:
        return round(abs(day.spent - expected))
    if metric == Metric.CPC:
        return round(abs(day.spent - day.clicks * expected))
    if metric == Metric.DRR:
        return round(abs(day.spent - expected * day.revenue))
    return round(day.spent * abs(1 - observed / expected))


@dataclass(frozen=True)
class Anomaly:
    campaign_id: int
    metric: Metric
    day: date
    expected: float
    observed: float
    ratio: float
    z: float
    money_at_stake: int  # kopecks
    seasonal: bool  # judged against weekday effects (else a plain median: short history)

    @property
    def direction(self) -> str:
        return "up" if self.ratio >= 1 else "down"

    @property
    def harmful(self) -> bool:
        return self.direction in HARMFUL[self.metric]

    def describe(self) -> str:
        """One line a person reads: 'CPC 41.20 ₽ on 2026-12-01, usually 25.00 ₽ (×1.65); 320 ₽ at stake'."""
        return (
            f"{self.metric.value.upper()} {format_metric(self.metric, self.observed)} on {self.day}, "
            f"usually {format_metric(self.metric, self.expected)} (×{self.ratio:.2f}); "
            f"{format_rub(self.money_at_stake)} at stake"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "day": self.day.isoformat(),
            "direction": self.direction,
            "expected": round(self.expected, 6),
            "observed": round(self.observed, 6),
            "ratio": round(self.ratio, 3),
            "z": round(self.z, 2),
            "money_at_stake_rub": rub(self.money_at_stake),
        }


@dataclass(frozen=True)
class Trend:
    campaign_id: int
    metric: Metric
    direction: str  # up | down | flat
    change_pct: float  # the last week against the week before
    previous: float
    current: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "direction": self.direction,
            "change_pct": round(self.change_pct, 1),
            "previous": round(self.previous, 6),
            "current": round(self.current, 6),
        }


@dataclass
class AnalyticsEngine:
    """Judges the complete days before `today` of the given campaigns."""

    campaigns: Sequence[CampaignHistory]
    today: date
    baseline_days: int = BASELINE_DAYS

    @property
    def last_day(self) -> date:
        return self.today - timedelta(days=1)

    def detect_anomalies(self, period_days: int = 7, threshold: float = 1.5) -> list[Anomaly]:
        """Every unusual (campaign, metric, day) among the last `period_days` complete days, judged
        against the `baseline_days` before them; most money at stake first."""
        if period_days < 1 or threshold <= 1:
            raise ValueError("period_days must be >= 1 and threshold > 1 (a ratio such as 1.5)")
        first = self.today - timedelta(days=period_days)
        found: list[Anomaly] = []
        for campaign in self.campaigns:
            by_day = {d.day: d for d in campaign.days}
            before = (first - timedelta(days=offset) for offset in range(self.baseline_days, 0, -1))
            baseline_days = [by_day[d] for d in before if d in by_day]
            for metric in METRICS:
                baseline = self._baseline(metric, baseline_days)
                if baseline is None:
                    continue
                for offset in range(period_days):
                    totals = by_day.get(first + timedelta(days=offset))
                    anomaly = self._judge(campaign.campaign_id, metric, totals, baseline, threshold)
                    if anomaly is not None:
                        found.append(anomaly)
        return sorted(found, key=lambda a: (-a.money_at_stake, a.campaign_id, a.metric, a.day))

    @staticmethod
    def _baseline(metric: Metric, days: Sequence[DayTotals]) -> Baseline | None:
        if not days or median(metric_volume(metric, d) for d in days) < VOLUME_FLOORS[metric]:
            return None
        points = []
        for day in days:
            value = metric_value(metric, day)
            if value is not None:
                points.append((day.day.weekday(), value))
        return fit_baseline(points)

    @staticmethod
    def _judge(
        campaign_id: int, metric: Metric, day: DayTotals | None, baseline: Baseline, threshold: float
    ) -> Anomaly | None:
        if day is None:
            return None
        value = metric_value(metric, day)
        if value is None:
            return None
        score = score_day(baseline, day.day.weekday(), value, threshold)
        if not score.anomalous or not _enough_volume(metric, day, score.expected):
            return None
        return Anomaly(
            campaign_id,
            metric,
            day.day,
            score.expected,
            value,
            score.ratio,
            score.z,
            money_at_stake(metric, day, score.expected, value),
            baseline.seasonal,
        )

    def analyze_trends(self, period_days: int = 14) -> dict[int, list[Trend]]:
        """Per campaign, each metric's last half of the period against its first half (whole
        weeks with the default 14 days, so the weekly pattern cancels out)."""
        if period_days < 2:
            raise ValueError("period_days must be >= 2")
        half = period_days // 2
        trends: dict[int, list[Trend]] = {}
        for campaign in self.campaigns:
            current = campaign.totals(self.today - timedelta(days=half), self.last_day)
            previous = campaign.totals(
                self.today - timedelta(days=2 * half), self.today - timedelta(days=half + 1)
            )
            items = []
            for metric in METRICS:
                before, now = metric_value(metric, previous), metric_value(metric, current)
                if before is None or now is None or before <= 0:
                    continue
                change = (now / before - 1) * 100
                direction = "flat" if abs(change) < TREND_FLAT_PCT else ("up" if change > 0 else "down")
                items.append(Trend(campaign.campaign_id, metric, direction, change, before, now))
            if items:
                trends[campaign.campaign_id] = items
        return trends

    def recommend(self, period_days: int = 14, limits: BidLimitsFor | None = None) -> list[Proposal]:
        """The rule-based recommendations over the last `period_days` (recommendation_rules.py)."""
        return recommend(self.campaigns, self.today, period_days, limits)
