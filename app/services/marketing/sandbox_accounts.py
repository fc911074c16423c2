"""Register the sandbox world's accounts as our marketplace accounts (the demo world of `up` and
the integration tests): the same path `adolf-marketing accounts add` takes, credentials encrypted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.marketplaces import Marketplace
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketplaceAccount


def credentials_of(marketplace: str, raw: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """(secret, non-secret settings) of one sandbox account, as our accounts store them."""
    if marketplace == "wb":
        return {"token": str(raw["tokens"]["personal"])}, {}
    if marketplace == "ozon":
        return {"client_id": str(raw["client_id"]), "client_secret": str(raw["client_secret"])}, {}
    return {"api_key": str(raw["api_key"])}, {
        "business_id": str(raw["business_id"]),
        "campaign_ids": [int(c) for c in raw.get("campaign_ids", [])],
    }


def register_sandbox_accounts(session: Session, accounts: Iterable[Mapping[str, Any]]) -> list[int]:
    """Upsert every account of `GET /_sandbox/accounts` (by marketplace and name); returns ids."""
    ids = []
    for entry in accounts:
        marketplace = Marketplace.parse(str(entry["marketplace"])).value
        brand_name = f"Sandbox brand {entry['brand_id']}"
        brand = session.scalar(select(Brand).where(Brand.name == brand_name))
        if brand is None:
            brand = Brand(name=brand_name)
            session.add(brand)
            session.flush()
        secret, settings = credentials_of(marketplace, entry["credentials"])
        account = session.scalar(
            select(MarketplaceAccount).where(
                MarketplaceAccount.marketplace == marketplace, MarketplaceAccount.name == str(entry["name"])
            )
        )
        if account is None:
            account = MarketplaceAccount(marketplace=marketplace, brand_id=brand.id, name=str(entry["name"]))
            session.add(account)
        account.credentials_encrypted = encrypt_credentials(secret)
        account.settings = settings
        account.is_active = True
        session.flush()
        ids.append(account.id)
    return ids
