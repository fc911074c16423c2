"""Daily and monthly statistics (spec 7.3.5; issue 15 items 1, 2 and 4).

1. A Moscow day's figures are the **last snapshot** of each (campaign, keyword) of that day: the
   marketplaces report counters accumulated since Moscow midnight, so a sum of snapshots would
   multiply them. `fn_marketing_aggregate_daily_stats(day)` writes them into
   `marketing_stats_daily` (upsert; a row whose figures did not change is left alone) and records
   in `marketing_stats_aggregations` the newest snapshot it saw, which retention checks.
2. Derived figures are computed once, in that function: CTR and DRR in percent rounded to 2
   places, CPC and CPO in whole kopecks (the seed's `ROUND(…, 2)` on rubles); 0 where the divisor
   is 0.
3. The nightly run (00:30) aggregates yesterday and, again, the `STATS_REAGGREGATE_DAYS` days
   before it: WB corrects yesterday until about 09:00 Moscow and Ozon attributes orders for days,
   so a day is final only after a few nights. Running twice changes nothing.
4. Then it recomputes the months those days belong to from their campaign-level daily rows, so a
   month's `marketing_stats_monthly` row is never more than a day stale (and follows late
   corrections of the previous month in the first nights of a month). The 1st-of-month task
   (02:00, the spec's) recomputes the previous month once more.
5. Each day and each month is its own transaction: one failing day does not undo the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from app.core.clock import month_start, moscow_today, next_month_start, now_utc, previous_month_bounds
from app.core.config import get_settings
from app.core.database import session_scope

# Spec 7.3.5 aggregate_monthly_stats, made idempotent and complete: every figure is in the ON
# CONFLICT update (the seed forgot avg_cpc, avg_cpo, avg_drr), unchanged rows are left alone, and
# a campaign is one group whatever brand its daily rows carry (two groups of one campaign would
# hit the same monthly row twice). Averages are recomputed from the month's sums, never averaged.
MONTHLY_SQL = text(
    """
    INSERT INTO marketing_stats_monthly AS m (
        campaign_id, marketplace, brand_id, stat_year, stat_month,
        views, clicks, avg_ctr, spent, avg_cpc,
        orders, revenue, avg_cpo, avg_drr, active_days
    )
    SELECT
        c.id, c.marketplace, c.brand_id, :year, :month,
        SUM(d.views),
        SUM(d.clicks),
        CASE WHEN SUM(d.views) > 0
             THEN LEAST(ROUND(SUM(d.clicks)::numeric * 100 / SUM(d.views), 2), 99999.99) ELSE 0 END,
        SUM(d.spent),
        CASE WHEN SUM(d.clicks) > 0 THEN ROUND(SUM(d.spent)::numeric / SUM(d.clicks)) ELSE 0 END,
        SUM(d.orders),
        SUM(d.revenue),
        CASE WHEN SUM(d.orders) > 0 THEN ROUND(SUM(d.spent)::numeric / SUM(d.orders)) ELSE 0 END,
        CASE WHEN SUM(d.revenue) > 0
             THEN LEAST(ROUND(SUM(d.spent)::numeric * 100 / SUM(d.revenue), 2), 99999.99) ELSE 0 END,
        COUNT(DISTINCT d.stat_date)
    FROM marketing_stats_daily AS d
    JOIN marketing_campaigns AS c ON c.id = d.campaign_id
    WHERE d.stat_date >= :first_day AND d.stat_date < :next_first_day AND d.keyword_id IS NULL
    GROUP BY c.id
    ON CONFLICT (campaign_id, stat_year, stat_month) DO UPDATE SET
        marketplace = EXCLUDED.marketplace,
        brand_id = EXCLUDED.brand_id,
        views = EXCLUDED.views,
        clicks = EXCLUDED.clicks,
        avg_ctr = EXCLUDED.avg_ctr,
        spent = EXCLUDED.spent,
        avg_cpc = EXCLUDED.avg_cpc,
        orders = EXCLUDED.orders,
        revenue = EXCLUDED.revenue,
        avg_cpo = EXCLUDED.avg_cpo,
        avg_drr = EXCLUDED.avg_drr,
        active_days = EXCLUDED.active_days
    WHERE (m.marketplace, m.brand_id, m.views, m.clicks, m.avg_ctr, m.spent, m.avg_cpc, m.orders,
           m.revenue, m.avg_cpo, m.avg_drr, m.active_days)
          IS DISTINCT FROM
          (EXCLUDED.marketplace, EXCLUDED.brand_id, EXCLUDED.views, EXCLUDED.clicks, EXCLUDED.avg_ctr,
           EXCLUDED.spent, EXCLUDED.avg_cpc, EXCLUDED.orders, EXCLUDED.revenue, EXCLUDED.avg_cpo,
           EXCLUDED.avg_drr, EXCLUDED.active_days)
    """
)


def aggregate_day(session_or_conn: Session | Connection, day: date) -> int:
    """Daily rows of one Moscow day from its last snapshots; returns the rows written (new or
    changed). In the caller's transaction."""
    written = session_or_conn.execute(
        text("SELECT fn_marketing_aggregate_daily_stats(:stat_date)"), {"stat_date": day}
    ).scalar_one()
    return int(written)


