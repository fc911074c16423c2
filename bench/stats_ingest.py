"""Stats ingest: rows/s of the real write path against a raw psycopg COPY of the same rows.

The real path is `store_account_stats` (issue 5): map marketplace snapshots to our campaign and
keyword ids, reject unknown/duplicated ones, COPY into the day's partition of `marketing_stats`,
update `spent_today`. The baseline is the bare COPY of the already-mapped tuples, measured in the
same run on the same database. Each side runs in its own transaction that is rolled back.

    python bench/stats_ingest.py [--rows 100000]   (DATABASE_URL, else the embedded PostgreSQL)

Ends with: RESULT rows=... ingest_rows_per_s=... copy_rows_per_s=... ratio=...
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from _support import scratch_database
from sqlalchemy import text

from app.core.clock import moscow_today
from app.core.database import session_scope
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.models.partitions import ensure_stats_partitions
from app.services.marketing.adapters.base import StatsSnapshot
from app.services.marketing.stats import AccountStats, store_account_stats
from app.services.marketing.stats_store import COLUMNS, COPY_SQL, StatsTuple, compact_json

KEYWORDS_PER_CAMPAIGN = 50


def seed(rows: int) -> tuple[int, list[tuple[str, list[str]]]]:
    """An account with enough campaigns × keywords for `rows` snapshots; returns its id and ids."""
    campaigns = max(1, rows // (KEYWORDS_PER_CAMPAIGN + 1))
    with session_scope() as session:
        brand = Brand(name=f"bench-{time.time_ns()}")
        session.add(brand)
        session.flush()
        account = MarketplaceAccount(
            marketplace="wb",
            brand_id=brand.id,
            name=brand.name,
            credentials_encrypted=encrypt_credentials({"token": "bench"}),
        )
        session.add(account)
        session.flush()
        layout = []
        for c in range(campaigns):
            campaign = MarketingCampaign(
                account_id=account.id,
                marketplace="wb",
                brand_id=brand.id,
                external_id=str(c),
                name=f"c{c}",
                campaign_type="search",
                status="active",
            )
            session.add(campaign)
            session.flush()
            keys = [f"{c}:{k}" for k in range(KEYWORDS_PER_CAMPAIGN)]
            session.add_all(
                MarketingKeyword(campaign_id=campaign.id, external_id=key, keyword=key, kind="cluster")
                for key in keys
            )
            layout.append((str(c), keys))
        return account.id, layout


def snapshots(layout: list[tuple[str, list[str]]], rows: int) -> AccountStats:
    today = moscow_today()
    fetched = AccountStats(account_id=0)
    for campaign, keys in layout:
        for key in [None, *keys]:
            if len(fetched.campaign_snapshots) + len(fetched.keyword_snapshots) >= rows:
                return fetched
            snapshot = StatsSnapshot(campaign, key, today, 1000, 30, 5, 2, 12345, 456700, 3.5, {"n": 1})
            (fetched.keyword_snapshots if key else fetched.campaign_snapshots).append(snapshot)
    return fetched


def measure_real_path(account_id: int, fetched: AccountStats) -> tuple[float, int, list[StatsTuple]]:
    now = datetime.now(UTC)
    today = moscow_today(now)
    with session_scope() as session:
        account = session.get(MarketplaceAccount, account_id)
        assert account is not None
        ensure_stats_partitions(session, today, today)
        session.flush()
        started = time.perf_counter()
        summary = store_account_stats(session, account, fetched, now, today)
        session.flush()
        elapsed = time.perf_counter() - started
        # The exact rows the real path wrote, for the baseline to COPY again.
        written = session.execute(text(f"SELECT {', '.join(COLUMNS)} FROM marketing_stats")).all()
        session.rollback()
    return elapsed, summary.stats_saved, [(*row[:-1], compact_json(row[-1])) for row in written]


def measure_raw_copy(tuples: list[tuple[object, ...]]) -> float:
    with session_scope() as session:
        connection = session.connection().connection.driver_connection
        assert connection is not None
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
            for row in tuples:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
        session.rollback()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="snapshots to write (default 100000)")
    args = parser.parse_args()
    with scratch_database():
        account_id, layout = seed(args.rows)
        fetched = snapshots(layout, args.rows)
        measure_raw_copy([])  # warm the connection pool
        real_s, written, tuples = measure_real_path(account_id, fetched)
        copy_s = measure_raw_copy(tuples)
    ingest = written / real_s
    raw = len(tuples) / copy_s
    print(f"real write path: {written} rows in {real_s:.2f} s ({ingest:,.0f} rows/s)")
    print(f"raw psycopg COPY: {len(tuples)} rows in {copy_s:.2f} s ({raw:,.0f} rows/s)")
    print(
        f"RESULT rows={written} ingest_rows_per_s={ingest:.0f} copy_rows_per_s={raw:.0f} "
        f"ratio={ingest / raw:.2f}"
    )


if __name__ == "__main__":
    main()
