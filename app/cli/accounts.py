"""`adolf-marketing accounts add|list|remove`: marketplace accounts with encrypted credentials.

The secret (WB token, Ozon client secret, YM Api-Key) is read from a file or a hidden prompt and is
never echoed, logged or passed on the command line (DESIGN.md §3 "Credentials never travel").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from app.cli.errors import UserError
from app.core.database import session_scope
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketplaceAccount
from app.services.marketing.account_settings import AccountSettingError, parse_setting

accounts_app = typer.Typer(help="Marketplace accounts.", no_args_is_help=True)

MARKETPLACES = {"wb": "token", "ozon": "client_secret", "ym": "api_key"}


def read_secret(marketplace: str, token_file: Path | None) -> str:
    if token_file is not None:
        try:
            secret = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise UserError(f"cannot read --token-file {token_file}: {error.strerror}") from None
    elif sys.stdin.isatty():
        secret = typer.prompt(
            f"{marketplace} {MARKETPLACES[marketplace]} (input hidden)",
            hide_input=True,
            default="",
            show_default=False,
        ).strip()
    else:
        secret = sys.stdin.readline().strip()  # piped: `accounts add ... < token-file`
    if not secret:
        raise UserError(
            "the token is empty; put the marketplace token in --token-file or type it at the prompt"
        )
    return secret


def build_credentials(marketplace: str, secret: str, client_id: str | None) -> dict[str, str]:
    if marketplace == "ozon":
        if not client_id:
            raise UserError("Ozon needs --client-id (the Performance API client id) besides the secret")
        return {"client_id": client_id, "client_secret": secret}
    return {MARKETPLACES[marketplace]: secret}


def parse_settings(marketplace: str, pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--setting {pair!r} is not KEY=VALUE")
        try:
            values[key.strip()] = parse_setting(key.strip(), value.strip())
        except AccountSettingError as error:
            raise UserError(f"--setting {key.strip()}: {error}") from None
    if marketplace == "ym" and not str(values.get("business_id", "")).isdigit():
        raise UserError("Yandex Market needs --setting business_id=<numeric cabinet id>")
    return values


@accounts_app.command("add", help="Add an account; the secret is read from --token-file or a hidden prompt.")
def add_account(
    marketplace: str = typer.Option(..., "--marketplace", "-m", help="wb, ozon or ym."),
    name: str = typer.Option(..., "--name", help="A name for the account, unique per marketplace."),
    brand: str = typer.Option(..., "--brand", help="Brand the account belongs to (created if new)."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File holding the secret."),
    client_id: str | None = typer.Option(None, "--client-id", help="Ozon Performance client id."),
    setting: list[str] = typer.Option([], "--setting", help="Non-secret KEY=VALUE, e.g. business_id=123."),
) -> None:
    marketplace = marketplace.strip().lower()
    if marketplace not in MARKETPLACES:
        raise UserError(f"unknown marketplace {marketplace!r}; use one of wb, ozon, ym")
    if not name.strip() or not brand.strip():
        raise UserError("--name and --brand must not be empty")
    settings = parse_settings(marketplace, setting)
    credentials = build_credentials(marketplace, read_secret(marketplace, token_file), client_id)
    with session_scope() as session:
        if session.scalar(
            select(MarketplaceAccount.id).where(
                MarketplaceAccount.marketplace == marketplace, MarketplaceAccount.name == name.strip()
            )
        ):
            raise UserError(f"a {marketplace} account named {name!r} exists already; pick another --name")
        brand_row = session.scalar(select(Brand).where(Brand.name == brand.strip()))
        if brand_row is None:
            brand_row = Brand(name=brand.strip())
            session.add(brand_row)
            session.flush()
        account = MarketplaceAccount(
            marketplace=marketplace,
            brand_id=brand_row.id,
            name=name.strip(),
            credentials_encrypted=encrypt_credentials(credentials),
            settings=settings,
        )
        session.add(account)
        session.flush()
        typer.echo(f"added {marketplace} account {account.id} ({account.name}, brand {brand_row.name})")


@accounts_app.command("list", help="List accounts (credentials are never shown).")
def list_accounts() -> None:
    table = Table()
    for column in ("id", "marketplace", "name", "brand", "active", "settings", "campaigns"):
        table.add_column(column)
    with session_scope() as session:
        campaigns = dict(
            session.execute(
                select(MarketingCampaign.account_id, func.count()).group_by(MarketingCampaign.account_id)
            ).all()
        )
        rows = session.execute(
            select(MarketplaceAccount, Brand.name).join(Brand).order_by(MarketplaceAccount.id)
        ).all()
        for account, brand_name in rows:
            table.add_row(
                str(account.id),
                account.marketplace,
                account.name,
                brand_name,
                "yes" if account.is_active else "no",
                ", ".join(f"{k}={v}" for k, v in sorted(account.settings.items())),
                str(campaigns.get(account.id, 0)),
            )
    Console().print(table)


@accounts_app.command("remove", help="Remove an account that has no campaigns (else deactivate it).")
def remove_account(account_id: int = typer.Argument(..., help="Account id from `accounts list`.")) -> None:
    with session_scope() as session:
        account = session.get(MarketplaceAccount, account_id)
        if account is None:
            raise UserError(f"no account with id {account_id}; see `adolf-marketing accounts list`")
        used = session.scalar(select(func.count()).where(MarketingCampaign.account_id == account_id)) or 0
        if used:
            account.is_active = False
            typer.echo(
                f"account {account_id} has {used} campaigns with history: deactivated instead of removed"
            )
            return
        session.delete(account)
        typer.echo(f"removed account {account_id}")
