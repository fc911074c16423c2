"""Small helpers of the commands a marketing team runs (issue 12): who is acting, moments, accounts,
confirmations, tables that read well when piped."""

from __future__ import annotations

import getpass
import re
import sys
from datetime import date, datetime, timedelta

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli.errors import UserError
from app.cli.instance import running_up
from app.core.clock import MOSCOW, followed_time, moscow_day_start, now_utc
from app.core.config import ConfigError, get_settings
from app.core.marketplaces import Marketplace
from app.models.marketing import MarketplaceAccount

_AGO = re.compile(r"^(\d+)\s*([mhd])$")


def who(by: str | None) -> str:
    """The person acting: `--by`, else the OS user."""
    return (by or getpass.getuser()).strip()[:255] or "unknown"


def system_now() -> datetime:
    """Now by the clock the running system follows: under `up`'s demo world, the sandbox's simulated
    one (the workers' CLOCK_URL, which this process's environment does not have), so that "2h ago"
    and "today" mean what they mean in the data."""
    url = (running_up(get_settings().DATA_DIR) or {}).get("clock_url")
    if url:
        try:
            return followed_time(url)
        except ConfigError:
            pass
    return now_utc()


def console() -> Console:
    # Piped output (scripts, logs) gets full lines instead of an 80-column squeeze.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def parse_moment(text: str, now: datetime, option: str) -> datetime:
    """`30m`/`2h`/`1d` ago, a Moscow date (its midnight), or an ISO time (Moscow when it has no
    zone)."""
    value = text.strip()
    ago = _AGO.match(value)
    if ago:
        size = int(ago.group(1))
        unit = {"m": "minutes", "h": "hours", "d": "days"}[ago.group(2)]
        return now - timedelta(**{unit: size})
    try:
        if len(value) == 10:
            return moscow_day_start(date.fromisoformat(value))
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} {text!r}: give an ISO time (2026-12-01T10:00, Moscow time unless it has a zone), "
            "a date (2026-12-01) or a span ago (30m, 2h, 1d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)


def parse_marketplace(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return Marketplace.parse(text).value
    except ValueError as error:
        raise UserError(f"--marketplace: {error}") from None


def find_account(session: Session, text: str) -> MarketplaceAccount:
    """An account by id or by name."""
    value = text.strip()
    account = session.get(MarketplaceAccount, int(value)) if value.isdigit() else None
    if account is None:
        named = list(session.scalars(select(MarketplaceAccount).where(MarketplaceAccount.name == value)))
        if len(named) > 1:
            raise UserError(f"{len(named)} accounts are named {value!r}; give the account's id")
        account = named[0] if named else None
    if account is None:
        raise UserError(f"no account {value!r}; `adolf-marketing accounts list` shows accounts and ids")
    return account


def confirm(question: str, yes: bool) -> bool:
    """The user's answer; no answer possible (a script) is an error that names --yes."""
    if yes:
        return True
    try:
        return bool(typer.confirm(question, default=False))
    except typer.Abort:
        raise UserError("no answer to the confirmation; repeat with --yes") from None
