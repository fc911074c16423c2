"""The Celery configuration equals the spec's tables (7.1, 7.2.1, 7.2.2, 7.6.1) plus the
reliability additions, and the self-check refuses inconsistent limits."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from celery.schedules import crontab

from app.core.celery_config import (
    PERIODIC_ENTRIES,
    beat_schedule,
    celery_app,
    config_problems,
    create_app,
    entry_expires,
    installed_task_modules,
    task_module,
    unregistered_beat_tasks,
)
from app.core.config import Settings

# Spec 7.2.2, copied by hand from the seed so that a change on either side is caught.
SPEC_BEAT = {
    "marketing-run-bid-cycle": (
        "app.tasks.marketing.bid_cycle.run_bid_cycle",
        crontab(minute="7,22,37,52"),
        [],
        "marketing_high",
    ),
    "marketing-collect-stats-wb": (
        "app.tasks.marketing.stats.collect_stats",
        crontab(minute="0,15,30,45"),
        ["wb"],
        "marketing_default",
    ),
    "marketing-collect-stats-ozon": (
        "app.tasks.marketing.stats.collect_stats",
        crontab(minute="5,20,35,50"),
        ["ozon"],
        "marketing_default",
    ),
    "marketing-collect-stats-ym": (
        "app.tasks.marketing.stats.collect_stats",
        crontab(minute="10,25,40,55"),
        ["ym"],
        "marketing_default",
    ),
    "marketing-check-budgets": (
        "app.tasks.marketing.budgets.check_budgets",
        crontab(minute="3,18,33,48"),
        [],
        "marketing_high",
    ),
    "marketing-sync-campaigns": (
        "app.tasks.marketing.sync.sync_campaigns",
        crontab(minute=0),
        [],
        "marketing_default",
    ),
    "marketing-check-api-health": (
        "app.tasks.marketing.health.check_api_health",
        crontab(minute="*/5"),
        [],
        "marketing_high",
    ),
    "marketing-calculate-analytics": (
        "app.tasks.marketing.analytics.calculate_analytics",
        crontab(hour=1, minute=0),
        [],
        "marketing_low",
    ),
    "marketing-aggregate-daily-stats": (
        "app.tasks.marketing.aggregation.aggregate_daily_stats",
        crontab(hour=0, minute=30),
        [],
        "marketing_low",
    ),
    "marketing-aggregate-monthly-stats": (
        "app.tasks.marketing.aggregation.aggregate_monthly_stats",
        crontab(day_of_month=1, hour=2, minute=0),
        [],
        "marketing_low",
    ),
    "marketing-cleanup-old-stats": (
        "app.tasks.marketing.cleanup.cleanup_old_stats",
        crontab(hour=3, minute=0),
        [],
        "marketing_low",
    ),
}

# Beyond the spec: the partitions of marketing_stats created ahead, hourly (issue 15 item 3), and
# the collector of the night's Claude batch (issue 11).
ADDED_BEAT = {
    "marketing-create-stats-partitions": (
        "app.tasks.marketing.cleanup.create_stats_partitions",
        crontab(minute=50),
        [],
        "marketing_low",
    ),
    "marketing-collect-ai-recommendations": (
        "app.tasks.marketing.analytics.collect_ai_recommendations",
        crontab(minute="*/10"),
        [],
        "marketing_low",
    ),
    # Issue 12 item 5: channel messages (retries, lost kicks) and the daily digest of info alerts.
    "marketing-deliver-notifications": (
        "app.tasks.marketing.alerts.deliver_notifications",
        crontab(minute="*"),
        [],
        "marketing_high",
    ),
    "marketing-send-alert-digest": (
        "app.tasks.marketing.alerts.send_alert_digest",
        crontab(hour=9, minute=0),
        [],
        "marketing_high",
    ),
    # Issue 10 item 1: the spec 7.4.2 metrics against their thresholds, between the 5-minute slots
    # of check_api_health.
    "marketing-check-metrics": (
        "app.tasks.marketing.health.check_metrics",
        crontab(minute="1,6,11,16,21,26,31,36,41,46,51,56"),
        [],
        "marketing_high",
    ),
}

SPEC_ROUTES = {
    "app.tasks.marketing.bid_cycle.*": "marketing_high",
    "app.tasks.marketing.budgets.*": "marketing_high",
    "app.tasks.marketing.alerts.*": "marketing_high",
    "app.tasks.marketing.stats.*": "marketing_default",
    "app.tasks.marketing.sync.*": "marketing_default",
    "app.tasks.marketing.analytics.*": "marketing_low",
    "app.tasks.marketing.aggregation.*": "marketing_low",
    "app.tasks.marketing.cleanup.*": "marketing_low",
    "app.tasks.marketing.reports.*": "marketing_low",
}


def test_app_settings_follow_spec_7_2_1() -> None:
    conf = celery_app.conf
    assert celery_app.main == "adolf_marketing"
    assert (conf.task_serializer, conf.result_serializer, list(conf.accept_content)) == (
        "json",
        "json",
        ["json"],
    )
    assert (conf.timezone, conf.enable_utc) == ("Europe/Moscow", True)
    assert [(q.name, q.routing_key) for q in conf.task_queues] == [
        ("marketing_high", "marketing.high"),
        ("marketing_default", "marketing.default"),
        ("marketing_low", "marketing.low"),
    ]
    assert (conf.task_default_queue, conf.task_default_routing_key) == (
        "marketing_default",
        "marketing.default",
    )
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert (conf.worker_prefetch_multiplier, conf.worker_max_tasks_per_child) == (2, 500)
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (300, 600)
    assert conf.result_expires == 3600
    assert conf.worker_send_task_events is True and conf.task_send_sent_event is True


def test_every_spec_route_is_kept() -> None:
    routes = celery_app.conf.task_routes
    for pattern, queue in SPEC_ROUTES.items():
        assert routes[pattern] == {"queue": queue}
    # DESIGN.md §5: health was missing; the 7.1 registry puts it (and apply_bid_change) on high.
    assert routes["app.tasks.marketing.health.*"] == {"queue": "marketing_high"}
    assert routes["app.tasks.marketing.bids.*"] == {"queue": "marketing_high"}


def test_beat_schedule_equals_spec_7_2_2_for_the_modules_of_this_build() -> None:
    expected = {**SPEC_BEAT, **ADDED_BEAT}
    assert {entry.name for entry in PERIODIC_ENTRIES} == set(expected)
    installed = set(installed_task_modules())
    in_build = {name for name, (task, *_) in expected.items() if task_module(task) in installed}
    schedule = celery_app.conf.beat_schedule
    assert set(schedule) == in_build
    assert {
        "marketing-aggregate-daily-stats",
        "marketing-cleanup-old-stats",
        "marketing-calculate-analytics",
        "marketing-collect-ai-recommendations",
    } <= in_build
    for name in in_build:
        task, cron, args, queue = expected[name]
        entry = schedule[name]
        assert entry["task"] == task
        assert entry["schedule"] == cron, name
        assert list(entry.get("args", [])) == args
        assert entry["options"]["queue"] == queue


def test_periodic_entries_expire_within_their_period() -> None:
    for entry in PERIODIC_ENTRIES:
        expires = entry_expires(entry)
        assert 0 < expires <= entry.period, entry.name
    for name, item in beat_schedule().items():
        assert item["options"]["expires"] == entry_expires(
            next(e for e in PERIODIC_ENTRIES if e.name == name)
        )


def test_visibility_timeout_is_set_in_all_three_places_above_hard_limits() -> None:
    conf = celery_app.conf
    visibility = conf.visibility_timeout
    assert conf.broker_transport_options["visibility_timeout"] == visibility
    assert conf.result_backend_transport_options["visibility_timeout"] == visibility
    assert visibility > conf.task_time_limit
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True


def test_self_check_accepts_the_defaults() -> None:
    celery_app.loader.import_default_modules()
    assert config_problems(celery_app, Settings()) == []
    assert unregistered_beat_tasks(celery_app) == []


def test_self_check_names_a_beat_entry_whose_task_is_not_registered() -> None:
    app = create_app(Settings())
    app.loader.import_default_modules()
    app.conf.beat_schedule = {
        **app.conf.beat_schedule,
        "marketing-typo": {"task": "app.tasks.marketing.cleanup.cleanup_old_stat", "schedule": 60.0},
    }
    assert unregistered_beat_tasks(app) == [
        "entry marketing-typo names app.tasks.marketing.cleanup.cleanup_old_stat, which no task module "
        "registers; fix the task name in app/core/celery_config.py PERIODIC_ENTRIES"
    ]


@pytest.mark.worker
@pytest.mark.parametrize("command", [["worker", "-Q", "marketing_low", "-c", "1"], ["beat"]])
def test_worker_and_beat_refuse_a_beat_entry_naming_an_unregistered_task(
    command: list[str], tmp_path
) -> None:
    extra = [f"--schedule={tmp_path / 's'}"] if command == ["beat"] else []
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.core.typo_beat_app", *command, *extra],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.endswith(
        "error: Unknown task in the beat schedule: entry marketing-typo names "
        "app.tasks.marketing.cleanup.cleanup_old_stat, which no task module registers; fix the task name "
        "in app/core/celery_config.py PERIODIC_ENTRIES"
    ), last


def test_self_check_refuses_lock_ttl_below_hard_limit() -> None:
    settings = Settings(BID_CYCLE_LOCK_TTL=200, BID_CYCLE_TIME_LIMIT=300)
    problems = config_problems(create_app(settings), settings)
    assert any("BID_CYCLE_LOCK_TTL" in p for p in problems)


def test_self_check_refuses_soft_limit_not_below_hard_limit() -> None:
    settings = Settings(TASK_SOFT_TIME_LIMIT=600, TASK_TIME_LIMIT=600)
    problems = config_problems(create_app(settings), settings)
    assert any("soft time limit 600 s must be below its hard limit 600 s" in p for p in problems)


def test_self_check_refuses_visibility_timeout_below_hard_limit() -> None:
    settings = Settings(VISIBILITY_TIMEOUT=500, BID_CYCLE_LOCK_TTL=400)
    problems = config_problems(create_app(settings), settings)
    assert any("VISIBILITY_TIMEOUT (500 s)" in p for p in problems)


@pytest.mark.worker
@pytest.mark.parametrize("command", [["worker", "-Q", "marketing_low", "-c", "1"], ["beat"]])
def test_worker_and_beat_refuse_to_start_with_inconsistent_limits(command: list[str], tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.core.celery_config",
            *command,
            f"--schedule={tmp_path / 's'}",
        ]
        if command == ["beat"]
        else [sys.executable, "-m", "celery", "-A", "app.core.celery_config", *command],
        env={**os.environ, "BID_CYCLE_LOCK_TTL": "100"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "error: Inconsistent Celery limits: BID_CYCLE_LOCK_TTL (100 s) must exceed BID_CYCLE_TIME_LIMIT "
            "(300 s), or a second cycle can start while the first runs"
        )
    )
