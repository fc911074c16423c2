"""Alembic environment: the models' metadata against the database at hand.

The database comes from, in order: a connection passed in `config.attributes["connection"]`,
the URL set by `app.models.migrate.alembic_config` (`config.attributes["database_url"]` or the
`sqlalchemy.url` option), `DATABASE_URL` from the settings, and finally the embedded PostgreSQL
of the zero-config default (DESIGN.md §3).
"""

from __future__ import annotations

import re
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from app.core.embedded import to_sqlalchemy_url
from app.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Daily partitions of marketing_stats are created at run time, not declared in the models.
_PARTITION = re.compile(r"^marketing_stats_p\d{8}$")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table" and name is not None:
        return not _PARTITION.match(name)
    return True


def _database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return to_sqlalchemy_url(str(url))
    from app.core.config import get_settings

    settings = get_settings()
    if settings.DATABASE_URL:
        return to_sqlalchemy_url(settings.DATABASE_URL)
    from app.core.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.pgdata_path).start()


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_name=include_name,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
