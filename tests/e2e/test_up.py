"""`adolf-marketing up` on the zero-config default: embedded PostgreSQL and Redis, beat, three
workers and Flower within a minute; Ctrl-C leaves no process behind (issue 2 "Done when")."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def zero_config_env(data_dir: Path, flower_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "BROKER_URL", "SECRET_KEY"}
    }
    env.update({"DATA_DIR": str(data_dir), "FLOWER_PORT": str(flower_port), "PYTHONUNBUFFERED": "1"})
    return env


def processes_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(data_dir) in cmdline or environ.get("DATA_DIR") == str(data_dir):
            found.append(proc)
    return found


def wait_for_workers(env: dict[str, str], expected: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    output = ""
    while time.monotonic() < deadline:
        result = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "app.core.celery_config", "status", "--timeout", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = result.stdout + result.stderr
        if f"{expected} nodes online" in output:
            return output
        time.sleep(1)
    raise AssertionError(f"{expected} workers not online within {timeout} s:\n{output}")


def wait_for_completed_cycle(env: dict[str, str], started: float, limit: float) -> str:
    line = ""
    while time.monotonic() - started < limit:
        status = subprocess.run(
            [sys.executable, "-m", "app.cli", "status"], env=env, capture_output=True, text=True, timeout=60
        )
        line = next((x for x in status.stdout.splitlines() if x.startswith("Last bid cycle")), "")
        match = re.search(r"completed.*bids updated (\d+)", line)
        if match and int(match.group(1)) > 0:
            return line
        time.sleep(3)
    raise AssertionError(f"no completed bid cycle with bids updated within {limit} s: {line!r}")


def demo_ports(log: str) -> list[int]:
    match = re.search(r"demo world on ports \[([\d, ]+)\]", log)
    assert match, "up did not start the demo world"
    return [int(p) for p in match.group(1).split(",")]


def test_up_runs_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "adolf"
    flower_port = free_port()
    env = zero_config_env(data_dir, flower_port)
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        started = time.monotonic()
        wait_for_workers(env, 3, timeout=90)
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{flower_port}/", timeout=2).status_code == 200
                break
            except (httpx.HTTPError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        print(f"up ready in {time.monotonic() - started:.1f} s")
        status = subprocess.run(
            [sys.executable, "-m", "app.cli", "status"], env=env, capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 0, status.stderr
        assert "high@" in status.stdout and "default@" in status.stdout and "low@" in status.stdout
        assert "marketing-run-bid-cycle" in status.stdout
        assert processes_using(data_dir), "expected embedded services and children to be running"
        # Issue 6: the demo world's first bid cycle completes and changes bids within two minutes.
        cycle = wait_for_completed_cycle(env, started, limit=120)
        print(f"first bid cycle completed {time.monotonic() - started:.1f} s after start: {cycle}")
        ports = demo_ports((tmp_path / "up.log").read_text())
        effects = httpx.get(f"http://127.0.0.1:{ports[0]}/_sandbox/effects", timeout=10).json()["effects"]
        bid_changes = [
            e for e in effects if e["effect"].get("action") in ("set_cluster_bids", "set_nm_bids", "set_bids")
        ]
        assert bid_changes, "the sandbox's effect log shows no bid change"
    finally:
        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(timeout=60)
        finally:
            log.close()
    output = (tmp_path / "up.log").read_text()
    assert code == 0, output[-4000:]
    deadline = time.monotonic() + 20
    while processes_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    leftovers = [(p.pid, " ".join(p.cmdline())) for p in processes_using(data_dir) if p.is_running()]
    assert leftovers == [], output[-4000:]
