"""Every command's options and arguments, fuzzed (issue 14 item 3): hostile values (ids beyond
bigint, negative and fractional numbers, NaN, dates that are no dates, empty and multi-line text)
end as a usage error or one `error:` line and a non-zero exit, or the command works — never a
traceback. In-process through Typer's runner over a migrated database with one account, so the
commands reach their database queries for real; the subprocess path of the same guard is tested
in tests/cli.

Long-running commands (up, sandbox, telegram-bot, metrics) and `run` (tests/fuzz/test_task_arguments.py)
are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import build_cli
from app.cli.errors import explain
from app.core.database import session_scope
from tests.fuzz.replies import hostile_words
from tests.fuzz.test_adapter_replies import EXAMPLES, RANDOM
from tests.support.rows import add_account

SKIPPED = {"up", "sandbox", "telegram-bot", "metrics", "run", "db", "backtest"}


def commands() -> dict[str, Any]:
    """Every command and sub-command by its words ("campaigns set"); Typer's own click objects."""
    root: Any = typer.main.get_command(build_cli())
    out: dict[str, Any] = {}
    for name, command in root.commands.items():
        if name in SKIPPED:
            continue
        if hasattr(command, "commands"):
            out.update({f"{name} {sub}": c for sub, c in command.commands.items()})
        else:
            out[name] = command
    return out


COMMANDS = commands()


@st.composite
def command_line(draw: st.DrawFn, command: Any) -> list[str]:
    words: list[str] = []
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help" and draw(st.booleans()):
            words.append(draw(st.sampled_from(param.opts + param.secondary_opts)))
            if not param.is_flag and not param.count:
                words.append(draw(hostile_words))
        elif param.param_type_name == "argument":
            words += draw(st.lists(hostile_words, min_size=1, max_size=2))
    return words


@pytest.fixture
def one_account(clean_db: None) -> Iterator[None]:
    with session_scope() as session:
        add_account(session, "wb", name="fuzz", brand="fuzz")
    yield


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_hostile_arguments_end_in_one_line_or_work(name: str, one_account: None, tmp_path: Any) -> None:
    runner = CliRunner()
    cli = build_cli()
    prefix = name.split()

    @settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(words=command_line(COMMANDS[name]))
    @example(words=["--campaign", str(2**63)])
    @example(words=["--run", str(2**63)])
    @example(words=[str(2**63)])
    def one(words: list[str]) -> None:
        result = runner.invoke(cli, [*prefix, *words], input="n\n", catch_exceptions=True)
        error = result.exception
        if error is None or isinstance(error, SystemExit):
            return
        message = explain(error) or explain(error.__cause__ or error)
        assert message is not None, f"adolf-marketing {name} {words!r} crashed: {error!r}"
        assert "\n" not in message, f"adolf-marketing {name} {words!r}: more than one line: {message!r}"

    one()
