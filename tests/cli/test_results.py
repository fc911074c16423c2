"""A CLI process that sent tasks exits without result-backend noise (issue 17 items 8, 11): the
subscription to the results is dropped while Redis is up, not by `AsyncResult.__del__` at
interpreter shutdown ("sys.meta_path is None" ImportError) or after `up` stopped Redis (20 s of
reconnect retries, then "Exception ignored in: AsyncResult.__del__")."""

from __future__ import annotations

import os
import subprocess
import sys


def test_sending_the_demo_kick_off_leaves_nothing_for_exit(redis_client) -> None:
    script = "from app.cli.demo import send_first_run; print(send_first_run())"
    result = subprocess.run(
        [sys.executable, "-c", script], env=os.environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stderr == ""
    assert len(result.stdout.strip()) == 36  # the task id
