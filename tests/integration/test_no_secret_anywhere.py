"""No secret anywhere (issue 14 item 4): the sandbox accounts' tokens and keys, the Ozon access
tokens the sandbox issued, SECRET_KEY and the integration keys are canaries. A real worker runs
sync, stats for every marketplace, a bid cycle and the health check through the broker, then a
manual bid change that meets a permanent auth failure (a dead letter with its critical alert);
Flower watches it all. Then every place a secret could leak to is scanned: every Redis key of the
broker and the results (queues, unacked, results, our own keys), every log, every text and JSON
column of every table, Flower's API and its metrics, the Prometheus exporter's page and log, and
what the CLI prints. 0 hits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select, text

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.core.secrets import _load_key
from app.models.marketing import CeleryFailedTask, MarketingCampaign, MarketingKeyword
from tests.support.sandbox_system import SandboxSystem
from tests.support.served import served
from tests.support.up_process import free_port
from tests.support.worker import REPO_ROOT

TASK_TIMEOUT = 240
FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-canary-password"
FLOWER_AUTH = (FLOWER_USER, FLOWER_PASSWORD)


def canaries(system: SandboxSystem) -> dict[str, str]:
    """Every secret this run handles, by where it comes from (values of 8+ characters)."""
    sandbox = system.world.sandbox
    found: dict[str, str] = {}
    for account in sandbox.accounts_json():
        creds = account["credentials"]
        for name, token in (creds.get("tokens") or {}).items():
            found[token] = f"{account['marketplace']} {name} token"
        for name in ("client_secret", "api_key"):
            if creds.get(name):
                found[creds[name]] = f"{account['marketplace']} {name}"
    found[_load_key().decode()] = "SECRET_KEY"
    found[FLOWER_PASSWORD] = "Flower's password"
    for name in ("watcher_key", "claude_key", "telegram_token"):
        found[getattr(sandbox, name)] = name
    return {value: where for value, where in found.items() if isinstance(value, str) and len(value) >= 8}


def issued_ozon_tokens(system: SandboxSystem) -> dict[str, str]:
    return {token: "an Ozon access token" for token in system.world.sandbox.ozon_tokens}


@pytest.fixture
def flower(sandbox_system: SandboxSystem, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, log_path = free_port(), tmp_path / "flower.log"
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "celery", "-A", "app.core.celery_config", "flower"]
    auth = f"--basic-auth={FLOWER_USER}:{FLOWER_PASSWORD}"
    with served([*argv, f"--port={port}", "--address=127.0.0.1", auth], f"{url}/healthcheck", log_path):
        yield url, log_path


@pytest.fixture
def exporter(sandbox_system: SandboxSystem, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`adolf-marketing metrics` on a free port: what it serves is scanned too."""
    port, log_path = free_port(), tmp_path / "metrics.log"
    url = f"http://127.0.0.1:{port}/metrics"
    with served([sys.executable, "-m", "app.cli", "metrics", "--port", str(port)], url, log_path):
        yield url, log_path


def run_task(name: str, *args: Any, **kwargs: Any) -> Any:
    # The result stays in Redis (not forgotten): it is scanned below.
    return celery_app.send_task(name, args=args, kwargs=kwargs).get(timeout=TASK_TIMEOUT, propagate=False)


