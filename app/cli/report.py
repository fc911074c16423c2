"""`adolf-marketing report`: a brand's ad report over Moscow days, made by the generate_report task on
a marketing_low worker (as `adolf-marketing run` sends tasks), with a progress bar; prints the file's
path (on the worker's machine: REPORTS_DIR, default DATA_DIR/reports).

Checks that need no worker run here first — dates, order, length, format, brand / account /
campaign — each failing with one line. Whether the period ends after today is the worker's call:
its clock is the system's (CLOCK_URL in the demo world), this process's may not be.
"""

from __future__ import annotations

import time
from typing import Any

import typer
from celery.result import AsyncResult
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli.errors import UserError
from app.cli.services import require_running_system
from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.services.marketing.reports import ReportError, find_scope
from app.services.marketing.reports.request import check_format, check_period, parse_day
from app.tasks.marketing.reports import PROGRESS_STATE

TASK_NAME = "app.tasks.marketing.reports.generate_report"


def report_command(
    brand: str = typer.Option(None, "--brand", help="Brand name or id (`adolf-marketing accounts list`)."),
    account: str = typer.Option(None, "--account", help="Only this account of the brand: name or id."),
    campaign: str = typer.Option(
        None, "--campaign", help="Only this campaign: our id or the marketplace's campaign id."
    ),
    date_from: str = typer.Option(None, "--from", help="First Moscow day, YYYY-MM-DD."),
    date_to: str = typer.Option(None, "--to", help="Last Moscow day, YYYY-MM-DD (today at the latest)."),
    file_format: str = typer.Option("xlsx", "--format", help="xlsx (with charts) or csv (for Excel)."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for the report."),
) -> None:
    try:
        kwargs = report_arguments(brand, account, campaign, date_from, date_to, file_format)
    except ReportError as error:
        raise UserError(str(error)) from None
    require_running_system()
    result = celery_app.send_task(TASK_NAME, kwargs=kwargs)
    value = wait_with_progress(result, timeout)
    typer.echo(value["path"])


def report_arguments(
    brand: str | None,
    account: str | None,
    campaign: str | None,
    date_from: str | None,
    date_to: str | None,
    file_format: str,
) -> dict[str, Any]:
    """The task's keyword arguments, or a ReportError naming what to fix."""
    if not brand:
        raise ReportError("--brand is required: a brand's name or id (`adolf-marketing accounts list`)")
    start, end = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    check_period(start, end)
    fmt = check_format(file_format)
    with session_scope() as session:
        scope = find_scope(session, brand, account, campaign)
    return {
        "brand_id": scope.brand_id,
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "account_id": scope.account_id,
        "campaign_id": scope.campaign_id,
        "file_format": fmt,
    }


def wait_with_progress(result: AsyncResult, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # piped or captured: only the path, or the one-line error
    ) as bar:
        task = bar.add_task("waiting for a marketing_low worker", total=None)
        while not result.ready():
            if time.monotonic() - started > timeout:
                raise UserError(
                    f"no report after {timeout:.0f} s (state {result.state}); the task keeps running — "
                    "is a marketing_low worker up? (`adolf-marketing status`)"
                )
            if result.state == PROGRESS_STATE and isinstance(result.info, dict):
                bar.update(
                    task,
                    description=str(result.info.get("step", "working")),
                    completed=int(result.info.get("done", 0)),
                    total=int(result.info.get("total", 1)),
                )
            time.sleep(0.2)
    if result.failed():
        error = result.result
        raise UserError(f"the report failed: {type(error).__name__}: {error}")
    value = result.result
    if not isinstance(value, dict) or "path" not in value:
        raise UserError(str(value.get("refused") if isinstance(value, dict) else value))
    return value
