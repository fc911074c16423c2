"""The nightly statistics tasks by their spec names (7.3.5, 7.3.6) through a real prefork worker of
the marketing_low queue, and `adolf-marketing status` showing their last runs (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.celery_config import celery_app
from app.core.clock import moscow_today, now_utc, previous_month_bounds
from app.core.database import session_scope
from app.models.marketing import MarketingStatsDaily
from app.models.partitions import list_stats_partitions, partition_name
from app.services.marketing.retention import run_cleanup
from tests.services.marketing.stats_data import Counters, moscow_midnight, seed_campaigns, write_snapshot
from tests.support.up_process import failed_points

pytestmark = pytest.mark.worker

TASKS = {
    "marketing-aggregate-daily-stats": "app.tasks.marketing.aggregation.aggregate_daily_stats",
    "marketing-aggregate-monthly-stats": "app.tasks.marketing.aggregation.aggregate_monthly_stats",
    "marketing-cleanup-old-stats": "app.tasks.marketing.cleanup.cleanup_old_stats",
    "marketing-create-stats-partitions": "app.tasks.marketing.cleanup.create_stats_partitions",
}


def daily_views(day: object) -> int | None:
    with session_scope() as session:
        return session.scalar(
            select(MarketingStatsDaily.views).where(
                MarketingStatsDaily.stat_date == day, MarketingStatsDaily.keyword_id.is_(None)
            )
        )


def test_stats_tasks_run_by_their_spec_names_on_marketing_low_and_status_shows_them(
    clean_db: None, worker_factory, redis_client
) -> None:
    run_cleanup()  # the empty old partitions other tests may have left in the shared database
    today = moscow_today(now_utc())
    yesterday, expired = today - timedelta(days=1), today - timedelta(days=40)
    campaign = seed_campaigns(1).campaign_ids[0]
    write_snapshot(campaign, None, moscow_midnight(yesterday) + timedelta(hours=10), Counters(views=10))
    write_snapshot(campaign, None, moscow_midnight(yesterday) + timedelta(hours=20), Counters(views=25))
    write_snapshot(campaign, None, moscow_midnight(expired) + timedelta(hours=20), Counters(views=40))
    worker = worker_factory(queues="marketing_low")  # routing alone must bring them here

    results = {entry: celery_app.send_task(name) for entry, name in TASKS.items()}
    values = {entry: result.get(timeout=120) for entry, result in results.items()}

    assert values["marketing-aggregate-daily-stats"]["date"] == yesterday.isoformat(), worker.log()[-3000:]
    assert daily_views(yesterday) == 25
    first, _ = previous_month_bounds(now_utc())
    assert values["marketing-aggregate-monthly-stats"]["month"] == first.month
    assert values["marketing-cleanup-old-stats"]["stats_days_dropped"] == [expired.isoformat()]
    assert daily_views(expired) == 40  # aggregated before its partition went
    with session_scope() as session:
        assert partition_name(expired) not in list_stats_partitions(session)
    assert values["marketing-create-stats-partitions"]["days_ahead"] >= 7

    status = subprocess.run(
        [sys.executable, "-m", "app.cli", "status"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Appendix A's points fail where this test runs no beat or Flower: the exit code says so.
    assert status.returncode == (1 if failed_points(status.stdout) else 0), status.stdout + status.stderr
    for entry in TASKS:
        [line] = [line for line in status.stdout.splitlines() if entry in line]
        assert "SUCCESS" in line and "not in this build" not in line, line
