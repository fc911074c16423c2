"""Retention (spec 7.3.6; issue 15 item 3), with the seed's policy.

1. `marketing_stats`, 30 days: whole day partitions go, never rows. The night's one expired day
   is detached with `DETACH PARTITION … CONCURRENTLY` on an autocommit connection (it cannot run
   in a transaction, and it does not block readers and writers of the other days), then dropped.
   A backlog of several days (the first run after downtime) goes in one short transaction instead:
   `marketing_stats` locked once (waiting at most `PARTITION_LOCK_TIMEOUT`), one coverage check,
   one `DROP TABLE` of them all — N concurrent detaches would cost N × (two commits and a wait for
   every open snapshot): 2–3 ms a further day instead of 4–8 (bench/aggregation.py).
2. Nothing goes before the aggregation covered it: a day whose newest snapshot is not the one its
   last daily aggregation saw (`marketing_stats_aggregations`) is aggregated first; a day that
   received a snapshot between that aggregation and the detach (or the backlog's lock) is attached
   again (or kept) and left for the next run. A detach an earlier run left half done is finished
   (`FINALIZE`); a table an earlier run detached but did not drop is dropped (or attached again
   when not covered).
3. `marketing_stats_daily`, 24 months: whole Moscow months, oldest first, each in one transaction
   that first recomputes the month's `marketing_stats_monthly` row — a month is final before its
   days go, and never half gone (recomputing a half-deleted month would shrink its totals).
4. `marketing_bid_history`, 12 months, and `marketing_alerts`, 6 months: bounded batches of
   `RETENTION_DELETE_BATCH` rows, each its own short transaction, picked by the `created_at` index.
   Chosen over monthly partitions (docs/operations.md "Statistics and retention", measured by
   bench/aggregation.py): a night's expired slice is one day of rows, deleted at hundreds of
   thousands of rows a second whatever the table's size, while partitioning these tables would
   need `created_at` in their primary and unique keys (bid history's one-row-per-intent key too).
5. DDL waits at most `PARTITION_LOCK_TIMEOUT` for its locks; a timeout fails the run, and its
   retry (or the next night's run) continues where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.core.clock import add_months, month_start, moscow_today, next_month_start, now_utc
from app.core.config import get_settings
from app.core.database import get_engine, session_scope
from app.models.marketing import (
    MarketingAlert,
    MarketingBidHistory,
    MarketingStats,
    MarketingStatsDaily,
    MarketingStatsMonthly,
)
from app.models.partitions import (
    STATS_TABLE,
    StatsPartition,
    attach_stats_partition,
    days_ahead,
    detach_stats_partition,
    detached_stats_tables,
    drop_stats_table,
    last_snapshot_id,
    partition_name,
    stats_partitions,
)
from app.services.marketing.aggregation import aggregate_day, aggregate_month

logger = logging.getLogger(__name__)

STATS_KEEP_DAYS = 30
DAILY_KEEP_MONTHS = 24
BID_HISTORY_KEEP_MONTHS = 12
ALERTS_KEEP_MONTHS = 6


@dataclass(frozen=True)
class Cutoffs:
    """What a cleanup at `now` removes: everything before these."""

    stats_before: date  # Moscow day; partitions of earlier days go
    daily_before: date  # first day of a Moscow month; daily rows of earlier months go
    bid_history_before: datetime
    alerts_before: datetime


def retention_cutoffs(now: datetime) -> Cutoffs:
    today = moscow_today(now)
    return Cutoffs(
        stats_before=today - timedelta(days=STATS_KEEP_DAYS),
        daily_before=month_start(add_months(today, -DAILY_KEEP_MONTHS)),
        bid_history_before=add_months(now, -BID_HISTORY_KEEP_MONTHS),
        alerts_before=add_months(now, -ALERTS_KEEP_MONTHS),
    )


# --- marketing_stats: day partitions -----------------------------------------------------------------


def uncovered_days(session_or_conn: Session | Connection, partitions: Sequence[StatsPartition]) -> set[date]:
    """The days among `partitions` with a snapshot their last daily aggregation did not see: each
    one's newest snapshot id (one lookup in its primary key) against the id the aggregation
    recorded. One round trip however many partitions."""
    if not partitions:
        return set()
    newest = " UNION ALL ".join(
        f"SELECT CAST(:day{i} AS date) AS day, (SELECT max(id) FROM {p.qualified}) AS newest"
        for i, p in enumerate(partitions)
    )
    rows = session_or_conn.execute(
        text(
            f"SELECT n.day FROM ({newest}) AS n "
            "LEFT JOIN marketing_stats_aggregations a ON a.stat_date = n.day "
            "WHERE n.newest IS NOT NULL AND (a.last_snapshot_id IS NULL OR a.last_snapshot_id < n.newest)"
        ),
        {f"day{i}": p.day for i, p in enumerate(partitions)},
    ).scalars()
    return set(rows)


def is_covered(session_or_conn: Session | Connection, partition: StatsPartition) -> bool:
    """True when every snapshot of the partition is in the day's last aggregation."""
    return not uncovered_days(session_or_conn, [partition])


