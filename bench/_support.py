"""What the benchmarks share: a scratch database of their own (created, migrated, dropped).

With no settings at all (a fresh checkout: no DATABASE_URL, no SECRET_KEY) the scratch database is
made on the embedded PostgreSQL of DATA_DIR, and the accounts the bench registers are encrypted
with a key of the bench's own (the scratch database and its rows are dropped afterwards).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from app.core.config import reset_settings_cache
from app.core.database import database_url, reset_engine
from app.core.embedded import EmbeddedRedis
from app.models.migrate import upgrade


@contextmanager
def scratch_database() -> Iterator[str]:
    """A database of its own on the configured server, migrated, dropped afterwards."""
    server = make_url(database_url())
    name = f"adolf_bench_{uuid.uuid4().hex[:10]}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    os.environ["DATABASE_URL"] = url
    # An explicit DATABASE_URL needs an explicit key (app/core/secrets.py); the bench's own will do,
    # and child processes inherit it.
    os.environ.setdefault("SECRET_KEY", Fernet.generate_key().decode())
    reset_settings_cache()
    reset_engine()
    try:
        upgrade(url)
        yield url
    finally:
        reset_engine()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL, else an embedded Redis in a temporary folder (pacing and locks need a Redis)."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="adolf-bench-") as folder:
        server = EmbeddedRedis(Path(folder) / "redis")
        server.start()
        try:
            yield server.url
        finally:
            server.stop()
