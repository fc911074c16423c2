"""The arguments of `adolf-marketing run` are checked before anything is enqueued (issue 17 item 4).

A user's typo is not a system failure: an unknown or missing parameter, a value of the wrong type,
a keyword that does not exist is answered in one line, and nothing reaches a worker — so no dead
letter and no critical alert, which stay for real failures.

1. Values are read by the parameter's annotation: a text parameter takes the text as typed; any
   other parses as JSON (numbers, true, null, lists, objects), else stays text.
2. `NAME=VALUE` given positionally, where NAME is a parameter of the task, is that keyword
   argument (`run apply_bid_change keyword_id=5 new_bid=20000`).
3. The call must bind to the task's signature: no unknown names, none given twice, no missing
   ones, no extra positional values; each value of its annotated type.
4. Then the task's own check in `CHECKS`, if any, sees the bound arguments (defaults filled in) and
   may read the database; it raises UserError, or one of the services' validation errors, which
   become one line too.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.cli.errors import UserError
from app.core.clock import now_utc
from app.core.database import session_scope
from app.services.marketing.adapters import UnknownMarketplaceError, require_marketplace
from app.services.marketing.alerts import AlertError, AlertRequest
from app.services.marketing.manual_bids import BidChangeError, hold_until, validate_manual_change
from app.services.marketing.runtime import UnknownAccountError, active_accounts

KEYWORD_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)=(.*)", re.DOTALL)


@dataclass(frozen=True)
class TaskCall:
    """What gets enqueued: positional values stay positional (the last-run record of
    `collect_stats wb` is keyed by its first positional argument, as beat sends it)."""

    args: list[Any]
    kwargs: dict[str, Any]


# --- 1. values by annotation -----------------------------------------------------------------


def _members(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def parse_value(raw: str, hint: Any = Any) -> Any:
    members = _members(hint)
    if str in members and all(m in (str, type(None)) for m in members):
        return None if raw == "null" and type(None) in members else raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def accepts(hint: Any, value: Any) -> bool:
    for member in _members(hint):
        origin = typing.get_origin(member) or member
        if member is Any or (member is type(None) and value is None):
            return True
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if origin in (str, bool, list, dict) and isinstance(value, origin):
            return True
    return False


TYPE_NAMES = {int: "an integer", float: "a number", str: "text", bool: "true or false", list: "a JSON list"}


def describe(hint: Any) -> str:
    names = [
        "null" if m is type(None) else TYPE_NAMES.get(typing.get_origin(m) or m, "a JSON object")
        for m in _members(hint)
    ]
    return " or ".join(names)


# --- 2, 3. binding ---------------------------------------------------------------------------


def build_call(task: Any, positional: list[str], keywords: dict[str, str]) -> TaskCall:
    """The checked call of `task` from the command line's raw values (see the module docstring)."""
    short = task.name.rsplit(".", 1)[-1]
    parameters = inspect.signature(task.run).parameters
    hints = typing.get_type_hints(task.run)
    values, named = [], dict(keywords)
    for raw in positional:
        match = KEYWORD_TOKEN.fullmatch(raw)
        name = match.group(1).replace("-", "_") if match else ""
        if match and name in parameters:
            if name in named:
                raise UserError(f"{short}: {name} is given twice")
            named[name] = match.group(2)
        else:
            values.append(raw)
    order = list(parameters)
    if len(values) > len(order):
        takes = f"{len(order)} argument(s) ({', '.join(order)})" if order else "no arguments"
        raise UserError(f"{short} takes {takes}, got {len(values)}: {' '.join(map(repr, values))}")
    for name in named:
        if name not in parameters:
            known = ", ".join(order) or "none"
            raise UserError(f"{short} has no parameter {name!r}; its parameters: {known}")
        if name in order[: len(values)]:
            raise UserError(f"{short}: {name} is given twice (positionally and by name)")
    given = {**dict(zip(order, values, strict=False)), **named}
    missing = [n for n, p in parameters.items() if p.default is inspect.Parameter.empty and n not in given]
    if missing:
        example = " ".join(f"--{n.replace('_', '-')} VALUE" for n in missing)
        raise UserError(f"{short} needs {', '.join(missing)}: e.g. `adolf-marketing run {short} {example}`")
    parsed = {name: parse_value(raw, hints.get(name, Any)) for name, raw in given.items()}
    for name, value in parsed.items():
        hint = hints.get(name, Any)
        if not accepts(hint, value):
            raise UserError(f"{short}: {name} must be {describe(hint)}, got {given[name]!r}")
    bound = {n: p.default for n, p in parameters.items() if p.default is not inspect.Parameter.empty}
    bound.update(parsed)
    check = CHECKS.get(task.name)
    if check is not None:
        try:
            check(bound)
        except CHECK_ERRORS as error:
            raise UserError(f"{short}: {error}") from None
    names = order[: len(values)]
    return TaskCall([parsed[n] for n in names], {n: v for n, v in parsed.items() if n not in names})


# --- 4. per-task checks ----------------------------------------------------------------------


def check_bid_change(arguments: dict[str, Any]) -> None:
    """Everything apply_bid_change checks before calling the marketplace: the keyword exists and
    takes bids; the bid is an integer of the campaign's bid unit within the marketplace's rules and
    the campaign's max bid; the source is a manual one; the hold is one it understands
    (app.services.marketing.manual_bids)."""
    with session_scope() as session:
        validate_manual_change(session, arguments["keyword_id"], arguments["new_bid"], arguments["source"])
    hold_until(arguments.get("hold"), now_utc())


def check_account(arguments: dict[str, Any]) -> None:
    if arguments["account"] is not None:
        with session_scope() as session:
            active_accounts(session, account_id=arguments["account"])


def check_marketplace(arguments: dict[str, Any]) -> None:
    require_marketplace(arguments["marketplace"])


def check_alert(arguments: dict[str, Any]) -> None:
    AlertRequest(**arguments).validate()


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "app.tasks.marketing.bids.apply_bid_change": check_bid_change,
    "app.tasks.marketing.stats.collect_stats": check_marketplace,
    "app.tasks.marketing.sync.sync_campaigns": check_account,
    "app.tasks.marketing.alerts.send_alert": check_alert,
}
CHECK_ERRORS = (BidChangeError, UnknownMarketplaceError, UnknownAccountError, AlertError)
