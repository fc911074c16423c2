"""Adapters against the sandbox: in-process over its ASGI apps, or over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from app.core.config import get_settings, reset_settings_cache
from app.core.marketplaces import Marketplace
from app.core.redis import client_url
from app.sandbox.server import SandboxWorld, ServerThread, create_sandbox
from app.services.marketing.adapters import AccountRef, get_adapter
from app.services.marketing.adapters.base import MarketplaceAdapter

APP_OF = {m.value: m.long_name for m in Marketplace}
FAST_FACTOR = 60.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["fast"])
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox_world(profile: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxWorld]:
    """A seeded sandbox on a real-time clock, and our pacing set to the same profile."""
    monkeypatch.setenv("RATE_LIMIT_FACTOR", str(FAST_FACTOR if profile == "fast" else 1.0))
    monkeypatch.setenv("HTTP_BACKOFF_BASE", "0.05")
    reset_settings_cache()
    yield create_sandbox(seed=11, profile=profile, speed=1.0, fast_factor=FAST_FACTOR)
    monkeypatch.undo()
    reset_settings_cache()


def sandbox_account(
    world: SandboxWorld, marketplace: str, index: int = 0
) -> tuple[AccountRef, dict[str, str]]:
    """An account of the sandbox's world as our database would hold it: ref + decrypted secret."""
    accounts = [a for a in world.sandbox.accounts_json() if a["marketplace"] == APP_OF[marketplace]]
    account = accounts[index]
    creds = account["credentials"]
    settings: dict[str, Any] = {}
    if marketplace == "wb":
        secret = {"token": creds["tokens"]["personal"]}
    elif marketplace == "ozon":
        secret = {"client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    else:
        secret = {"api_key": creds["api_key"]}
        settings = {"business_id": str(creds["business_id"]), "campaign_ids": creds["campaign_ids"]}
    return AccountRef(account["id"], marketplace, account["name"], settings), secret


AdapterFactory = Callable[..., MarketplaceAdapter]


@pytest.fixture
async def shared_redis(redis_client: Any) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(client_url(get_settings().redis_url))
    yield client
    await client.aclose()


@pytest.fixture
def sent_requests() -> list[httpx.Request]:
    """Every request the adapters made in this test (for the request-schema contract checks)."""
    return []


@pytest.fixture
async def make_adapter(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis, sent_requests: list[httpx.Request]
) -> AsyncIterator[AdapterFactory]:
    """`make_adapter("wb", index=0, base_url=None)`: an adapter of a sandbox account — in-process
    over the ASGI app, or over real HTTP when `base_url` (from `sandbox_server.url(...)`) is given.
    Every adapter made is closed when the test ends, also when it fails before its own `aclose()`:
    an open client over real HTTP would leave sockets for the garbage collector to warn about."""
    made: list[MarketplaceAdapter] = []

    async def record(request: httpx.Request) -> None:
        sent_requests.append(request)

    def factory(marketplace: str, index: int = 0, base_url: str | None = None) -> MarketplaceAdapter:
        ref, secret = sandbox_account(sandbox_world, marketplace, index)
        timeout = get_settings().HTTP_TIMEOUT
        hooks = {"request": [record]}
        if base_url:
            http = httpx.AsyncClient(base_url=base_url, timeout=timeout, event_hooks=hooks)
        else:
            http = sandbox_world.client(APP_OF[marketplace], timeout=timeout, event_hooks=hooks)
        made.append(get_adapter(marketplace, ref, client=http, redis_client=shared_redis, credentials=secret))
        return made[-1]

    yield factory
    for adapter in made:
        await adapter.aclose()


@pytest.fixture
def sandbox_server(sandbox_world: SandboxWorld) -> Iterator[ServerThread]:
    """The same world served by uvicorn on free loopback ports (real HTTP)."""
    with ServerThread(sandbox_world) as server:
        yield server