def log_kept(table: str) -> None:
    logger.warning("%s got a snapshot while being retired: kept for the next run", table)


def retire_stats_day(conn: Connection, partition: StatsPartition, attached: bool = True) -> bool:
    """Drop one expired day once its snapshots are aggregated; False when it had to stay."""
    if partition.detach_pending:
        detach_stats_partition(conn, partition)  # FINALIZE what an earlier run began
        partition, attached = replace(partition, detach_pending=False), False
    if not is_covered(conn, partition):
        if not attached:
            attach_stats_partition(conn, partition)
        aggregate_day(conn, partition.day)
        attached = True
    if attached:
        detach_stats_partition(conn, partition)
        # Detached, the table is out of writers' reach: this check is final.
        if not is_covered(conn, partition):
            attach_stats_partition(conn, partition)
            log_kept(partition.name)
            return False
    drop_stats_table(conn, partition)
    return True


def drop_stats_backlog(conn: Connection, partitions: Sequence[StatsPartition], timeout_ms: int) -> list[date]:
    """Several expired attached days at once (see 1.): the uncovered ones aggregated first (on
    `conn`, autocommit), then one transaction that locks marketing_stats — no snapshot can arrive
    from then on, so its coverage check is final — and drops every covered day in one statement."""
    for day in sorted(uncovered_days(conn, partitions)):
        aggregate_day(conn, day)
    with get_engine().begin() as tx:
        tx.exec_driver_sql(f"SET LOCAL lock_timeout = {timeout_ms}")
        tx.execute(text(f"LOCK TABLE {STATS_TABLE} IN ACCESS EXCLUSIVE MODE"))
        late = uncovered_days(tx, partitions)
        going = [partition for partition in partitions if partition.day not in late]
        if going:
            tx.execute(text("DROP TABLE " + ", ".join(partition.qualified for partition in going)))
    for day in sorted(late):
        log_kept(partition_name(day))
    return [partition.day for partition in going]


def drop_expired_stats_days(before: date) -> list[date]:
    """Retire every day partition (and every table left detached) of a day before `before`."""
    timeout_ms = int(get_settings().PARTITION_LOCK_TIMEOUT * 1000)
    dropped: list[date] = []
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql(f"SET lock_timeout = {timeout_ms}")
        try:
            partitions = stats_partitions(conn)
            # What an earlier run left first: while a detach is pending, PostgreSQL refuses any other.
            leftovers = [
                *((p, True) for p in partitions if p.detach_pending),
                *((table, False) for table in detached_stats_tables(conn)),
            ]
            for partition, attached in leftovers:
                if partition.day < before and retire_stats_day(conn, partition, attached):
                    dropped.append(partition.day)
            expired = [p for p in partitions if not p.detach_pending and p.day < before]
            if len(expired) == 1:
                if retire_stats_day(conn, expired[0]):
                    dropped.append(expired[0].day)
            elif expired:
                dropped.extend(drop_stats_backlog(conn, expired, timeout_ms))
        finally:
            conn.exec_driver_sql("RESET lock_timeout")
    return sorted(dropped)


