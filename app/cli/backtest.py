"""`adolf-marketing backtest` (issue 9, Deliver 6): replay simulated days of one campaign with two or
more strategies side by side (app/services/marketing/backtests.py) and print what each would have
spent and earned; `--json` for scripts. docs/strategies.md, "Backtests", shows an example."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from app.cli.common import console, system_now
from app.cli.errors import UserError
from app.cli.instance import running_up
from app.core.clock import moscow_today
from app.core.config import get_settings
from app.core.database import session_scope
from app.sandbox.backtest import BacktestResult
from app.services.marketing.backtests import (
    BacktestError,
    BacktestRun,
    campaign_under_test,
    plan_run,
    run_all,
)

COLUMNS = (
    ("strategy", "variant"),
    ("spend ₽", "spend_rub"),
    ("views", "views"),
    ("clicks", "clicks"),
    ("orders", "orders"),
    ("revenue ₽", "revenue_rub"),
    ("DRR %", "drr_pct"),
    ("avg position", "avg_position"),
)


def backtest_command(
    campaign: int = typer.Option(..., "--campaign", help="Our campaign id (`campaigns list`)."),
    strategy: list[str] = typer.Option(
        ...,
        "--strategy",
        help="Two or more: current, fixed, a strategy type, or type:key=value,… / type:{json}.",
    ),
    days: int = typer.Option(1, "--days", help="Simulated days to replay (96 cycles each), 1..14."),
    start: str | None = typer.Option(
        None, "--start", help="First Moscow day (YYYY-MM-DD); default: yesterday by the system's clock."
    ),
    max_bid: int | None = typer.Option(
        None, "--max-bid", help="Campaign max_bid for every strategy, in its unit (default: its own)."
    ),
    daily_limit: int | None = typer.Option(
        None, "--daily-limit", help="Daily limit in kopecks for every strategy (default: its own)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Sandbox world seed (default: the running demo's)."),
    size: str | None = typer.Option(None, "--size", help="Sandbox world size: small, demo or bench."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    world_seed, world_size = _world(seed, size)
    first = _start(start)
    try:
        with session_scope() as session:
            found = campaign_under_test(session, campaign, world_seed, world_size)
        run = plan_run(
            found,
            strategy,
            seed=world_seed,
            size=world_size,
            start=first,
            days=days,
            max_bid=max_bid,
            daily_limit=daily_limit,
        )
    except BacktestError as error:
        raise UserError(str(error)) from None
    results = _run(run, show_progress=not as_json and sys.stderr.isatty())
    if as_json:
        print(json.dumps(as_document(run, results), ensure_ascii=False, indent=2))
        return
    _print(run, results)


def _world(seed: int | None, size: str | None) -> tuple[int, str]:
    """The running demo's world (as `up` recorded it), unless told otherwise."""
    recorded = (running_up(get_settings().DATA_DIR) or {}).get("sandbox") or {}
    world_size = size or recorded.get("size") or "demo"
    if world_size not in ("small", "demo", "bench"):
        raise UserError(f"unknown --size {world_size!r}; use small, demo or bench")
    return (seed if seed is not None else int(recorded.get("seed", 1))), world_size


def _start(text: str | None) -> date:
    if text is None:
        return moscow_today(system_now()) - timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--start {text!r} is not a date; use YYYY-MM-DD") from None


def _run(run: BacktestRun, show_progress: bool) -> list[BacktestResult]:
    if not show_progress:
        return run_all(run)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replaying", total=run.cycles * len(run.specs))
        return run_all(run, lambda _: bar.advance(task))


def as_document(run: BacktestRun, results: list[BacktestResult]) -> dict[str, Any]:
    found = run.campaign
    return {
        "campaign": {"id": found.campaign_id, "name": found.name, "marketplace": found.marketplace.value},
        "unit": found.unit.value,
        "world": {"seed": run.seed, "size": run.size},
        "start": run.start.isoformat(),
        "days": run.days,
        "cycles": run.cycles,
        "max_bid": run.max_bid,
        "daily_limit": run.daily_limit,
        "strategies": [
            {"strategy_type": spec.strategy_type, "strategy_params": spec.params, **result.summary()}
            for spec, result in zip(run.specs, results, strict=True)
        ],
    }


def _print(run: BacktestRun, results: list[BacktestResult]) -> None:
    out = console()
    found = run.campaign
    out.print(
        f"Campaign {found.campaign_id} {found.name!r} ({found.marketplace.display_name}, bids in "
        f"{found.unit.label}), {run.days} simulated day(s) from {run.start} (Moscow), {run.cycles} cycles "
        f"each; sandbox world seed {run.seed}, size {run.size}"
    )
    table = Table()
    for title, _ in COLUMNS:
        table.add_column(title, justify="left" if title == "strategy" else "right")
    for result in results:
        summary = result.summary()
        table.add_row(*(_cell(summary[key]) for _, key in COLUMNS))
    out.print(table)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}".replace(",", " ")
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    return str(value)
