"""Analytics runs and their Claude batch; recommendations with the pending → accepted | rejected |
applied | expired life cycle and source rules | claude; bid source `recommendation` (issue 11).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 00:11:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_BID_SOURCES = "source IN ('bid_cycle', 'manual', 'rollback')"
NEW_BID_SOURCES = "source IN ('bid_cycle', 'manual', 'rollback', 'recommendation')"
RECOMMENDATION_TYPES = (
    "recommendation_type IN ('raise_bid', 'lower_bid', 'pause_keyword', 'add_minus_phrase', "
    "'move_budget', 'change_strategy')"
)
NEW_COLUMNS = (
    ("analytics_run_id", sa.BigInteger(), None),
    ("reason", sa.Text(), ""),
    ("expected_spend_change", sa.BigInteger(), "kopecks"),
    ("expected_revenue_change", sa.BigInteger(), "kopecks"),
    ("current_bid", sa.BigInteger(), "marketplace bid unit"),
    ("proposed_bid", sa.BigInteger(), "marketplace bid unit"),
    ("decided_at", sa.DateTime(timezone=True), None),
    ("decided_by", sa.String(length=255), None),
    ("applied_at", sa.DateTime(timezone=True), None),
    ("status_note", sa.Text(), None),
)


def _swap_check(table: str, name: str, sql: str) -> None:
    op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
    op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, sql)


def upgrade() -> None:
    op.create_table(
        "marketing_analytics_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="running", nullable=False),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("ai_status", sa.String(length=32), server_default="off", nullable=False),
        sa.Column("ai_note", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("batch_id", sa.String(length=128), nullable=True),
        sa.Column("batch_requests", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("batch_submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("batch_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("batch_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tokens_reserved", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("tokens_used", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'failed')", name=op.f("ck_marketing_analytics_runs_status")
        ),
        sa.CheckConstraint(
            "ai_status IN ('off', 'skipped', 'submitting', 'submitted', 'collected', 'failed', 'canceled', "
            "'expired', 'lost')",
            name=op.f("ck_marketing_analytics_runs_ai_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_analytics_runs")),
        sa.UniqueConstraint("batch_id", name=op.f("uq_marketing_analytics_runs_batch_id")),
    )
    op.create_index(
        "ix_marketing_analytics_runs_started_at", "marketing_analytics_runs", ["started_at"], unique=False
    )
    op.create_index(
        "ix_marketing_analytics_runs_ai_status", "marketing_analytics_runs", ["ai_status"], unique=False
    )

    table = "marketing_recommendations"
    # The table was unused until now; old values map onto the new life cycle all the same.
    op.drop_constraint(op.f(f"ck_{table}_status"), table, type_="check")
    op.drop_constraint(op.f(f"ck_{table}_source"), table, type_="check")
    op.execute(
        f"UPDATE {table} SET status = CASE status WHEN 'new' THEN 'pending' WHEN 'dismissed' "
        "THEN 'rejected' ELSE status END, source = CASE source WHEN 'ai' THEN 'claude' ELSE source END"
    )
    op.alter_column(table, "status", server_default="pending")
    op.create_check_constraint(
        op.f(f"ck_{table}_status"),
        table,
        "status IN ('pending', 'accepted', 'rejected', 'applied', 'expired')",
    )
    op.create_check_constraint(op.f(f"ck_{table}_source"), table, "source IN ('rules', 'claude')")
    for name, type_, comment in NEW_COLUMNS:
        if name == "reason":
            op.add_column(table, sa.Column(name, type_, server_default="", nullable=False))
        else:
            op.add_column(table, sa.Column(name, type_, nullable=True, comment=comment))
    op.create_check_constraint(op.f(f"ck_{table}_recommendation_type"), table, RECOMMENDATION_TYPES)
    op.create_foreign_key(
        op.f(f"fk_{table}_analytics_run_id_marketing_analytics_runs"),
        table,
        "marketing_analytics_runs",
        ["analytics_run_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(op.f(f"ix_{table}_analytics_run_id"), table, ["analytics_run_id"], unique=False)
    op.create_index("ix_marketing_recommendations_status", table, ["status"], unique=False)

    _swap_check("marketing_bid_intents", "source", NEW_BID_SOURCES)
    _swap_check("marketing_bid_history", "source", NEW_BID_SOURCES)


def downgrade() -> None:
    for history in ("marketing_bid_history", "marketing_bid_intents"):
        op.execute(f"UPDATE {history} SET source = 'manual' WHERE source = 'recommendation'")
        _swap_check(history, "source", OLD_BID_SOURCES)

    table = "marketing_recommendations"
    op.drop_index("ix_marketing_recommendations_status", table_name=table)
    op.drop_index(op.f(f"ix_{table}_analytics_run_id"), table_name=table)
    op.drop_constraint(
        op.f(f"fk_{table}_analytics_run_id_marketing_analytics_runs"), table, type_="foreignkey"
    )
    op.drop_constraint(op.f(f"ck_{table}_recommendation_type"), table, type_="check")
    for name, _, _ in reversed(NEW_COLUMNS):
        op.drop_column(table, name)
    op.drop_constraint(op.f(f"ck_{table}_status"), table, type_="check")
    op.drop_constraint(op.f(f"ck_{table}_source"), table, type_="check")
    op.execute(
        f"UPDATE {table} SET status = CASE status WHEN 'pending' THEN 'new' WHEN 'accepted' THEN 'new' "
        "WHEN 'rejected' THEN 'dismissed' WHEN 'expired' THEN 'dismissed' ELSE status END, "
        "source = CASE source WHEN 'claude' THEN 'ai' ELSE source END"
    )
    op.alter_column(table, "status", server_default="new")
    op.create_check_constraint(op.f(f"ck_{table}_status"), table, "status IN ('new', 'applied', 'dismissed')")
    op.create_check_constraint(op.f(f"ck_{table}_source"), table, "source IN ('ai', 'rules')")

    op.drop_index("ix_marketing_analytics_runs_ai_status", table_name="marketing_analytics_runs")
    op.drop_index("ix_marketing_analytics_runs_started_at", table_name="marketing_analytics_runs")
    op.drop_table("marketing_analytics_runs")
