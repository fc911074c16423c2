"""`adolf-marketing status`: spec Appendix A's check points with ✓/✗ and the figure behind each
(app/services/marketing/checkpoints.py), then workers per queue, queue lengths, the last run of
each periodic task, the last bid cycle. Exit code 1 when a check point fails (cron, container
health checks); `--json` prints the check points and figures as one JSON document."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from celery.schedules import crontab
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from app.cli.freeze import print_freezes
from app.cli.instance import running_up
from app.cli.services import require_running_system
from app.core.celery_config import PERIODIC_ENTRIES, QUEUES, celery_app
from app.core.clock import followed_time
from app.core.config import ConfigError, get_settings
from app.core.database import session_scope
from app.core.redis import get_redis
from app.models.marketing import MarketingBidHistory, MarketingCampaign, MarketingKeyword
from app.services.marketing.bid_cycle.coordinator import METRICS_KEY
from app.services.marketing.checkpoints import CheckPoint, Figures, evaluate, gather
from app.tasks.base import LAST_RUN_KEY, run_key


def last_runs() -> dict[str, dict[str, Any]]:
    raw: dict[bytes, bytes] = get_redis().hgetall(LAST_RUN_KEY)  # type: ignore[assignment]
    return {key.decode(): json.loads(value) for key, value in raw.items()}


def cron_text(schedule: crontab) -> str:
    return " ".join(
        str(part)
        for part in (
            schedule._orig_minute,
            schedule._orig_hour,
            schedule._orig_day_of_month,
            schedule._orig_month_of_year,
            schedule._orig_day_of_week,
        )
    )


def check_points() -> tuple[Figures, list[CheckPoint]]:
    settings = get_settings()
    clock_url = demo_clock_url()
    # The cycle and the stats are stamped with the clock the system follows (issue 17 item 7).
    now = followed_time(clock_url) if clock_url else None
    queues = tuple(name for name, _ in QUEUES)
    with session_scope() as session:
        figures = gather(session, get_redis(), celery_app, queues, settings, now)
    return figures, evaluate(figures, settings)


def point_line(point: CheckPoint) -> str:
    """One line per point, `✓ id  criterion: figure` — scripts match `^✗ (\\S+)`."""
    return f"{'✓' if point.ok else '✗'} {point.id:<26} {point.criterion}: {point.figure}"


def status_command(
    as_json: bool = typer.Option(False, "--json", help="Print the check points and figures as JSON."),
) -> None:
    require_running_system()
    figures, points = check_points()
    failed = [p.id for p in points if not p.ok]
    if as_json:
        document = {
            "ok": not failed,
            "failed": failed,
            "checks": [p.as_dict() for p in points],
            "workers": figures.workers,
            "processes": figures.processes,
            "queue_lengths": figures.queue_lengths,
        }
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        if failed:
            raise typer.Exit(1)
        return
    # Piped output (scripts, logs) gets full names instead of an 80-column squeeze.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print("Check points (spec Appendix A)", style="bold")
    for point in points:
        console.print(
            point_line(point),  # figures are data (worker names, errors), never rich markup
            style=None if point.ok else "red",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    workers = figures.workers
    lengths = figures.queue_lengths
    queues = Table(title="Queues")
    for column in ("queue", "workers online", "waiting tasks"):
        queues.add_column(column)
    for name, _ in QUEUES:
        queues.add_row(name, ", ".join(workers.get(name, [])) or "[red]none[/red]", str(lengths[name]))
    console.print(queues)

    runs = last_runs()
    celery_app.loader.import_default_modules()
    # Times come from the clock the system follows: in the demo, the sandbox's simulated one,
    # which runs ahead of this machine's (issue 17 item 7).
    clock_url = demo_clock_url()
    clock = "UTC, sandbox clock" if clock_url else "UTC"
    periodic = Table(title="Periodic tasks")
    for column in ("entry", "schedule (Moscow)", f"last run ({clock})", "state"):
        periodic.add_column(column)
    for entry in PERIODIC_ENTRIES:
        run = runs.get(run_key(entry.task, list(entry.args)))
        if run:
            state = run["state"]
        elif entry.task in celery_app.tasks:
            state = "-"
        else:
            state = "[yellow]not in this build[/yellow]"
        periodic.add_row(entry.name, cron_text(entry.schedule), run["finished_at"] if run else "never", state)
    console.print(periodic)
    print_last_cycle(console, clock)
    print_freezes(console)
    if clock_url:
        console.print(clock_note(clock_url), soft_wrap=True)
    if failed:
        console.print(f"{len(failed)} check points failed: {', '.join(failed)}", style="red", soft_wrap=True)
        raise typer.Exit(1)


def demo_clock_url() -> str | None:
    """The clock the system follows when a running `up` serves the demo world (CLOCK_URL)."""
    running = running_up(get_settings().DATA_DIR) or {}
    return running.get("clock_url") or get_settings().CLOCK_URL


def clock_note(url: str) -> str:
    try:
        now = f"now {followed_time(url):%Y-%m-%d %H:%M} UTC"
    except ConfigError:
        now = "not answering"
    return f"Times follow the demo sandbox's simulated clock ({now}), not this machine's."


def cycle_line(cycle: dict[str, str]) -> str:
    """One line of spec 7.4.3 `marketing:last_bid_cycle`: refused bids and bids of unknown outcome
    next to the updated ones, and in the status, so that a cycle whose bids the marketplace
    refused does not read as a clean "completed" (issue 17 item 1)."""
    by_marketplace: dict[str, dict[str, int]] = json.loads(cycle.get("marketplaces") or "{}")

    def total(counter: str) -> int:
        return sum(counts.get(counter, 0) for counts in by_marketplace.values())

    refused, unknown = total("bids_failed"), total("bids_unknown")
    problems = [f"{refused} refused bids"] if refused else []
    if unknown:
        problems.append(f"{unknown} bids of unknown outcome")
    outcome = cycle.get("status", "?") + (" with " + " and ".join(problems) if problems else "")
    per_marketplace = ", ".join(
        f"{name} {c.get('bids_updated', 0)}/{c.get('bids_failed', 0)}/{c.get('bids_unknown', 0)}"
        for name, c in sorted(by_marketplace.items())
    )
    return (
        f"Last bid cycle (run {cycle.get('run_id')}): {outcome}, started {cycle.get('started_at')}, "
        f"finished {cycle.get('finished_at')}; campaigns {cycle.get('campaigns')}, "
        f"keywords {cycle.get('keywords')}, bids updated {cycle.get('bids_updated')}, refused {refused}, "
        f"unknown {unknown}, errors {cycle.get('errors')}"
        + (f"; updated/refused/unknown by marketplace: {per_marketplace}" if per_marketplace else "")
    )


def print_last_cycle(console: Console, clock: str = "UTC", changes: int = 10) -> None:
    """Spec 7.4.3 `marketing:last_bid_cycle` and the newest bid changes (issue 6 item 6)."""
    raw: dict[bytes, bytes] = get_redis().hgetall(METRICS_KEY)  # type: ignore[assignment]
    cycle = {k.decode(): v.decode() for k, v in raw.items()}
    if not cycle:
        console.print("Last bid cycle: none in the last hour")
    else:
        # One line, however narrow the terminal: scripts read it.
        console.print(cycle_line(cycle), soft_wrap=True)
    with session_scope() as session:
        rows = session.execute(
            select(MarketingBidHistory, MarketingCampaign.marketplace, MarketingKeyword.keyword)
            .join(MarketingCampaign, MarketingBidHistory.campaign_id == MarketingCampaign.id)
            .outerjoin(MarketingKeyword, MarketingBidHistory.keyword_id == MarketingKeyword.id)
            .order_by(MarketingBidHistory.id.desc())
            .limit(changes)
        ).all()
    if not rows:
        return
    table = Table(title="Latest bid changes")
    for column in (f"when ({clock})", "marketplace", "keyword", "old", "new", "source", "reason"):
        table.add_column(column)
    for history, marketplace, keyword in rows:
        table.add_row(
            history.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            marketplace,
            keyword or "-",
            str(history.old_bid),
            str(history.new_bid),
            history.source,
            (history.reason or "")[:60],
        )
    console.print(table)
