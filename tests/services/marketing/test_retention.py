"""Retention on real PostgreSQL (spec 7.3.6; issue 15 item 3): whole day partitions detached
concurrently and dropped (a backlog of days in one drop), never before the aggregation covered
them; whole months of daily rows; bounded batches elsewhere; partitions kept ahead with a critical
alert when they cannot be."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.exc import OperationalError

from app.core.clock import add_months, month_start, moscow_today, now_utc
from app.core.database import get_engine, session_scope
from app.models.marketing import (
    MarketingAlert,
    MarketingBidHistory,
    MarketingStatsDaily,
    MarketingStatsMonthly,
)
from app.models.partitions import (
    days_ahead,
    detach_stats_partition,
    detached_stats_tables,
    ensure_stats_partitions,
    list_stats_partitions,
    partition_name,
    stats_partitions,
)
from app.services.marketing import retention
from app.services.marketing.aggregation import aggregate_days
from app.services.marketing.retention import (
    ALERTS_KEEP_MONTHS,
    BID_HISTORY_KEEP_MONTHS,
    DAILY_KEEP_MONTHS,
    STATS_KEEP_DAYS,
    retention_report,
    run_cleanup,
)
from app.services.marketing.stats_partitions import ALERT_TYPE, run_create_partitions
from tests.services.marketing.stats_data import (
    Counters,
    Seeded,
    moscow_midnight,
    seed_campaigns,
    settings_overridden,
    write_snapshot,
)

NOW = now_utc()
TODAY = moscow_today(NOW)


@pytest.fixture
def seeded(clean_db: None) -> Seeded:
    run_cleanup(NOW)  # the empty old partitions other tests may have left in the shared database
    return seed_campaigns(1)


@pytest.fixture
def small_batches_short_locks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from settings_overridden(monkeypatch, RETENTION_DELETE_BATCH=100, PARTITION_LOCK_TIMEOUT=0.5)


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def snapshot_on(seeded: Seeded, day: date, hour: int, views: int) -> None:
    write_snapshot(
        seeded.campaign_ids[0], None, moscow_midnight(day) + timedelta(hours=hour), Counters(views=views)
    )


def daily_views(day: date) -> int | None:
    with session_scope() as session:
        return session.scalar(
            select(MarketingStatsDaily.views).where(
                MarketingStatsDaily.stat_date == day, MarketingStatsDaily.keyword_id.is_(None)
            )
        )


def stats_tables() -> set[str]:
    with session_scope() as session:
        return set(list_stats_partitions(session)) | {t.name for t in detached_stats_tables(session)}


@contextmanager
def reader_of_marketing_stats(lock: str | None = None) -> Iterator[Connection]:
    """Another session inside an open transaction that has read marketing_stats (and, with `lock`,
    holds that lock on it) until the block ends."""
    with get_engine().connect() as conn:
        conn.execute(text("SELECT count(*) FROM marketing_stats")).scalar_one()
        if lock:
            conn.execute(text(f"LOCK TABLE marketing_stats IN {lock} MODE"))
        yield conn
        conn.rollback()


def test_expired_days_are_dropped_whole_and_their_daily_rows_stay(seeded: Seeded) -> None:
    for back in (45, 31, 30):
        snapshot_on(seeded, days_ago(back), 10, views=back)
    aggregate_days([days_ago(45), days_ago(31), days_ago(30)])

    result = run_cleanup(NOW)

    assert result["stats_days_dropped"] == [days_ago(45).isoformat(), days_ago(31).isoformat()]
    tables = stats_tables()
    assert partition_name(days_ago(45)) not in tables and partition_name(days_ago(31)) not in tables
    assert {partition_name(days_ago(30)), partition_name(TODAY)} <= tables
    assert (daily_views(days_ago(45)), daily_views(days_ago(31))) == (45, 31)
    assert run_cleanup(NOW)["stats_days_dropped"] == []


def test_a_day_never_aggregated_is_aggregated_before_its_partition_goes(seeded: Seeded) -> None:
    day = days_ago(40)
    snapshot_on(seeded, day, 9, views=100)
    snapshot_on(seeded, day, 23, views=250)

    assert run_cleanup(NOW)["stats_days_dropped"] == [day.isoformat()]

    assert daily_views(day) == 250
    assert partition_name(day) not in stats_tables()


def test_a_snapshot_after_the_last_aggregation_is_aggregated_before_the_drop(seeded: Seeded) -> None:
    day = days_ago(40)
    snapshot_on(seeded, day, 9, views=100)
    aggregate_days([day])
    assert daily_views(day) == 100
    snapshot_on(seeded, day, 22, views=180)  # e.g. a backfill of an old day

    run_cleanup(NOW)

    assert daily_views(day) == 180
    assert partition_name(day) not in stats_tables()


def test_an_interrupted_detach_is_finished_and_dropped(seeded: Seeded) -> None:
    day = days_ago(40)
    snapshot_on(seeded, day, 9, views=70)
    aggregate_days([day])
    # DETACH … CONCURRENTLY waits for transactions that use marketing_stats; one that outlives
    # the lock timeout leaves the partition half detached.
    with get_engine().connect() as conn, reader_of_marketing_stats():
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("SET lock_timeout = 300")
        partition = next(p for p in stats_partitions(conn) if p.day == day)
        with pytest.raises(OperationalError, match="lock timeout"):
            detach_stats_partition(conn, partition)
        conn.exec_driver_sql("RESET lock_timeout")
    with session_scope() as session:
        assert [p.day for p in stats_partitions(session) if p.detach_pending] == [day]

    assert run_cleanup(NOW)["stats_days_dropped"] == [day.isoformat()]

    assert partition_name(day) not in stats_tables()
    assert daily_views(day) == 70


def test_tables_left_detached_are_dropped_or_put_back_until_aggregated(seeded: Seeded) -> None:
    covered, uncovered = days_ago(41), days_ago(42)
    snapshot_on(seeded, covered, 9, views=41)
    snapshot_on(seeded, uncovered, 9, views=42)
    aggregate_days([covered])
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for partition in stats_partitions(conn):
            if partition.day in (covered, uncovered):
                detach_stats_partition(conn, partition)
    with session_scope() as session:
        left = {table.name for table in detached_stats_tables(session)}
    assert {partition_name(covered), partition_name(uncovered)} <= left

    assert run_cleanup(NOW)["stats_days_dropped"] == [uncovered.isoformat(), covered.isoformat()]

    assert partition_name(covered) not in stats_tables() and partition_name(uncovered) not in stats_tables()
    assert (daily_views(covered), daily_views(uncovered)) == (41, 42)


def test_a_backlog_of_days_goes_in_one_drop_aggregated_first(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    covered, never, late, racing = days_ago(50), days_ago(49), days_ago(48), days_ago(47)
    for back, day in ((50, covered), (49, never), (48, late), (47, racing)):
        snapshot_on(seeded, day, 9, views=back)
    aggregate_days([covered, late, racing])
    snapshot_on(seeded, late, 20, views=480)  # after its aggregation: it must be aggregated again
    real_aggregate_day = retention.aggregate_day

    def snapshot_arriving_after_the_aggregation(conn: Connection, day: date) -> int:
        written = real_aggregate_day(conn, day)
        if day == late:  # a backfill of another day lands before the backlog's lock
            snapshot_on(seeded, racing, 21, views=470)
        return written

    monkeypatch.setattr(retention, "aggregate_day", snapshot_arriving_after_the_aggregation)
    result = run_cleanup(NOW)

    assert result["stats_days_dropped"] == [covered.isoformat(), never.isoformat(), late.isoformat()]
    assert (daily_views(covered), daily_views(never), daily_views(late)) == (50, 49, 480)
    assert partition_name(racing) in stats_tables()  # kept: its newest snapshot is not aggregated
    monkeypatch.undo()
    assert run_cleanup(NOW)["stats_days_dropped"] == [racing.isoformat()]
    assert daily_views(racing) == 470


def test_a_backlog_waits_for_its_lock_at_most_the_timeout_and_the_next_run_drops_it(
    seeded: Seeded, small_batches_short_locks: None
) -> None:
    days = [days_ago(44), days_ago(43)]
    for day in days:
        snapshot_on(seeded, day, 9, views=1)
    aggregate_days(days)
    with reader_of_marketing_stats(), pytest.raises(OperationalError, match="lock timeout"):
        run_cleanup(NOW)
    assert {partition_name(day) for day in days} <= stats_tables()

    assert run_cleanup(NOW)["stats_days_dropped"] == [day.isoformat() for day in days]
    assert not {partition_name(day) for day in days} & stats_tables()


def test_daily_rows_go_by_whole_months_once_their_month_is_final(seeded: Seeded) -> None:
    cutoff_month = month_start(add_months(TODAY, -24))  # the oldest month kept
    old_month = add_months(cutoff_month, -2)
    days = [old_month, old_month + timedelta(days=9), cutoff_month]
    with session_scope() as session:
        for n, day in enumerate(days):
            session.add(
                MarketingStatsDaily(
                    stat_date=day,
                    campaign_id=seeded.campaign_ids[0],
                    keyword_id=None,
                    marketplace="wb",
                    brand_id=seeded.brand_id,
                    views=1000 * (n + 1),
                    clicks=10,
                    spent=500,
                )
            )

    result = run_cleanup(NOW)

    assert result["tables_cleaned"]["marketing_stats_daily"] == 2
    with session_scope() as session:
        remaining = session.scalars(select(MarketingStatsDaily.stat_date)).all()
        assert remaining == [cutoff_month]
        month = session.scalars(select(MarketingStatsMonthly)).one()
        # No monthly row existed for the old month: it was computed before its days went.
        assert (month.stat_year, month.stat_month, month.views, month.active_days) == (
            old_month.year,
            old_month.month,
            3000,
            2,
        )


def test_bid_history_and_alerts_go_in_bounded_batches_by_age(
    seeded: Seeded, small_batches_short_locks: None
) -> None:
    campaign = seeded.campaign_ids[0]
    history_old = add_months(NOW, -12) - timedelta(hours=1)
    alerts_old = add_months(NOW, -6) - timedelta(hours=1)
    with session_scope() as session:
        session.execute(
            insert(MarketingBidHistory),
            [
                {
                    "campaign_id": campaign,
                    "new_bid": 100,
                    "source": "manual",
                    "created_at": history_old - timedelta(minutes=n),
                }
                for n in range(250)
            ]
            + [
                {
                    "campaign_id": campaign,
                    "new_bid": 200,
                    "source": "manual",
                    "created_at": add_months(NOW, -11),
                }
            ],
        )
        session.execute(
            insert(MarketingAlert),
            [
                {
                    "alert_type": "t",
                    "severity": "info",
                    "title": "t",
                    "message": "m",
                    "created_at": alerts_old - timedelta(minutes=n),
                }
                for n in range(230)
            ]
            + [
                {
                    "alert_type": "t",
                    "severity": "info",
                    "title": "t",
                    "message": "m",
                    "created_at": add_months(NOW, -5),
                }
            ],
        )

    result = run_cleanup(NOW)

    assert result["tables_cleaned"]["marketing_bid_history"] == 250
    assert result["tables_cleaned"]["marketing_alerts"] == 230
    with session_scope() as session:
        assert session.scalars(select(MarketingBidHistory.new_bid)).all() == [200]
        assert session.scalar(select(func.count()).select_from(MarketingAlert)) == 1


def test_report_shows_what_the_next_cleanup_removes(seeded: Seeded) -> None:
    day = days_ago(40)
    snapshot_on(seeded, day, 9, views=1)
    snapshot_on(seeded, day, 10, views=2)

    report = {row.table: row for row in retention_report(NOW)}

    stats = report["marketing_stats"]
    assert stats.rows == 2 and stats.oldest == day.isoformat()
    assert (
        stats.next_cleanup
        == f"1 day partitions {day}..{day} (2 rows); 1 not yet aggregated: aggregated first"
    )
    with session_scope() as session:
        ahead = days_ahead(stats_partitions(session), TODAY)
    assert ahead >= 7  # the migration creates a month ahead
    assert stats.partitions_ahead == f"{ahead} days (to {TODAY + timedelta(days=ahead)})"
    assert report["marketing_stats_daily"].next_cleanup.startswith("nothing (keeps ")
    assert set(report) == {
        "marketing_stats",
        "marketing_stats_daily",
        "marketing_stats_monthly",
        "marketing_bid_history",
        "marketing_alerts",
    }
    run_cleanup(NOW)
    assert retention_report(NOW)[0].next_cleanup.startswith("nothing")


# --- partitions ahead ---------------------------------------------------------------------------


def alerts_of_type() -> list[MarketingAlert]:
    with session_scope() as session:
        return list(session.scalars(select(MarketingAlert).where(MarketingAlert.alert_type == ALERT_TYPE)))


def test_partitions_are_created_ahead_without_blocking_readers(seeded: Seeded) -> None:
    later = NOW + timedelta(days=500)  # a future of the test's own: none of its days has a partition
    with reader_of_marketing_stats():  # a long report: must not block the creation (nor queue behind it)
        result = run_create_partitions(now=later)
    assert (result["created"], result["days_ahead"], result["alert_id"]) == (8, 7, None)
    assert run_create_partitions(now=later)["created"] == 0
    assert alerts_of_type() == []


def test_partitions_that_cannot_be_created_raise_one_critical_alert_a_day(
    seeded: Seeded, small_batches_short_locks: None
) -> None:
    # Moscow 10:00, so that the runs two hours apart stay within one Moscow day.
    later = moscow_midnight(TODAY + timedelta(days=600)) + timedelta(hours=10)
    today = moscow_today(later)
    with session_scope() as session:
        ensure_stats_partitions(session, today, today + timedelta(days=3))
    # SHARE UPDATE EXCLUSIVE, as a VACUUM or another partition DDL holds it.
    with reader_of_marketing_stats("SHARE UPDATE EXCLUSIVE"):
        first = run_create_partitions(now=later)
        second = run_create_partitions(now=later + timedelta(hours=1))

    assert (first["created"], first["days_ahead"]) == (0, 3)
    assert "lock timeout" in first["error"]
    assert first["alert_id"] is not None and second["alert_id"] is None
    [alert] = alerts_of_type()
    assert alert.severity == "critical" and alert.campaign_id is None
    assert alert.details["first_missing"] == (today + timedelta(days=4)).isoformat()
    assert "refused from " + (today + timedelta(days=4)).isoformat() in alert.message

    recovered = run_create_partitions(now=later + timedelta(hours=2))
    assert (recovered["created"], recovered["days_ahead"], recovered["alert_id"]) == (4, 7, None)


def test_a_day_without_partition_today_says_so(seeded: Seeded, small_batches_short_locks: None) -> None:
    later: datetime = NOW + timedelta(days=700)
    with reader_of_marketing_stats("SHARE UPDATE EXCLUSIVE"):
        result = run_create_partitions(now=later)
    assert result["days_ahead"] == -1
    [alert] = alerts_of_type()
    assert "will be refused now" in alert.message


def test_partition_ddl_does_not_wait_for_campaign_readers_or_writers(
    seeded: Seeded, small_batches_short_locks: None
) -> None:
    day = days_ago(40)
    snapshot_on(seeded, day, 9, views=5)
    later = NOW + timedelta(days=800)
    # The bid cycle reading campaigns and collect_stats updating spent_today, both mid-transaction.
    with get_engine().connect() as reader, get_engine().connect() as writer:
        reader.execute(select(func.count()).select_from(MarketingStatsDaily)).scalar_one()
        reader.execute(text("SELECT count(*) FROM marketing_campaigns, marketing_keywords")).scalar_one()
        writer.execute(text("UPDATE marketing_campaigns SET spent_today = spent_today + 1"))
        writer.execute(text("UPDATE marketing_keywords SET current_bid = 100"))
        created = run_create_partitions(now=later)
        dropped = run_cleanup(NOW)["stats_days_dropped"]
        reader.rollback()
        writer.rollback()
    assert (created["created"], created["error"]) == (8, None)
    assert dropped == [day.isoformat()]


def test_the_runbook_states_the_retention_the_code_applies() -> None:
    runbook = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text(encoding="utf-8")
    for table, kept in (
        ("marketing_stats", f"{STATS_KEEP_DAYS} days"),
        ("marketing_stats_daily", f"{DAILY_KEEP_MONTHS} months"),
        ("marketing_bid_history", f"{BID_HISTORY_KEEP_MONTHS} months"),
        ("marketing_alerts", f"{ALERTS_KEEP_MONTHS} months"),
    ):
        assert f"| `{table}` | {kept} |" in runbook, table
