"""Test harness: real PostgreSQL, Redis and Celery workers (DESIGN.md §4 — no mocks of our own
infrastructure; issue 2 item 7).

TEST_DATABASE_URL / TEST_REDIS_URL point at servers when set (CI sets them to this machine's
services); otherwise the session starts the embedded ones in a temporary folder. Before any test
module is imported, `pytest_configure` builds one database by running the migrations and points
DATABASE_URL / REDIS_URL / DATA_DIR / SECRET_KEY of this process (and of the worker subprocesses
the tests start) at the test services.

Under pytest-xdist (`-n 2`, as scripts/test.sh runs) each worker is a session of its own: its own
database, and its own Redis database — TEST_REDIS_URL's number plus 1 + the worker's index, modulo
16 (db 15 → 0 and 1 for gw0 and gw1) — or its own embedded servers. The controller runs no test and
sets nothing up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from app.core.embedded import EmbeddedPostgres, EmbeddedRedis, to_sqlalchemy_url
from tests.support import network_guard

# The sandbox-backed system fixture, shared by the integration and end-to-end tests.
pytest_plugins = ("tests.support.sandbox_system",)

_state: dict[str, object] = {}


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def xdist_worker_index(config: pytest.Config) -> int | None:
    """0 for xdist's gw0, 1 for gw1...; None when the tests run in this process alone."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else int(str(workerinput["workerid"]).removeprefix("gw"))


def is_xdist_controller(config: pytest.Config) -> bool:
    return xdist_worker_index(config) is None and bool(getattr(config.option, "numprocesses", None))


def redis_url_of_worker(url: str, index: int | None) -> str:
    """Each xdist worker flushes its Redis database between tests: give each one its own."""
    if index is None:
        return url
    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N
        query = dict(parse_qsl(parts.query))
        query["db"] = str((int(query.get("db", 0)) + 1 + index) % 16)
        return urlunsplit(parts._replace(query=urlencode(query)))
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base + 1 + index) % 16}"))


def pytest_configure(config: pytest.Config) -> None:
    if is_xdist_controller(config):
        return
    network_guard.install()
    root = Path(tempfile.mkdtemp(prefix="adolf-test-"))
    _state["root"] = root
    admin = os.environ.get("TEST_DATABASE_URL")
    admin = to_sqlalchemy_url(admin) if admin else EmbeddedPostgres(root / "pg", database="postgres").start()
    _state["admin"] = admin
    redis_url = os.environ.get("TEST_REDIS_URL")
    if redis_url:
        redis_url = redis_url_of_worker(redis_url, xdist_worker_index(config))
    else:
        server = EmbeddedRedis(root / "redis")
        server.start()
        _state["redis_server"] = server
        redis_url = server.url
    name = f"adolf_test_{uuid.uuid4().hex[:10]}"
    _state["db_name"] = name
    database_url = create_database(admin, name)
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DATA_DIR": str(root / "data"),
            "SECRET_KEY": Fernet.generate_key().decode(),
            # The workers' own check_metrics when beat has not sent one (issue 10) would add system
            # alerts to every worker test that outlives it; tests/tasks/test_monitoring.py turns it on.
            "MONITOR_WATCHDOG_S": "0",
        }
    )
    os.environ.pop("BROKER_URL", None)
    from app.core.config import reset_settings_cache
    from app.models.migrate import upgrade

    reset_settings_cache()
    upgrade(database_url)


def pytest_unconfigure(config: pytest.Config) -> None:
    if "db_name" in _state:
        from app.core.database import reset_engine

        reset_engine()
        drop_database(str(_state["admin"]), str(_state["db_name"]))
    server = _state.get("redis_server")
    if isinstance(server, EmbeddedRedis):
        server.stop()
    root = _state.get("root")
    if isinstance(root, Path):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """SQLAlchemy URL of a database on the test server whose user may CREATE DATABASE."""
    return str(_state["admin"])


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
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def database_url() -> str:
    """The migrated test database shared by the session."""
    return os.environ["DATABASE_URL"]


@pytest.fixture
def clean_db(database_url: str) -> Iterator[None]:
    """Empties every table of ours before the test (for tests whose data crosses processes)."""
    from sqlalchemy import text

    from app.core.database import get_engine
    from app.models.base import Base

    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield


@pytest.fixture
def db_session(clean_db: None) -> Iterator[object]:
    from app.core.database import session_scope

    with session_scope() as session:
        yield session


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[object]:
    """The test Redis, emptied before the test."""
    from app.core.redis import get_redis

    client = get_redis()
    client.flushdb()
    yield client


@pytest.fixture
def worker_factory(tmp_path: Path, redis_client: object) -> Iterator[object]:
    """Starts real prefork worker subprocesses; stops them (and their children) afterwards."""
    from tests.support.worker import WorkerProcess, start_worker

    started: list[WorkerProcess] = []

    def factory(**kwargs: object) -> WorkerProcess:
        worker = start_worker(tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield factory
    for worker in started:
        worker.stop()
