"""Statistics that last (issue 15): the daily aggregation records what it covered, retention can
find old bid history quickly, and the dead letters know messages the worker dropped.

- `marketing_stats_aggregations`: per Moscow day, the newest snapshot the daily aggregation saw
  (retention drops a day's partition only once its last snapshot is aggregated);
- `fn_marketing_aggregate_daily_stats` replaced: the same last-snapshot rule as 0001 (checked: the
  DISTINCT ON picks the newest `collected_at` of each (campaign, keyword) of the day), plus one
  aggregation of a day at a time, unchanged rows left alone (a re-run writes nothing and returns
  0), and the coverage record;
- `marketing_stats_ensure_partitions` replaced: a new day is a table of its own, then attached.
  `CREATE TABLE … PARTITION OF` takes ACCESS EXCLUSIVE on marketing_stats, so behind any long
  query it queued every reader and writer of the table; `ATTACH PARTITION` needs only SHARE
  UPDATE EXCLUSIVE, which reads and inserts do not conflict with;
- marketing_stats loses its two FOREIGN KEYs (to campaigns and keywords). Measured on
  PostgreSQL 15: with them, ATTACH and DETACH … CONCURRENTLY of a day wait for every open
  transaction that changed a campaign (SHARE ROW EXCLUSIVE on the referenced tables), and DROP of
  a detached day waits for every open reader of marketing_campaigns (ACCESS EXCLUSIVE, to remove
  its trigger), blocking the bid cycle's reads while it waits. Nothing deletes campaigns or
  keywords, the writer takes their ids from the database, and the aggregation now joins both;
- `ix_marketing_bid_history_created_at` for the bounded retention deletes;
- `celery_failed_tasks.reason` accepts `unknown_task` and `rejected`.

Revision ID: 0015
Revises: 0009
Create Date: 2026-12-02 00:15:00+00:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The day's figures are its LAST snapshot per (campaign, keyword): the APIs report counters
# accumulated since Moscow midnight (DESIGN.md "Stats semantics"). CTR and DRR are percent rounded
# to 2 places and clamped at the NUMERIC(7,2) maximum, CPC and CPO whole kopecks (the seed's
# ROUND(…, 2) on rubles); 0 where the divisor is 0. Returns the number of rows written (new or
# changed).
AGGREGATE_DAILY_SQL = """
CREATE OR REPLACE FUNCTION fn_marketing_aggregate_daily_stats(p_date date)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_rows integer;
    v_last_snapshot bigint;
BEGIN
    -- Two runs of the same day (the nightly task, a CLI backfill) would otherwise interleave and
    -- leave the older run's figures and the newer run's coverage record.
    PERFORM pg_advisory_xact_lock(
        hashtext('fn_marketing_aggregate_daily_stats'), p_date - DATE '2000-01-01'
    );
    -- Read before aggregating: a snapshot committed in between has a larger id, so retention
    -- sees the day as not yet covered and aggregates it again instead of losing it.
    SELECT max(id) INTO v_last_snapshot FROM marketing_stats WHERE stat_date = p_date;

    INSERT INTO marketing_stats_daily AS d (
        stat_date, campaign_id, keyword_id, marketplace, brand_id,
        views, clicks, ctr, spent, cpc, orders, revenue, cpo, drr, avg_position
    )
    SELECT
        p_date,
        s.campaign_id,
        s.keyword_id,
        s.marketplace,
        c.brand_id,
        s.views,
        s.clicks,
        CASE WHEN s.views > 0
             THEN LEAST(ROUND(s.clicks::numeric * 100 / s.views, 2), 99999.99) ELSE 0 END,
        s.spent,
        CASE WHEN s.clicks > 0 THEN ROUND(s.spent::numeric / s.clicks)::bigint ELSE 0 END,
        s.orders,
        s.revenue,
        CASE WHEN s.orders > 0 THEN ROUND(s.spent::numeric / s.orders)::bigint ELSE 0 END,
        CASE WHEN s.revenue > 0
             THEN LEAST(ROUND(s.spent::numeric * 100 / s.revenue, 2), 99999.99) ELSE 0 END,
        s.avg_position
    FROM (
        SELECT DISTINCT ON (campaign_id, keyword_id) *
          FROM marketing_stats
         WHERE stat_date = p_date
         ORDER BY campaign_id, keyword_id, collected_at DESC, id DESC
    ) AS s
    JOIN marketing_campaigns AS c ON c.id = s.campaign_id
    WHERE s.keyword_id IS NULL
       OR EXISTS (SELECT 1 FROM marketing_keywords AS k WHERE k.id = s.keyword_id)
    ON CONFLICT (campaign_id, keyword_id, stat_date) DO UPDATE SET
        marketplace = EXCLUDED.marketplace,
        brand_id = EXCLUDED.brand_id,
        views = EXCLUDED.views,
        clicks = EXCLUDED.clicks,
        ctr = EXCLUDED.ctr,
        spent = EXCLUDED.spent,
        cpc = EXCLUDED.cpc,
        orders = EXCLUDED.orders,
        revenue = EXCLUDED.revenue,
        cpo = EXCLUDED.cpo,
        drr = EXCLUDED.drr,
        avg_position = EXCLUDED.avg_position
    WHERE (d.marketplace, d.brand_id, d.views, d.clicks, d.ctr, d.spent, d.cpc, d.orders,
           d.revenue, d.cpo, d.drr, d.avg_position)
          IS DISTINCT FROM
          (EXCLUDED.marketplace, EXCLUDED.brand_id, EXCLUDED.views, EXCLUDED.clicks, EXCLUDED.ctr,
           EXCLUDED.spent, EXCLUDED.cpc, EXCLUDED.orders, EXCLUDED.revenue, EXCLUDED.cpo,
           EXCLUDED.drr, EXCLUDED.avg_position);
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    INSERT INTO marketing_stats_aggregations (stat_date, last_snapshot_id, aggregated_at)
    VALUES (p_date, v_last_snapshot, now())
    ON CONFLICT (stat_date) DO UPDATE SET
        last_snapshot_id = EXCLUDED.last_snapshot_id,
        aggregated_at = EXCLUDED.aggregated_at;
    RETURN v_rows;
