"""`adolf-marketing freeze|unfreeze` (issue 12 item 4): stop all automatic bidding at once, or one
marketplace's, or one account's (app/services/marketing/freeze.py says what a freeze stops)."""

from __future__ import annotations

import typer
from rich.console import Console

from app.cli.common import find_account, parse_marketplace, system_now, who
from app.cli.errors import UserError
from app.core.database import session_scope
from app.models.marketing import FreezeScope
from app.services.marketing import freeze as service


def _target(account: str | None, marketplace: str | None) -> tuple[service.FreezeTarget, str | None]:
    mp = parse_marketplace(marketplace)
    if account is None:
        return service.FreezeTarget(FreezeScope.MARKETPLACE if mp else FreezeScope.ALL, mp), None
    with session_scope() as session:
        row = find_account(session, account)
        if mp and row.marketplace != mp:
            raise UserError(f"account {row.id} is a {row.marketplace} account, not {mp}; drop --marketplace")
        return service.FreezeTarget(FreezeScope.ACCOUNT, row.marketplace, row.id), row.name


def freeze_command(
    account: str | None = typer.Option(None, "--account", help="Only this account (id or name)."),
    marketplace: str | None = typer.Option(
        None, "--marketplace", "-m", help="Only this marketplace's accounts."
    ),
    reason: str = typer.Option(..., "--reason", help="Why (shown wherever the freeze is)."),
    by: str | None = typer.Option(None, "--by", help="Who freezes (default: the OS user)."),
) -> None:
    target, _ = _target(account, marketplace)
    with session_scope() as session:
        try:
            row = service.freeze(session, target, reason, who(by), system_now())
        except service.FreezeError as error:
            raise UserError(str(error)) from None
        described = service.describe_freeze(row)
    typer.echo(f"frozen: {described}")
    typer.echo("The bid cycle still reads and reports; it changes no bid and pauses nothing but budgets.")


def unfreeze_command(
    account: str | None = typer.Option(None, "--account", help="The account frozen on its own (id or name)."),
    marketplace: str | None = typer.Option(
        None, "--marketplace", "-m", help="The marketplace frozen as a whole."
    ),
    by: str | None = typer.Option(None, "--by", help="Who unfreezes (default: the OS user)."),
) -> None:
    target, name = _target(account, marketplace)
    with session_scope() as session:
        try:
            service.unfreeze(session, target, who(by), system_now())
        except service.FreezeError as error:
            raise UserError(str(error)) from None
        still = service.active_freezes(session)
        others = "; still frozen: " + "; ".join(service.describe_freeze(f) for f in still) if still else ""
    typer.echo(f"unfrozen: {target.describe(name)}{others}")


def print_freezes(console: Console) -> None:
    """`status`: what is frozen (issue 12 item 4), one line each."""
    with session_scope() as session:
        freezes = service.active_freezes(session)
        lines = [f"FROZEN: {service.describe_freeze(f)}" for f in freezes]
    for line in lines or ["Freeze: nothing is frozen"]:
        console.print(line, soft_wrap=True, markup=False)
