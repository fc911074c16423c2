"""Flower asks for a password when it listens beyond loopback (issue 10 item 6).

The spec's command `celery -A app.core.celery_config flower --port=5555` listens on every address
(Flower's default), and Flower can revoke tasks and shut workers down, so it must not run open.
When the `celery` command is about to run `flower`, app.core.celery_config calls
`prepare_flower()` while it loads: it works out the address Flower will listen on (`--address`
or FLOWER_ADDRESS; `--unix-socket` is local) and, beyond loopback, requires authentication —
FLOWER_BASIC_AUTH ("user:password", from the environment or `.env`), or Flower's own `--auth`
(OAuth) / `--basic-auth` — else the command stops with one line. FLOWER_BASIC_AUTH from `.env` is
handed to Flower through its environment variable of the same name, never on a command line.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence

from app.core.config import Settings


def invoked_celery_subcommand() -> str | None:
    """The subcommand of a running `celery` command line (None outside one)."""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.command.name != "celery":
        return None
    return ctx.invoked_subcommand


def _option(argv: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: may resolve to anything


def flower_problem(argv: Sequence[str], environ: Mapping[str, str], settings: Settings) -> str | None:
    """Why Flower must not start with these arguments and settings (None when it may)."""
    if _option(argv, "--unix-socket") or environ.get("FLOWER_UNIX_SOCKET"):
        return None
    address = _option(argv, "--address")
    if address is None:
        address = environ.get("FLOWER_ADDRESS", "")
    if is_loopback(address):
        return None
    authenticated = (
        settings.FLOWER_BASIC_AUTH is not None
        or _option(argv, "--basic-auth") is not None
        or _option(argv, "--auth") is not None
        or bool(environ.get("FLOWER_AUTH"))
    )
    if authenticated:
        return None
    where = f"address {address}" if address else "every address"
    return (
        f"Flower would listen on {where} without a password: set FLOWER_BASIC_AUTH=user:password "
        "(environment or .env), or listen on loopback only with --address=127.0.0.1"
    )


def prepare_flower(settings: Settings, argv: Sequence[str] | None = None) -> None:
    """Stop a `celery ... flower` that would run open; hand FLOWER_BASIC_AUTH to Flower."""
    if invoked_celery_subcommand() != "flower":
        return
    import sys

    argv = list(sys.argv if argv is None else argv)
    problem = flower_problem(
        argv[argv.index("flower") + 1 :] if "flower" in argv else argv, os.environ, settings
    )
    if problem:
        raise SystemExit(f"error: {problem}")
    if settings.FLOWER_BASIC_AUTH is not None:
        os.environ["FLOWER_BASIC_AUTH"] = settings.FLOWER_BASIC_AUTH.get_secret_value()
