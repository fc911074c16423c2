"""Initial schema: every table of issue 2 item 3, the daily partitions of marketing_stats and the
SQL functions `marketing_stats_ensure_partitions` and `fn_marketing_aggregate_daily_stats`.

Needs PostgreSQL 15 or later (UNIQUE NULLS NOT DISTINCT on marketing_stats_daily).

Revision ID: 0001
Revises:
Create Date: 2026-11-29 04:34:47.148505+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Daily partitions of marketing_stats, [day, day + 1), named marketing_stats_pYYYYMMDD, created in
# the parent's schema. Idempotent, and serialised by an advisory lock so that two workers creating
# the same day do not collide. `to_date` is inclusive. Returns the number of partitions created.
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
                'CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.marketing_stats '
                'FOR VALUES FROM (%L) TO (%L)',
                v_schema, v_name, v_schema, v_day, v_day + 1
            );
            v_created := v_created + 1;
        END IF;
        v_day := v_day + 1;
    END LOOP;
    RETURN v_created;
END
$$;
"""

# Spec 7.3.5 with DESIGN.md "Stats semantics": the API counters accumulate over the Moscow day,
# so the day's figure is the LAST snapshot of each (campaign, keyword), never the sum of them.
# Upserts (NULLS NOT DISTINCT key: keyword_id NULL is the campaign-level row) and returns the
# number of rows written. Ratios clamp at the NUMERIC(7,2) maximum instead of failing the day.
AGGREGATE_DAILY_SQL = """
CREATE OR REPLACE FUNCTION fn_marketing_aggregate_daily_stats(p_date date)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_rows integer;
BEGIN
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
        avg_position = EXCLUDED.avg_position;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN v_rows;
END
$$;
"""

