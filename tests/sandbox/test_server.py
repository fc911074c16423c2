"""The sandbox over real HTTP: uvicorn on loopback, free ports; and the CLI as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.server import APP_NAMES, ServerThread, create_sandbox, free_ports
from tests.sandbox.conftest import accounts


def test_all_six_apps_serve_over_http_and_share_one_world() -> None:
    world = create_sandbox(seed=9, speed=0)
    with ServerThread(world) as server, httpx.Client(timeout=5) as client:
        assert len(set(server.ports.values())) == len(APP_NAMES) == 6
        for name in APP_NAMES:
            assert client.get(server.url(name) + "/_sandbox/clock").status_code == 200
        token = accounts(world, Marketplace.WB)[0]["credentials"]["tokens"]["personal"]
        count = client.get(
            server.url("wildberries") + "/adv/v1/promotion/count", headers={"Authorization": token}
        )
        assert count.status_code == 200 and count.headers["X-Ratelimit-Remaining"] == "4"
        # One clock for all ports.
        client.post(server.url("ozon") + "/_sandbox/clock", json={"advance": 3600})
        assert (
            client.get(server.url("watcher") + "/_sandbox/clock").json()["now"].startswith("2026-11-30T07:00")
        )


def test_a_timeout_fault_times_out_a_real_client() -> None:
    world = create_sandbox(seed=9, speed=0)
    with ServerThread(world) as server, httpx.Client(timeout=0.3) as client:
        base = server.url("wildberries")
        client.post(
            base + "/_sandbox/faults", json={"path": "/adv/v1/balance", "kind": "timeout", "delay_s": 2}
        )
        token = accounts(world, Marketplace.WB)[0]["credentials"]["tokens"]["personal"]
        with pytest.raises(httpx.ReadTimeout):
            client.get(base + "/adv/v1/balance", headers={"Authorization": token})


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGINT")
def test_cli_prints_urls_and_credentials_and_stops_on_ctrl_c() -> None:
    ports = free_ports(6)
    args = ["--seed", "4", "--size", "small", "--profile", "fast", "--speed", "0"]
    for flag, port in zip(
        ("--wb-port", "--ozon-port", "--ym-port", "--watcher-port", "--claude-port", "--telegram-port"),
        ports,
        strict=True,
    ):
        args += [flag, str(port)]
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.sandbox.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        reply = None
        while time.monotonic() < deadline:
            try:
                reply = httpx.get(f"http://127.0.0.1:{ports[0]}/_sandbox/accounts", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert reply is not None and reply.status_code == 200
        token = reply.json()["accounts"][0]["credentials"]["tokens"]["personal"]
        claude_key = reply.json()["claude"]["api_key"]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{ports[0]}" in out and f"http://127.0.0.1:{ports[3]}" in out
    assert token in out and f"http://127.0.0.1:{ports[4]}" in out and claude_key in out
