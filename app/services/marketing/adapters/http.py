"""The one HTTP transport of all adapters (DESIGN.md §3 "Adapters"; issue 4 item 3).

Every call: waits for its slot in the shared bucket of (marketplace, account, method group); for
YM also for one of the 4 parallel slots; sends with a timeout; retries transient failures
(timeouts, connection errors, 5xx, 429/420, malformed JSON) with exponential backoff, full
jitter and a bound, honouring WB's `X-Ratelimit-Retry` and YM's `X-RateLimit-Resource-Until`;
and maps what is left to a typed error carrying the marketplace's own message. Request headers
(tokens) are never logged or put into an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.core.clock import machine_now, now_utc
from app.core.marketplaces import Marketplace
from app.services.marketing.adapters.base import (
    AuthError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from app.services.marketing.adapters.limits import RateLimit, find_operation
from app.services.marketing.adapters.pacing import PacingTimeout, RedisRateLimiter, RedisSemaphore
from app.services.marketing.api_calls import record_call

logger = logging.getLogger(__name__)

RATE_LIMITED = {429, 420}
# Our marketplace codes (spec: "wb", "ozon", "ym") → the names of the limits table.
MAX_MESSAGE = 300


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.5  # seconds; attempt n waits up to base × 2^(n-1)
    backoff_max: float = 30.0
    max_server_wait: float = 120.0  # a 429/420 asking for longer than this is not waited out


@dataclass
class Pacing:
    """How one account's requests are paced: the shared limiter, the limit key, the scaling."""

    limiter: RedisRateLimiter | None
    account_key: str  # e.g. "wb:17" — the bucket owner
    limit_key: str = "*"  # WB token type or YM tier, as in limits.py
    factor: float = 1.0  # the sandbox's fast profile multiplies every rate
    parallel: RedisSemaphore | None = None


ErrorParser = Callable[[httpx.Response], str]
AuthHeaders = Callable[[], Awaitable[dict[str, str]]]


def default_error_message(response: httpx.Response) -> str:
    """The marketplace's own words, from whichever of its error formats it used."""
    text = response.text.strip()
    try:
        body = response.json()
    except ValueError:
        return text[:MAX_MESSAGE] or response.reason_phrase
    return extract_message(body) or text[:MAX_MESSAGE] or response.reason_phrase


