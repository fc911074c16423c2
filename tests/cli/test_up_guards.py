"""`adolf-marketing up` refuses, in one line and before starting any child, when the system already
runs (issue 17 item 2) or when Redis or PostgreSQL cannot be reached (item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.instance import node_name, take_up_lock
from app.core.beat_lock import BEAT_LOCK_KEY
from tests.support.cli import assert_one_line_error, cli

# Runs `up`, which takes the demo ports when free: one such test at a time (scripts/test.sh).
pytestmark = pytest.mark.xdist_group("up")


def up(data_dir: Path, **env: str):
    result = cli("up", "--no-sandbox", env={"DATA_DIR": str(data_dir), **env}, timeout=90)
    assert "starting beat" not in result.stdout  # nothing was started
    return result


def test_unreachable_redis(tmp_path: Path) -> None:
    assert_one_line_error(up(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"), "cannot reach Redis")


def test_unreachable_postgresql(tmp_path: Path, redis_client) -> None:
    result = up(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert_one_line_error(result, "cannot reach PostgreSQL")


def test_second_up_on_the_same_data_folder(tmp_path: Path) -> None:
    lock = take_up_lock(tmp_path)  # what a running `up` holds
    try:
        result = up(tmp_path)
    finally:
        lock.release()
    assert_one_line_error(
        result, f"adolf-marketing up is already running (pid {lock.info['pid']}) on {tmp_path}"
    )


def test_second_up_on_the_same_broker_with_a_beat(tmp_path: Path, redis_client) -> None:
    redis_client.set(BEAT_LOCK_KEY, "otherhost pid 42 0123abcd", ex=60)
    assert_one_line_error(up(tmp_path), "a celery beat already runs on this broker (otherhost pid 42)")


@pytest.mark.worker
def test_second_up_on_the_same_broker_with_its_workers(tmp_path: Path, worker_factory) -> None:
    worker_factory(queues="marketing_low", node=node_name("low"))
    assert_one_line_error(up(tmp_path / "data"), f"workers {node_name('low')} already run on this broker")
