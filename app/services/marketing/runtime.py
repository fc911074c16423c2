"""Adapters for many accounts within one asyncio run (one shared Redis client, all closed after).

Tasks are synchronous Celery tasks; each runs one `asyncio.run(...)` in which accounts proceed
concurrently. Everything async is created inside that loop and closed before it ends.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.models.base import is_row_id
from app.models.marketing import MarketplaceAccount
from app.services.marketing.adapters import get_adapter, shared_redis
from app.services.marketing.adapters.base import MarketplaceAdapter


class UnknownAccountError(LookupError):
    pass


def active_accounts(
    session: Session, marketplace: str | None = None, account_id: int | None = None
) -> list[MarketplaceAccount]:
    query = select(MarketplaceAccount).where(MarketplaceAccount.is_active.is_(True))
    if marketplace is not None:
        query = query.where(MarketplaceAccount.marketplace == marketplace)
    if account_id is not None:
        if not is_row_id(account_id):
            raise UnknownAccountError(f"account must be a positive integer account id, got {account_id!r}")
        query = query.where(MarketplaceAccount.id == account_id)
    accounts = list(session.scalars(query.order_by(MarketplaceAccount.id)))
    if account_id is not None and not accounts:
        raise UnknownAccountError(
            f"no active account with id {account_id}; see `adolf-marketing accounts list`"
        )
    return accounts


class AdapterPool:
    """`async with AdapterPool() as pool: adapter = pool.get(account)` — one adapter per account."""

    def __init__(self) -> None:
        self._adapters: dict[int, MarketplaceAdapter] = {}
        self._redis = shared_redis(get_settings())

    async def __aenter__(self) -> AdapterPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
        await self._redis.aclose()

    def get(self, account: MarketplaceAccount) -> MarketplaceAdapter:
        adapter = self._adapters.get(account.id)
        if adapter is None:
            adapter = get_adapter(account.marketplace, account, redis_client=self._redis)
            self._adapters[account.id] = adapter
        return adapter
