"""`adolf-marketing up`: beat, the three workers of spec 7.5.1, Flower and the Prometheus exporter
(`adolf-marketing metrics`) as child processes.

Before any child starts (issue 17 items 2, 3): one `up` per data folder (a lock file) and, against
configured services, per broker (beat's lock, the workers' node names); Redis, the broker and
PostgreSQL answer — else one line and a non-zero exit. The children die with `up` however it
dies: on Linux each gets SIGTERM from the kernel when `up` exits (PR_SET_PDEATHSIG), so a
SIGKILL'd or OOM-killed `up` leaves no beat or worker nobody started (item 8).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from app.cli.instance import UpLock, node_name, refuse_if_system_runs, take_up_lock
from app.cli.services import migrate_to_head, start_redis_if_embedded
from app.core.celery_config import celery_app, check_config
from app.core.config import get_settings, reset_settings_cache
from app.core.redis import get_redis

STOP_GRACE_SECONDS = 20.0
COLOURS = ("\033[36m", "\033[32m", "\033[33m", "\033[35m", "\033[34m", "\033[31m")
RESET = "\033[0m"


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = field(default=None, repr=False)


WORKERS = (("high", 2), ("default", 2), ("low", 1))  # spec 7.5.1: queue suffix, concurrency


def celery_argv(*args: str) -> list[str]:
    # --quiet: no start-up banner per process; `up` prints one line for the whole plan.
    return [sys.executable, "-m", "celery", "-A", "app.core.celery_config", "--quiet", *args]


def process_plan(data_dir: Path, flower_port: int, loglevel: str) -> list[Child]:
    """Spec 7.5.1: beat; workers high (2), default (2), low (1); Flower on its port; the exporter."""
    level = f"--loglevel={loglevel.lower()}"
    workers = [
        Child(
            f"worker-{short}",
            celery_argv(
                "worker", f"--queues=marketing_{short}", f"--concurrency={procs}", level, "-n", f"{short}@%h"
            ),
        )
        for short, procs in WORKERS
    ]
    beat = Child("beat", celery_argv("beat", level, f"--schedule={data_dir / 'celerybeat-schedule'}"))
    flower = Child("flower", celery_argv("flower", f"--port={flower_port}", "--address=127.0.0.1"))
    # Issue 10 item 3: one exporter process (METRICS_PORT, METRICS_ADDRESS), not one per worker.
    metrics = Child("metrics", [sys.executable, "-m", "app.cli", "metrics"])
    return [beat, *workers, flower, metrics]


def _pump(child: Child, colour: str, lock: threading.Lock) -> None:
    assert child.process is not None and child.process.stdout is not None
    prefix = f"{colour}{child.name:>14} |{RESET} " if sys.stdout.isatty() else f"{child.name:>14} | "
    for raw in iter(child.process.stdout.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        with lock:
            print(prefix + line, flush=True)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> Callable[[], None] | None:
    """A preexec function asking the kernel to SIGTERM the child when this process dies (Linux).

    SIGTERM, not SIGKILL: a worker then shuts down warmly and takes its pool children with it.
    The function only calls prctl and getppid — nothing that takes a lock another thread of
    ours could hold at fork time. Elsewhere (macOS) there is no such signal: None.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


def start(children: list[Child], env: dict[str, str]) -> None:
    lock = threading.Lock()
    for index, child in enumerate(children):
        child.process = subprocess.Popen(
            child.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: we stop it and its pool children together
            preexec_fn=die_with_parent(),
        )
        child.pump = threading.Thread(
            target=_pump, args=(child, COLOURS[index % len(COLOURS)], lock), daemon=True
        )
        child.pump.start()


