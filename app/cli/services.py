"""The PostgreSQL and Redis the CLI talks to: configured servers, or the embedded ones."""

from __future__ import annotations

import typer

from app.cli.errors import UserError
from app.core.config import get_settings
from app.core.database import database_url
from app.core.embedded import EmbeddedRedis
from app.core.redis import get_redis

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def embedded_redis() -> EmbeddedRedis:
    return EmbeddedRedis(get_settings().DATA_DIR / "redis")


def start_redis_if_embedded() -> EmbeddedRedis | None:
    """Start the embedded Redis when REDIS_URL is unset; returns it so the caller can stop it.

    Only `up`, holding the data folder's lock (app.cli.instance), calls this: a server already
    running there was left by an `up` that was killed, and is this one's to stop."""
    if get_settings().REDIS_URL:
        return None
    server = embedded_redis()
    server.start()
    return server


def require_running_system() -> None:
    """For commands that need the broker: a clear line when nothing is running."""
    settings = get_settings()
    if not settings.REDIS_URL and not embedded_redis().is_running():
        raise UserError("the system is not running: start it with `adolf-marketing up` (or set REDIS_URL)")
    get_redis().ping()


def migrate_to_head() -> str:
    from app.models.migrate import upgrade

    url = database_url()
    upgrade(url)
    return url


@db_app.command("upgrade", help="Apply every migration up to the newest (safe to repeat).")
def upgrade_command() -> None:
    migrate_to_head()
    typer.echo("database schema is up to date")


@db_app.command("check", help="Fail when the models and the migrated schema differ.")
def check_command() -> None:
    from app.models.migrate import check

    check(database_url())
    typer.echo("no schema drift")
