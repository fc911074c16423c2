"""Daily partitions of `marketing_stats` (DESIGN.md §3 "Stats semantics").

`marketing_stats` is range-partitioned by `stat_date` (the Moscow day), one partition per day named
`marketing_stats_pYYYYMMDD`, with no default partition: an insert for a day that has no partition
fails ("no partition of relation "marketing_stats" found for row"). A periodic task therefore keeps
partitions ahead of time with `ensure_stats_partitions`, and retention removes whole days —
`detach_stats_partition` (CONCURRENTLY, on an autocommit connection) then `drop_stats_table` —
instead of deleting rows (app/services/marketing/retention.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

STATS_TABLE: Final = "marketing_stats"
PARTITION_PREFIX: Final = "marketing_stats_p"
_PARTITION_NAME: Final = re.compile(r"^marketing_stats_p(\d{8})$")


@dataclass(frozen=True)
class StatsPartition:
    """A table named `marketing_stats_pYYYYMMDD`: attached, half detached, or detached."""

    schema: str
    name: str
    day: date
    # A DETACH … CONCURRENTLY that was interrupted: FINALIZE completes it.
    detach_pending: bool = False

    @property
    def qualified(self) -> str:
        # The name matched ^marketing_stats_p\d{8}$; the schema is quoted.
        return '"' + self.schema.replace('"', '""') + '"."' + self.name + '"'


def partition_name(day: date) -> str:
    """`marketing_stats_pYYYYMMDD`, the partition holding `day`."""
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def ensure_stats_partitions(session_or_conn: Session | Connection, from_date: date, to_date: date) -> int:
    """Create the missing daily partitions from `from_date` to `to_date`, both included.

    Idempotent and safe to run concurrently (the SQL function takes an advisory lock). Runs in the
    caller's transaction: the caller commits. Returns how many partitions were created.
    """
    if to_date < from_date:
        raise ValueError(f"to_date {to_date} is before from_date {from_date}")
    created = session_or_conn.execute(
        text("SELECT marketing_stats_ensure_partitions(:from_date, :to_date)"),
        {"from_date": from_date, "to_date": to_date},
    ).scalar_one()
    return int(created)


def _named(rows: Iterable[Sequence[Any]]) -> list[StatsPartition]:
    found = []
    for schema, name, pending in rows:
        match = _PARTITION_NAME.match(name)
        if match:
            day = datetime.strptime(match.group(1), "%Y%m%d").date()
            found.append(StatsPartition(schema, name, day, bool(pending)))
    return sorted(found, key=lambda partition: partition.day)


def stats_partitions(session_or_conn: Session | Connection) -> list[StatsPartition]:
    """The daily partitions attached to marketing_stats (a pending detach included), oldest first."""
    rows = session_or_conn.execute(
        text(
            "SELECT n.nspname, c.relname, i.inhdetachpending FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": STATS_TABLE},
    ).all()
    return _named(rows)


def detached_stats_tables(session_or_conn: Session | Connection) -> list[StatsPartition]:
    """Tables named like a daily partition, in marketing_stats's schema, that are not attached:
    left by a retention run that stopped between DETACH and DROP."""
    rows = session_or_conn.execute(
        text(
            "SELECT n.nspname, c.relname, false FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND NOT c.relispartition AND c.relname LIKE 'marketing\\_stats\\_p%' "
            "AND n.oid = (SELECT relnamespace FROM pg_class WHERE oid = CAST(:parent AS regclass))"
        ),
        {"parent": STATS_TABLE},
    ).all()
    return _named(rows)


def list_stats_partitions(session_or_conn: Session | Connection) -> dict[str, date]:
    """Daily partitions of marketing_stats by name, with the day each holds, oldest first."""
    return {partition.name: partition.day for partition in stats_partitions(session_or_conn)}


def days_ahead(partitions: list[StatsPartition], today: date) -> int:
    """Consecutive days after `today` that have a partition (-1: not even today has one)."""
    days = {partition.day for partition in partitions if not partition.detach_pending}
    ahead = -1
    while today + timedelta(days=ahead + 1) in days:
        ahead += 1
    return ahead


def last_snapshot_id(session_or_conn: Session | Connection, partition: StatsPartition) -> int | None:
    """The newest snapshot id in one partition (attached or not): one lookup in its primary key."""
    value = session_or_conn.execute(text(f"SELECT max(id) FROM {partition.qualified}")).scalar_one()
    return None if value is None else int(value)


def detach_stats_partition(autocommit_conn: Connection, partition: StatsPartition) -> None:
    """Detach one day without blocking readers and writers of the other days.

    `DETACH PARTITION … CONCURRENTLY` cannot run inside a transaction block: `autocommit_conn`
    must use AUTOCOMMIT. A detach interrupted earlier (detach_pending) is completed with FINALIZE.
    """
    mode = "FINALIZE" if partition.detach_pending else "CONCURRENTLY"
    autocommit_conn.execute(text(f"ALTER TABLE {STATS_TABLE} DETACH PARTITION {partition.qualified} {mode}"))


def attach_stats_partition(session_or_conn: Session | Connection, partition: StatsPartition) -> None:
    """Put a detached day back (retention found a snapshot the aggregation had not seen)."""
    start, end = partition.day, partition.day + timedelta(days=1)
    session_or_conn.execute(
        text(
            f"ALTER TABLE {STATS_TABLE} ATTACH PARTITION {partition.qualified} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )


def drop_stats_table(session_or_conn: Session | Connection, partition: StatsPartition) -> None:
    """Drop a day's table once it is detached."""
    session_or_conn.execute(text(f"DROP TABLE IF EXISTS {partition.qualified}"))
