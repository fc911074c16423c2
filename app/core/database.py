"""PostgreSQL access: one engine per process, sessions as context managers.

Prefork children must never share a pooled connection across fork (celery-reliability.md §4), so
the engine is created lazily in the process that uses it and re-created when the PID changes.
`pool_pre_ping` survives PostgreSQL restarts; `statement_timeout` keeps a stuck query from
outliving the task's soft time limit (celery-reliability.md §1.5).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import get_settings
from app.core.embedded import EmbeddedPostgres, to_sqlalchemy_url

_engine: Engine | None = None
_engine_pid: int | None = None
_session_factory: sessionmaker[Session] | None = None


def database_url() -> str:
    """DATABASE_URL, or the embedded PostgreSQL of DATA_DIR (started or joined on first use)."""
    settings = get_settings()
    if settings.DATABASE_URL:
        return to_sqlalchemy_url(settings.DATABASE_URL)
    return EmbeddedPostgres(settings.pgdata_path).start()


def make_engine(url: str) -> Engine:
    settings = get_settings()
    return create_engine(
        to_sqlalchemy_url(url),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={
            "connect_timeout": 10,
            "options": f"-c statement_timeout={settings.DB_STATEMENT_TIMEOUT_MS} -c timezone=UTC",
        },
    )


def get_engine() -> Engine:
    global _engine, _engine_pid, _session_factory
    if _engine is None or _engine_pid != os.getpid():
        if _engine is not None:
            # Inherited from the parent through fork: drop the pool without closing its sockets.
            _engine.dispose(close=False)
        _engine = make_engine(database_url())
        _engine_pid = os.getpid()
        _session_factory = sessionmaker(bind=_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    """Forget the engine (tests and the CLI switch databases)."""
    global _engine, _engine_pid, _session_factory
    if _engine is not None and _engine_pid == os.getpid():
        _engine.dispose()
    _engine = _engine_pid = _session_factory = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    get_engine()
    assert _session_factory is not None
    session = _session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# The spec's name (7.3.x: `with get_db_session() as db`).
get_db_session = session_scope
