"""`adolf-marketing` — the command line of the background system (issue 2 item 5)."""

from __future__ import annotations

import sys

import typer

from app.cli.errors import run_guarded


def build_cli() -> typer.Typer:
    # Imported here, inside the error guard: importing the Celery app reads the settings, and a bad
    # setting must end as one line, not a traceback.
    from app.cli.accounts import accounts_app
    from app.cli.backtest import backtest_command
    from app.cli.bot import telegram_bot_command
    from app.cli.campaigns import campaigns_app
    from app.cli.freeze import freeze_command, unfreeze_command
    from app.cli.history import history_command, rollback_command
    from app.cli.metrics import metrics_command
    from app.cli.recommendations import recommendations_app
    from app.cli.report import report_command
    from app.cli.secret_key import secret_key_command
    from app.cli.services import db_app
    from app.cli.stats import aggregate_command, retention_command
    from app.cli.status import status_command
    from app.cli.tasks import run_command
    from app.cli.up import up_command
    from app.cli.users import users_app
    from app.sandbox.cli import sandbox_command

    cli = typer.Typer(
        name="adolf-marketing",
        help="ADOLF Marketing background system: bids, stats, budgets and alerts for WB, Ozon and YM.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    cli.command("up", help="Run beat, the three workers and Flower (and the embedded services).")(up_command)
    cli.command("status", help="Workers per queue, queue lengths, last run of each periodic task.")(
        status_command
    )
    cli.command(
        "run",
        help="Enqueue a task by its short name, wait, print its JSON result.",
        # Task parameters (`--account 1`) pass through to the task.
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run_command)
    cli.command("aggregate", help="Aggregate daily and monthly statistics for a range of Moscow days.")(
        aggregate_command
    )
    cli.command(
        "retention", help="Rows and oldest row per table, partitions ahead, what the next cleanup removes."
    )(retention_command)
    cli.command(
        "report",
        help="A brand's ad report (XLSX with charts, or CSV) over Moscow days; prints the file's path.",
    )(report_command)
    cli.command(
        "backtest", help="Replay simulated days of a campaign with two or more strategies side by side."
    )(backtest_command)
    cli.command(
        "secret-key", help="Print a new SECRET_KEY, or --rotate: re-encrypt credentials with the current key."
    )(secret_key_command)
    cli.command("sandbox", help="Serve the marketplace sandbox (WB, Ozon, YM, Watcher) on loopback.")(
        sandbox_command
    )
    cli.command(
        "history", help="Bid changes, old → new in each bid's unit, with the reason and who made them."
    )(history_command)
    cli.command(
        "rollback", help="Restore earlier bids (a run, since a moment, or one keyword); shows and asks first."
    )(rollback_command)
    cli.command("freeze", help="Stop automatic bidding: all accounts, a marketplace's, or one account's.")(
        freeze_command
    )
    cli.command("unfreeze", help="Lift a freeze.")(unfreeze_command)
    cli.command("metrics", help="Serve the Prometheus metrics on loopback (up starts it).")(metrics_command)
    cli.command("telegram-bot", help="Answer the rollback buttons of Telegram alerts (up starts it).")(
        telegram_bot_command
    )
    cli.add_typer(db_app, name="db")
    cli.add_typer(campaigns_app, name="campaigns")
    cli.add_typer(users_app, name="users")
    cli.add_typer(accounts_app, name="accounts")
    cli.add_typer(recommendations_app, name="recommendations")
    return cli


def main() -> None:
    sys.exit(run_guarded(build_cli))