def stop(children: list[Child], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM (warm shutdown) to every group, then SIGKILL whatever is left after `grace`."""
    running = [c for c in children if c.process and c.process.poll() is None]
    for child in running:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in running:
        assert child.process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for child in children:
        _signal_group(child, signal.SIGKILL)  # pool children and stragglers of the group
        if child.process and child.process.poll() is None:
            child.process.wait(timeout=5)
        if child.pump:
            child.pump.join(timeout=2)


def _signal_group(child: Child, sig: signal.Signals) -> None:
    if child.process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, sig)


def supervise(children: list[Child]) -> int:
    """Wait for Ctrl-C/SIGTERM or for a child to die; either way stop everything."""
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping.is_set():
        for child in children:
            assert child.process is not None
            code = child.process.poll()
            if code is not None:
                print(f"error: {child.name} exited with code {code}; stopping the others", file=sys.stderr)
                exit_code = 1
                stopping.set()
                break
        stopping.wait(0.5)
    print("stopping: waiting for running tasks to finish (Ctrl-C again is ignored)...", flush=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop(children)
    return exit_code


def child_environment(database_url: str) -> dict[str, str]:
    settings = get_settings()
    env = dict(os.environ)
    # Children must join the servers this process resolved, not start their own.
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = settings.redis_url
    env["DATA_DIR"] = str(settings.DATA_DIR)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if settings.FLOWER_BASIC_AUTH is not None:  # Flower reads it from its environment, not argv
        env["FLOWER_BASIC_AUTH"] = settings.FLOWER_BASIC_AUTH.get_secret_value()
    return env


def up_command(
    flower_port: int = typer.Option(None, "--flower-port", help="Flower's port (default FLOWER_PORT, 5555)."),
    sandbox: bool | None = typer.Option(
        None,
        "--sandbox/--no-sandbox",
        help="Run the demo marketplace world beside the system (default: on with the zero-config default).",
    ),
    seed: int = typer.Option(1, "--seed", help="Seed of the demo world."),
) -> None:
    from app.cli import demo

    settings = get_settings()
    celery_app.loader.import_default_modules()
    check_config(celery_app, settings)
    with_sandbox = settings.embedded if sandbox is None else sandbox
    up_lock = take_up_lock(settings.DATA_DIR)
    redis_server = None
    children: list[Child] = []
    code = 0
    try:
        redis_server = start_redis_if_embedded()
        database_url = check_services()
        env = child_environment(database_url)
        if with_sandbox:
            env.update(start_demo_world(demo, children, env, seed, up_lock))
        system = process_plan(settings.DATA_DIR, flower_port or settings.FLOWER_PORT, settings.LOG_LEVEL)
        bot = get_settings().TELEGRAM_BOT_TOKEN is not None  # the demo world sets one (its fake Bot API)
        if bot:
            system.append(Child("telegram-bot", [sys.executable, "-m", "app.cli", "telegram-bot"]))
        mode = (
            "embedded services in " + str(settings.DATA_DIR) if settings.embedded else "configured services"
        )
        parts = (
            "beat, 3 workers, Flower, metrics and the Telegram bot"
            if bot
            else "beat, 3 workers, Flower and metrics"
        )
        print(f"adolf-marketing: starting {parts} on {mode}", flush=True)
        start(system, env)
        children.extend(system)
        port = flower_port or settings.FLOWER_PORT
        print(f"adolf-marketing: Flower at http://localhost:{port} — Ctrl-C stops", flush=True)
        if with_sandbox:
            threading.Thread(target=_announce_kick_off, daemon=True).start()
        code = supervise(children)
    finally:
        stop(children)
        if redis_server is not None:
            redis_server.stop()
        up_lock.release()
    if code:
        raise typer.Exit(code)


def check_services() -> str:
    """Before any child starts: Redis, the broker and PostgreSQL answer, nothing of ours runs on
    the broker yet, the schema is migrated; returns the database URL. Each failure is one line
    (app.cli.errors) instead of children that retry forever (issue 17 item 3)."""
    settings = get_settings()
    get_redis().ping()
    if settings.BROKER_URL:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    if settings.REDIS_URL:  # shared services: another `up` may use another data folder or host
        refuse_if_system_runs([node_name(short) for short, _ in WORKERS])
    return migrate_to_head()


def start_demo_world(
    demo: Any, children: list[Child], env: dict[str, str], seed: int, up_lock: UpLock
) -> dict[str, str]:
    """Start the sandbox child, register its accounts; returns the settings that point at it."""
    ports = demo.choose_ports()
    world = demo.sandbox_child(ports, seed)
    children.append(world)
    start([world], env)
    accounts = demo.wait_for_sandbox(ports)
    extra: dict[str, str] = demo.sandbox_env(
        ports,
        accounts["watcher"]["api_key"],
        accounts["claude"]["api_key"],
        accounts["telegram"]["bot_token"],
    )
    # `status` says its times are the sandbox's; `backtest` replays this world.
    up_lock.update(clock_url=extra["CLOCK_URL"], sandbox={"seed": seed, "size": demo.DEMO_SIZE})
    os.environ.update(extra)  # this process registers the accounts and kicks off the first run
    reset_settings_cache()
    count = demo.register_demo_accounts(accounts["accounts"])
    print(
        f"adolf-marketing: demo world on ports {sorted(ports.values())}, {count} accounts registered",
        flush=True,
    )
    return extra


def _announce_kick_off() -> None:
    from app.cli import demo

    if demo.kick_off():
        print(
            "adolf-marketing: first sync, stats and bid cycle queued; `adolf-marketing status` shows them",
            flush=True,
        )
    else:
        print("adolf-marketing: workers did not answer in time; the schedule will run the job", flush=True)
