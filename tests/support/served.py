"""A server of ours (Flower, the Prometheus exporter) as a subprocess for one test: started with
the test's settings, waited for until its URL answers, stopped afterwards."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.worker import REPO_ROOT


@contextmanager
def served(
    argv: list[str], url: str, log_path: Path, timeout: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` (its output in `log_path`) until `url` answers anything over HTTP; stop it after."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                # Not listening yet fails at once; a listening server gets time to answer (the
                # exporter reads the database, Redis and the workers on every scrape).
                httpx.get(url, timeout=httpx.Timeout(60, connect=2))
                break
            except httpx.HTTPError:
                log_tail = log_path.read_text(errors="replace")[-2000:]
                assert process.poll() is None, f"{argv[2:5]} exited: {log_tail}"
                assert time.monotonic() < deadline, f"{url} did not answer within {timeout:.0f} s: {log_tail}"
                time.sleep(0.5)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
