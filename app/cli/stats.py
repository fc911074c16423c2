"""`adolf-marketing aggregate` and `adolf-marketing retention` (issue 15 item 4).

`aggregate` backfills daily and monthly statistics for a range of Moscow days straight through the
database (no workers needed), with the same functions as the nightly task. `retention` shows what
each table holds and what the next `cleanup_old_stats` will remove.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from app.cli.errors import UserError
from app.core.celery_config import PERIODIC_ENTRIES
from app.core.clock import moscow_today, now_utc
from app.services.marketing.aggregation import aggregate_days, days_between, months_of
from app.services.marketing.retention import STATS_KEEP_DAYS, retention_report

CLEANUP_TASK = "app.tasks.marketing.cleanup.cleanup_old_stats"
MAX_DAYS = 3660


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"{option} {value!r} is not a date; write it as YYYY-MM-DD (a Moscow day)") from None


def aggregate_command(
    first: str = typer.Option(..., "--from", help="First Moscow day, YYYY-MM-DD."),
    last: str = typer.Option(..., "--to", help="Last Moscow day, YYYY-MM-DD (included)."),
) -> None:
    start, end = parse_day(first, "--from"), parse_day(last, "--to")
    today = moscow_today(now_utc())
    if end < start:
        raise UserError(f"--to {end} is before --from {start}; swap them")
    if end > today:
        raise UserError(f"--to {end} is in the future; the last day to aggregate is today in Moscow, {today}")
    if (end - start).days >= MAX_DAYS:
        raise UserError(f"{(end - start).days + 1} days asked, at most {MAX_DAYS} at once; split the range")
    days = days_between(start, end)
    steps = len(days) + len(months_of(days))
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True)
    ) as progress:
        bar = progress.add_task("aggregating", total=steps)

        def advance(label: str) -> None:
            progress.update(bar, advance=1, description=f"aggregated {label}")

        summary = aggregate_days(days, on_step=advance)
    typer.echo(
        f"aggregated {start}..{end}: {len(days)} days, {sum(summary.days.values())} daily rows and "
        f"{sum(summary.months.values())} monthly rows written (unchanged rows are left alone)"
    )
    if start < today - timedelta(days=STATS_KEEP_DAYS):
        typer.echo(
            f"note: snapshots are kept {STATS_KEEP_DAYS} days; the daily rows of older days stay as they were"
        )


def next_cleanup_at(now: datetime) -> datetime:
    """When beat next sends cleanup_old_stats (celery's estimate, to the nearest minute)."""
    entry = next(entry for entry in PERIODIC_ENTRIES if entry.task == CLEANUP_TASK)
    estimate = now + entry.schedule.remaining_estimate(now) + timedelta(seconds=30)
    return estimate.replace(second=0, microsecond=0)


def retention_command() -> None:
    now = now_utc()
    at = next_cleanup_at(now)
    table = Table(title=f"Retention (next cleanup_old_stats: {at:%Y-%m-%d %H:%M} UTC)")
    for column in ("table", "keeps", "rows", "oldest row", "partitions ahead", "next cleanup removes"):
        table.add_column(column)
    for row in retention_report(at):
        table.add_row(
            row.table, row.keeps, str(row.rows), row.oldest or "-", row.partitions_ahead, row.next_cleanup
        )
    # Piped output (scripts, logs) gets whole lines instead of an 80-column squeeze.
    Console(width=None if sys.stdout.isatty() else 200).print(table)
