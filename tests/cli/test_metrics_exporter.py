"""`adolf-marketing metrics` (issue 10 item 3): one exporter process that reads Redis and
PostgreSQL at scrape time; its reply parses as the Prometheus text format and carries the spec
7.4.2 figures, celery-exporter's names, task counts, bids, spend vs limit and beat's last tick."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.beat_lock import BEAT_HEARTBEAT_KEY
from app.core.clock import moscow_today, now_utc
from app.core.database import session_scope
from app.models.marketing import (
    CeleryFailedTask,
    MarketingBidIntent,
    MarketingCycleRun,
)
from app.services.marketing.api_calls import record_calls_sync
from app.services.marketing.monitoring import PRIORITY_SEP
from tests.support.cli import cli
from tests.support.rows import add_account, add_campaign
from tests.support.up_process import free_port

pytestmark = pytest.mark.worker


def scrape(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()
        try:
            reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            if reply.status_code == 200:
                return reply.text
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict, metric: str, **labels: str) -> float:
    matches = [
        v for sample_labels, v in found[metric] if all(sample_labels.get(k) == x for k, x in labels.items())
    ]
    assert len(matches) == 1, (metric, labels, found.get(metric))
    return matches[0]


def test_exporter_serves_every_metric_in_the_prometheus_format(
    clean_db, redis_client, worker_factory, tmp_path: Path
) -> None:
    worker_factory(queues="marketing_high", concurrency=2)
    today = moscow_today(now_utc())
    with session_scope() as session:
        account = add_account(session, "wb", last_stats_collected_at=now_utc() - timedelta(minutes=30))
        campaign = add_campaign(session, account, daily_limit=500_000, spent_today=123_450, spent_date=today)
        session.add_all(
            MarketingBidIntent(campaign_id=campaign.id, new_bid=100 + n, source="bid_cycle", status=status)
            for n, status in enumerate(("applied", "applied", "failed"))
        )
        started = now_utc() - timedelta(minutes=2)
        session.add(
            MarketingCycleRun(
                status="partial",
                started_at=started,
                finished_at=started + timedelta(seconds=90),
                summary={"errors": 2},
            )
        )
        session.add(
            CeleryFailedTask(
                task_id="t-1",
                task_name="app.tasks.marketing.stats.collect_stats",
                exception="boom",
                reason="retries_exhausted",
                queue="marketing_default",
            )
        )
    redis_client.rpush("marketing_default", "a", "b")
    redis_client.rpush(f"marketing_default{PRIORITY_SEP}6", "c")
    record_calls_sync(redis_client, "ozon", 40, 4)
    tick = datetime.now(UTC) - timedelta(seconds=30)
    redis_client.set(BEAT_HEARTBEAT_KEY, tick.isoformat())

    port = free_port()
    log = tmp_path / "metrics.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "metrics", "--port", str(port)],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        found = samples(scrape(port, process, log))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert f"Prometheus exporter at http://127.0.0.1:{port}/metrics" in log.read_text()
    assert value(found, "celery_queue_length", queue_name="marketing_default") == 3
    assert value(found, "celery_queue_length", queue_name="marketing_low") == 0
    assert value(found, "celery_active_worker_count", queue_name="marketing_high") == 1
    assert value(found, "celery_active_process_count", queue_name="marketing_high") == 2
    assert value(found, "celery_active_worker_count", queue_name="marketing_low") == 0
    assert len(found["celery_worker_up"]) == 1
    assert value(found, "adolf_marketing_bid_cycle_duration_seconds") == 90
    assert value(found, "adolf_marketing_bid_cycle_errors") == 2
    assert 29 * 60 < value(found, "adolf_marketing_stats_collection_lag_seconds", marketplace="wb") < 60 * 60
    assert value(found, "adolf_marketing_api_errors_rate", marketplace="ozon") == pytest.approx(0.1)
    assert value(found, "adolf_marketing_api_calls", marketplace="ozon") == 40
    assert value(found, "adolf_marketing_beat_last_tick_timestamp_seconds") == pytest.approx(tick.timestamp())
    assert 0 < value(found, "adolf_marketing_beat_last_tick_age_seconds") < 600
    assert (
        value(
            found,
            "celery_task_failed_total",
            name="app.tasks.marketing.stats.collect_stats",
            reason="retries_exhausted",
        )
        == 1
    )
    assert (
        value(
            found,
            "adolf_marketing_task_runs_total",
            name="app.tasks.marketing.bid_cycle.run_bid_cycle",
            state="partial",
        )
        == 1
    )
    assert value(found, "adolf_marketing_bid_intents_total", status="applied") == 2
    assert value(found, "adolf_marketing_bid_intents_total", status="failed") == 1
    assert value(found, "adolf_marketing_account_spent_today_rubles", account="wb-main") == 1234.5
    assert value(found, "adolf_marketing_account_daily_limit_rubles", account="wb-main") == 5000
    assert {labels["source"]: v for labels, v in found["adolf_marketing_exporter_source_up"]} == {
        "broker": 1,
        "workers": 1,
        "redis": 1,
        "postgresql": 1,
    }


def test_exporter_refuses_a_busy_port_in_one_line(redis_client) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("metrics", "--port", str(port), timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
