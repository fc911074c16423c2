"""Fixtures of tests/chaos/ (the fault matrix); its helpers are in tests/chaos/support.py."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest

if TYPE_CHECKING:  # imported where used: this conftest loads before the test settings are set
    from app.core.embedded import EmbeddedRedis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of the test's own on a free loopback port (AOF on), restartable; stopped
    afterwards. `server.url` is its db 0."""
    from app.core.embedded import EmbeddedRedis
    from app.sandbox.server import free_port

    server = EmbeddedRedis(tmp_path / "own-redis", port=free_port())
    server.start()
    yield server
    pid = server._pid()
    server.stop()
    if pid is not None and psutil.pid_exists(pid):
        os.kill(pid, signal.SIGKILL)
