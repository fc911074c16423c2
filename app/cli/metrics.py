"""`adolf-marketing metrics`: the Prometheus exporter (issue 10 item 3), one process that reads
Redis and PostgreSQL at scrape time (app/services/marketing/exporter.py). `up` starts it; loopback
unless told otherwise, since the figures name accounts and their spend."""

from __future__ import annotations

import logging
import signal
import threading

import typer
from prometheus_client import CollectorRegistry, start_http_server

from app.cli.errors import UserError
from app.core.celery_config import QUEUES, celery_app
from app.core.config import get_settings
from app.core.database import session_scope
from app.core.redis import get_redis
from app.services.marketing.exporter import MarketingCollector
from app.services.marketing.monitoring import Thresholds


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        MarketingCollector(
            session_scope,
            get_redis(),
            celery_app,
            tuple(name for name, _ in QUEUES),
            Thresholds.from_settings(get_settings()),
        )
    )
    return registry


def metrics_command(
    port: int = typer.Option(None, "--port", help="TCP port (default METRICS_PORT, 9808)."),
    address: str = typer.Option(None, "--address", help="Address to listen on (default METRICS_ADDRESS)."),
) -> None:
    settings = get_settings()
    port = port or settings.METRICS_PORT
    address = address or settings.METRICS_ADDRESS
    if not 0 < port < 65536:
        raise UserError(f"--port {port} is not a TCP port; use 1-65535")
    logging.basicConfig(level=settings.LOG_LEVEL, format="%(levelname)s %(name)s: %(message)s")
    for name in ("httpx", "httpcore"):  # every scrape reads the demo clock: no line each (issue 17 item 9)
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        server, thread = start_http_server(port, addr=address, registry=build_registry())
    except OSError as error:
        raise UserError(
            f"cannot listen on {address}:{port} ({error.strerror or error}); choose another --port/--address"
        ) from None
    typer.echo(f"metrics: Prometheus exporter at http://{address}:{port}/metrics (Ctrl-C stops)")
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    server.shutdown()
    thread.join(timeout=5)