END
$$;
"""

# Same contract as 0001's: idempotent, serialised by an advisory lock, `to_date` inclusive, returns
# the number of partitions created.
ENSURE_PARTITIONS_SQL = """
CREATE OR REPLACE FUNCTION marketing_stats_ensure_partitions(from_date date, to_date date)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_schema text;
    v_day date;
    v_name text;
    v_created integer := 0;
BEGIN
    IF from_date IS NULL OR to_date IS NULL THEN
        RAISE EXCEPTION 'marketing_stats_ensure_partitions: from_date and to_date are required';
    END IF;
    IF to_date - from_date > 3660 THEN
        RAISE EXCEPTION 'marketing_stats_ensure_partitions: % days asked, at most 3661 at once',
            to_date - from_date + 1;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('marketing_stats_ensure_partitions'));
    SELECT n.nspname INTO v_schema
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = 'marketing_stats'::regclass;
    v_day := from_date;
    WHILE v_day <= to_date LOOP
        v_name := 'marketing_stats_p' || to_char(v_day, 'YYYYMMDD');
        IF to_regclass(format('%I.%I', v_schema, v_name)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I.%I (LIKE %I.marketing_stats INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                v_schema, v_name, v_schema
            );
            EXECUTE format(
                'ALTER TABLE %I.marketing_stats ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                v_schema, v_schema, v_name, v_day, v_day + 1
            );
            v_created := v_created + 1;
        END IF;
        v_day := v_day + 1;
    END LOOP;
    RETURN v_created;
END
$$;
"""

STATS_FOREIGN_KEYS = (
    "fk_marketing_stats_campaign_id_marketing_campaigns",
    "fk_marketing_stats_keyword_id_marketing_keywords",
)

OLD_REASONS = (
    "'retries_exhausted', 'failed', 'time_limit', 'expired', 'revoked', 'worker_lost', 'redelivery_cap'"
)
NEW_REASONS = OLD_REASONS + ", 'unknown_task', 'rejected'"


def _initial_sql(name: str) -> str:
    """A function of 0001, restored by the downgrade (migration files are not importable by name)."""
    path = Path(__file__).with_name("2026_11_29_0001_initial_schema.py")
    spec = importlib.util.spec_from_file_location("adolf_migration_0001", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(getattr(module, name))


def upgrade() -> None:
    op.create_table(
        "marketing_stats_aggregations",
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("last_snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "aggregated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("stat_date", name=op.f("pk_marketing_stats_aggregations")),
    )
    for constraint in STATS_FOREIGN_KEYS:
        op.drop_constraint(constraint, "marketing_stats", type_="foreignkey")
    op.execute(AGGREGATE_DAILY_SQL)
    op.execute(ENSURE_PARTITIONS_SQL)
    op.create_index(
        "ix_marketing_bid_history_created_at", "marketing_bid_history", ["created_at"], unique=False
    )
    op.drop_constraint(op.f("ck_celery_failed_tasks_reason"), "celery_failed_tasks", type_="check")
    op.create_check_constraint(
        op.f("ck_celery_failed_tasks_reason"), "celery_failed_tasks", f"reason IN ({NEW_REASONS})"
    )


def downgrade() -> None:
    op.execute("DELETE FROM celery_failed_tasks WHERE reason IN ('unknown_task', 'rejected')")
    op.drop_constraint(op.f("ck_celery_failed_tasks_reason"), "celery_failed_tasks", type_="check")
    op.create_check_constraint(
        op.f("ck_celery_failed_tasks_reason"), "celery_failed_tasks", f"reason IN ({OLD_REASONS})"
    )
    op.drop_index("ix_marketing_bid_history_created_at", table_name="marketing_bid_history")
    op.execute(_initial_sql("ENSURE_PARTITIONS_SQL"))
    op.execute(_initial_sql("AGGREGATE_DAILY_SQL"))
    for constraint, column, table in (
        (STATS_FOREIGN_KEYS[0], "campaign_id", "marketing_campaigns"),
        (STATS_FOREIGN_KEYS[1], "keyword_id", "marketing_keywords"),
    ):
        op.create_foreign_key(constraint, "marketing_stats", table, [column], ["id"])
    op.drop_table("marketing_stats_aggregations")
