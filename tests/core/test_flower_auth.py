"""Flower asks for a password beyond loopback (issue 10 item 6): the spec's command
`celery -A app.core.celery_config flower --port=N` refuses to start open with one line, and with
FLOWER_BASIC_AUTH set it answers 401 without the password and 200 with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import ConfigError, Settings, get_settings, reset_settings_cache
from app.core.flower_guard import flower_problem
from app.sandbox.server import free_port
from tests.support.worker import REPO_ROOT


def settings(auth: str | None = None) -> Settings:
    return Settings(FLOWER_BASIC_AUTH=SecretStr(auth) if auth else None)


@pytest.mark.parametrize(
    ("argv", "environ", "auth", "refused"),
    [
        (["--port=5555"], {}, None, True),  # the spec's command: every address
        (["--port=5555", "--address=0.0.0.0"], {}, None, True),
        (["--port=5555", "--address", "10.1.2.3"], {}, None, True),
        (["--port=5555"], {"FLOWER_ADDRESS": "flower.example"}, None, True),
        (["--port=5555", "--address=127.0.0.1"], {}, None, False),
        (["--address=::1"], {}, None, False),
        (["--address=localhost"], {}, None, False),
        ([], {"FLOWER_ADDRESS": "127.0.0.2"}, None, False),
        (["--unix-socket=/tmp/flower.sock"], {}, None, False),
        (["--port=5555"], {}, "admin:s3cret", False),
        (["--port=5555", "--auth=.*@example.com"], {}, None, False),
    ],
)
def test_flower_beyond_loopback_needs_authentication(argv, environ, auth, refused) -> None:
    problem = flower_problem(argv, environ, settings(auth))
    assert (problem is not None) == refused
    if refused:
        assert "set FLOWER_BASIC_AUTH=user:password" in problem


@pytest.mark.parametrize("value", ["admin", "admin:", ":s3cret", "admin:s3cret,bob"])
def test_flower_basic_auth_must_be_user_password_pairs(monkeypatch, value: str) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", value)
    reset_settings_cache()
    try:
        with pytest.raises(ConfigError, match="FLOWER_BASIC_AUTH") as error:
            get_settings()
    finally:
        monkeypatch.delenv("FLOWER_BASIC_AUTH")
        reset_settings_cache()
    assert value not in str(error.value).replace("FLOWER_BASIC_AUTH", "")


def flower_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "app.core.celery_config", "flower", f"--port={port}"]


def flower_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLOWER_")}
    return {**env, **extra}


def test_the_spec_flower_command_refuses_to_listen_open(tmp_path) -> None:
    result = subprocess.run(
        flower_argv(free_port()), capture_output=True, text=True, timeout=120, cwd=tmp_path, env=flower_env()
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Flower would listen on every address without a password: set "
        "FLOWER_BASIC_AUTH=user:password (environment or .env), or listen on loopback only with "
        "--address=127.0.0.1"
    )


def test_the_spec_flower_command_asks_for_the_password_from_the_setting(tmp_path, redis_client) -> None:
    port = free_port()
    log = tmp_path / "flower.log"
    with log.open("wb") as out:
        flower = subprocess.Popen(
            flower_argv(port),
            cwd=tmp_path,
            env=flower_env(FLOWER_BASIC_AUTH="admin:s3cret", PYTHONPATH=str(REPO_ROOT)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/workers"
        deadline = time.monotonic() + 120
        while True:
            assert flower.poll() is None, log.read_text()
            try:
                anonymous = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        assert anonymous.status_code == 401
        assert httpx.get(url, auth=("admin", "wrong"), timeout=5).status_code == 401
        assert httpx.get(url, auth=("admin", "s3cret"), timeout=5).status_code == 200
    finally:
        os.killpg(flower.pid, signal.SIGTERM)
        flower.wait(timeout=30)
    assert "s3cret" not in log.read_text()
