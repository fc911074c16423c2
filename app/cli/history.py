"""`adolf-marketing history` and `adolf-marketing rollback` (issue 12 item 3).

`rollback` shows what it will restore, asks (`--yes` skips), then sends one `apply_bid_change`
(source `rollback`, held like a manual change) per keyword to the workers and reports each: the
exactly-once path of manual changes, with its waiting and retries (app/services/marketing/
rollback.py says what each selection restores).
"""

from __future__ import annotations

from typing import Any

import typer
from celery.result import AsyncResult
from rich.table import Table

from app.cli.common import confirm, console, parse_moment, system_now, who
from app.cli.errors import UserError
from app.cli.services import require_running_system
from app.cli.tasks import release_result
from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import BID_SOURCES, BidSource
from app.services.marketing import rollback as service
from app.services.marketing.bid_history import HistoryQuery, history_rows
from app.services.marketing.manual_bids import BidChangeError, hold_until

APPLY_TASK = "app.tasks.marketing.bids.apply_bid_change"


def history_command(
    campaign: int | None = typer.Option(None, "--campaign", help="Only this campaign id."),
    keyword: int | None = typer.Option(None, "--keyword", help="Only this keyword id."),
    since: str | None = typer.Option(
        None, "--since", help="From this moment: ISO time (Moscow), a date, or 2h/1d ago."
    ),
    source: str | None = typer.Option(None, "--source", help=f"One of {', '.join(BID_SOURCES)}."),
    run: int | None = typer.Option(None, "--run", help="Only changes of this bid cycle run."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many changes, newest first."),
) -> None:
    if source is not None and source not in BID_SOURCES:
        raise UserError(f"unknown --source {source!r}; use one of {', '.join(BID_SOURCES)}")
    query = HistoryQuery(
        campaign_id=campaign,
        keyword_id=keyword,
        since=parse_moment(since, system_now(), "--since") if since else None,
        source=source,
        run_id=run,
        limit=limit,
    )
    table = Table()
    for column in ("when (UTC)", "campaign", "keyword", "old → new", "by", "reason"):
        table.add_column(column)
    with session_scope() as session:
        rows = history_rows(session, query)
        for row in rows:
            table.add_row(
                f"{row.change.created_at:%Y-%m-%d %H:%M:%S}",
                f"{row.change.campaign_id} {row.campaign}",
                f"{row.change.keyword_id} {row.keyword or '-'}",
                f"{row.old} → {row.new}",
                row.by,
                (row.change.reason or "")[:80],
            )
    console().print(table)
    if not rows:
        typer.echo("no bid changes match")


def _plan(
    run: str | None, since: str | None, keyword: int | None, to: str | None
) -> tuple[str, list[service.RollbackItem]]:
    if sum(x is not None for x in (run, since, keyword)) != 1:
        raise UserError(
            "choose what to roll back: --run N (or --run last), --since TIME, or --keyword ID [--to TIME]"
        )
    if to is not None and keyword is None:
        raise UserError("--to goes with --keyword: the bid one keyword had at that moment")
    now = system_now()
    with session_scope() as session:
        try:
            if run is not None:
                run_id = service.last_run_with_changes(session) if run == "last" else _run_id(run)
                if run_id is None:
                    raise UserError("no bid cycle run has changed a bid yet; nothing to roll back")
                return f"run {run_id}", service.plan_run(session, run_id)
            if since is not None:
                moment = parse_moment(since, now, "--since")
                return f"changes since {moment:%Y-%m-%d %H:%M %Z}", service.plan_since(session, moment)
            assert keyword is not None
            at = parse_moment(to, now, "--to") if to else None
            what = f"keyword {keyword}" + (f" as at {at:%Y-%m-%d %H:%M %Z}" if at else ", its latest change")
            return what, service.plan_keyword(session, keyword, at)
        except service.RollbackError as error:
            raise UserError(str(error)) from None


def _run_id(text: str) -> int:
    if not text.isdigit():
        raise UserError(f"--run {text!r}: give a run id (see `adolf-marketing history`) or last")
    return int(text)


def _show(items: list[service.RollbackItem]) -> None:
    table = Table()
    for column in ("keyword", "campaign", "now", "restore to", "note"):
        table.add_column(column)
    for item in items:
        table.add_row(
            f"{item.keyword_id} {item.keyword}"[:60],
            item.campaign[:40],
            item.current_text,
            item.target_text if not item.skip else "-",
            item.skip or "",
        )
    console().print(table)


def rollback_command(
    run: str | None = typer.Option(None, "--run", help="Undo this bid cycle run (an id, or last)."),
    since: str | None = typer.Option(None, "--since", help="Restore every bid as it was at this moment."),
    keyword: int | None = typer.Option(
        None, "--keyword", help="One keyword: undo its latest change, or see --to."
    ),
    to: str | None = typer.Option(None, "--to", help="With --keyword: restore its bid as at this moment."),
    hold: str = typer.Option(
        "next_day", "--hold", help="Hold restored keywords: next_day, fixed, or until an ISO time."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    by: str | None = typer.Option(None, "--by", help="Who rolls back (default: the OS user)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for the marketplaces' answers."),
) -> None:
    try:
        hold_until(hold, system_now())
    except BidChangeError as error:
        raise UserError(f"--hold: {error}") from None
    what, items = _plan(run, since, keyword, to)
    todo = [item for item in items if not item.skip]
    _show(items)
    if not todo:
        raise UserError(
            f"{what}: nothing to restore ({len(items)} keywords, none needs it; see the notes above)"
        )
    require_running_system()
    if not confirm(f"Restore {len(todo)} bids ({what})?", yes):
        typer.echo("nothing changed")
        return
    reason = f"rollback of {what} by {who(by)}"
    sent = [
        (
            item,
            celery_app.send_task(
                APPLY_TASK, args=[item.keyword_id, item.target, reason, BidSource.ROLLBACK.value, hold]
            ),
        )
        for item in todo
    ]
    failed = 0
    for item, result in sent:
        outcome = _wait(result, timeout)
        ok = outcome.get("status") in ("applied", "unchanged")
        failed += not ok
        detail = outcome.get("error") or outcome.get("status")
        typer.echo(
            f"keyword {item.keyword_id} «{item.keyword}»: {item.current_text} → {item.target_text}: {detail}"
        )
    typer.echo(f"{len(todo) - failed} of {len(todo)} bids restored ({what}); held: {hold}")
    if failed:
        raise typer.Exit(1)


def _wait(result: AsyncResult, timeout: float) -> dict[str, Any]:
    try:
        value = result.get(timeout=timeout, propagate=False)
    except Exception as error:  # celery's TimeoutError and broker errors
        return {
            "status": "unknown",
            "error": f"no answer within {timeout:.0f} s ({type(error).__name__}); see `history`",
        }
    finally:
        release_result(result)
    if isinstance(value, dict):
        return value
    return {"status": "failed", "error": f"{type(value).__name__}: {value}"}
