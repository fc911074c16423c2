"""One beat per broker, known alive (issue 17 item 2, issue 10 item 4), with real beat and worker
subprocesses: two beats fire each entry once per slot (the second waits as a standby and takes
over when the first dies), the heartbeat moves only while a beat runs, and slots missed while no
beat ran are sent once after a restart. The probe schedule (tests/core/beat_probe.py) has two
entries every PROBE_PERIOD seconds; BEAT_LOCK_TTL is short so a killed beat's lock frees fast."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.beat_lock import BEAT_HEARTBEAT_KEY, BEAT_LAST_RUN_KEY, BEAT_LOCK_KEY, beat_holder
from tests.core.beat_probe_spec import ENTRIES, FIRES_KEY, PERIOD
from tests.support.worker import REPO_ROOT

pytestmark = pytest.mark.worker

BEAT_ENV = {"BEAT_LOCK_TTL": "6", "BEAT_TICK": "1", "PROBE_PERIOD": str(PERIOD)}


def beat_argv(schedule: Path, app: str = "tests.core.beat_probe") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", app, "beat", f"--schedule={schedule}", "--loglevel=INFO"]


def start_beat(tmp_path: Path, name: str, app: str = "tests.core.beat_probe") -> subprocess.Popen[bytes]:
    env = {**os.environ, **BEAT_ENV, "PYTHONPATH": str(REPO_ROOT)}
    with (tmp_path / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            beat_argv(tmp_path / name, app),
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=60)


def wait_for(condition, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        time.sleep(0.2)


def fires(redis_client) -> list[dict[str, str]]:
    return [json.loads(item) for item in redis_client.lrange(FIRES_KEY, 0, -1)]


def slots(redis_client, entry: str) -> list[datetime]:
    return [datetime.fromisoformat(fire["slot"]) for fire in fires(redis_client) if fire["entry"] == entry]


@pytest.fixture
def probe_worker(worker_factory):
    return worker_factory(queues="marketing_high", include=("tests.core.beat_probe",))


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        stop(process, signal.SIGKILL)


def assert_once_per_slot(redis_client, entry: str) -> None:
    entry_slots = slots(redis_client, entry)
    assert len(entry_slots) == len(set(entry_slots)), f"{entry} fired twice for one slot: {entry_slots}"
    # One sender: each slot is its previous run plus the period, so slots are a period apart;
    # a second sender's own slots would fall between them.
    gaps = [later - earlier for earlier, later in itertools.pairwise(entry_slots)]
    assert all(gap >= timedelta(seconds=PERIOD) for gap in gaps), (
        f"{entry}: slots closer than the period: {gaps}"
    )


def test_two_beats_fire_each_entry_once_per_slot_and_the_standby_takes_over(
    redis_client, probe_worker, beats, tmp_path: Path
) -> None:
    beats += [start_beat(tmp_path, "first"), start_beat(tmp_path, "second")]
    wait_for(lambda: all(len(slots(redis_client, entry)) >= 3 for entry in ENTRIES), what="3 slots each")
    holder = beat_holder()
    assert holder is not None
    holding = next(process for process in beats if holder.endswith(f"pid {process.pid}"))
    standby = next(process for process in beats if process is not holding)
    for entry in ENTRIES:
        assert_once_per_slot(redis_client, entry)

    # The holder dies without releasing its lock: the standby takes over within the lock's TTL
    # and goes on from the holder's last runs (no slot twice, none skipped beyond the one in flight).
    before = {entry: len(slots(redis_client, entry)) for entry in ENTRIES}
    stop(holding, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(
        lambda: beat_holder() == f"{os.uname().nodename} pid {standby.pid}", what="standby holds the lock"
    )
    takeover = time.monotonic() - killed_at
    wait_for(
        lambda: all(len(slots(redis_client, entry)) >= before[entry] + 2 for entry in ENTRIES),
        what="the standby fires",
    )
    stop(standby)
    for entry in ENTRIES:
        assert_once_per_slot(redis_client, entry)
    assert redis_client.get(BEAT_LOCK_KEY) is None  # released on a clean stop
    log = (tmp_path / "second.log").read_text() + (tmp_path / "first.log").read_text()
    assert "standby — another beat holds the lock" in log
    # Fault matrix scenario 5 (docs/reliability.md): slots fired once / slots, takeover time.
    fired = [slots(redis_client, entry) for entry in ENTRIES]
    once = sum(len(set(s)) for s in fired)
    print(
        f"SCENARIO 5 applied={once}/{sum(map(len, fired))} recovery_s={takeover:.1f} lock_ttl_s={BEAT_ENV['BEAT_LOCK_TTL']}"
    )


def test_heartbeat_moves_while_beat_runs_and_stops_when_it_dies(redis_client, beats, tmp_path: Path) -> None:
    beats.append(start_beat(tmp_path, "beat"))
    wait_for(lambda: redis_client.get(BEAT_HEARTBEAT_KEY) is not None, what="first heartbeat")
    first = redis_client.get(BEAT_HEARTBEAT_KEY)
    wait_for(lambda: redis_client.get(BEAT_HEARTBEAT_KEY) != first, what="heartbeat moves")
    tick = datetime.fromisoformat(redis_client.get(BEAT_HEARTBEAT_KEY).decode())
    assert tick.tzinfo is not None and tick.utcoffset() == timedelta(0)
    stop(beats[0], signal.SIGKILL)
    last = redis_client.get(BEAT_HEARTBEAT_KEY)
    time.sleep(float(BEAT_ENV["BEAT_TICK"]) * 4)  # four ticks of a live beat
    assert redis_client.get(BEAT_HEARTBEAT_KEY) == last


def test_slots_missed_while_no_beat_ran_are_sent_once_after_restart(
    redis_client, probe_worker, beats, tmp_path: Path
) -> None:
    beats.append(start_beat(tmp_path, "before"))
    wait_for(lambda: all(len(slots(redis_client, entry)) >= 1 for entry in ENTRIES), what="a first fire each")
    stop(beats[0], signal.SIGKILL)
    killed_at = datetime.now(UTC)
    assert redis_client.hlen(BEAT_LAST_RUN_KEY) == len(ENTRIES)
    time.sleep(PERIOD * 3 + 1)  # at least three slots of each entry pass without a beat
    before = {entry: len(slots(redis_client, entry)) for entry in ENTRIES}
    restarted_at = datetime.now(UTC)
    beats.append(start_beat(tmp_path, "after"))
    restarted = time.monotonic()
    wait_for(
        lambda: all(len(slots(redis_client, entry)) >= before[entry] + 1 for entry in ENTRIES),
        what="the catch-up",
    )
    catch_up_s = time.monotonic() - restarted
    wait_for(
        lambda: all(len(slots(redis_client, entry)) >= before[entry] + 2 for entry in ENTRIES),
        what="the catch-up and the next slot",
    )
    stop(beats[1])
    for entry in ENTRIES:
        missed = [slot for slot in slots(redis_client, entry) if killed_at < slot < restarted_at]
        assert len(missed) == 1, f"{entry}: the missed slots ran {len(missed)} times: {missed}"
        assert_once_per_slot(redis_client, entry)
    # Fault matrix scenario 6 (docs/reliability.md): one catch-up per entry, time to it.
    caught_up = sum(
        1 for entry in ENTRIES for slot in slots(redis_client, entry) if killed_at < slot < restarted_at
    )
    print(f"SCENARIO 6 applied={caught_up}/{len(ENTRIES)} recovery_s={catch_up_s:.1f} catch_ups={caught_up}")


def test_the_spec_beat_command_runs_with_the_locked_scheduler(redis_client, beats, tmp_path: Path) -> None:
    """`celery -A app.core.celery_config beat` (spec 7.5.2) holds the lock under its own name."""
    beats.append(start_beat(tmp_path, "spec", app="app.core.celery_config"))
    wait_for(lambda: redis_client.get(BEAT_LOCK_KEY) is not None, what="the lock")
    assert beat_holder() == f"{os.uname().nodename} pid {beats[0].pid}"
    stop(beats[0])
    assert redis_client.get(BEAT_LOCK_KEY) is None
