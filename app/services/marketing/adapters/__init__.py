"""`get_adapter(marketplace, account)` as the spec calls it (7.3.1), and what it is built from.

An adapter is made per account: the account's credentials are decrypted here and handed to the
adapter only (DESIGN.md §3 "Credentials never travel"); its HTTP client talks to the setting's
base URL (real host by default, the sandbox in the demo and tests); its pacing shares Redis
buckets with every other worker driving the same account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis.asyncio as aioredis

from app.core.config import Settings, get_settings
from app.core.http import async_client
from app.core.redis import client_url
from app.core.secrets import decrypt_credentials
from app.models.marketing import MARKETPLACES
from app.services.marketing.adapters.base import MarketplaceAdapter
from app.services.marketing.adapters.http import Pacing, RetryPolicy
from app.services.marketing.adapters.pacing import RedisRateLimiter


class UnknownMarketplaceError(ValueError):
    pass


def require_marketplace(marketplace: str) -> str:
    """A known marketplace code, or a one-line error that lists them."""
    if marketplace not in MARKETPLACES:
        raise UnknownMarketplaceError(
            f"unknown marketplace {marketplace!r}; use one of {', '.join(MARKETPLACES)}"
        )
    return marketplace


@dataclass(frozen=True)
class AccountRef:
    """What an adapter may know of an account besides its secret."""

    id: int
    marketplace: str
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)


def base_url(marketplace: str, settings: Settings) -> str:
    return {"wb": settings.WB_API_URL, "ozon": settings.OZON_API_URL, "ym": settings.YM_API_URL}[marketplace]


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.HTTP_MAX_ATTEMPTS,
        backoff_base=settings.HTTP_BACKOFF_BASE,
        backoff_max=settings.HTTP_BACKOFF_MAX,
    )


def shared_redis(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        client_url(settings.redis_url), socket_timeout=10, socket_connect_timeout=5
    )


def get_adapter(
    marketplace: str,
    account: Any,
    *,
    client: httpx.AsyncClient | None = None,
    redis_client: aioredis.Redis | None = None,
    credentials: Mapping[str, str] | None = None,
) -> MarketplaceAdapter:
    """The adapter of one account (a MarketplaceAccount row or an AccountRef).

    `client` replaces the HTTP client (tests pass one over the sandbox's ASGI app); `redis_client`
    the shared-bucket Redis; `credentials` the decrypted secret (else taken from the row).
    """
    require_marketplace(marketplace)
    settings = get_settings()
    ref = AccountRef(
        id=account.id, marketplace=marketplace, name=account.name, settings=dict(account.settings or {})
    )
    secret = (
        dict(credentials) if credentials is not None else decrypt_credentials(account.credentials_encrypted)
    )
    http = client or async_client(base_url=base_url(marketplace, settings), timeout=settings.HTTP_TIMEOUT)
    pacing = Pacing(
        limiter=RedisRateLimiter(redis_client or shared_redis(settings)),
        account_key=f"{marketplace}:{account.id}",
        factor=settings.RATE_LIMIT_FACTOR,
    )
    retry = retry_policy(settings)
    if marketplace == "wb":
        from app.services.marketing.adapters.wildberries import WildberriesAdapter

        return WildberriesAdapter(ref, secret, http, pacing, retry)
    if marketplace == "ozon":
        from app.services.marketing.adapters.ozon import OzonAdapter

        return OzonAdapter(ref, secret, http, pacing, retry)
    from app.services.marketing.adapters.yandex_market import YandexMarketAdapter

    return YandexMarketAdapter(ref, secret, http, pacing, retry)
