"""Writing stats snapshots in bulk (issue 5 item 2: COPY, never row-by-row ORM adds).

A snapshot row is (campaign id, keyword id or None, Moscow stat_date, counters since the start of
that day). Rows go through PostgreSQL's COPY protocol on the session's own connection, so they are
part of the caller's transaction; the daily partitions they need are created first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models.partitions import ensure_stats_partitions
from app.services.marketing.adapters.base import StatsSnapshot

COLUMNS = (
    "stat_date",
    "collected_at",
    "campaign_id",
    "keyword_id",
    "marketplace",
    "views",
    "clicks",
    "add_to_cart",
    "orders",
    "spent",
    "revenue",
    "avg_position",
    "raw_data",
)
COPY_SQL = f"COPY marketing_stats ({', '.join(COLUMNS)}) FROM STDIN"


StatsTuple = tuple[Any, ...]  # the values of COLUMNS, in order


def stats_tuple(
    stat_date: date,
    collected_at: datetime,
    campaign_id: int,
    keyword_id: int | None,
    marketplace: str,
    snapshot: StatsSnapshot,
) -> StatsTuple:
    """One marketing_stats row from a snapshot (money already in kopecks)."""
    return (
        stat_date,
        collected_at,
        campaign_id,
        keyword_id,
        marketplace,
        snapshot.views,
        snapshot.clicks,
        snapshot.add_to_cart,
        snapshot.orders,
        snapshot.spent,
        snapshot.revenue,
        snapshot.avg_position,
        compact_json(snapshot.raw or None),
    )


def compact_json(value: dict[str, Any] | None) -> str | None:
    """Raw payloads kept compact (issue 5: "raw payload kept compact")."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def write_stats_rows(session: Session, rows: Sequence[StatsTuple]) -> int:
    """COPY `rows` into marketing_stats inside the session's transaction; returns the row count."""
    if not rows:
        return 0
    days = {row[0] for row in rows}
    ensure_stats_partitions(session, min(days), max(days))
    raw_connection = session.connection().connection.driver_connection
    assert raw_connection is not None
    with raw_connection.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)
