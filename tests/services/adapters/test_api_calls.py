"""Spec 7.4.2 `api_errors_rate` is measured in the one transport (app/services/marketing/api_calls.py):
every attempt to a marketplace counts, each failed attempt — here injected 5xx — counts as an error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.redis import get_redis
from app.sandbox.server import SandboxWorld
from app.services.marketing.api_calls import window_counts

pytestmark = pytest.mark.anyio


async def test_every_attempt_and_every_failed_one_is_counted(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = make_adapter("wb")
    async with sandbox_world.client("wildberries") as control:
        fault = {"path": "/adv/v1/promotion/count", "kind": "error", "status": 500, "count": 2}
        assert (await control.post("/_sandbox/faults", json=fault)).status_code == 201
    await adapter.list_campaigns()
    await adapter.aclose()
    counts = window_counts(get_redis(), "wb", minutes=5)
    assert counts.calls == len(sent_requests) and counts.calls >= 3
    assert counts.errors == 2
    assert window_counts(get_redis(), "ozon", minutes=5).calls == 0
