"""The whole system against a sandbox served over real HTTP on loopback, with our clock following
the sandbox's virtual clock (CLOCK_URL) so that simulated days are the system's days too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from app.core.config import reset_settings_cache
from app.core.database import session_scope
from app.sandbox.server import SandboxWorld, ServerThread, create_sandbox
from app.services.marketing.sandbox_accounts import register_sandbox_accounts

FAST_FACTOR = 60.0


@dataclass
class SandboxSystem:
    world: SandboxWorld
    server: ServerThread

    @property
    def clock_url(self) -> str:
        return self.server.url("wildberries") + "/_sandbox/clock"

    def now(self) -> datetime:
        return datetime.fromisoformat(httpx.get(self.clock_url, timeout=5).json()["now"])

    def advance(self, seconds: float) -> datetime:
        reply = httpx.post(self.clock_url, json={"advance": seconds}, timeout=30)
        reply.raise_for_status()
        return datetime.fromisoformat(reply.json()["now"])

    def set_time(self, moment: datetime) -> datetime:
        reply = httpx.post(self.clock_url, json={"set": moment.isoformat()}, timeout=30)
        reply.raise_for_status()
        return datetime.fromisoformat(reply.json()["now"])

    def effects(self, since: int = 0) -> list[dict[str, object]]:
        reply = httpx.get(self.server.url("wildberries") + f"/_sandbox/effects?since={since}", timeout=30)
        reply.raise_for_status()
        body = reply.json()
        return list(body["effects"] if isinstance(body, dict) else body)

    def env(self) -> dict[str, str]:
        """Settings that point the system (this process or a worker subprocess) at this sandbox."""
        return {
            "WB_API_URL": self.server.url("wildberries"),
            "OZON_API_URL": self.server.url("ozon"),
            "YM_API_URL": self.server.url("yandex_market"),
            "WATCHER_API_URL": self.server.url("watcher"),
            "WATCHER_API_KEY": self.world.sandbox.watcher_key,
            "CLAUDE_API_URL": self.server.url("claude"),
            "CLAUDE_API_KEY": self.world.sandbox.claude_key,
            "TELEGRAM_API_URL": self.server.url("telegram"),
            "TELEGRAM_BOT_TOKEN": self.world.sandbox.telegram_token,
            "CLOCK_URL": self.clock_url,
            "RATE_LIMIT_FACTOR": str(FAST_FACTOR),
            "HTTP_BACKOFF_BASE": "0.05",
        }


@contextmanager
def running_sandbox(
    monkeypatch: pytest.MonkeyPatch, *, register_accounts: bool = True
) -> Iterator[SandboxSystem]:
    """The sandbox over HTTP with this process's settings pointing at it; its accounts registered
    unless `register_accounts` is False (a test that adds them as a user would)."""
    world = create_sandbox(seed=5, profile="fast", speed=1.0, fast_factor=FAST_FACTOR, size="small")
    with ServerThread(world) as server:
        system = SandboxSystem(world, server)
        for key, value in system.env().items():
            monkeypatch.setenv(key, value)
        reset_settings_cache()
        try:
            if register_accounts:
                with session_scope() as session:
                    register_sandbox_accounts(session, world.sandbox.accounts_json())
            yield system
        finally:
            # Also when the test fails: cached settings must not keep pointing at a stopped sandbox.
            monkeypatch.undo()
            reset_settings_cache()


@pytest.fixture
def sandbox_system(
    clean_db: None, redis_client: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SandboxSystem]:
    with running_sandbox(monkeypatch) as system:
        yield system
