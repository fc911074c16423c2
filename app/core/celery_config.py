"""The Celery app: queues, routes, limits and the beat schedule in one visible place (spec 7.2).

`celery -A app.core.celery_config worker|beat|flower|status` works verbatim (spec 7.5.2).
Beyond the spec's 7.2.1, this adds what its acks_late design needs (celery-reliability.md §5,
DESIGN.md §3 "Celery settings"): the visibility timeout in all three places and above every hard
limit, `expires` on periodic entries, cancelling long tasks on connection loss, a redelivery cap
(app.tasks.base), soft shutdown, bounded result keys. `check_config` refuses inconsistent limits.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery, signals
from celery.schedules import crontab
from kombu import Queue

from app.core.config import ConfigError, LogLevel, Settings, get_settings
from app.core.flower_guard import prepare_flower
from app.core.redis_transport import install as install_redis_transport

logger = logging.getLogger(__name__)

# Spec 7.2.1 `include`, plus the modules the spec forgot (health — DESIGN.md §5), the on-demand
# bid change (7.1 registry) and the dead-letter signal handlers (7.6.2).
TASK_MODULES: tuple[str, ...] = (
    "app.tasks.marketing.bid_cycle",
    "app.tasks.marketing.stats",
    "app.tasks.marketing.budgets",
    "app.tasks.marketing.sync",
    "app.tasks.marketing.analytics",
    "app.tasks.marketing.aggregation",
    "app.tasks.marketing.cleanup",
    "app.tasks.marketing.alerts",
    "app.tasks.marketing.reports",
    "app.tasks.marketing.health",
    "app.tasks.marketing.bids",
    "app.tasks.marketing.failures",
)

QUEUES: tuple[tuple[str, str], ...] = (
    ("marketing_high", "marketing.high"),
    ("marketing_default", "marketing.default"),
    ("marketing_low", "marketing.low"),
)

# Spec 7.2.1 task_routes, plus health and bids (both high, per the 7.1 registry).
TASK_ROUTES: dict[str, dict[str, str]] = {
    "app.tasks.marketing.bid_cycle.*": {"queue": "marketing_high"},
    "app.tasks.marketing.budgets.*": {"queue": "marketing_high"},
    "app.tasks.marketing.alerts.*": {"queue": "marketing_high"},
    "app.tasks.marketing.health.*": {"queue": "marketing_high"},
    "app.tasks.marketing.bids.*": {"queue": "marketing_high"},
    "app.tasks.marketing.stats.*": {"queue": "marketing_default"},
    "app.tasks.marketing.sync.*": {"queue": "marketing_default"},
    "app.tasks.marketing.analytics.*": {"queue": "marketing_low"},
    "app.tasks.marketing.aggregation.*": {"queue": "marketing_low"},
    "app.tasks.marketing.cleanup.*": {"queue": "marketing_low"},
    "app.tasks.marketing.reports.*": {"queue": "marketing_low"},
}


@dataclass(frozen=True)
class PeriodicEntry:
    """One beat entry of spec 7.2.2; `period` (seconds) bounds its `expires` (reliability §1.4)."""

    name: str
    task: str
    schedule: crontab
    queue: str
    period: int
    args: tuple[Any, ...] = ()


MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

PERIODIC_ENTRIES: tuple[PeriodicEntry, ...] = (
    PeriodicEntry(
        "marketing-run-bid-cycle",
        "app.tasks.marketing.bid_cycle.run_bid_cycle",
        crontab(minute="7,22,37,52"),
        "marketing_high",
        15 * MINUTE,
    ),
    PeriodicEntry(
        "marketing-collect-stats-wb",
        "app.tasks.marketing.stats.collect_stats",
        crontab(minute="0,15,30,45"),
        "marketing_default",
        15 * MINUTE,
        ("wb",),
    ),
    PeriodicEntry(
        "marketing-collect-stats-ozon",
        "app.tasks.marketing.stats.collect_stats",
        crontab(minute="5,20,35,50"),
        "marketing_default",
        15 * MINUTE,
        ("ozon",),
    ),
    PeriodicEntry(
        "marketing-collect-stats-ym",
        "app.tasks.marketing.stats.collect_stats",
        crontab(minute="10,25,40,55"),
        "marketing_default",
        15 * MINUTE,
        ("ym",),
    ),
    PeriodicEntry(
        "marketing-check-budgets",
        "app.tasks.marketing.budgets.check_budgets",
        crontab(minute="3,18,33,48"),
        "marketing_high",
        15 * MINUTE,
    ),
    PeriodicEntry(
        "marketing-sync-campaigns",
        "app.tasks.marketing.sync.sync_campaigns",
        crontab(minute=0),
        "marketing_default",
        HOUR,
    ),
    PeriodicEntry(
        "marketing-check-api-health",
        "app.tasks.marketing.health.check_api_health",
        crontab(minute="*/5"),
        "marketing_high",
        5 * MINUTE,
    ),
    # Not in the spec by name (issue 10 item 1): its 7.4.2 metrics against their thresholds.
    PeriodicEntry(
        "marketing-check-metrics",
        "app.tasks.marketing.health.check_metrics",
        crontab(minute="1,6,11,16,21,26,31,36,41,46,51,56"),
        "marketing_high",
        5 * MINUTE,
    ),
    PeriodicEntry(
        "marketing-calculate-analytics",
        "app.tasks.marketing.analytics.calculate_analytics",
        crontab(hour=1, minute=0),
        "marketing_low",
        DAY,
    ),
    # Not in the spec: the night's Claude batch ends within minutes to hours (issue 11 item 2).
    PeriodicEntry(
        "marketing-collect-ai-recommendations",
        "app.tasks.marketing.analytics.collect_ai_recommendations",
        crontab(minute="*/10"),
        "marketing_low",
        10 * MINUTE,
    ),
    PeriodicEntry(
        "marketing-aggregate-daily-stats",
        "app.tasks.marketing.aggregation.aggregate_daily_stats",
        crontab(hour=0, minute=30),
        "marketing_low",
        DAY,
    ),
    PeriodicEntry(
        "marketing-aggregate-monthly-stats",
        "app.tasks.marketing.aggregation.aggregate_monthly_stats",
        crontab(day_of_month=1, hour=2, minute=0),
        "marketing_low",
        28 * DAY,
    ),
    PeriodicEntry(
        "marketing-cleanup-old-stats",
        "app.tasks.marketing.cleanup.cleanup_old_stats",
        crontab(hour=3, minute=0),
        "marketing_low",
        DAY,
    ),
    # Not in the spec (issue 12 item 5): Telegram and email messages of alerts — retries, and any
    # message whose immediate send was lost; the info alerts of the day as one digest each.
    PeriodicEntry(
        "marketing-deliver-notifications",
        "app.tasks.marketing.alerts.deliver_notifications",
        crontab(minute="*"),
        "marketing_high",
        MINUTE,
    ),
    PeriodicEntry(
        "marketing-send-alert-digest",
        "app.tasks.marketing.alerts.send_alert_digest",
        crontab(hour=9, minute=0),
        "marketing_high",
        DAY,
    ),
    # Not in the spec (issue 15 item 3): marketing_stats refuses rows of a day without a partition,
    # so the days ahead are created by a task of their own, hourly, alerting when creation fails.
    PeriodicEntry(
        "marketing-create-stats-partitions",
        "app.tasks.marketing.cleanup.create_stats_partitions",
        crontab(minute=50),
        "marketing_low",
        HOUR,
    ),
)

# A queued periodic message older than this share of its period is dropped (REVOKED, recorded as a
# dead letter) instead of running late after an outage; capped so a daily job still runs after a
# short outage but not days later (reliability §1.4).
EXPIRES_SHARE = 0.9
EXPIRES_CAP = 6 * HOUR


def entry_expires(entry: PeriodicEntry) -> int:
    return int(min(entry.period * EXPIRES_SHARE, EXPIRES_CAP))


def task_module(task_name: str) -> str:
    return task_name.rsplit(".", 1)[0]


def scheduled_entries() -> tuple[PeriodicEntry, ...]:
    """The entries whose task module is in this build. The others wait for the issue that adds
    their module (`adolf-marketing status` shows them as "not in this build"): scheduling them
    would only feed workers messages they must drop."""
    installed = set(installed_task_modules())
    return tuple(entry for entry in PERIODIC_ENTRIES if task_module(entry.task) in installed)


def beat_schedule() -> dict[str, dict[str, Any]]:
    schedule: dict[str, dict[str, Any]] = {}
    for entry in scheduled_entries():
        item: dict[str, Any] = {
            "task": entry.task,
            "schedule": entry.schedule,
            "options": {"queue": entry.queue, "expires": entry_expires(entry)},
        }
        if entry.args:
            item["args"] = list(entry.args)
        schedule[entry.name] = item
    return schedule


def installed_task_modules() -> list[str]:
    """Task modules present in this build (later issues add the marketplace-driven ones)."""
    return [name for name in TASK_MODULES if importlib.util.find_spec(name) is not None]


def celery_settings(settings: Settings) -> dict[str, Any]:
    visibility = settings.VISIBILITY_TIMEOUT
    transport = {
        "visibility_timeout": visibility,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 25,
        "unacked_restore_interval": settings.UNACKED_RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
    }
    return {
        # Serialization (7.2.1)
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # Time zone (7.2.1)
        "timezone": "Europe/Moscow",
        "enable_utc": True,
        # Queues and routes (7.2.1)
        "task_queues": tuple(Queue(name, routing_key=key) for name, key in QUEUES),
        "task_default_queue": "marketing_default",
        "task_default_routing_key": "marketing.default",
        "task_routes": TASK_ROUTES,
        # Acks (7.2.1) and what acks_late needs (reliability §1.1, §1.2, §1.7)
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "visibility_timeout": visibility,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "result_backend_always_retry": True,
        "worker_soft_shutdown_timeout": 60.0,
        "worker_enable_soft_shutdown_on_idle": True,
        # Limits (7.2.1) and memory recycling (reliability §1.6)
        "worker_prefetch_multiplier": 2,
        "worker_max_tasks_per_child": 500,
        "worker_max_memory_per_child": settings.WORKER_MAX_MEMORY_PER_CHILD,
        # Undecodable message bodies become dead letters (fault matrix 16).
        "worker_consumer": "app.tasks.marketing.failures:DeadLetterConsumer",
        # Time limits (7.2.1)
        "task_soft_time_limit": settings.TASK_SOFT_TIME_LIMIT,
        "task_time_limit": settings.TASK_TIME_LIMIT,
        # Results (7.2.1): `adolf-marketing run` reads them; they expire after an hour.
        "result_expires": 3600,
        # Monitoring (7.2.1)
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": beat_schedule(),
        "beat_cron_starting_deadline": 3600,
        # One sending beat per broker, a heartbeat, last runs in Redis (app/core/beat_scheduler.py).
        "beat_scheduler": "app.core.beat_scheduler:LockedScheduler",
        "beat_max_loop_interval": settings.BEAT_TICK,
    }


def create_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    install_redis_transport()  # before any broker connection: a worker survives losing Redis or a stray item
    app = Celery(
        "adolf_marketing",
        broker=settings.broker_url,
        backend=settings.redis_url,
        include=installed_task_modules(),
        task_cls="app.tasks.base:AdolfTask",
    )
    app.conf.update(celery_settings(settings))
    return app


# --- Self-check --------------------------------------------------------------------------------


def config_problems(app: Celery, settings: Settings) -> list[str]:
    """Every violated invariant of reliability §1.5/§5: soft < hard < lock TTL < visibility timeout."""
    problems: list[str] = []
    visibility = settings.VISIBILITY_TIMEOUT
    conf = app.conf
    for option in ("visibility_timeout",):
        if conf.broker_transport_options.get(option) != visibility:
            problems.append("broker_transport_options.visibility_timeout differs from VISIBILITY_TIMEOUT")
        if conf.result_backend_transport_options.get(option) != visibility:
            problems.append(
                "result_backend_transport_options.visibility_timeout differs from VISIBILITY_TIMEOUT"
            )
    if settings.BID_CYCLE_LOCK_TTL <= settings.BID_CYCLE_TIME_LIMIT:
        problems.append(
            f"BID_CYCLE_LOCK_TTL ({settings.BID_CYCLE_LOCK_TTL} s) must exceed BID_CYCLE_TIME_LIMIT "
            f"({settings.BID_CYCLE_TIME_LIMIT} s), or a second cycle can start while the first runs"
        )
    if visibility <= settings.BID_CYCLE_LOCK_TTL:
        problems.append(
            f"BID_CYCLE_LOCK_TTL ({settings.BID_CYCLE_LOCK_TTL} s) must stay below "
            f"VISIBILITY_TIMEOUT ({visibility} s)"
        )
    if settings.BEAT_TICK * 3 > settings.BEAT_LOCK_TTL:
        problems.append(
            f"BEAT_TICK ({settings.BEAT_TICK} s) must be at most a third of BEAT_LOCK_TTL "
            f"({settings.BEAT_LOCK_TTL} s), or a live beat's lock can expire between two ticks"
        )
    limits = [("default", conf.task_soft_time_limit, conf.task_time_limit, 0)]
    for name, task in sorted(app.tasks.items()):
        if name.startswith("app."):
            soft = task.soft_time_limit or conf.task_soft_time_limit
            hard = task.time_limit or conf.task_time_limit
            limits.append((name, soft, hard, _longest_retry_delay(task)))
    for name, soft, hard, retry_delay in limits:
        if soft is not None and hard is not None and soft >= hard:
            problems.append(f"{name}: soft time limit {soft} s must be below its hard limit {hard} s")
        if hard is not None and hard + retry_delay >= visibility:
            problems.append(
                f"{name}: hard limit {hard} s plus retry delay {retry_delay} s must stay below "
                f"VISIBILITY_TIMEOUT ({visibility} s), or the broker redelivers it while it runs"
            )
    for entry in PERIODIC_ENTRIES:
        if entry_expires(entry) > entry.period:
            problems.append(f"{entry.name}: expires must not exceed its period")
    return problems


def unregistered_beat_tasks(app: Celery) -> list[str]:
    """Beat entries naming a task no module registers (issue 15 item 5): the worker would drop
    every message of such an entry. Call after `app.loader.import_default_modules()`."""
    return [
        f"entry {name} names {item['task']}, which no task module registers; fix the task name "
        "in app/core/celery_config.py PERIODIC_ENTRIES"
        for name, item in sorted(app.conf.beat_schedule.items())
        if item["task"] not in app.tasks
    ]


def _longest_retry_delay(task: Any) -> int:
    if getattr(task, "retry_backoff", False):
        return int(getattr(task, "retry_backoff_max", 600))
    return int(getattr(task, "default_retry_delay", 0) or 0)


def check_config(app: Celery, settings: Settings | None = None) -> None:
    """Raise one ConfigError naming every problem: inconsistent limits, unregistered beat tasks."""
    messages = []
    problems = config_problems(app, settings or get_settings())
    if problems:
        messages.append("Inconsistent Celery limits: " + "; ".join(problems))
    unregistered = unregistered_beat_tasks(app)
    if unregistered:
        messages.append("Unknown task in the beat schedule: " + "; ".join(unregistered))
    if messages:
        raise ConfigError(" | ".join(messages))


celery_app = create_app()
app = celery_app  # `celery -A app.core.celery_config` finds either name

# `celery -A app.core.celery_config flower` beyond loopback needs FLOWER_BASIC_AUTH (issue 10 item 6).
prepare_flower(get_settings())


def _refuse_to_start_on_inconsistent_limits() -> None:
    # Celery logs and swallows exceptions raised by signal receivers; SystemExit is not swallowed,
    # so the worker or beat stops before consuming anything, with the reason as its last line.
    celery_app.loader.import_default_modules()
    try:
        check_config(celery_app)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None


@signals.worker_init.connect
def _check_before_worker_starts(sender: Any = None, **_: Any) -> None:
    _refuse_to_start_on_inconsistent_limits()


@signals.beat_init.connect
def _check_before_beat_starts(sender: Any = None, **_: Any) -> None:
    _refuse_to_start_on_inconsistent_limits()
    waiting = [entry.name for entry in PERIODIC_ENTRIES if entry not in scheduled_entries()]
    if waiting:
        logger.warning("not scheduled, their task modules are not in this build: %s", ", ".join(waiting))
    # The scheduler takes the beat lock on its first tick, or waits as a standby
    # (app/core/beat_scheduler.py); without Redis it cannot do either, so stop here with the reason.
    from app.core.redis import get_redis

    try:
        get_redis().ping()
    except redis.RedisError as error:
        raise SystemExit(f"error: cannot reach Redis for the beat lock ({error}); check REDIS_URL") from None


@signals.after_setup_logger.connect
def _quiet_http_client_logs(**_: Any) -> None:
    # httpx logs every request at INFO: the demo's clock polls alone were 40 % of an `up` log, and
    # each task already logs what it did (issue 17 item 9). LOG_LEVEL=DEBUG shows the requests.
    if get_settings().LOG_LEVEL is not LogLevel.DEBUG:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
