"""Test harness: real PostgreSQL and Redis (DESIGN.md §4 — no mocks of our own infrastructure).

TEST_DATABASE_URL / TEST_REDIS_URL point at servers when set (CI sets them to this machine's
services); otherwise the session starts the embedded ones in a temporary folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.core.embedded import EmbeddedPostgres, EmbeddedRedis, to_sqlalchemy_url


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLAlchemy URL of a database on the test server whose user may CREATE DATABASE."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return to_sqlalchemy_url(configured)
    return EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", database="postgres").start()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database_url(pg_admin_url: str) -> Iterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"adolf_test_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_admin_url, name)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the test Redis (flushed by tests that need a clean one)."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
