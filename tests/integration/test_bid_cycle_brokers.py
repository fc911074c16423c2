"""The bid cycle as beat sends it — `run_bid_cycle` through a real prefork worker, its chord over
the accounts and the finish — on Redis and on RabbitMQ (issue 10 item 7: `BROKER_URL=amqp://...`;
results stay on Redis). The RabbitMQ case skips with the reason when RabbitMQ does not answer,
except under CI=true, where it must run."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from celery import Celery
from celery.result import AsyncResult
from kombu import Connection
from sqlalchemy import select

from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import MarketingBidIntent
from tests.integration.test_bid_cycle import history_values, prepare, sandbox_bid_values
from tests.support.sandbox_system import SandboxSystem
from tests.support.worker import broker_app

pytestmark = pytest.mark.worker

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def rabbitmq_or_skip() -> str:
    try:
        with Connection(AMQP_URL, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as error:  # any failure to connect: refused, auth, timeout
        reason = (
            f"RabbitMQ at {Connection(AMQP_URL).as_uri()} does not answer ({error}); start it "
            "(`rabbitmq-server -detached`) or point TEST_AMQP_URL at one"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return AMQP_URL


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_the_cycle_runs_through_workers_on_the_broker(
    sandbox_system: SandboxSystem, worker_factory: Any, broker: str
) -> None:
    broker_url = rabbitmq_or_skip() if broker == "rabbitmq" else None
    app: Celery = broker_app(broker_url) if broker_url else celery_app
    if broker_url:
        app.control.purge()  # a message an earlier, aborted run left in the shared server's queues
    prepare(sandbox_system)
    before = sandbox_system.effects()[-1]["seq"] if sandbox_system.effects() else 0
    worker = worker_factory(queues="marketing_high", concurrency=2, broker_url=broker_url)
    dispatched = app.send_task("app.tasks.marketing.bid_cycle.run_bid_cycle").get(timeout=120)
    assert dispatched["status"] == "dispatched", dispatched
    summary = AsyncResult(dispatched["follow_task_id"], app=app).get(timeout=240)
    assert summary["status"] in ("completed", "partial"), summary
    assert summary["bids_updated"] > 0, summary
    seen = sandbox_bid_values(sandbox_system, int(before))
    seen.pop(0, 0)  # YM pauses (bid 0), as in test_bid_cycle
    assert seen == history_values()
    with session_scope() as session:
        intents = Counter(session.scalars(select(MarketingBidIntent.status)))
    assert intents["applied"] == summary["bids_updated"]
    if broker_url:
        assert "Connected to amqp://" in worker.log()
