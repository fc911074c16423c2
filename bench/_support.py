"""What the benchmarks share: a scratch database of their own (created, migrated, dropped), a Redis,
and a sandbox served by a process of its own.

With no settings at all (a fresh checkout: no DATABASE_URL, no SECRET_KEY) the scratch database is
made on the embedded PostgreSQL of DATA_DIR, and the accounts the bench registers are encrypted
with a key of the bench's own (the scratch database and its rows are dropped afterwards).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from app.core.config import reset_settings_cache
from app.core.database import database_url, reset_engine
from app.core.embedded import EmbeddedRedis
from app.models.migrate import upgrade
from app.sandbox.server import APP_NAMES


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


@dataclass
class Sandbox:
    """A sandbox served by a process of its own, on `ports` (app name → port)."""

    ports: dict[str, int]
    process: subprocess.Popen[bytes]

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.ports[app]}"

    def control(self, path: str, body: Any = None) -> Any:
        url = self.url("wildberries") + "/_sandbox/" + path
        reply = httpx.post(url, json=body, timeout=120) if body is not None else httpx.get(url, timeout=120)
        reply.raise_for_status()
        return reply.json()

    def env(self, factor: float) -> dict[str, str]:
        """The settings that point the system at this sandbox (tests/support/sandbox_system.py)."""
        return {
            "WB_API_URL": self.url("wildberries"),
            "OZON_API_URL": self.url("ozon"),
            "YM_API_URL": self.url("yandex_market"),
            "WATCHER_API_URL": self.url("watcher"),
            "WATCHER_API_KEY": self.control("accounts")["watcher"]["api_key"],
            "CLOCK_URL": self.url("wildberries") + "/_sandbox/clock",
            "RATE_LIMIT_FACTOR": str(factor),
            "HTTP_BACKOFF_BASE": "0.05",
        }


@contextmanager
def sandbox_process(
    command: list[str], ports: dict[str, int], start_timeout: float = 300
) -> Iterator[Sandbox]:
    """Run `command` (a sandbox server on `ports`), wait until every app answers, stop it after."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    box = Sandbox(ports, process)
    try:
        deadline = time.monotonic() + start_timeout
        while not _answers(box):
            if process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start within {start_timeout:.0f} s")
            time.sleep(0.2)
        yield box
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(box: Sandbox) -> bool:
    try:
        return all(httpx.get(box.url(app) + "/_sandbox/clock", timeout=2).is_success for app in APP_NAMES)
    except httpx.HTTPError:
        return False
