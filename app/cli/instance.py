"""One `adolf-marketing up` per data folder and per broker (issue 17 item 2).

A second `up` started a second sandbox, a second beat and three more workers with the same node
names on the same database and Redis. `up` now holds an exclusive `flock` on `DATA_DIR/up.lock`
for its lifetime — the kernel drops it when the process dies, even by SIGKILL, so a stale file
never blocks — and writes what it runs into that file (its PID, the demo world's clock) for
`status` to read. Against configured services, where a second `up` may sit in another data
folder or on another host, it also refuses when the broker already has a beat (its lock,
app.core.beat_lock) or live workers with the node names it would start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from app.cli.errors import UserError

LOCK_FILE = "up.lock"


@dataclass
class UpLock:
    """The held lock of the running `up`; `update` records facts about it for other commands."""

    path: Path
    handle: IO[str]
    info: dict[str, Any]

    def update(self, **facts: Any) -> None:
        self.info.update(facts)
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(json.dumps(self.info))
        self.handle.flush()

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.seek(0)
            self.handle.truncate()
        self.handle.close()  # closing the file releases the flock


def take_up_lock(data_dir: Path) -> UpLock:
    """Hold the data folder's `up` lock, or refuse in one line naming the running `up`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        running = running_up(data_dir) or {}
        pid = running.get("pid", "?")
        raise UserError(
            f"adolf-marketing up is already running (pid {pid}) on {data_dir}; "
            f"use that one, or stop it first (Ctrl-C in its terminal, or `kill {pid}`)"
        ) from None
    lock = UpLock(path, handle, {})
    lock.update(pid=os.getpid())
    return lock


def running_up(data_dir: Path) -> dict[str, Any] | None:
    """What the `up` holding this data folder's lock recorded, or None when no `up` holds it."""
    path = data_dir / LOCK_FILE
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return dict(json.loads(handle.read() or "{}"))
            except ValueError:
                return {}
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def refuse_if_system_runs(node_names: list[str]) -> None:
    """Configured services: refuse when the broker already has a beat or our workers' names."""
    from app.core.beat_lock import beat_holder
    from app.core.celery_config import celery_app

    holder = beat_holder()
    if holder is not None:
        raise UserError(
            f"a celery beat already runs on this broker ({holder}): the system is up already; "
            "stop it first, or start only workers (`celery -A app.core.celery_config worker ...`)"
        )
    live = {name for reply in celery_app.control.ping(timeout=1.0) for name in reply}
    clashes = sorted(live & set(node_names))
    if clashes:
        raise UserError(
            f"workers {', '.join(clashes)} already run on this broker: the system is up already; "
            "stop them first"
        )


def node_name(short: str) -> str:
    """The node name celery gives `-n {short}@%h` on this host."""
    return f"{short}@{socket.gethostname()}"
