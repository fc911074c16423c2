"""Every error a user can cause ends as one clear line and a non-zero exit (DESIGN.md §4)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import redis
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import ProgrammingError as SAProgrammingError

from app.core.config import ConfigError, get_settings
from app.core.embedded import EmbeddedServiceError
from app.core.secrets import CredentialsError
from app.models.base import MAX_BIGINT


class UserError(Exception):
    """Bad input on the command line; the message says what to fix."""


def _database_hint() -> str:
    try:
        return "check DATABASE_URL" if get_settings().DATABASE_URL else "check DATA_DIR"
    except ConfigError:
        return "check DATABASE_URL"


def explain(error: BaseException) -> str | None:
    """One line for a known failure, None for a bug (which keeps its traceback)."""
    if isinstance(error, UserError | ConfigError | EmbeddedServiceError | CredentialsError):
        return str(error)
    if isinstance(error, OperationalError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "connection failed"
        return f"cannot reach PostgreSQL ({reason}); {_database_hint()}"
    if isinstance(error, SAProgrammingError) and "does not exist" in str(error.orig):
        return "the database schema is missing or outdated; run `adolf-marketing db upgrade`"
    if isinstance(error, DataError):
        # A value the database cannot hold (a number beyond BIGINT, text in a number column):
        # the transaction is rolled back, so nothing changed.
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "invalid value"
        return f"a value given is out of range ({reason}); ids and amounts are at most {MAX_BIGINT}"
    if isinstance(error, KombuOperationalError):
        return f"cannot reach the broker ({str(error).splitlines()[0]}); check BROKER_URL"
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        return f"cannot reach Redis ({str(error).splitlines()[0]}); check REDIS_URL and that its server runs"
    return None


def run_guarded(build_cli: Callable[[], Callable[..., object]]) -> int:
    """Build and run the Typer app in standalone mode (it reports usage errors itself) and turn
    our known failures into one line each."""
    try:
        build_cli()(prog_name="adolf-marketing")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        message = explain(error) or explain(error.__cause__ or error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0
