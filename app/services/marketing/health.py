"""check_api_health (spec 7.4.4; issue 4 item 5): ping every active account of every marketplace
and publish `marketing:api_status:{mp}` (spec 7.4.3) with status ok|slow|error, last_check,
response_time_ms, a true 24-hour error count (the spec's counter only ever grew — DESIGN.md §5),
last_error without secrets, and per-account detail.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis

from app.core.clock import now_utc
from app.core.config import get_settings
from app.core.database import session_scope
from app.core.redis import get_redis
from app.services.marketing.adapters import MARKETPLACES
from app.services.marketing.adapters.base import AdapterError, MarketplaceAdapter
from app.services.marketing.runtime import AdapterPool, active_accounts

DAY_SECONDS = 24 * 3600
STATUS_RANK = {"ok": 0, "slow": 1, "error": 2}


@dataclass(frozen=True)
class AccountHealth:
    account_id: int
    status: str  # ok | slow | error
    response_time_ms: int
    error: str | None = None


def status_key(marketplace: str) -> str:
    return f"marketing:api_status:{marketplace}"


def errors_key(marketplace: str) -> str:
    return f"marketing:api_errors:{marketplace}"


async def ping_account(adapter: MarketplaceAdapter, account_id: int, slow_ms: int) -> AccountHealth:
    started = time.perf_counter()
    try:
        await adapter.ping()
    except AdapterError as error:
        elapsed = int((time.perf_counter() - started) * 1000)
        return AccountHealth(account_id, "error", elapsed, str(error))
    elapsed = int((time.perf_counter() - started) * 1000)
    return AccountHealth(account_id, "ok" if elapsed < slow_ms else "slow", elapsed)


def run_health_check(now: datetime | None = None) -> dict[str, dict[str, object]]:
    """Ping every active account concurrently and publish one hash per marketplace."""
    settings = get_settings()
    with session_scope() as session:
        accounts = active_accounts(session)

    async def ping_all() -> list[tuple[str, AccountHealth]]:
        async with AdapterPool() as pool:
            results = await asyncio.gather(
                *(ping_account(pool.get(a), a.id, settings.API_SLOW_MS) for a in accounts)
            )
        return [(a.marketplace, r) for a, r in zip(accounts, results, strict=True)]

    pinged = asyncio.run(ping_all()) if accounts else []
    client = get_redis()
    moment = now or now_utc()
    summary: dict[str, dict[str, object]] = {}
    for marketplace in MARKETPLACES:
        results = [r for mp, r in pinged if mp == marketplace]
        if results:
            written = publish(client, marketplace, results, moment)
            summary[marketplace] = {k: v for k, v in written.items() if k != "accounts"}
        else:
            client.delete(status_key(marketplace))  # no account: no stale status either
    return summary


def publish(
    client: redis.Redis, marketplace: str, results: Sequence[AccountHealth], now: datetime
) -> dict[str, object]:
    """Write the spec's hash for one marketplace; returns what was written."""
    stamp = now.timestamp()
    window = errors_key(marketplace)
    pipe = client.pipeline()
    for index, result in enumerate(r for r in results if r.status == "error"):
        pipe.zadd(window, {f"{stamp}:{result.account_id}:{index}": stamp})
    pipe.zremrangebyscore(window, "-inf", stamp - DAY_SECONDS)
    pipe.zcard(window)
    pipe.expire(window, DAY_SECONDS + 3600)
    error_count = int(pipe.execute()[-2])
    worst = max(results, key=lambda r: (STATUS_RANK[r.status], r.response_time_ms))
    errors = [r for r in results if r.error]
    mapping: dict[str, str | int] = {
        "status": worst.status,
        "last_check": now.isoformat(),
        "response_time_ms": worst.response_time_ms,
        "error_count_24h": error_count,
        "accounts": json.dumps(
            {
                str(r.account_id): {
                    "status": r.status,
                    "response_time_ms": r.response_time_ms,
                    "error": r.error,
                }
                for r in results
            },
            ensure_ascii=False,
        ),
    }
    if errors:
        mapping["last_error"] = errors[-1].error or ""
    client.hset(status_key(marketplace), mapping=cast(Any, mapping))
    return dict(mapping)
