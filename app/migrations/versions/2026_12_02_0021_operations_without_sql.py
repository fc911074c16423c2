"""A marketing team runs it without SQL (issue 12): people's campaign changes, the stop switch,
users' notification channels and the deliveries outbox, rollback requests of the Telegram button.

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-02 00:21:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketing_freezes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("marketplace", sa.String(length=32), nullable=True),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("frozen_by", sa.String(length=255), nullable=False),
        sa.Column("unfrozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unfrozen_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "marketplace IN ('wb', 'ozon', 'ym')", name=op.f("ck_marketing_freezes_marketplace")
        ),
        sa.CheckConstraint(
            "scope IN ('all', 'marketplace', 'account')", name=op.f("ck_marketing_freezes_scope")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["marketplace_accounts.id"],
            name=op.f("fk_marketing_freezes_account_id_marketplace_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_freezes")),
    )
    op.create_index("ix_marketing_freezes_unfrozen_at", "marketing_freezes", ["unfrozen_at"], unique=False)
    op.create_table(
        "user_notification_channels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("min_severity", sa.String(length=32), server_default="warning", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "channel IN ('telegram', 'email')", name=op.f("ck_user_notification_channels_channel")
        ),
        sa.CheckConstraint(
            "min_severity IN ('info', 'warning', 'critical')",
            name=op.f("ck_user_notification_channels_min_severity"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_notification_channels_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_notification_channels")),
        sa.UniqueConstraint("user_id", "channel", name=op.f("uq_user_notification_channels_user_id_channel")),
    )
    op.create_index(
        "ix_user_notification_channels_channel_address",
        "user_notification_channels",
        ["channel", "address"],
        unique=False,
    )
    op.create_table(
        "marketing_campaign_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column(
            "changes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["marketing_campaigns.id"],
            name=op.f("fk_marketing_campaign_changes_campaign_id_marketing_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_campaign_changes")),
    )
    op.create_index(
        "ix_marketing_campaign_changes_campaign_id_created_at",
        "marketing_campaign_changes",
        ["campaign_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("digest_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "channel IN ('telegram', 'email')", name=op.f("ck_notification_deliveries_channel")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'digest', 'digested', 'sent', 'failed')",
            name=op.f("ck_notification_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["digest_id"],
            ["notification_deliveries.id"],
            name=op.f("fk_notification_deliveries_digest_id_notification_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_deliveries_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    op.create_index(
        "ix_notification_deliveries_notification_id",
        "notification_deliveries",
        ["notification_id"],
        unique=False,
    )
    op.create_index(
        "ix_notification_deliveries_status_next_attempt_at",
        "notification_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_notification_deliveries_user_id_status",
        "notification_deliveries",
        ["user_id", "status"],
        unique=False,
    )
    op.create_table(
        "marketing_rollback_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("history_id", sa.BigInteger(), nullable=True),
        sa.Column("keyword_id", sa.BigInteger(), nullable=False),
        sa.Column("target_bid", sa.BigInteger(), nullable=False, comment="marketplace bid unit"),
        sa.Column("bid_unit", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("reply_to", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="queued", nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'applied', 'unchanged', 'refused')",
            name=op.f("ck_marketing_rollback_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["history_id"],
            ["marketing_bid_history.id"],
            name=op.f("fk_marketing_rollback_requests_history_id_marketing_bid_history"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["marketing_keywords.id"],
            name=op.f("fk_marketing_rollback_requests_keyword_id_marketing_keywords"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_marketing_rollback_requests_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_rollback_requests")),
        sa.UniqueConstraint("history_id", name=op.f("uq_marketing_rollback_requests_history_id")),
    )


def downgrade() -> None:
    op.drop_table("marketing_rollback_requests")
    op.drop_index("ix_notification_deliveries_user_id_status", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_status_next_attempt_at", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_notification_id", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index(
        "ix_marketing_campaign_changes_campaign_id_created_at", table_name="marketing_campaign_changes"
    )
    op.drop_table("marketing_campaign_changes")
    op.drop_index("ix_user_notification_channels_channel_address", table_name="user_notification_channels")
    op.drop_table("user_notification_channels")
    op.drop_index("ix_marketing_freezes_unfrozen_at", table_name="marketing_freezes")
    op.drop_table("marketing_freezes")
