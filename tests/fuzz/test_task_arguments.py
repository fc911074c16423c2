"""Every task's command-line arguments, fuzzed (issue 14 item 3): `adolf-marketing run TASK ...`
either builds a call whose values have the task's annotated types or answers with one line that
says what to fix — never a traceback, never a value that reaches a worker unchecked.

The values are hostile text: numbers beyond bigint, NaN, JSON fragments, the names of the task's own
parameters with `=`, empty strings, control characters. The database holds one real WB keyword, so
the per-task checks (apply_bid_change reads the keyword and its campaign) run for real.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.cli.errors import UserError
from app.cli.task_args import TaskCall, accepts, build_call
from app.cli.tasks import parse_kwargs, split_arguments, task_names
from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import MarketingKeyword
from tests.fuzz.replies import hostile_words
from tests.fuzz.test_adapter_replies import EXAMPLES, RANDOM
from tests.support.rows import add_account, add_campaign

TASKS = sorted(task_names().values())


@st.composite
def command_lines(draw: st.DrawFn, task: Any) -> tuple[list[str], list[str]]:
    """The words after `run TASK` (values, `NAME=VALUE`, `--name value`) and `--kw` pairs."""
    names = [
        *inspect.signature(task.run).parameters,
        *draw(st.lists(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), min_size=1, max_size=1)),
    ]
    pair = st.tuples(st.sampled_from(names), hostile_words)
    word = st.one_of(
        hostile_words.map(lambda v: [v]),
        pair.map(lambda p: [f"{p[0]}={p[1]}"]),
        pair.map(lambda p: [f"--{p[0].replace('_', '-')}", p[1]]),
        st.sampled_from(names).map(lambda n: [f"--{n}"]),
    )
    words = [w for group in draw(st.lists(word, max_size=4)) for w in group]
    kw = draw(st.lists(hostile_words | pair.map(lambda p: f"{p[0]}={p[1]}"), max_size=2))
    return words, kw


@pytest.fixture
def one_keyword(clean_db: None) -> Iterator[int]:
    """A WB search cluster of a cpm campaign: apply_bid_change's check reads it for real."""
    with session_scope() as session:
        account = add_account(session, "wb", name="fuzz", brand="fuzz")
        campaign = add_campaign(session, account, payment_type="cpm")
        keyword = MarketingKeyword(
            campaign_id=campaign.id, external_id="1:платье", keyword="платье", kind="cluster"
        )
        session.add(keyword)
        session.flush()
        keyword_id = keyword.id
    yield keyword_id


@pytest.mark.parametrize("name", TASKS, ids=[n.rsplit(".", 1)[-1] for n in TASKS])
def test_task_arguments_build_a_typed_call_or_answer_in_one_line(name: str, one_keyword: int) -> None:
    task = celery_app.tasks[name]
    hints = typing.get_type_hints(task.run)
    order = list(inspect.signature(task.run).parameters)

    @settings(
        max_examples=EXAMPLES * 4,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(line=command_lines(task))
    @example(line=([f"keyword_id={2**63}", "new_bid=15100"], []))  # beyond bigint: no database error
    @example(line=(["keyword_id=-1", "new_bid=15100", "source=manual"], []))
    def one(line: tuple[list[str], list[str]]) -> None:
        words, kw = line
        try:
            positional, keywords = split_arguments(words)
            call = build_call(task, positional, {**keywords, **parse_kwargs(kw)})
        except UserError as error:
            message = str(error)
            assert message and "\n" not in message and len(message) < 400, repr(message)
            return
        except Exception as error:
            raise AssertionError(f"run {name} {words} --kw {kw}: {error!r}") from error
        assert isinstance(call, TaskCall)
        given_values = {**dict(zip(order, call.args, strict=False)), **call.kwargs}
        for parameter, value in given_values.items():
            assert accepts(hints.get(parameter, Any), value), f"{parameter}={value!r} passed unchecked"

    one()
