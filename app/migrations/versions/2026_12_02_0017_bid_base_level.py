"""The strategy's level a bid stands for before dayparting (`base_bid`), kept with each intent and
history row: the next cycle moves a held level along the schedule from it (bid_engine rule 3).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("marketing_bid_intents", "marketing_bid_history")
COMMENT = "the bid's level before the dayparting multiplier, in bid_unit; NULL: new_bid itself"


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("base_bid", sa.BigInteger(), nullable=True, comment=COMMENT))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "base_bid")