def redis_texts(client: redis.Redis) -> Iterator[tuple[str, str]]:
    """(key, its whole value as text) for every key of the test's Redis database."""
    for raw_key in client.scan_iter(count=500):
        key = raw_key.decode(errors="replace")
        kind = client.type(raw_key).decode()
        if kind == "string":
            value: Any = client.get(raw_key)
        elif kind == "hash":
            value = client.hgetall(raw_key)
        elif kind == "list":
            value = client.lrange(raw_key, 0, -1)
        elif kind == "set":
            value = client.smembers(raw_key)
        elif kind == "zset":
            value = client.zrange(raw_key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(raw_key)
        else:
            value = kind
        yield key, key + " " + repr(value)


def table_texts() -> Iterator[tuple[str, str]]:
    """(table.column, a value as text) for every text and JSON column of every table."""
    with session_scope() as session:
        columns = session.execute(
            text(
                "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                "JOIN information_schema.tables t USING (table_schema, table_name) "
                "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
                "AND c.data_type IN ('text', 'character varying', 'json', 'jsonb')"
            )
        ).all()
        for table, column in columns:
            for (value,) in session.execute(text(f'SELECT "{column}"::text FROM "{table}"')):
                if value:
                    yield f"{table}.{column}", value


def hits(secrets: dict[str, str], places: Iterator[tuple[str, str]]) -> list[str]:
    return [
        f"{where_secret} in {place}"
        for place, content in places
        for s, where_secret in secrets.items()
        if s in content
    ]


def test_no_secret_reaches_redis_logs_tables_flower_or_the_cli(
    sandbox_system: SandboxSystem,
    worker_factory: Any,
    flower: tuple[str, Path],
    exporter: tuple[str, Path],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    worker = worker_factory(concurrency=2)
    flower_url, flower_log = flower
    assert run_task("app.tasks.marketing.sync.sync_campaigns")["errors"] == 0
    sandbox_system.advance(600)
    for marketplace in ("wb", "ozon", "ym"):
        run_task("app.tasks.marketing.stats.collect_stats", marketplace)
    run_task("app.tasks.marketing.bid_cycle.run_bid_cycle")
    run_task("app.tasks.marketing.health.check_api_health")

    # A permanent failure: WB refuses every token from now on; a manual change meets it.
    faults = sandbox_system.server.url("wildberries") + "/_sandbox/faults"
    fault = {"path": "/*", "kind": "error", "status": 401, "count": 1000}
    assert httpx.post(faults, json=fault, timeout=10).status_code == 201
    with session_scope() as session:
        keyword = session.scalars(
            select(MarketingKeyword)
            .join(MarketingCampaign)
            .where(MarketingCampaign.marketplace == "wb", MarketingKeyword.current_bid.is_not(None))
            .limit(1)
        ).one()
        keyword_id, bid = keyword.id, keyword.current_bid
    run_task("app.tasks.marketing.bids.apply_bid_change", keyword_id, bid + 100)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope() as session:
            if session.scalars(select(CeleryFailedTask)).first() is not None:
                break
        time.sleep(1)
    else:
        raise AssertionError("the auth failure left no dead letter")
    run_task("app.tasks.marketing.health.check_api_health")  # the auth failure in the API status too
    httpx.delete(faults, timeout=10)

    cli_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cli_output = {
        " ".join(args): subprocess.run(
            [sys.executable, "-m", "app.cli", *args], env=cli_env, capture_output=True, text=True, timeout=120
        )
        for args in (["status"], ["status", "--json"], ["accounts", "list"], ["history"])
    }
    time.sleep(3)  # Flower receives the last events
    flower_pages = {
        path: httpx.get(flower_url + path, auth=FLOWER_AUTH, timeout=30).text
        for path in ("/api/tasks", "/api/workers", "/metrics", "/tasks", "/dashboard")
    }
    for task_id in list(httpx.get(flower_url + "/api/tasks", auth=FLOWER_AUTH, timeout=30).json())[:50]:
        flower_pages[f"/api/task/info/{task_id}"] = httpx.get(
            f"{flower_url}/api/task/info/{task_id}", timeout=30
        ).text

    metrics_url, metrics_log = exporter
    metrics_page = httpx.get(metrics_url, timeout=30).text
    assert "celery_queue_length" in metrics_page

    secrets = {**canaries(sandbox_system), **issued_ozon_tokens(sandbox_system)}
    assert any("ozon access token" in where.lower() for where in secrets.values()), "no Ozon token was issued"
    places: list[tuple[str, str]] = [
        *redis_texts(redis_client),
        ("worker log", worker.log()),
        ("flower log", flower_log.read_text(errors="replace")),
        ("the exporter's /metrics", metrics_page),
        ("the exporter's log", metrics_log.read_text(errors="replace")),
        *table_texts(),
        *((f"Flower {path}", page) for path, page in flower_pages.items()),
        *((f"`adolf-marketing {args}`", r.stdout + r.stderr) for args, r in cli_output.items()),
    ]
    assert len(places) > 50 and any("celery-task-meta" in place for place, _ in places)
    assert hits(secrets, iter(places)) == []
