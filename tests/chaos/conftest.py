"""The fault matrix (celery-reliability.md §6, issue 14 item 1): shared helpers of tests/chaos/.

Every scenario runs real `celery worker`/`beat` subprocesses on real PostgreSQL and Redis against
the sandbox over HTTP with its fault injection, and ends with `effect_check`: the sandbox's effect
log against `marketing_bid_history` and the intents — every intended change applied exactly once,
nothing unintended, every permanent failure in `celery_failed_tasks` with a reason. Each scenario
prints its figure in one line (`figure`), which docs/reliability.md "The fault matrix" quotes.

Tests here synchronise by polling (`wait_for`) with generous timeouts, never by sleeping, and any
server of their own (`own_redis`) listens on a free loopback port.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from sqlalchemy import select

if TYPE_CHECKING:  # imported where used: this conftest loads before the test settings are set
    from app.core.embedded import EmbeddedRedis
    from tests.support.sandbox_system import SandboxSystem
    from tests.support.worker import WorkerProcess

# Bid-changing actions in the sandbox's effect log (WB, Ozon, YM).
BID_ACTIONS = {"set_cluster_bids", "set_nm_bids", "set_bids"}


def wait_for(condition: Callable[[], Any], timeout: float = 180.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy (returned); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.1)


def figure(scenario: int | str, applied: int, expected: int, recovery_s: float, **extra: object) -> str:
    """The one line of a scenario's figure, printed (pytest -s shows it) and returned."""
    rest = "".join(f" {key}={value}" for key, value in extra.items())
    line = f"SCENARIO {scenario} applied={applied}/{expected} recovery_s={recovery_s:.1f}{rest}"
    print(line)
    return line


def sandbox_bid_values(system: SandboxSystem, since: int = 0) -> Counter[int]:
    """Every bid value the marketplaces accepted (HTTP 200) after effect `since`, counted.
    YM pauses a keyword by setting its bid to 0: those are pauses, not bid changes, and left out."""
    values: Counter[int] = Counter()
    for effect in system.effects(since):
        body = effect["effect"]
        if effect["status"] == 200 and isinstance(body, dict) and body.get("action") in BID_ACTIONS:
            for item in body.get("bids", []):
                value = item.get("bid_kopecks", item.get("bid"))
                if value is not None and int(value) != 0:
                    values[int(value)] += 1
    return values


def last_effect_seq(system: SandboxSystem) -> int:
    effects = system.effects()
    return int(effects[-1]["seq"]) if effects else 0


@dataclass(frozen=True)
class Effects:
    applied: int  # changes the marketplaces took, each with its one history row
    expected: int  # changes the cycles sent that the marketplace did not refuse
    refused: int  # changes the marketplace refused, each failed with its reason (not resent)
    dead_letters: int  # rows of celery_failed_tasks, each with a reason


def effect_check(system: SandboxSystem, since: int = 0) -> Effects:
    """The effect check of §6: what the sandbox applied against history and intents.

    - every bid the sandbox took has exactly one history row and every history row one bid taken
      (no change twice, none unintended);
    - each history row belongs to an applied intent, each applied intent has one history row;
    - no intent is still open (pending/unknown): every send is settled;
    - a keyword is decided at most once per cycle run;
    - an intent failed only as the marketplace's refusal, its reason recorded (a refused value is
      not resent), so every other intended change was applied;
    - every dead letter names its reason.
    """
    from app.core.database import session_scope
    from app.models.marketing import CeleryFailedTask, MarketingBidHistory, MarketingBidIntent

    sent = sandbox_bid_values(system, since)
    with session_scope() as session:
        history = list(session.scalars(select(MarketingBidHistory)))
        intents = list(session.scalars(select(MarketingBidIntent)))
        dead = list(session.scalars(select(CeleryFailedTask)))
        history_values = Counter(int(row.new_bid) for row in history if row.new_bid)
        assert sent == history_values, (
            f"sandbox took {sorted((sent - history_values).elements())} without history, history has "
            f"{sorted((history_values - sent).elements())} the sandbox never took"
        )
        applied = {i.id for i in intents if i.status == "applied"}
        by_intent = Counter(row.intent_id for row in history if row.intent_id is not None)
        assert set(by_intent) <= applied, f"history of intents not applied: {set(by_intent) - applied}"
        assert all(count == 1 for count in by_intent.values()), f"an intent recorded twice: {by_intent}"
        statuses = Counter(i.status for i in intents)
        assert statuses["pending"] == statuses["unknown"] == 0, f"unsettled intents: {statuses}"
        refused = [i for i in intents if i.status == "failed"]
        assert all(i.error for i in refused), "a failed intent without the marketplace's reason"
        per_keyword = Counter((i.cycle_run_id, i.keyword_id) for i in intents if i.keyword_id is not None)
        twice = [
            (i.cycle_run_id, i.keyword_id, i.status, i.old_bid, i.new_bid, i.task_id, i.error)
            for i in intents
            if per_keyword[(i.cycle_run_id, i.keyword_id)] > 1
        ]
        assert not twice, f"keywords decided twice in one cycle run: {twice}"
        for row in dead:
            assert row.reason, f"dead letter {row.task_id} ({row.task_name}) without a reason"
        expected = statuses["applied"] + statuses["pending"] + statuses["unknown"]
        return Effects(applied=len(history), expected=expected, refused=len(refused), dead_letters=len(dead))


def pool_children(worker: WorkerProcess) -> list[psutil.Process]:
    return psutil.Process(worker.process.pid).children(recursive=True)


def signal_pool_children(worker: WorkerProcess, sig: int = signal.SIGKILL) -> list[int]:
    """Send `sig` to every pool child of `worker` (not its main process); their pids."""
    children = pool_children(worker)
    assert children, f"worker {worker.node} has no pool child"
    for child in children:
        child.send_signal(sig)
    return [child.pid for child in children]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of the test's own on a free loopback port (AOF on), restartable; stopped
    afterwards. `server.url` is its db 0."""
    from app.core.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "own-redis", port=free_port())
    server.start()
    yield server
    pid = server._pid()
    server.stop()
    if pid is not None and psutil.pid_exists(pid):
        os.kill(pid, signal.SIGKILL)
