"""`adolf-marketing up` as a subprocess on the zero-config default, and what the end-to-end tests
ask of it: its processes, its workers, its first completed bid cycle, its demo world's ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil

from app.sandbox.server import free_port as free_port  # the tests take it from here

# Spec Appendix A's check points as `adolf-marketing status` names them (issue 10 item 5).
APPENDIX_A = frozenset(
    {
        "beat",
        "workers:marketing_high",
        "workers:marketing_default",
        "workers:marketing_low",
        "bid_cycle",
        "stats",
        "alerts",
        "flower",
        "queues",
    }
)


def zero_config_env(data_dir: Path, flower_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "BROKER_URL", "SECRET_KEY"}
    }
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "FLOWER_PORT": str(flower_port),
            "METRICS_PORT": str(free_port()),  # the exporter `up` starts (issue 10 item 3)
            "PYTHONUNBUFFERED": "1",
        }
    )
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


def bids_by_marketplace(cycle_line: str) -> tuple[dict[str, int], dict[str, int]]:
    """Bids updated and refused per marketplace, from `status`'s cycle line."""
    match = re.search(r"updated/refused/unknown by marketplace: (.*)$", cycle_line)
    assert match, cycle_line
    updated, refused = {}, {}
    for part in match.group(1).split(", "):
        name, counts = part.split()
        updated[name], refused[name], _ = (int(n) for n in counts.split("/"))
    return updated, refused


def failed_points(status_stdout: str) -> set[str]:
    """The ids of the ✗ lines of `adolf-marketing status`."""
    return {m.group(1) for m in re.finditer(r"^✗ (\S+)", status_stdout, re.MULTILINE)}


def up_child(up_pid: int, fragment: str) -> psutil.Process:
    """The child of `up` whose command line contains `fragment` (a worker's main process, not its
    pool children, which are that process's children)."""
    for child in psutil.Process(up_pid).children():
        if fragment in " ".join(child.cmdline()):
            return child
    raise AssertionError(f"no child of up with {fragment!r}")