# --- marketing_stats_daily: whole months -------------------------------------------------------------


def delete_expired_daily_months(before: date) -> int:
    """Daily rows of every month before `before` (a first of month), one month per transaction,
    each month's monthly row recomputed first. Returns the rows deleted."""
    deleted = 0
    while True:
        with session_scope() as session:
            oldest = session.scalar(select(func.min(MarketingStatsDaily.stat_date)))
            if oldest is None or oldest >= before:
                return deleted
            first_day = month_start(oldest)
            aggregate_month(session, first_day)
            result = session.execute(
                delete(MarketingStatsDaily).where(
                    MarketingStatsDaily.stat_date >= first_day,
                    MarketingStatsDaily.stat_date < next_month_start(first_day),
                )
            )
            deleted += int(result.rowcount)  # type: ignore[attr-defined]


# --- bid history and alerts: bounded batches ---------------------------------------------------------


def delete_older_than(created_at: InstrumentedAttribute[datetime], before: datetime, batch: int) -> int:
    """Delete the rows of `created_at`'s table older than `before`, oldest first, `batch` rows per
    transaction. Returns the rows deleted.

    The batch is picked by the `created_at` index and deleted by row address (ctid): the same
    `WHERE id IN (… LIMIT n)` is planned as a hash join over the whole table — one full scan per
    batch (measured: 57 ms against 4 ms per 5000 rows of a 400 000-row table).
    """
    table, column = created_at.class_.__tablename__, created_at.key  # our own names, not input
    statement = text(
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {table} WHERE {column} < :before ORDER BY {column} LIMIT :batch))"
    )
    deleted = 0
    while True:
        with session_scope() as session:
            result = session.execute(statement, {"before": before, "batch": batch})
            rows = int(result.rowcount)  # type: ignore[attr-defined]
        deleted += rows
        if rows < batch:
            return deleted


def run_cleanup(now: datetime | None = None) -> dict[str, Any]:
    """The nightly `cleanup_old_stats` (03:00)."""
    started = now or now_utc()
    cutoffs = retention_cutoffs(started)
    batch = get_settings().RETENTION_DELETE_BATCH
    dropped = drop_expired_stats_days(cutoffs.stats_before)
    rows = {
        "marketing_stats_daily": delete_expired_daily_months(cutoffs.daily_before),
        "marketing_bid_history": delete_older_than(
            MarketingBidHistory.created_at, cutoffs.bid_history_before, batch
        ),
        "marketing_alerts": delete_older_than(MarketingAlert.created_at, cutoffs.alerts_before, batch),
    }
    logger.info("cleanup: %d stats days dropped, rows deleted %s", len(dropped), rows)
    return {
        "started_at": started.isoformat(),
        "stats_days_dropped": [day.isoformat() for day in dropped],
        "tables_cleaned": rows,
        "finished_at": now_utc().isoformat(),
    }


# --- inspection (`adolf-marketing retention`) --------------------------------------------------------

KEEPS = {
    "marketing_stats": f"{STATS_KEEP_DAYS} days (day partitions)",
    "marketing_stats_daily": f"{DAILY_KEEP_MONTHS} months (whole months)",
    "marketing_stats_monthly": "for good",
    "marketing_bid_history": f"{BID_HISTORY_KEEP_MONTHS} months",
    "marketing_alerts": f"{ALERTS_KEEP_MONTHS} months",
}


