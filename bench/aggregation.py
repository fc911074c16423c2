"""Daily aggregation and retention against plain-SQL baselines measured in the same run.

agg_ratio — `fn_marketing_aggregate_daily_stats` over one Moscow day of snapshots (every item,
campaign totals and keywords, 96 times: a snapshot every 15 minutes) against one plain
`INSERT … SELECT DISTINCT ON` of the same rows into a copy of marketing_stats_daily (same
indexes; no derived figures, no upsert, no coverage record). Both write into an empty table.

cleanup_ratio — `run_cleanup` (the whole nightly cleanup_old_stats) when --days day partitions
have expired, against when 1 has, with the same rows per day, aggregated beforehand as the
nightly task leaves them. Beside each, a plain `DELETE FROM marketing_stats` of the same rows (the
seed's cleanup), rolled back so that the cleanups then run on the very same rows (a committed
DELETE adds one WAL flush — and leaves the dead rows to VACUUM, which no timing here shows).

drop_floor_ratio — what no cleanup can go below: a bare `DROP TABLE` of the same days' tables
(detached beforehand, untimed), all `--days` in one statement against one. PostgreSQL truncates
and unlinks every file of every dropped table at commit, so dropping N days costs about N times
one day's files whatever the code around it: cleanup_ratio is to be read against this floor.

Also printed: one expired day ten times larger (the partition path does not depend on a day's
rows, the DELETE does), and bid history deleted in RETENTION_DELETE_BATCH batches against one plain DELETE of
the same rows (the measurement behind docs/operations.md "Retention").

Best of 5 (aggregation) and of 3 (cleanup) rounds.

    python bench/aggregation.py [--days 30] [--items 200] [--history 100000]
    (DATABASE_URL, else the embedded PostgreSQL)

Ends with: RESULT agg_ratio=... cleanup_ratio=... drop_floor_ratio=...
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from _support import scratch_database
from sqlalchemy import TextClause, text

from app.core.clock import moscow_day_start, moscow_today, now_utc
from app.core.config import get_settings
from app.core.database import get_engine, session_scope
from app.models.core import Brand
from app.models.marketing import MarketingBidHistory, MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.models.partitions import ensure_stats_partitions, partition_name
from app.services.marketing.aggregation import aggregate_days
from app.services.marketing.retention import STATS_KEEP_DAYS, delete_older_than, run_cleanup

KEYWORDS_PER_CAMPAIGN = 19  # + the campaign's own row: 20 items per campaign
LARGER_DAYS = 10  # a day this many times larger shows what the cleanup's time does not depend on
SNAPSHOTS_PER_DAY = 96

WRITE_DAY = text(
    """
    INSERT INTO marketing_stats (stat_date, collected_at, campaign_id, keyword_id, marketplace,
                                 views, clicks, add_to_cart, orders, spent, revenue, avg_position)
    SELECT CAST(:day AS date), CAST(:midnight AS timestamptz) + s * interval '15 minutes',
           i.campaign_id, i.keyword_id, 'wb',
           (s + 1) * 100 + i.campaign_id % 7, (s + 1) * 5, s, (s + 1) / 8, (s + 1) * 900,
           (s + 1) * 4000, 3.5
      FROM generate_series(0, :last) AS s,
           (SELECT id AS campaign_id, NULL::bigint AS keyword_id FROM marketing_campaigns
            UNION ALL SELECT campaign_id, id FROM marketing_keywords) AS i
    """
)
OUR_AGGREGATION = text("SELECT fn_marketing_aggregate_daily_stats(:day)")
PLAIN_LAST_SNAPSHOTS = text(
    """
    INSERT INTO bench_last_snapshots (stat_date, campaign_id, keyword_id, marketplace, brand_id,
                                      views, clicks, spent, orders, revenue, avg_position)
    SELECT DISTINCT ON (campaign_id, keyword_id)
           stat_date, campaign_id, keyword_id, marketplace, 0, views, clicks, spent, orders, revenue,
           avg_position
      FROM marketing_stats
     WHERE stat_date = :day
     ORDER BY campaign_id, keyword_id, collected_at DESC, id DESC
    """
)
DELETE_DAYS = text("DELETE FROM marketing_stats WHERE stat_date >= :first AND stat_date < :end")
FILL_HISTORY = text(
    "INSERT INTO marketing_bid_history (campaign_id, new_bid, source, created_at) "
    "SELECT (SELECT min(id) FROM marketing_campaigns), 1000, 'bid_cycle', "
    "CAST(:newest AS timestamptz) - g * interval '1 second' FROM generate_series(1, :rows) AS g"
)
DELETE_HISTORY = text("DELETE FROM marketing_bid_history WHERE created_at < :before")


def seed(items: int, name: str = "bench") -> None:
    """An account of `items` campaign and keyword rows."""
    with session_scope() as session:
        brand = Brand(name=name)
        account = MarketplaceAccount(
            marketplace="wb", brand=brand, name=name, credentials_encrypted=b"never decrypted here"
        )
        for c in range(max(1, items // (KEYWORDS_PER_CAMPAIGN + 1))):
            campaign = MarketingCampaign(
                account=account, marketplace="wb", brand=brand, external_id=str(c), name=f"c{c}"
            )
            session.add(campaign)
            session.add_all(
                MarketingKeyword(campaign=campaign, external_id=str(k), keyword=f"k{k}", kind="cluster")
                for k in range(KEYWORDS_PER_CAMPAIGN)
            )


def autocommit(sql: str) -> None:
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql(sql)


def write_days(days: list[date]) -> int:
    written = 0
    for day in days:
        with session_scope() as session:
            ensure_stats_partitions(session, day, day)
            result = session.execute(
                WRITE_DAY, {"day": day, "midnight": moscow_day_start(day), "last": SNAPSHOTS_PER_DAY - 1}
            )
            written += int(result.rowcount)  # type: ignore[attr-defined]
    autocommit("ANALYZE marketing_stats")
    return written


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def committed(statement: TextClause, **params: Any) -> Callable[[], None]:
    def run() -> None:
        with session_scope() as session:
            session.execute(statement, params)

    return run


def rolled_back(statement: TextClause, **params: Any) -> Callable[[], None]:
    def run() -> None:
        with session_scope() as session:
            session.execute(statement, params)
            session.rollback()

    return run


def dropped(days: list[date]) -> Callable[[], None]:
    """One `DROP TABLE` of these days' detached tables, committed."""
    return committed(text("DROP TABLE " + ", ".join(partition_name(day) for day in days)))