# The Moscow business day (DESIGN.md "Time"); partitions from yesterday to a month ahead. Later
# days are created by the periodic tasks through app.models.partitions.ensure_stats_partitions.
INITIAL_PARTITIONS_SQL = """
SELECT marketing_stats_ensure_partitions(
    (now() AT TIME ZONE 'Europe/Moscow')::date - 1,
    (now() AT TIME ZONE 'Europe/Moscow')::date + 31
)
"""


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("name", name=op.f("uq_brands_name")),
    )
    op.create_table(
        "celery_failed_tasks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column(
            "args",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "kwargs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("exception", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=32), server_default="failed", nullable=False),
        sa.Column("retries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "reason IN ('retries_exhausted', 'failed', 'time_limit', 'expired', 'revoked', "
            "'worker_lost', 'redelivery_cap')",
            name=op.f("ck_celery_failed_tasks_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_failed_tasks")),
    )
    op.create_index("ix_celery_failed_tasks_failed_at", "celery_failed_tasks", ["failed_at"], unique=False)
    op.create_index("ix_celery_failed_tasks_task_name", "celery_failed_tasks", ["task_name"], unique=False)
    op.create_index("uq_celery_failed_tasks_task_id", "celery_failed_tasks", ["task_id"], unique=True)
    op.create_table(
        "marketing_cycle_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="running", nullable=False),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'partial', 'failed', 'skipped')",
            name=op.f("ck_marketing_cycle_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_cycle_runs")),
    )
    op.create_index(
        "ix_marketing_cycle_runs_started_at", "marketing_cycle_runs", ["started_at"], unique=False
    )
    op.create_table(
        "marketplace_accounts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("marketplace", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("last_stats_collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "marketplace IN ('wb', 'ozon', 'ym')", name=op.f("ck_marketplace_accounts_marketplace")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_marketplace_accounts_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_accounts")),
        sa.UniqueConstraint("marketplace", "name", name=op.f("uq_marketplace_accounts_marketplace_name")),
    )
    op.create_index(
        op.f("ix_marketplace_accounts_brand_id"), "marketplace_accounts", ["brand_id"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('manager', 'senior', 'director', 'administrator')", name=op.f("ck_users_role")
        ),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name=op.f("fk_users_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_brand_id"), "users", ["brand_id"], unique=False)
    op.create_table(
        "marketing_campaigns",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("marketplace", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("campaign_type", sa.String(length=32), server_default="other", nullable=False),
        sa.Column("payment_type", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="unknown", nullable=False),
        sa.Column("marketplace_status", sa.String(length=64), nullable=True),
        sa.Column("paused_reason", sa.String(length=64), nullable=True),
        sa.Column("budget_paused_on", sa.Date(), nullable=True),
        sa.Column("strategy_type", sa.String(length=32), server_default="fixed", nullable=False),
        sa.Column(
            "strategy_params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "safety_params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("daily_limit", sa.BigInteger(), nullable=True, comment="kopecks"),
        sa.Column(
            "spent_today", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"
        ),
        sa.Column("spent_date", sa.Date(), nullable=True),
        sa.Column("max_bid", sa.BigInteger(), nullable=True, comment="kopecks"),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_removed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "campaign_type IN ('search', 'catalog', 'product_card', 'recommendations', 'unified', "
            "'manual', 'sku', 'search_promo', 'banner', 'boost', 'other')",
            name=op.f("ck_marketing_campaigns_campaign_type"),
        ),
        sa.CheckConstraint(
            "marketplace IN ('wb', 'ozon', 'ym')", name=op.f("ck_marketing_campaigns_marketplace")
        ),
        sa.CheckConstraint(
            "payment_type IN ('cpm', 'cpc', 'cpo')", name=op.f("ck_marketing_campaigns_payment_type")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'stopped', 'archived', 'draft', 'unknown')",
            name=op.f("ck_marketing_campaigns_status"),
        ),
        sa.CheckConstraint(
            "strategy_type IN ('target_position', 'target_drr', 'target_cpo', 'max_traffic', 'fixed')",
            name=op.f("ck_marketing_campaigns_strategy_type"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["marketplace_accounts.id"],
            name=op.f("fk_marketing_campaigns_account_id_marketplace_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_marketing_campaigns_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_campaigns")),
        sa.UniqueConstraint(
            "account_id", "external_id", name=op.f("uq_marketing_campaigns_account_id_external_id")
        ),
    )
    op.create_index(
        op.f("ix_marketing_campaigns_brand_id"), "marketing_campaigns", ["brand_id"], unique=False
    )
    op.create_index(
        "ix_marketing_campaigns_marketplace_status",
        "marketing_campaigns",
        ["marketplace", "status"],
        unique=False,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("source_module", sa.String(length=64), nullable=True),
        sa.Column("source_id", sa.String(length=64), nullable=True),
        sa.Column("is_read", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("level IN ('info', 'warning', 'critical')", name=op.f("ck_notifications_level")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_user_id_created_at", "notifications", ["user_id", "created_at"], unique=False
    )
    op.create_table(
        "marketing_keywords",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("keyword", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("current_bid", sa.BigInteger(), nullable=True, comment="kopecks"),
        sa.Column("min_bid", sa.BigInteger(), nullable=True, comment="kopecks"),
        sa.Column("status", sa.String(length=32), server_default="active", nullable=False),
        sa.Column("pause_reason", sa.String(length=255), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_fixed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('cluster', 'phrase', 'nm', 'sku')", name=op.f("ck_marketing_keywords_kind")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'excluded', 'removed')", name=op.f("ck_marketing_keywords_status")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_keywords_campaign_id_marketing_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_keywords")),
        sa.UniqueConstraint(
            "campaign_id", "external_id", name=op.f("uq_marketing_keywords_campaign_id_external_id")
        ),
    )
    op.create_table(
        "marketing_stats_monthly",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("marketplace", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("stat_year", sa.Integer(), nullable=False),
        sa.Column("stat_month", sa.Integer(), nullable=False),
        sa.Column("views", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "avg_ctr",
            sa.Numeric(precision=7, scale=2),
            server_default=sa.text("0"),
            nullable=False,
            comment="percent",
        ),
        sa.Column("spent", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("avg_cpc", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("orders", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("revenue", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("avg_cpo", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column(
            "avg_drr",
            sa.Numeric(precision=7, scale=2),
            server_default=sa.text("0"),
            nullable=False,
            comment="percent",
        ),
        sa.Column("active_days", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint(
            "marketplace IN ('wb', 'ozon', 'ym')", name=op.f("ck_marketing_stats_monthly_marketplace")
        ),
        sa.CheckConstraint("stat_month BETWEEN 1 AND 12", name=op.f("ck_marketing_stats_monthly_stat_month")),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_marketing_stats_monthly_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_stats_monthly_campaign_id_marketing_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_stats_monthly")),
        sa.UniqueConstraint(
            "campaign_id",
            "stat_year",
            "stat_month",
            name=op.f("uq_marketing_stats_monthly_campaign_id_stat_year_stat_month"),
        ),
    )
    op.create_table(
        "marketing_alerts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("keyword_id", sa.BigInteger(), nullable=True),
        sa.Column("marketplace", sa.String(length=32), nullable=True),
        sa.Column("brand_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("action_taken", sa.String(length=64), nullable=True),
        sa.Column("notification_id", sa.BigInteger(), nullable=True),
        sa.Column("is_resolved", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "marketplace IN ('wb', 'ozon', 'ym')", name=op.f("ck_marketing_alerts_marketplace")
        ),
        sa.CheckConstraint(
            "severity IN ('info', 'warning', 'critical')", name=op.f("ck_marketing_alerts_severity")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_marketing_alerts_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_alerts_campaign_id_marketing_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["marketing_keywords.id"],
            name=op.f("fk_marketing_alerts_keyword_id_marketing_keywords"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_marketing_alerts_notification_id_notifications"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_alerts")),
    )
    op.create_index(
        "ix_marketing_alerts_campaign_id_alert_type_created_at",
        "marketing_alerts",
        ["campaign_id", "alert_type", "created_at"],
        unique=False,
    )
    op.create_index("ix_marketing_alerts_created_at", "marketing_alerts", ["created_at"], unique=False)
    op.create_table(
        "marketing_bid_intents",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("cycle_run_id", sa.BigInteger(), nullable=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("keyword_id", sa.BigInteger(), nullable=True),
        sa.Column("fencing_token", sa.BigInteger(), nullable=True),
        sa.Column("old_bid", sa.BigInteger(), nullable=True, comment="kopecks"),
        sa.Column("new_bid", sa.BigInteger(), nullable=False, comment="kopecks"),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("strategy_type", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=32), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirm_status", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "confirm_status IN ('confirmed', 'mismatch')",
            name=op.f("ck_marketing_bid_intents_confirm_status"),
        ),
        sa.CheckConstraint(
            "source IN ('bid_cycle', 'manual', 'rollback')", name=op.f("ck_marketing_bid_intents_source")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'applied', 'failed', 'unknown', 'skipped', 'dry_run')",
            name=op.f("ck_marketing_bid_intents_status"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_bid_intents_campaign_id_marketing_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_run_id"],
            ["marketing_cycle_runs.id"],
            name=op.f("fk_marketing_bid_intents_cycle_run_id_marketing_cycle_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["marketing_keywords.id"],
            name=op.f("fk_marketing_bid_intents_keyword_id_marketing_keywords"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_bid_intents")),
    )
    op.create_index(
        "ix_marketing_bid_intents_campaign_id_created_at",
        "marketing_bid_intents",
        ["campaign_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_marketing_bid_intents_cycle_run_id"), "marketing_bid_intents", ["cycle_run_id"], unique=False
    )
    op.create_index(
        "uq_marketing_bid_intents_keyword_id_open",
        "marketing_bid_intents",
        ["keyword_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'unknown')"),
    )
    op.create_table(
        "marketing_recommendations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("keyword_id", sa.BigInteger(), nullable=True),
        sa.Column("recommendation_type", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=32), server_default="medium", nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("expected_effect", sa.Text(), nullable=True),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=32), server_default="new", nullable=False),
        sa.Column("source", sa.String(length=32), server_default="rules", nullable=False),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "priority IN ('low', 'medium', 'high')", name=op.f("ck_marketing_recommendations_priority")
        ),
        sa.CheckConstraint("source IN ('ai', 'rules')", name=op.f("ck_marketing_recommendations_source")),
        sa.CheckConstraint(
            "status IN ('new', 'applied', 'dismissed')", name=op.f("ck_marketing_recommendations_status")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_recommendations_campaign_id_marketing_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["marketing_keywords.id"],
            name=op.f("fk_marketing_recommendations_keyword_id_marketing_keywords"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_recommendations")),
    )
    op.create_index(
        "ix_marketing_recommendations_campaign_id_created_at",
        "marketing_recommendations",
        ["campaign_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "marketing_stats",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "stat_date",
            sa.Date(),
            server_default=sa.text("(now() AT TIME ZONE 'Europe/Moscow')::date"),
            nullable=False,
        ),
        sa.Column(
            "collected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("keyword_id", sa.BigInteger(), nullable=True),
        sa.Column("marketplace", sa.String(length=32), nullable=False),
        sa.Column("views", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("add_to_cart", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("orders", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("spent", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("revenue", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("avg_position", sa.Numeric(precision=8, scale=2), nullable=True),
        sa.Column("raw_data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "marketplace IN ('wb', 'ozon', 'ym')", name=op.f("ck_marketing_stats_marketplace")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_stats_campaign_id_marketing_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["marketing_keywords.id"],
            name=op.f("fk_marketing_stats_keyword_id_marketing_keywords"),
        ),
        sa.PrimaryKeyConstraint("id", "stat_date", name=op.f("pk_marketing_stats")),
        postgresql_partition_by="RANGE (stat_date)",
    )
    op.create_index(
        "ix_marketing_stats_campaign_keyword_date_collected",
        "marketing_stats",
        ["campaign_id", "keyword_id", "stat_date", "collected_at"],
        unique=False,
    )
    op.create_table(
        "marketing_stats_daily",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("keyword_id", sa.BigInteger(), nullable=True),
        sa.Column("marketplace", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.BigInteger(), nullable=False),
        sa.Column("views", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "ctr",
            sa.Numeric(precision=7, scale=2),
            server_default=sa.text("0"),
            nullable=False,
            comment="percent",
        ),
        sa.Column("spent", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("cpc", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("orders", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("revenue", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column("cpo", sa.BigInteger(), server_default=sa.text("0"), nullable=False, comment="kopecks"),
        sa.Column(
            "drr",
            sa.Numeric(precision=7, scale=2),
            server_default=sa.text("0"),
            nullable=False,
            comment="percent",
        ),
        sa.Column("avg_position", sa.Numeric(precision=8, scale=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "marketplace IN ('wb', 'ozon', 'ym')", name=op.f("ck_marketing_stats_daily_marketplace")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_marketing_stats_daily_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_stats_daily_campaign_id_marketing_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["marketing_keywords.id"],
            name=op.f("fk_marketing_stats_daily_keyword_id_marketing_keywords"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_stats_daily")),
        sa.UniqueConstraint(
            "campaign_id",
            "keyword_id",
            "stat_date",
            name="uq_marketing_stats_daily_campaign_keyword_date",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        "ix_marketing_stats_daily_stat_date", "marketing_stats_daily", ["stat_date"], unique=False
    )
    op.create_table(
        "marketing_bid_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("keyword_id", sa.BigInteger(), nullable=True),
        sa.Column("intent_id", sa.BigInteger(), nullable=True),
        sa.Column("cycle_run_id", sa.BigInteger(), nullable=True),
        sa.Column("old_bid", sa.BigInteger(), nullable=True, comment="kopecks"),
        sa.Column("new_bid", sa.BigInteger(), nullable=False, comment="kopecks"),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("strategy_type", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "source IN ('bid_cycle', 'manual', 'rollback')", name=op.f("ck_marketing_bid_history_source")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_bid_history_campaign_id_marketing_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_run_id"],
            ["marketing_cycle_runs.id"],
            name=op.f("fk_marketing_bid_history_cycle_run_id_marketing_cycle_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["marketing_bid_intents.id"],
            name=op.f("fk_marketing_bid_history_intent_id_marketing_bid_intents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["marketing_keywords.id"],
            name=op.f("fk_marketing_bid_history_keyword_id_marketing_keywords"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_bid_history")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_marketing_bid_history_intent_id")),
    )
    op.create_index(
        "ix_marketing_bid_history_campaign_id_created_at",
        "marketing_bid_history",
        ["campaign_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_marketing_bid_history_keyword_id_created_at",
        "marketing_bid_history",
        ["keyword_id", "created_at"],
        unique=False,
    )

    op.execute(ENSURE_PARTITIONS_SQL)
    op.execute(AGGREGATE_DAILY_SQL)
    op.execute(INITIAL_PARTITIONS_SQL)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS fn_marketing_aggregate_daily_stats(date)")
    op.execute("DROP FUNCTION IF EXISTS marketing_stats_ensure_partitions(date, date)")
    # Dropping marketing_stats below drops its partitions with it.
    op.drop_index("ix_marketing_bid_history_keyword_id_created_at", table_name="marketing_bid_history")
    op.drop_index("ix_marketing_bid_history_campaign_id_created_at", table_name="marketing_bid_history")
    op.drop_table("marketing_bid_history")
    op.drop_index("ix_marketing_stats_daily_stat_date", table_name="marketing_stats_daily")
    op.drop_table("marketing_stats_daily")
    op.drop_index("ix_marketing_stats_campaign_keyword_date_collected", table_name="marketing_stats")
    op.drop_table("marketing_stats")
    op.drop_index(
        "ix_marketing_recommendations_campaign_id_created_at", table_name="marketing_recommendations"
    )
    op.drop_table("marketing_recommendations")
    op.drop_index(
        "uq_marketing_bid_intents_keyword_id_open",
        table_name="marketing_bid_intents",
        postgresql_where=sa.text("status IN ('pending', 'unknown')"),
    )
    op.drop_index(op.f("ix_marketing_bid_intents_cycle_run_id"), table_name="marketing_bid_intents")
    op.drop_index("ix_marketing_bid_intents_campaign_id_created_at", table_name="marketing_bid_intents")
    op.drop_table("marketing_bid_intents")
    op.drop_index("ix_marketing_alerts_created_at", table_name="marketing_alerts")
    op.drop_index("ix_marketing_alerts_campaign_id_alert_type_created_at", table_name="marketing_alerts")
    op.drop_table("marketing_alerts")
    op.drop_table("marketing_stats_monthly")
    op.drop_table("marketing_keywords")
    op.drop_index("ix_notifications_user_id_created_at", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_marketing_campaigns_marketplace_status", table_name="marketing_campaigns")
    op.drop_index(op.f("ix_marketing_campaigns_brand_id"), table_name="marketing_campaigns")
    op.drop_table("marketing_campaigns")
    op.drop_index(op.f("ix_users_brand_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_marketplace_accounts_brand_id"), table_name="marketplace_accounts")
    op.drop_table("marketplace_accounts")
    op.drop_index("ix_marketing_cycle_runs_started_at", table_name="marketing_cycle_runs")
    op.drop_table("marketing_cycle_runs")
    op.drop_index("ix_celery_failed_tasks_task_name", table_name="celery_failed_tasks")
    op.drop_index("ix_celery_failed_tasks_failed_at", table_name="celery_failed_tasks")
    op.drop_table("celery_failed_tasks")
    op.drop_table("brands")
