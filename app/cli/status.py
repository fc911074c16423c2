"""`adolf-marketing status`: workers online per queue, queue lengths, last run of each periodic task."""

from __future__ import annotations

import json
import sys
from typing import Any

from celery.schedules import crontab
from rich.console import Console
from rich.table import Table

from app.cli.services import require_running_system
from app.core.celery_config import PERIODIC_ENTRIES, QUEUES, celery_app
from app.core.redis import get_redis
from app.tasks.base import LAST_RUN_KEY, run_key


def workers_by_queue(timeout: float = 2.0) -> dict[str, list[str]]:
    replies: dict[str, list[dict[str, Any]]] = (
        celery_app.control.inspect(timeout=timeout).active_queues() or {}
    )
    by_queue: dict[str, list[str]] = {name: [] for name, _ in QUEUES}
    for worker, queues in sorted(replies.items()):
        for queue in queues:
            by_queue.setdefault(queue["name"], []).append(worker)
    return by_queue


def queue_lengths() -> dict[str, int]:
    client = get_redis()
    return {name: int(client.llen(name)) for name, _ in QUEUES}


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


def status_command() -> None:
    require_running_system()
    # Piped output (scripts, logs) gets full names instead of an 80-column squeeze.
    console = Console(width=None if sys.stdout.isatty() else 160)
    workers = workers_by_queue()
    lengths = queue_lengths()
    queues = Table(title="Queues")
    for column in ("queue", "workers online", "waiting tasks"):
        queues.add_column(column)
    for name, _ in QUEUES:
        queues.add_row(name, ", ".join(workers.get(name, [])) or "[red]none[/red]", str(lengths[name]))
    console.print(queues)

    runs = last_runs()
    celery_app.loader.import_default_modules()
    periodic = Table(title="Periodic tasks")
    for column in ("entry", "schedule (Moscow)", "last run (UTC)", "state"):
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