def measure_aggregation(day: date, repeat: int = 5) -> dict[str, float]:
    autocommit("CREATE TABLE bench_last_snapshots (LIKE marketing_stats_daily INCLUDING ALL)")
    best: dict[str, float] = {}
    for _ in range(repeat):
        autocommit("TRUNCATE marketing_stats_daily, marketing_stats_aggregations, bench_last_snapshots")
        times = {
            "ours": timed(committed(OUR_AGGREGATION, day=day)),
            "plain": timed(committed(PLAIN_LAST_SNAPSHOTS, day=day)),
            "rerun": timed(committed(OUR_AGGREGATION, day=day)),  # over unchanged rows: writes nothing
        }
        best = {key: min(value, best.get(key, value)) for key, value in times.items()}
    return best


def measure_cleanup(count: int, now: datetime, repeat: int = 3) -> tuple[dict[str, float], int]:
    """Best times of the cleanup and of a plain DELETE, for 1 and for `count` expired days, and
    the rows of one day.

    Each round writes `count` + 1 expired days once. The DELETEs run first and are rolled back;
    then a cleanup at a moment when only the oldest day has expired, then one at `now`, when the
    `count` others have.
    """
    newest = moscow_today(now) - timedelta(days=STATS_KEEP_DAYS + 1)
    days = [newest - timedelta(days=back) for back in range(count + 1)]
    oldest, early = days[-1], now - timedelta(days=count)
    best: dict[str, float] = {}
    per_day = 0
    for _ in range(repeat):
        per_day = write_days(days) // len(days)
        aggregate_days(days)
        times = {
            "delete_one": timed(rolled_back(DELETE_DAYS, first=oldest, end=days[-2])),
            "delete_many": timed(rolled_back(DELETE_DAYS, first=days[-2], end=newest + timedelta(days=1))),
            "cleanup_one": timed(lambda: run_cleanup(early)),
            "cleanup_many": timed(lambda: run_cleanup(now)),
        }
        write_days(days)
        for day in days:
            autocommit(f"ALTER TABLE marketing_stats DETACH PARTITION {partition_name(day)}")
        times["drop_one"] = timed(dropped([oldest]))
        times["drop_many"] = timed(dropped(days[:-1]))
        best = {key: min(value, best.get(key, value)) for key, value in times.items()}
    return best, per_day


