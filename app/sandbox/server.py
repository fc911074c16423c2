"""Build a sandbox (world + the six apps) and serve it, in-process or on loopback.

In-process (fast tests):

    world = create_sandbox(seed=7, speed=0)
    async with world.client("wildberries") as wb:   # httpx.AsyncClient over ASGITransport
        await wb.get("/adv/v1/promotion/count", headers={"Authorization": token})

Over HTTP: `serve(world, ports)` runs the six apps with uvicorn on one event loop;
`ServerThread` does it in a background thread for tests that need real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import uvicorn
from starlette.types import ASGIApp

from app.sandbox.claude import create_claude_app
from app.sandbox.ozon import create_ozon_app
from app.sandbox.ratelimit import Profile
from app.sandbox.state import Sandbox
from app.sandbox.telegram import create_telegram_app
from app.sandbox.watcher import create_watcher_app
from app.sandbox.wildberries import create_wildberries_app
from app.sandbox.world import WorldSize
from app.sandbox.yandex_market import create_yandex_market_app

APP_NAMES = ("wildberries", "ozon", "yandex_market", "watcher", "claude", "telegram")
DEFAULT_PORTS: Mapping[str, int] = {
    "wildberries": 8101,
    "ozon": 8102,
    "yandex_market": 8103,
    "watcher": 8104,
    "claude": 8105,
    "telegram": 8106,
}


@dataclass
class SandboxWorld:
    """A sandbox and its six ASGI apps (all sharing one world, clock, log and fault table)."""

    sandbox: Sandbox
    apps: dict[str, ASGIApp] = field(default_factory=dict)

    def app(self, name: str) -> ASGIApp:
        try:
            return self.apps[name]
        except KeyError:
            raise ValueError(f"unknown sandbox app {name!r}; use one of {', '.join(APP_NAMES)}") from None

    def client(self, name: str, **kwargs: object) -> httpx.AsyncClient:
        """An httpx client talking to one app in-process (no sockets)."""
        transport = httpx.ASGITransport(app=self.app(name))
        return httpx.AsyncClient(transport=transport, base_url=f"http://{name}.sandbox", **kwargs)  # type: ignore[arg-type]


def create_sandbox(
    *,
    seed: int = 1,
    profile: str | Profile = "official",
    speed: float = 1.0,
    size: str | WorldSize = "small",
    start: datetime | None = None,
    history_days: float = 1.0,
    fast_factor: float | None = None,
) -> SandboxWorld:
    """The world factory: same arguments → same world and the same answers to the same calls.

    `speed` is the virtual-clock factor (0 = time moves only when advanced); `profile` is
    `official` (the specs' limits) or `fast` (every rate × `fast_factor`, default 60); `size` is a
    `WorldSize` or a preset name (`small`, `demo`, `bench`).
    """
    prof = profile if isinstance(profile, Profile) else Profile.named(profile, fast_factor)
    world_size = size if isinstance(size, WorldSize) else WorldSize.preset(size)
    sandbox = Sandbox(
        seed=seed, profile=prof, speed=speed, size=world_size, start=start, history_days=history_days
    )
    apps: dict[str, ASGIApp] = {
        "wildberries": create_wildberries_app(sandbox),
        "ozon": create_ozon_app(sandbox),
        "yandex_market": create_yandex_market_app(sandbox),
        "watcher": create_watcher_app(sandbox),
        "claude": create_claude_app(sandbox),
        "telegram": create_telegram_app(sandbox),
    }
    return SandboxWorld(sandbox, apps)


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports. All are held open until all are chosen: ports asked for one by
    one can come back twice (each socket closed before the next bind), and two apps then race for
    one port."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _servers(world: SandboxWorld, ports: Mapping[str, int], host: str) -> list[uvicorn.Server]:
    servers = []
    for name in APP_NAMES:
        config = uvicorn.Config(
            world.app(name), host=host, port=ports[name], log_level="warning", lifespan="off"
        )
        servers.append(uvicorn.Server(config))
    return servers


async def serve(
    world: SandboxWorld, ports: Mapping[str, int] = DEFAULT_PORTS, host: str = "127.0.0.1"
) -> None:
    """Serve the six apps until cancelled (Ctrl-C), on one event loop so they share the world."""
    servers = _servers(world, ports, host)
    await asyncio.gather(*(server.serve() for server in servers))


class ServerThread:
    """Serves the six apps in a background thread (tests and embedding); `stop()` shuts it down.

    The listening sockets are bound here, in the caller's thread, and handed to uvicorn: a port is
    held from the moment it is chosen, so no other server (or a second sandbox) can take it in
    between, and a port that is taken fails here as an OSError rather than inside the thread,
    where it would leave the other five servers' sockets to the garbage collector."""

    def __init__(
        self, world: SandboxWorld, ports: Mapping[str, int] | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.world = world
        self.host = host
        self._sockets: dict[str, socket.socket] = {}
        try:
            for name in APP_NAMES:
                self._sockets[name] = _listening_socket(host, (ports or {}).get(name, 0))
        except OSError:
            self._close_sockets()
            raise
        self.ports = {name: int(sock.getsockname()[1]) for name, sock in self._sockets.items()}
        self._servers = _servers(world, self.ports, host)
        self._thread = threading.Thread(target=self._run, name="adolf-sandbox", daemon=True)

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        await asyncio.gather(
            *(
                server.serve(sockets=[self._sockets[name]])
                for name, server in zip(APP_NAMES, self._servers, strict=True)
            )
        )

    def start(self, timeout: float = 30.0) -> ServerThread:
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if all(server.started for server in self._servers):
                return self
            deadline.wait(0.02)
        self.stop()
        raise RuntimeError(f"sandbox servers did not start within {timeout} s on {self.ports}")

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
