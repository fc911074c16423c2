"""Database rows the tests need, made one way: an account of its own brand, a campaign of it.

Every value has a working default and any column can be given; the rows are flushed (they have
their ids) and left to the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketplaceAccount

CREDENTIALS = {
    "wb": {"token": "t"},
    "ozon": {"client_id": "1", "client_secret": "s"},
    "ym": {"api_key": "k"},
}


def add_account(
    session: Session, marketplace: str = "wb", name: str | None = None, brand: str = "B", **columns: Any
) -> MarketplaceAccount:
    """An account (and its brand) with encrypted placeholder credentials of its marketplace."""
    row = Brand(name=brand)
    session.add(row)
    session.flush()
    account = MarketplaceAccount(
        marketplace=marketplace,
        brand_id=row.id,
        name=name or f"{marketplace}-main",
        credentials_encrypted=encrypt_credentials(CREDENTIALS[marketplace]),
        **columns,
    )
    session.add(account)
    session.flush()
    return account


def add_campaign(session: Session, account: MarketplaceAccount, **columns: Any) -> MarketingCampaign:
    """An active campaign of `account` (external id "1", type search unless given)."""
    values: dict[str, Any] = {"external_id": "1", "name": "C", "campaign_type": "search", "status": "active"}
    campaign = MarketingCampaign(
        account_id=account.id,
        marketplace=account.marketplace,
        brand_id=account.brand_id,
        **{**values, **columns},
    )
    session.add(campaign)
    session.flush()
    return campaign
