"""One celery beat per broker (issue 17 item 2): a second beat stops with one line naming the first;
the first releases its lock when it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.beat_lock import BEAT_LOCK_KEY, beat_holder

pytestmark = pytest.mark.worker


def beat_argv(schedule: Path) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "app.core.celery_config", "beat", f"--schedule={schedule}"]


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_second_beat_refuses_and_the_first_releases_its_lock(redis_client, tmp_path: Path) -> None:
    first = subprocess.Popen(
        beat_argv(tmp_path / "first"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: redis_client.get(BEAT_LOCK_KEY) is not None)
        assert beat_holder() == f"{os.uname().nodename} pid {first.pid}"
        second = subprocess.run(
            beat_argv(tmp_path / "second"), capture_output=True, text=True, timeout=60, env=os.environ
        )
        assert second.returncode == 1
        assert "Traceback" not in second.stderr
        assert (
            second.stderr.strip()
            .splitlines()[-1]
            .endswith(
                f"error: another celery beat is running on this broker ({os.uname().nodename} pid {first.pid}); "
                "run exactly one beat — stop the other first (a killed beat's lock expires within 60 s)"
            )
        )
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert redis_client.get(BEAT_LOCK_KEY) is None
