"""Declarative base shared by every model (DESIGN.md §2 `models/base.py`).

Conventions (issue 2 item 3):

- constraint and index names come from one naming convention, so Alembic migrations and
  `alembic check` see the same names the models declare;
- every timestamp is `timestamptz` stored in UTC (DESIGN.md §3 "Time") with `server_default now()`;
- money is `BigInteger` kopecks (DESIGN.md §3 "Money is integer kopecks"); a column holding money
  says so in its `comment`;
- enum-like columns are `String(32)` with a CHECK constraint built by `check_in()` from the
  allowed values, which live as `StrEnum`s in the model modules (no PostgreSQL ENUM types: adding
  a value is then one constraint swap, not an `ALTER TYPE` that cannot run in a transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, ColumnElement, DateTime, MetaData, any_, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of all models; `Base.metadata` is what Alembic compares against the database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Ids and money are BIGINT: a larger number is not an id or an amount of ours, and PostgreSQL would
# refuse it with a DataError half-way through a transaction. Inputs are checked against it first.
MAX_BIGINT: Final = 2**63 - 1


def is_row_id(value: object) -> bool:
    """Whether `value` can be the id of a row (a positive BIGINT, not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_BIGINT


def any_of(
    column: Any, values: Iterable[Any], item_type: type[TypeEngine[Any]] | TypeEngine[Any] = BigInteger
) -> ColumnElement[bool]:
    """`column = ANY(:array)`: one array parameter, however many values — where `column.in_(values)`
    expands into one placeholder per value that the server parses anew for every list length."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(item_type)))


def check_in(column: str, values: Iterable[str]) -> str:
    """SQL text of a CHECK that `column` holds one of `values` (NULL passes, as in SQL)."""
    quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"{column} IN ({quoted})"


class CreatedAtMixin:
    """`created_at`: when the row was inserted (UTC, set by the database)."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, sort_order=900
    )


class TimestampMixin(CreatedAtMixin):
    """`created_at` and `updated_at` (the latter refreshed by the ORM on every UPDATE)."""

    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        server_default=func.now(),
        onupdate=func.now(),
        nullable=False,
        sort_order=901,
    )
