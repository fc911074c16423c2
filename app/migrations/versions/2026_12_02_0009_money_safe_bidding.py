"""Money-safe bidding (issue 9): spend freshness, manual holds, reversible pauses, refused bids,
bid units on intents and history, alert de-duplication.

Revision ID: 0009
Revises: 0001
Create Date: 2026-12-02 06:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=True, comment="kopecks")


def upgrade() -> None:
    op.add_column("marketing_campaigns", sa.Column("spent_updated_at", sa.DateTime(timezone=True)))
    op.add_column("marketing_keywords", sa.Column("held_until", sa.DateTime(timezone=True)))
    op.add_column("marketing_keywords", _money("paused_bid"))
    op.add_column("marketing_keywords", sa.Column("pause_mode", sa.String(32)))
    op.add_column("marketing_keywords", _money("refused_bid"))
    op.add_column("marketing_keywords", sa.Column("refused_reason", sa.Text()))
    op.add_column("marketing_keywords", sa.Column("refused_at", sa.DateTime(timezone=True)))
    op.add_column("marketing_bid_intents", sa.Column("bid_unit", sa.String(32)))
    op.add_column("marketing_bid_history", sa.Column("bid_unit", sa.String(32)))
    op.add_column("marketing_alerts", sa.Column("alert_date", sa.Date()))
    op.add_column("marketing_alerts", sa.Column("situation", sa.Text()))
    op.add_column("marketing_alerts", sa.Column("level", sa.Numeric(20, 4)))
    op.add_column(
        "marketing_alerts", sa.Column("repeats", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.create_index(
        "ix_marketing_alerts_alert_date_alert_type", "marketing_alerts", ["alert_date", "alert_type"]
    )


def downgrade() -> None:
    op.drop_index("ix_marketing_alerts_alert_date_alert_type", table_name="marketing_alerts")
    for column in ("repeats", "level", "situation", "alert_date"):
        op.drop_column("marketing_alerts", column)
    op.drop_column("marketing_bid_history", "bid_unit")
    op.drop_column("marketing_bid_intents", "bid_unit")
    for column in ("refused_at", "refused_reason", "refused_bid", "pause_mode", "paused_bid", "held_until"):
        op.drop_column("marketing_keywords", column)
    op.drop_column("marketing_campaigns", "spent_updated_at")
