"""Fixtures of the sandbox tests: a frozen-clock world (time moves only when a test advances it)
and in-process clients of its apps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.server import SandboxWorld, create_sandbox


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world() -> SandboxWorld:
    return create_sandbox(seed=7, speed=0)


@pytest.fixture
async def wb(world: SandboxWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client("wildberries") as client:
        yield client


@pytest.fixture
async def ozon(world: SandboxWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client("ozon") as client:
        yield client


@pytest.fixture
async def ym(world: SandboxWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client("yandex_market") as client:
        yield client


@pytest.fixture
async def watcher(world: SandboxWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client("watcher") as client:
        yield client


def accounts(world: SandboxWorld, marketplace: Marketplace) -> list[dict[str, Any]]:
    return world.sandbox.accounts_json(marketplace.long_name)


def wb_headers(world: SandboxWorld, token_type: str = "personal", index: int = 0) -> dict[str, str]:
    account = accounts(world, Marketplace.WB)[index]
    return {"Authorization": account["credentials"]["tokens"][token_type]}


def ym_headers(world: SandboxWorld, index: int = 0) -> dict[str, str]:
    account = accounts(world, Marketplace.YM)[index]
    return {"Api-Key": account["credentials"]["api_key"]}


async def ozon_headers(client: httpx.AsyncClient, world: SandboxWorld, index: int = 0) -> dict[str, str]:
    creds = accounts(world, Marketplace.OZON)[index]["credentials"]
    reply = await client.post(
        "/api/client/token",
        json={
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "grant_type": "client_credentials",
        },
    )
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    """Move the shared virtual clock through the control API (as an external test would)."""
    reply = await client.post("/_sandbox/clock", json={"advance": seconds})
    assert reply.status_code == 200, reply.text
