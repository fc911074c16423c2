"""No test reaches a real host (issue 13 item 6): every name or address a test process resolves
must be loopback (or the any-address a server binds to). A forgotten sandbox URL — the settings'
defaults are the real marketplaces — fails at once with one line naming the host, instead of
calling Wildberries, Ozon or Yandex Market with a test's token.

Installed by tests/conftest.py in every test process; the worker and `up` subprocesses the tests
start get the sandbox's URLs from the harness."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

_original_getaddrinfo = socket.getaddrinfo


class RealHostRefused(RuntimeError):
    """A test tried to resolve or reach a host that is not this machine."""


def is_local(host: object) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    name = name.strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost") or name == "":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_local(host):
        raise RealHostRefused(
            f"a test tried to reach {host!r} (port {port}): tests talk to the sandbox on loopback only "
            "— point the setting at the sandbox (tests/support/network_guard.py)"
        )
    return _original_getaddrinfo(host, port, *args, **kwargs)


def install() -> None:
    socket.getaddrinfo = guarded_getaddrinfo