def measure_history_delete(rows: int, now: datetime) -> tuple[float, float]:
    """The batched retention delete of `rows` expired bid history rows, and one plain DELETE."""
    newest, before = now - timedelta(days=400), now - timedelta(days=365)
    batch = get_settings().RETENTION_DELETE_BATCH
    committed(FILL_HISTORY, newest=newest, rows=rows)()
    autocommit("ANALYZE marketing_bid_history")
    batched = timed(lambda: delete_older_than(MarketingBidHistory.created_at, before, batch))
    committed(FILL_HISTORY, newest=newest, rows=rows)()
    autocommit("VACUUM ANALYZE marketing_bid_history")
    plain = timed(committed(DELETE_HISTORY, before=before))
    return batched, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="expired days of the big cleanup (30)")
    parser.add_argument("--items", type=int, default=200, help="campaign + keyword rows per snapshot (200)")
    parser.add_argument("--history", type=int, default=100_000, help="expired bid history rows (100000)")
    args = parser.parse_args()
    if args.days < 2 or args.items < KEYWORDS_PER_CAMPAIGN + 1 or args.history < 1:
        parser.error(f"--days needs at least 2, --items {KEYWORDS_PER_CAMPAIGN + 1}, --history 1")
    started = time.perf_counter()
    now = now_utc()
    with scratch_database():
        seed(args.items)
        day = moscow_today(now) - timedelta(days=2)
        write_days([day])
        agg = measure_aggregation(day)
        cleanup, per_day = measure_cleanup(args.days, now)
        seed(args.items * (LARGER_DAYS - 1), name="larger")  # ten times the items in all
        larger, larger_per_day = measure_cleanup(1, now)
        batched, plain_history = measure_history_delete(args.history, now)

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms"

    agg_ratio = agg["ours"] / agg["plain"]
    cleanup_ratio = cleanup["cleanup_many"] / cleanup["cleanup_one"]
    drop_floor_ratio = cleanup["drop_many"] / cleanup["drop_one"]
    extra = args.days - 1
    print(f"one day: {per_day} snapshots ({per_day // SNAPSHOTS_PER_DAY} items x {SNAPSHOTS_PER_DAY})")
    print(f"daily aggregation {ms(agg['ours'])}; plain INSERT … SELECT DISTINCT ON {ms(agg['plain'])}")
    print(f"  again over unchanged rows (writes nothing): {ms(agg['rerun'])}")
    print(
        f"cleanup, 1 expired day: {ms(cleanup['cleanup_one'])}; plain DELETE of its rows "
        f"{ms(cleanup['delete_one'])}"
    )
    print(
        f"cleanup, {args.days} expired days: {ms(cleanup['cleanup_many'])}; plain DELETE of their rows "
        f"{ms(cleanup['delete_many'])} (ratio {cleanup['delete_many'] / cleanup['delete_one']:.1f})"
    )
    print(
        f"  each further day: cleanup {ms((cleanup['cleanup_many'] - cleanup['cleanup_one']) / extra)} "
        f"whatever its rows; DELETE {ms((cleanup['delete_many'] - cleanup['delete_one']) / extra)} "
        f"for {per_day} rows"
    )
    print(
        f"1 expired day of {larger_per_day} rows ({LARGER_DAYS}x): cleanup {ms(larger['cleanup_one'])}; "
        f"plain DELETE {ms(larger['delete_one'])}"
    )
    print(
        f"bid history, {args.history} expired rows: batched retention delete {batched:.2f} s "
        f"({args.history / batched:,.0f} rows/s); one plain DELETE {plain_history:.2f} s"
    )
    print(f"(whole run {time.perf_counter() - started:.0f} s)")
    print(
        f"bare DROP TABLE of the same tables: 1 day {ms(cleanup['drop_one'])}, {args.days} days "
        f"{ms(cleanup['drop_many'])}"
    )
    print(
        f"RESULT agg_ratio={agg_ratio:.2f} cleanup_ratio={cleanup_ratio:.2f} "
        f"drop_floor_ratio={drop_floor_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
