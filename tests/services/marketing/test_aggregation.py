"""Daily and monthly aggregation on real PostgreSQL (spec 7.3.5; issue 15 "Done when")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from app.core.database import session_scope
from app.models.marketing import (
    MarketingKeyword,
    MarketingStatsAggregation,
    MarketingStatsDaily,
    MarketingStatsMonthly,
)
from app.services.marketing.aggregation import (
    aggregate_days,
    days_between,
    months_of,
    nightly_days,
    run_daily_aggregation,
    run_monthly_aggregation,
)
from tests.services.marketing.stats_data import (
    Counters,
    Seeded,
    derived,
    moscow_midnight,
    percent,
    seed_campaigns,
    settings_overridden,
    write_cumulative_days,
    write_snapshot,
)

# A Moscow day of the tests' own, far from the real days other tests write.
DAY = date(2031, 3, 10)


@pytest.fixture
def seeded(clean_db: None) -> Seeded:
    return seed_campaigns(2)


@pytest.fixture
def reaggregate_three_days(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from settings_overridden(monkeypatch, STATS_REAGGREGATE_DAYS=3)


def daily_rows(day: date) -> dict[tuple[int, int | None], MarketingStatsDaily]:
    with session_scope() as session:
        rows = session.scalars(select(MarketingStatsDaily).where(MarketingStatsDaily.stat_date == day))
        return {(row.campaign_id, row.keyword_id): row for row in rows}


def figures(row: Any) -> Counters:
    return Counters(row.views, row.clicks, row.orders, row.spent, row.revenue)


def all_rows(model: Any) -> list[tuple[Any, ...]]:
    table = model.__table__
    with session_scope() as session:
        return [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key.columns))]


def test_daily_row_is_the_last_of_96_cumulative_snapshots_of_the_moscow_day(seeded: Seeded) -> None:
    campaign, keyword = seeded.campaign_ids[0], seeded.keyword_ids[0]
    # The day before, DAY, and the first three hours of the day after: snapshots written between
    # 21:00 and 24:00 UTC belong to the next Moscow day.
    first = moscow_midnight(DAY - timedelta(days=1))
    last = moscow_midnight(DAY + timedelta(days=1)) + timedelta(hours=3)
    campaign_days = write_cumulative_days(campaign, None, first, last, seed=1)
    keyword_days = write_cumulative_days(campaign, keyword, first, last, seed=2)
    of_day = campaign_days[DAY]
    assert len(of_day) == 96
    assert {moment.hour for moment, _ in of_day if moment.date() < DAY} == {21, 22, 23}
    next_day_same_utc_date = [
        c for moment, c in campaign_days[DAY + timedelta(days=1)] if moment.date() == DAY
    ]
    assert len(next_day_same_utc_date) == 12

    result = aggregate_days([DAY])

    assert result.days == {DAY: 2}
    rows = daily_rows(DAY)
    assert set(rows) == {(campaign, None), (campaign, keyword)}
    last_snapshot = of_day[-1][1]
    assert figures(rows[(campaign, None)]) == last_snapshot
    assert figures(rows[(campaign, keyword)]) == keyword_days[DAY][-1][1]
    assert rows[(campaign, None)].views < sum(c.views for _, c in of_day)  # not the sum
    row = rows[(campaign, None)]
    assert (row.ctr, row.cpc, row.cpo, row.drr) == derived(last_snapshot)
    assert row.brand_id == seeded.brand_id


def test_derived_figures_are_zero_where_the_divisor_is_zero(seeded: Seeded) -> None:
    campaign = seeded.campaign_ids[0]
    write_snapshot(campaign, None, moscow_midnight(DAY) + timedelta(hours=5), Counters(spent=700))
    aggregate_days([DAY])
    row = daily_rows(DAY)[(campaign, None)]
    assert (row.ctr, row.cpc, row.cpo, row.drr, row.spent) == (0, 0, 0, 0, 700)


def test_nightly_run_picks_up_a_late_correction_of_yesterday(
    seeded: Seeded, reaggregate_three_days: None
) -> None:
    campaign = seeded.campaign_ids[0]
    midnight = moscow_midnight(DAY)
    write_snapshot(
        campaign, None, midnight + timedelta(hours=23, minutes=45), Counters(1000, 50, 2, 9000, 40000)
    )
    first_night = run_daily_aggregation(now=midnight + timedelta(days=1, minutes=30))
    assert first_night["date"] == DAY.isoformat()
    assert daily_rows(DAY)[(campaign, None)].orders == 2

    # The marketplace corrects DAY the next morning: a snapshot of DAY collected at 06:00.
    correction = Counters(1000, 50, 5, 9000, 95000)
    write_snapshot(campaign, None, midnight + timedelta(days=1, hours=6), correction, day=DAY)
    second_night = run_daily_aggregation(now=midnight + timedelta(days=2, minutes=30))

    assert second_night["days"][DAY.isoformat()] == 1
    row = daily_rows(DAY)[(campaign, None)]
    assert (figures(row), row.cpo, row.drr) == (correction, 1800, percent(9000, 95000))


def test_two_runs_give_the_same_rows_and_the_second_writes_nothing(
    seeded: Seeded, reaggregate_three_days: None
) -> None:
    for n, campaign in enumerate(seeded.campaign_ids):
        for keyword in (None, seeded.keyword_ids[n]):
            write_cumulative_days(
                campaign,
                keyword,
                moscow_midnight(DAY - timedelta(days=3)),
                moscow_midnight(DAY + timedelta(days=1)) - timedelta(minutes=15),
                seed=n,
            )
    night = moscow_midnight(DAY + timedelta(days=1)) + timedelta(minutes=30)
    first = run_daily_aggregation(now=night)
    daily, monthly = all_rows(MarketingStatsDaily), all_rows(MarketingStatsMonthly)
    assert first["daily_rows_written"] == 2 * 2 * 4  # campaigns × (campaign row + keyword row) × days
    assert first["monthly_rows_written"] == 2
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MarketingStatsAggregation)) == 4

    second = run_daily_aggregation(now=night)

    assert (second["daily_rows_written"], second["monthly_rows_written"]) == (0, 0)
    assert all_rows(MarketingStatsDaily) == daily
    assert all_rows(MarketingStatsMonthly) == monthly


def test_monthly_counters_are_sums_of_daily_rows_and_averages_come_from_the_sums(seeded: Seeded) -> None:
    month = days_between(date(2031, 3, 1), date(2031, 3, 31))
    for n, campaign in enumerate(seeded.campaign_ids):
        for day in month[::6]:
            for keyword in (None, seeded.keyword_ids[n]):
                write_cumulative_days(
                    campaign,
                    keyword,
                    moscow_midnight(day) + timedelta(hours=8),
                    moscow_midnight(day) + timedelta(hours=20),
                    seed=day.day * 10 + n + (keyword or 0),
                )
    # A day with spend but no views, clicks, orders or revenue.
    write_snapshot(seeded.campaign_ids[0], None, moscow_midnight(date(2031, 3, 30)), Counters(spent=1234))

    aggregate_days(month)

    with session_scope() as session:
        monthly = {row.campaign_id: row for row in session.scalars(select(MarketingStatsMonthly))}
        assert set(monthly) == set(seeded.campaign_ids)
        for campaign in seeded.campaign_ids:
            days = session.scalars(
                select(MarketingStatsDaily).where(
                    MarketingStatsDaily.campaign_id == campaign, MarketingStatsDaily.keyword_id.is_(None)
                )
            ).all()
            sums = Counters(*(sum(getattr(d, name) for d in days) for name in Counters.__dataclass_fields__))
            row = monthly[campaign]
            assert (row.stat_year, row.stat_month, row.active_days) == (2031, 3, len(days))
            assert figures(row) == sums
            assert (row.avg_ctr, row.avg_cpc, row.avg_cpo, row.avg_drr) == derived(sums)
            assert row.brand_id == seeded.brand_id


def test_monthly_upsert_updates_every_average_after_a_correction(seeded: Seeded) -> None:
    campaign = seeded.campaign_ids[0]
    write_snapshot(
        campaign, None, moscow_midnight(DAY) + timedelta(hours=12), Counters(1000, 100, 4, 10_000, 50_000)
    )
    aggregate_days([DAY])
    with session_scope() as session:
        session.execute(
            update(MarketingStatsDaily).where(MarketingStatsDaily.stat_date == DAY).values(spent=20_000)
        )
    on_the_first = moscow_midnight(date(2031, 4, 1)) + timedelta(hours=2)

    result = run_monthly_aggregation(now=on_the_first)

    assert result == {"year": 2031, "month": 3, "rows_written": 1}
    with session_scope() as session:
        row = session.scalars(select(MarketingStatsMonthly)).one()
        # The seed's ON CONFLICT would have kept avg_cpc 100, avg_cpo 2500 and avg_drr 20.
        assert (row.spent, row.avg_cpc, row.avg_cpo, row.avg_drr) == (20_000, 200, 5000, 40)
    assert run_monthly_aggregation(now=on_the_first)["rows_written"] == 0


def test_nightly_days_are_yesterday_and_the_days_before_it() -> None:
    today = date(2031, 3, 2)
    assert nightly_days(today, 3) == [
        date(2031, 2, 26),
        date(2031, 2, 27),
        date(2031, 2, 28),
        date(2031, 3, 1),
    ]
    assert nightly_days(today, 0) == [date(2031, 3, 1)]
    # In the first nights of a month the previous month is recomputed too.
    assert months_of(nightly_days(today, 3)) == [date(2031, 2, 1), date(2031, 3, 1)]


def test_nightly_run_aggregates_the_previous_moscow_day_not_the_utc_date(seeded: Seeded) -> None:
    night = moscow_midnight(DAY) + timedelta(minutes=30)  # 00:30 Moscow is 21:30 UTC the day before
    assert night.date() == DAY - timedelta(days=1)
    assert run_daily_aggregation(now=night)["date"] == (DAY - timedelta(days=1)).isoformat()


def test_a_snapshot_of_a_keyword_that_is_gone_is_skipped_not_an_error(seeded: Seeded) -> None:
    campaign, keyword = seeded.campaign_ids[0], seeded.keyword_ids[0]
    noon = moscow_midnight(DAY) + timedelta(hours=12)
    write_snapshot(campaign, None, noon, Counters(views=10))
    write_snapshot(campaign, keyword, noon, Counters(views=4))
    with session_scope() as session:
        session.execute(delete(MarketingKeyword).where(MarketingKeyword.id == keyword))

    assert aggregate_days([DAY]).days == {DAY: 1}
    assert set(daily_rows(DAY)) == {(campaign, None)}