def extract_message(body: Any) -> str:
    if isinstance(body, str):
        return body[:MAX_MESSAGE]
    if not isinstance(body, Mapping):
        return ""
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts = []
        for item in errors[:5]:
            if isinstance(item, Mapping):
                text = item.get("message") or item.get("detail") or ""
                where = item.get("field") or item.get("code") or ""
                parts.append(f"{where}: {text}" if where and text else str(text or where))
        if parts:
            return "; ".join(parts)[:MAX_MESSAGE]
    for key in ("detail", "message", "error", "title", "errorText"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value[:MAX_MESSAGE]
    return ""


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The server's hint: WB `X-Ratelimit-Retry` (seconds), YM `X-RateLimit-Resource-Until`
    (an RFC 822 date), or the standard `Retry-After`."""
    headers = response.headers
    for name in ("X-Ratelimit-Retry", "Retry-After"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                pass
    until = headers.get("X-RateLimit-Resource-Until")
    if until:
        try:
            moment = parsedate_to_datetime(until)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - (now or machine_now())).total_seconds())
    return None


@dataclass
class HttpTransport:
    marketplace: str
    client: httpx.AsyncClient
    pacing: Pacing
    auth_headers: AuthHeaders
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    error_message: ErrorParser = default_error_message
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_unauthorized: Callable[[], Awaitable[None]] | None = None  # Ozon: drop the cached token

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        expect_json: bool = True,
    ) -> httpx.Response:
        """Send with pacing and retries; returns a 2xx response or raises a typed AdapterError."""
        refreshed_auth = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send_once(method, path, params, json_body)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                await self._count(failed=True)
                failure: Exception = TransientError(self.marketplace, operation, _describe_transport(error))
                server_wait = None
            except PacingTimeout as error:
                raise RateLimitedError(self.marketplace, operation, str(error), None, error.wait) from None
            else:
                status = response.status_code
                usable = status < 300 and (not expect_json or _is_json(response))
                await self._count(failed=not usable)
                if status < 300:
                    if not usable:
                        failure, server_wait = (
                            TransientError(
                                self.marketplace, operation, "malformed JSON in a 2xx reply", status
                            ),
                            None,
                        )
                    else:
                        return response
                elif status == 401 and self.on_unauthorized is not None and not refreshed_auth:
                    # Expired token (Ozon: 30 minutes): fetch a new one once, then try again.
                    refreshed_auth = True
                    await self.on_unauthorized()
                    attempt -= 1
                    continue
                elif status in (401, 403):
                    raise AuthError(self.marketplace, operation, self.error_message(response), status)
                elif status in RATE_LIMITED:
                    # YM's hint is an absolute date: measure it against the clock the world runs on.
                    server_wait = retry_after_seconds(response, now_utc())
                    failure = RateLimitedError(
                        self.marketplace, operation, self.error_message(response), status, server_wait or 0.0
                    )
                    if server_wait:
                        await self._push_back(method, path, server_wait)
                elif status >= 500:
                    failure, server_wait = (
                        TransientError(self.marketplace, operation, self.error_message(response), status),
                        None,
                    )
                else:
                    raise PermanentError(self.marketplace, operation, self.error_message(response), status)
            if attempt >= self.retry.max_attempts:
                raise failure
            if server_wait is not None and server_wait > self.retry.max_server_wait:
                raise failure
            delay = self._backoff(attempt, server_wait)
            logger.info(
                "%s %s: %s; retry %d/%d in %.1f s",
                self.marketplace,
                operation,
                failure,
                attempt,
                self.retry.max_attempts - 1,
                delay,
            )
            await self.sleep(delay)

    async def _count(self, failed: bool) -> None:
        """Spec 7.4.2 api_errors_rate: every attempt counted per marketplace (api_calls.py)."""
        if self.pacing.limiter is not None:
            await record_call(self.pacing.limiter.client, self.marketplace, failed)

    def _backoff(self, attempt: int, server_wait: float | None) -> float:
        if server_wait is not None:
            return server_wait + random.uniform(0, 0.25)
        ceiling = min(self.retry.backoff_max, self.retry.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _send_once(
        self, method: str, path: str, params: Mapping[str, Any] | None, json_body: Any
    ) -> httpx.Response:
        await self._wait_for_slot(method, path)
        lease = None
        if self.pacing.parallel is not None:
            lease = await self.pacing.parallel.acquire(timeout=self.pacing.parallel.lease_seconds)
        try:
            headers = await self.auth_headers()
            return await self.client.request(method, path, params=params, json=json_body, headers=headers)
        finally:
            if lease is not None and self.pacing.parallel is not None:
                await self.pacing.parallel.release(lease)

    def _bucket(self, method: str, path: str) -> tuple[str, RateLimit] | None:
        operation = find_operation(Marketplace(self.marketplace), method, path)
        if operation is None:
            return None
        limit = operation.limit_for(self.pacing.limit_key)
        if limit is None:
            raise AuthError(
                self.marketplace,
                f"{method} {path}",
                f"this token type ({self.pacing.limit_key}) may not call this method; use a personal or "
                "service token",
            )
        if self.pacing.factor != 1.0:
            limit = limit.scaled(self.pacing.factor)
        return f"{self.pacing.account_key}:{operation.group}", limit

    async def _wait_for_slot(self, method: str, path: str) -> None:
        if self.pacing.limiter is None:
            return
        bucket = self._bucket(method, path)
        if bucket is not None:
            await self.pacing.limiter.wait_turn(*bucket)

    async def _push_back(self, method: str, path: str, seconds: float) -> None:
        if self.pacing.limiter is None:
            return
        bucket = self._bucket(method, path)
        if bucket is not None:
            await self.pacing.limiter.push_back(bucket[0], seconds)


def json_body(response: httpx.Response) -> Any:
    """The JSON of a 2xx reply `request` returned; None when it has no body (a 204, an empty 200),
    which the transport lets through and each parser refuses in its own words."""
    return response.json() if response.content else None


def _is_json(response: httpx.Response) -> bool:
    """Whether the body parses — decoded once: the callers' `response.json()` then returns this
    decoding instead of parsing the body a second time (a large stats reply costs milliseconds)."""
    if not response.content:
        return True  # 204 and empty 200s carry no body to parse
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    setattr(response, "json", lambda **_: body)  # noqa: B010 (this instance's json(), decoded once)
    return True


def _describe_transport(error: Exception) -> str:
    kind = "timeout" if isinstance(error, httpx.TimeoutException) else "connection error"
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"{kind}: {detail}"[:MAX_MESSAGE]
