"""A real `celery worker` subprocess (prefork) on the test broker.

Time limits, kills and acks only behave as in production in a real prefork worker
(celery-reliability.md §4: the in-thread solo worker of celery.contrib.pytest has none of them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

from app.core.celery_config import celery_app, celery_settings
from app.core.config import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    node: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, grace: float = 15.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_worker(
    tmp_path: Path,
    queues: str = "marketing_high,marketing_default,marketing_low",
    include: tuple[str, ...] = (),
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
    node: str | None = None,
    broker_url: str | None = None,
) -> WorkerProcess:
    """A worker on the test broker, or on `broker_url` (e.g. RabbitMQ; results stay on Redis)."""
    node = node or f"test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = tmp_path / f"{node.split('@')[0]}.log"
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "app.core.celery_config",
        "worker",
        "-P",
        "prefork",
        f"--concurrency={concurrency}",
        f"--queues={queues}",
        "-n",
        node,
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
    ]
    if include:
        argv += ["--include", ",".join(include)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra_env or {})
    control = celery_app
    if broker_url:
        env["BROKER_URL"] = broker_url
        control = broker_app(broker_url)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )
    worker = WorkerProcess(node, process, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}:\n{worker.log()[-4000:]}")
        if control.control.ping(destination=[node], timeout=0.5):
            return worker
    worker.stop()
    raise RuntimeError(f"worker did not come up in {ready_timeout} s:\n{worker.log()[-4000:]}")


def broker_app(broker_url: str) -> Celery:
    """The project's Celery settings on another broker, without becoming the current app (the
    shared tasks of this process keep using the test broker)."""
    settings = get_settings().model_copy(update={"BROKER_URL": broker_url})
    app = Celery("adolf_marketing", broker=broker_url, backend=settings.redis_url, set_as_current=False)
    app.conf.update(celery_settings(settings))
    return app
