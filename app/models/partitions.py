"""Daily partitions of `marketing_stats` (DESIGN.md §3 "Stats semantics").

`marketing_stats` is range-partitioned by `stat_date` (the Moscow day), one partition per day named
`marketing_stats_pYYYYMMDD`, with no default partition: an insert for a day that has no partition
fails ("no partition of relation "marketing_stats" found for row"). The periodic tasks therefore
keep partitions ahead of time with `ensure_stats_partitions`, and retention drops whole days with
`drop_stats_partitions_before` instead of deleting rows.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Final

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

STATS_TABLE: Final = "marketing_stats"
PARTITION_PREFIX: Final = "marketing_stats_p"
_PARTITION_NAME: Final = re.compile(r"^marketing_stats_p(\d{8})$")


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


def _partitions(session_or_conn: Session | Connection) -> list[tuple[str, str, date]]:
    rows = session_or_conn.execute(
        text(
            "SELECT n.nspname, c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": STATS_TABLE},
    ).all()
    found = []
    for schema, name in rows:
        match = _PARTITION_NAME.match(name)
        if match:
            found.append((schema, name, datetime.strptime(match.group(1), "%Y%m%d").date()))
    return sorted(found, key=lambda item: item[2])


def list_stats_partitions(session_or_conn: Session | Connection) -> dict[str, date]:
    """Daily partitions of marketing_stats by name, with the day each holds, oldest first."""
    return {name: day for _, name, day in _partitions(session_or_conn)}


def drop_stats_partitions_before(session_or_conn: Session | Connection, before: date) -> list[str]:
    """Drop every daily partition whose day is before `before` (that day itself is kept).

    Returns the names dropped, oldest first. Runs in the caller's transaction: the caller commits.
    """
    dropped: list[str] = []
    for schema, name, day in _partitions(session_or_conn):
        if day < before:
            # The name matched ^marketing_stats_p\d{8}$; the schema is quoted.
            quoted_schema = '"' + schema.replace('"', '""') + '"'
            session_or_conn.execute(text(f'DROP TABLE IF EXISTS {quoted_schema}."{name}"'))
            dropped.append(name)
    return dropped
