"""`adolf-marketing accounts add|list|remove`: marketplace accounts with encrypted credentials.

The secret (WB token, Ozon client secret, YM Api-Key) is read from a file or a hidden prompt and is
never echoed, logged or passed on the command line (DESIGN.md §3 "Credentials never travel").
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import typer
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


def describe_settings(settings: dict[str, Any]) -> str:
    """Non-secret settings in a few words: `key=value`, lists comma-joined, the default strategy
    as its type and numbers (issue 17 item 7: a dict over seven lines made the table unreadable)."""
    parts = []
    for key, value in sorted(settings.items()):
        if key == "default_strategy" and isinstance(value, dict):
            parts.append(f"default strategy {describe_strategy(value)}")
        elif isinstance(value, list):
            parts.append(f"{key}={','.join(str(v) for v in value)}")
        elif isinstance(value, dict):
            parts.append(f"{key}={json.dumps(value, ensure_ascii=False, separators=(',', ':'))}")
        else:
            parts.append(f"{key}={value}")
    return "; ".join(parts)


def describe_strategy(default: dict[str, Any]) -> str:
    """`max_traffic bid_cap=3000 max_bid=5000 (cpm: bid_cap=20000 max_bid=30000)`."""

    def numbers(entry: dict[str, Any]) -> list[str]:
        limits = {k: entry[k] for k in ("max_bid", "daily_limit", "dry_run") if k in entry}
        return [f"{k}={v}" for k, v in {**(entry.get("strategy_params") or {}), **limits}.items()]

    words = [str(default.get("strategy_type", "?")), *numbers(default)]
    overrides = default.get("by_payment_type")
    if isinstance(overrides, dict):
        words += [
            f"({payment}: {' '.join(numbers(entry))})"
            for payment, entry in sorted(overrides.items())
            if isinstance(entry, dict)
        ]
    return " ".join(words)


@accounts_app.command("list", help="List accounts (credentials are never shown).")
def list_accounts() -> None:
    """One line per account and its settings indented below, wrapped to the terminal: readable at
    80 columns and when piped (issue 17 item 7)."""
    header = ("id", "marketplace", "name", "brand", "active", "campaigns")
    with session_scope() as session:
        campaigns = dict(
            session.execute(
                select(MarketingCampaign.account_id, func.count()).group_by(MarketingCampaign.account_id)
            ).all()
        )
        rows = [
            (
                (
                    str(account.id),
                    account.marketplace,
                    account.name,
                    brand_name,
                    "yes" if account.is_active else "no",
                    str(campaigns.get(account.id, 0)),
                ),
                describe_settings(account.settings),
            )
            for account, brand_name in session.execute(
                select(MarketplaceAccount, Brand.name).join(Brand).order_by(MarketplaceAccount.id)
            ).all()
        ]
    if not rows:
        typer.echo("no accounts yet: add one with `adolf-marketing accounts add`")
        return
    widths = [max(len(cells[i]) for cells in [header, *(r[0] for r in rows)]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    columns = shutil.get_terminal_size().columns
    typer.echo(line(header))
    for cells, settings in rows:
        typer.echo(line(cells))
        if settings:
            typer.echo(textwrap.fill(settings, columns, initial_indent="    ", subsequent_indent="    "))


@accounts_app.command("remove", help="Remove an account without campaigns, else deactivate it; asks first.")
def remove_account(
    account_id: int = typer.Argument(..., help="Account id from `accounts list`."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    with session_scope() as session:
        account = session.get(MarketplaceAccount, account_id)
        if account is None:
            raise UserError(f"no account with id {account_id}; see `adolf-marketing accounts list`")
        used = session.scalar(select(func.count()).where(MarketingCampaign.account_id == account_id)) or 0
        label = f"account {account_id} ({account.marketplace} {account.name})"
        question = (
            f"{label} has {used} campaigns with history, so it can only be deactivated: its campaigns "
            "are no longer managed. Deactivate it?"
            if used
            else f"Remove {label}? This cannot be undone."
        )
        if not (yes or confirmed(question, account_id)):
            typer.echo("nothing changed")
            return
        if used:
            account.is_active = False
            typer.echo(f"deactivated {label}")
            return
        session.delete(account)
        typer.echo(f"removed {label}")


def confirmed(question: str, account_id: int) -> bool:
    """The user's answer (issue 17 item 7: remove deactivated without asking); no answer (stdin
    closed, as in a script) is an error that names --yes."""
    try:
        return bool(typer.confirm(question, default=False))
    except typer.Abort:
        raise UserError(
            f"no answer to the confirmation; repeat with --yes to change account {account_id}"
        ) from None
