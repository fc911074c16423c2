"""`adolf-marketing run TASK [ARGS]`: enqueue a task by its short name and print its JSON result."""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from celery.result import AsyncResult
from rich.console import Console

from app.cli.errors import UserError
from app.cli.services import require_running_system
from app.cli.task_args import build_call
from app.core.celery_config import celery_app


def task_names() -> dict[str, str]:
    """Short name → registered task name, for our own tasks."""
    celery_app.loader.import_default_modules()
    return {name.rsplit(".", 1)[-1]: name for name in celery_app.tasks if name.startswith("app.tasks.")}


def resolve(short_name: str) -> str:
    names = task_names()
    if short_name in names.values():
        return short_name
    if short_name not in names:
        raise UserError(f"unknown task {short_name!r}; known tasks: {', '.join(sorted(names))}")
    return names[short_name]


def parse_kwargs(pairs: list[str]) -> dict[str, str]:
    kwargs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--kw {pair!r} is not KEY=VALUE")
        kwargs[key.replace("-", "_")] = value
    return kwargs


def release_result(result: Any) -> None:
    """Unsubscribe from a result — with its chain's parents and its groups' members — now,
    while Redis is up.

    Sending a task subscribes this process to its result channel; the subscription is otherwise
    dropped by `AsyncResult.__del__` at interpreter exit, after `up` has stopped Redis or while
    Python is shutting down — 20 s of reconnect retries and an "Exception ignored" traceback, or a
    redis ImportError (issue 17 items 8, 11). Afterwards that `__del__` has nothing to send."""
    pending = [result]
    while pending:
        item = pending.pop()
        if item is None:
            continue
        item.backend.remove_pending_result(item)
        pending.append(item.parent)
        pending.extend(getattr(item, "results", None) or ())


def wait(result: AsyncResult, timeout: float) -> Any:
    console = Console(stderr=True)
    started = time.monotonic()
    with console.status(f"waiting for {result.task_id}") as progress:
        while not result.ready():
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise UserError(
                    f"no result after {timeout:.0f} s (state {result.state}); the task keeps running — "
                    f"see Flower or `celery -A app.core.celery_config inspect active`"
                )
            progress.update(f"{result.state.lower()} for {elapsed:.0f} s: task {result.task_id}")
            time.sleep(0.25)
    if result.failed():
        raise UserError(f"task failed: {type(result.result).__name__}: {result.result}")
    return result.result


def split_arguments(tokens: list[str]) -> tuple[list[str], dict[str, str]]:
    """`wb` → positional; `--account 1` / `--account=1` → keyword `account` (task parameters).
    Values stay text here: app.cli.task_args reads them by each parameter's type."""
    args: list[str] = []
    kwargs: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("--") and len(token) > 2:
            key, sep, value = token[2:].partition("=")
            if not sep:
                if index + 1 >= len(tokens):
                    raise UserError(f"{token} needs a value, e.g. {token} 1")
                index += 1
                value = tokens[index]
            kwargs[key.replace("-", "_")] = value
        else:
            args.append(token)
        index += 1
    return args, kwargs


def run_command(
    task: str = typer.Argument(..., help="Short task name, e.g. run_bid_cycle or collect_stats."),
    args: list[str] = typer.Argument(
        None, help="Task arguments: positional values, and --name value for keyword ones (e.g. --account 1)."
    ),
    kw: list[str] = typer.Option([], "--kw", help="Keyword argument KEY=VALUE (repeatable)."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for the result."),
) -> None:
    name = resolve(task)
    positional, keywords = split_arguments(args or [])
    call = build_call(celery_app.tasks[name], positional, {**keywords, **parse_kwargs(kw)})
    require_running_system()
    result = celery_app.send_task(name, args=call.args, kwargs=call.kwargs)
    try:
        value = wait(result, timeout)
    finally:
        release_result(result)
    # A task that fans out (run_bid_cycle) names the task that finishes its work: wait for that too.
    while isinstance(value, dict) and value.get("follow_task_id"):
        follow = AsyncResult(value["follow_task_id"], app=celery_app)
        try:
            value = wait(follow, timeout)
        finally:
            release_result(follow)
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))