@dataclass(frozen=True)
class TableRetention:
    """One table as `adolf-marketing retention` shows it."""

    table: str
    keeps: str
    rows: int
    oldest: str | None
    partitions_ahead: str
    next_cleanup: str


def _count(session: Session, statement: Any) -> int:
    return int(session.scalar(statement) or 0)


def stats_retention(session: Session, today: date, cutoffs: Cutoffs) -> TableRetention:
    partitions = stats_partitions(session)
    oldest = next((p.day for p in partitions if last_snapshot_id(session, p) is not None), None)
    ahead = days_ahead(partitions, today)
    expired = [p for p in [*detached_stats_tables(session), *partitions] if p.day < cutoffs.stats_before]
    if expired:
        rows = sum(_count(session, text(f"SELECT count(*) FROM {p.qualified}")) for p in expired)
        uncovered = sum(1 for p in expired if not is_covered(session, p))
        removes = f"{len(expired)} day partitions {expired[0].day}..{expired[-1].day} ({rows} rows)" + (
            f"; {uncovered} not yet aggregated: aggregated first" if uncovered else ""
        )
    else:
        removes = f"nothing (keeps {cutoffs.stats_before} and later)"
    return TableRetention(
        "marketing_stats",
        KEEPS["marketing_stats"],
        _count(session, select(func.count()).select_from(MarketingStats)),
        oldest.isoformat() if oldest else None,
        f"{ahead} days (to {today + timedelta(days=ahead)})" if ahead >= 0 else "none, not even today",
        removes,
    )


def retention_report(at: datetime) -> list[TableRetention]:
    """Each table's rows and oldest row now, and what a cleanup at `at` removes."""
    cutoffs = retention_cutoffs(at)
    today = moscow_today(now_utc())
    with session_scope() as session:
        report = [stats_retention(session, today, cutoffs)]
        daily_expired = _count(
            session,
            select(func.count()).where(MarketingStatsDaily.stat_date < cutoffs.daily_before),
        )
        oldest_day = session.scalar(select(func.min(MarketingStatsDaily.stat_date)))
        report.append(
            TableRetention(
                "marketing_stats_daily",
                KEEPS["marketing_stats_daily"],
                _count(session, select(func.count()).select_from(MarketingStatsDaily)),
                oldest_day.isoformat() if oldest_day else None,
                "-",
                f"{daily_expired} rows before {cutoffs.daily_before} (their months recomputed first)"
                if daily_expired
                else f"nothing (keeps {cutoffs.daily_before} and later)",
            )
        )
        oldest_month = session.execute(
            select(MarketingStatsMonthly.stat_year, MarketingStatsMonthly.stat_month)
            .order_by(MarketingStatsMonthly.stat_year, MarketingStatsMonthly.stat_month)
            .limit(1)
        ).first()
        report.append(
            TableRetention(
                "marketing_stats_monthly",
                KEEPS["marketing_stats_monthly"],
                _count(session, select(func.count()).select_from(MarketingStatsMonthly)),
                f"{oldest_month[0]}-{oldest_month[1]:02d}" if oldest_month else None,
                "-",
                "nothing",
            )
        )
        for name, created_at, before in (
            ("marketing_bid_history", MarketingBidHistory.created_at, cutoffs.bid_history_before),
            ("marketing_alerts", MarketingAlert.created_at, cutoffs.alerts_before),
        ):
            expired = _count(session, select(func.count()).where(created_at < before))
            oldest_at = session.scalar(select(func.min(created_at)))
            report.append(
                TableRetention(
                    name,
                    KEEPS[name],
                    _count(session, select(func.count()).select_from(created_at.class_)),
                    f"{oldest_at:%Y-%m-%d %H:%M} UTC" if oldest_at else None,
                    "-",
                    f"{expired} rows older than {before:%Y-%m-%d %H:%M} UTC"
                    if expired
                    else f"nothing (keeps {before:%Y-%m-%d %H:%M} UTC and later)",
                )
            )
    return report
