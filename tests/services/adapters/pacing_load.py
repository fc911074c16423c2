"""One worker process of the shared-pacing test (`test_shared_pacing.py`; issue 4, "Four worker
processes driving one account at once").

Started with the `spawn` method, so it shares nothing with the test process but the environment it
is given: it builds the adapter of one sandbox account exactly as a Celery worker would
(`get_adapter` with its own Redis client, hence the same shared buckets), calls one adapter method
in a loop until the common deadline, and reports every HTTP exchange its transport saw — retries
included, which the adapter itself would hide — as (sent, answered, status, path) in this host's
monotonic clock (system-wide on Linux, so the test can merge the processes' timelines).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

import httpx
import redis.asyncio as aioredis

from app.services.marketing.adapters.base import AdapterError, Keyword

Exchange = tuple[float, float, int, str]  # sent, answered (monotonic s), HTTP status, path


@dataclass(frozen=True)
class LoadJob:
    marketplace: str
    base_url: str
    account_id: int
    account_name: str
    settings: Mapping[str, Any]
    secret: Mapping[str, str]
    keywords: Sequence[Keyword]
    redis_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    # Open the HTTP connection before the start (one unpaced sandbox call), as a worker that has
    # been running for a while has it; False = start cold, as a freshly built adapter does.
    warm_connection: bool = True


@dataclass
class LoadReport:
    pid: int
    exchanges: list[Exchange]
    calls: int
    errors: list[str]


def drive(job: LoadJob, ready: Queue[int], go: Event, stop_at: Synchronized[float], out: Queue[Any]) -> None:
    """Process entry point: get ready, wait for the common start, load until `stop_at`."""
    os.environ.update(job.env)
    from app.core.config import reset_settings_cache

    reset_settings_cache()
    out.put(asyncio.run(_load(job, ready, go, stop_at)))


async def _load(job: LoadJob, ready: Queue[int], go: Event, stop_at: Synchronized[float]) -> LoadReport:
    from app.services.marketing.adapters import AccountRef, get_adapter

    exchanges: list[Exchange] = []

    async def sent(request: httpx.Request) -> None:
        request.extensions["sent_at"] = time.monotonic()

    async def answered(response: httpx.Response) -> None:
        request = response.request
        exchanges.append(
            (request.extensions["sent_at"], time.monotonic(), response.status_code, request.url.path)
        )

    redis_client = aioredis.Redis.from_url(job.redis_url)
    http = httpx.AsyncClient(
        base_url=job.base_url, timeout=30.0, event_hooks={"request": [sent], "response": [answered]}
    )
    ref = AccountRef(job.account_id, job.marketplace, job.account_name, dict(job.settings))
    adapter = get_adapter(
        job.marketplace, ref, client=http, redis_client=redis_client, credentials=job.secret
    )
    calls, errors = 0, []
    try:
        if job.warm_connection:
            (await http.get("/_sandbox/clock")).raise_for_status()
            exchanges.clear()
        ready.put(os.getpid())
        if not await asyncio.to_thread(go.wait, 120):
            return LoadReport(os.getpid(), [], 0, ["never told to start"])
        deadline = stop_at.value
        while time.monotonic() < deadline:
            try:
                await adapter.get_current_bids(job.keywords)
            except AdapterError as error:
                errors.append(str(error))
            calls += 1
    finally:
        await adapter.aclose()
        await redis_client.aclose()
    return LoadReport(os.getpid(), exchanges, calls, errors)
