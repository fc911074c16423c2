"""What every HTTP client of a process shares, built once (issue 16 item 1).

`httpx.AsyncClient()` builds a new SSL context each time — it loads the CA bundle, ~10–200 ms of
CPU — and the bid cycle makes a client per account and per Watcher use, the clock one per reading.
Here the context is made once per process and every client gets it; the clock's synchronous client
is one per process (not inherited across a fork: its connections belong to the parent).
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
from typing import Any

import httpx

_lock = threading.Lock()
_sync_clients: dict[int, httpx.Client] = {}


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """httpx's own default context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), made once."""
    return httpx.create_ssl_context()


def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with the process's SSL context (it belongs to the event loop it is used in)."""
    return httpx.AsyncClient(verify=ssl_context(), **kwargs)


def sync_client() -> httpx.Client:
    """This process's synchronous client (thread-safe; a forked child makes its own)."""
    pid = os.getpid()
    client = _sync_clients.get(pid)
    if client is None:
        with _lock:
            client = _sync_clients.get(pid)
            if client is None:
                _sync_clients.clear()  # a parent's client is not ours to use (or close) after a fork
                client = _sync_clients[pid] = httpx.Client(verify=ssl_context())
    return client