def aggregate_month(session: Session, first_day: date) -> int:
    """The monthly rows of the month starting `first_day`; returns the rows written. In the
    caller's transaction."""
    if first_day.day != 1:
        raise ValueError(f"{first_day} is not the first day of a month")
    result = session.execute(
        MONTHLY_SQL,
        {
            "year": first_day.year,
            "month": first_day.month,
            "first_day": first_day,
            "next_first_day": next_month_start(first_day),
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def nightly_days(today: date, redo_days: int) -> list[date]:
    """Yesterday and the `redo_days` days before it, oldest first."""
    yesterday = today - timedelta(days=1)
    return [yesterday - timedelta(days=back) for back in range(redo_days, -1, -1)]


def months_of(days: Iterable[date]) -> list[date]:
    """First days of the months `days` fall in, oldest first."""
    return sorted({month_start(day) for day in days})


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


@dataclass
class AggregationSummary:
    days: dict[date, int] = field(default_factory=dict)  # day → daily rows written
    months: dict[date, int] = field(default_factory=dict)  # first day of month → monthly rows written

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": {day.isoformat(): rows for day, rows in self.days.items()},
            "daily_rows_written": sum(self.days.values()),
            "months": {f"{month:%Y-%m}": rows for month, rows in self.months.items()},
            "monthly_rows_written": sum(self.months.values()),
        }


def aggregate_days(days: Sequence[date], on_step: Callable[[str], None] | None = None) -> AggregationSummary:
    """Each day in its own transaction, then the months they belong to; `on_step` is told after
    every day and month (the CLI's progress bar)."""
    summary = AggregationSummary()
    for day in days:
        with session_scope() as session:
            summary.days[day] = aggregate_day(session, day)
        if on_step:
            on_step(day.isoformat())
    for first_day in months_of(days):
        with session_scope() as session:
            summary.months[first_day] = aggregate_month(session, first_day)
        if on_step:
            on_step(f"{first_day:%Y-%m}")
    return summary


def run_daily_aggregation(now: datetime | None = None) -> dict[str, Any]:
    """The nightly `aggregate_daily_stats`: yesterday, the days a setting names again, their months."""
    today = moscow_today(now or now_utc())
    days = nightly_days(today, get_settings().STATS_REAGGREGATE_DAYS)
    return {"date": days[-1].isoformat(), **aggregate_days(days).as_dict()}


def run_monthly_aggregation(now: datetime | None = None) -> dict[str, Any]:
    """The 1st-of-month `aggregate_monthly_stats`: the previous Moscow month."""
    first_day, _ = previous_month_bounds(now or now_utc())
    with session_scope() as session:
        rows = aggregate_month(session, first_day)
    return {"year": first_day.year, "month": first_day.month, "rows_written": rows}
