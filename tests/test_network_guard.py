"""The test harness's network guard (tests/support/network_guard.py): real hosts refused in one
line, loopback allowed."""

from __future__ import annotations

import socket

import httpx
import pytest

from app.core.config import Settings
from tests.support.network_guard import RealHostRefused, is_local


@pytest.mark.parametrize("setting", ["WB_API_URL", "OZON_API_URL", "YM_API_URL", "CLAUDE_API_URL"])
def test_the_real_marketplaces_and_apis_cannot_be_reached_from_a_test(setting: str) -> None:
    url = getattr(Settings(), setting)
    with pytest.raises(RealHostRefused, match="tests talk to the sandbox on loopback only"):
        httpx.get(url, timeout=1.0)


def test_loopback_is_reached() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=5):
            pass


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        (b"localhost", True),
        ("0.0.0.0", True),
        (None, True),
        ("advert-api.wildberries.ru", False),
        ("10.0.0.1", False),
        ("8.8.8.8", False),
    ],
)
def test_what_counts_as_this_machine(host: object, local: bool) -> None:
    assert is_local(host) is local
