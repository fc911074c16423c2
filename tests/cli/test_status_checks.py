"""`adolf-marketing status` is spec Appendix A (issue 10 item 5): every check point with ✓/✗ and the
figure behind it, `--json`, exit code 0 when all pass and 1 when one fails — here with a real
worker, a real Flower and the figures beat, the bid cycle and stats collection write."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.beat_lock import BEAT_HEARTBEAT_KEY
from app.core.clock import now_utc
from app.core.database import session_scope
from app.models.marketing import MarketingStats
from app.models.partitions import ensure_stats_partitions
from app.services.marketing.bid_cycle.coordinator import publish_metrics
from app.services.marketing.monitoring import PRIORITY_SEP
from tests.support.cli import cli
from tests.support.served import served
from tests.support.up_process import APPENDIX_A, free_port

pytestmark = pytest.mark.worker


def status_json(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = cli("status", "--json", env=env)
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {point["id"]: point for point in document["checks"]}


@pytest.fixture
def flower(tmp_path: Path, redis_client: object) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "celery", "-A", "app.core.celery_config", "flower"]
    with served(
        [*argv, f"--port={port}", "--address=127.0.0.1"], f"http://127.0.0.1:{port}/", tmp_path / "flower.log"
    ):
        yield port


def test_every_check_point_passes_then_a_stopped_worker_fails_its_own(
    clean_db, redis_client, worker_factory, flower: int
) -> None:
    env = {"FLOWER_PORT": str(flower)}
    worker = worker_factory()  # all three queues
    redis_client.set(BEAT_HEARTBEAT_KEY, datetime.now(UTC).isoformat())
    finished = now_utc()
    publish_metrics(
        {
            "run_id": 3,
            "status": "completed",
            "started_at": (finished - timedelta(seconds=20)).isoformat(),
            "finished_at": finished.isoformat(),
            **dict.fromkeys(("campaigns", "keywords", "bids_updated", "bids_failed", "errors"), 0),
            "marketplaces": {},
            "unreached_campaigns": [],
        }
    )
    with session_scope() as session:
        today = finished.date()
        ensure_stats_partitions(session, today - timedelta(days=1), today + timedelta(days=1))
        session.add(MarketingStats(campaign_id=1, marketplace="wb", collected_at=finished, views=5))

    code, document = status_json(env)
    points = by_id(document)
    assert set(points) == APPENDIX_A
    assert code == 0 and document["ok"] and document["failed"] == [], document
    assert points["workers:marketing_low"]["figure"] == f"{worker.node} (1 processes)"
    assert points["stats"]["value"] == 1
    assert points["flower"]["value"] == 200
    assert points["queues"]["value"] == 0
    text = cli("status", env=env)
    assert text.returncode == 0, text.stdout
    assert "✓ workers:marketing_low" in text.stdout and "✗" not in text.stdout

    worker.stop()
    # Appendix A: queue length < 50, kombu's priority sub-lists counted.
    redis_client.rpush("marketing_default", *["x"] * 40)
    redis_client.rpush(f"marketing_default{PRIORITY_SEP}3", *["x"] * 10)
    code, document = status_json(env)
    assert code == 1
    assert set(document["failed"]) == {
        "workers:marketing_high",
        "workers:marketing_default",
        "workers:marketing_low",
        "queues",
    }, document
    assert by_id(document)["workers:marketing_low"]["figure"] == "no worker online"
    assert by_id(document)["queues"]["value"] == 50
    text = cli("status", env=env)
    assert text.returncode == 1
    assert "✗ workers:marketing_low" in text.stdout and "✓ beat" in text.stdout
