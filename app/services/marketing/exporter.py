"""The Prometheus collector of `adolf-marketing metrics` (issue 10 item 3).

One exporter process reads Redis and PostgreSQL at scrape time (analytics-reports-operations.md
§4): no HTTP server inside prefork children, where only one would bind the port and the figures
would undercount, and no multiprocess files. Every scrape measures afresh — the same
`monitoring.measure` the alerting monitor uses, so a graph and an alert never disagree.

Names shared with danihodovic/celery-exporter keep its dashboards and alerts working:
`celery_queue_length{queue_name}` (here with kombu's priority sub-lists counted, which
celery-exporter misses), `celery_active_worker_count{queue_name}`,
`celery_active_process_count{queue_name}`, `celery_worker_up{hostname}`,
`celery_task_failed_total{name}` (tasks failed for good, from `celery_failed_tasks`, with the
reason and queue as extra labels). The rest are `adolf_marketing_*`.

A source that does not answer (Redis, PostgreSQL, the workers' broadcast) does not fail the
scrape: its figures are left out and `adolf_marketing_exporter_source_up{source}` says 0.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.beat_lock import beat_last_tick
from app.core.clock import machine_now, moscow_today, now_utc, parse_utc
from app.core.marketplaces import MARKETPLACES
from app.models.marketing import (
    CeleryFailedTask,
    MarketingAnalyticsRun,
    MarketingBidIntent,
    MarketingCampaign,
    MarketingCycleRun,
    MarketplaceAccount,
)
from app.services.marketing.api_calls import window_counts
from app.services.marketing.health import status_key
from app.services.marketing.monitoring import (
    Thresholds,
    cycle_duration_s,
    cycle_figures,
    online_workers,
    queue_lengths,
    stats_lag_minutes,
)

logger = logging.getLogger(__name__)

PREFIX = "adolf_marketing"
LAST_RUN_KEY = "marketing:task_last_run"  # app.tasks.base (not imported: tasks sit above services)
BID_CYCLE_TASK = "app.tasks.marketing.bid_cycle.run_bid_cycle"
ANALYTICS_TASK = "app.tasks.marketing.analytics.calculate_analytics"


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class MarketingCollector(Collector):
    """Reads everything at scrape time; `session_factory()` opens one read transaction."""

    def __init__(
        self,
        session_factory: Callable[[], Any],
        client: redis.Redis,
        app: Any,
        queues: tuple[str, ...],
        limits: Thresholds,
        inspect_timeout: float = 1.0,
    ) -> None:
        self.session_factory = session_factory
        self.client = client
        self.app = app
        self.queues = queues
        self.limits = limits
        self.inspect_timeout = inspect_timeout

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only: registering must not touch Redis or PostgreSQL

    def collect(self) -> Iterator[Metric]:
        up = _gauge(f"{PREFIX}_exporter_source_up", "1 when the source answered this scrape", ("source",))
        for source, part in (
            ("broker", self._broker),
            ("workers", self._workers),
            ("redis", self._redis),
            ("postgresql", self._postgresql),
        ):
            try:
                families = list(part())
            except Exception:
                logger.warning("metrics source %s failed", source, exc_info=True)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    # --- broker and workers --------------------------------------------------------------------

    def _broker(self) -> Iterator[Metric]:
        lengths = _gauge(
            "celery_queue_length",
            "Messages waiting, priority sub-lists included",
            ("queue_name",),
        )
        for queue, length in queue_lengths(self.app, self.client, self.queues).items():
            lengths.add_metric([queue], length)
        yield lengths

    def _workers(self) -> Iterator[Metric]:
        nodes, processes = online_workers(self.app, self.queues, timeout=self.inspect_timeout)
        workers = _gauge("celery_active_worker_count", "Workers consuming the queue", ("queue_name",))
        pool = _gauge("celery_active_process_count", "Pool processes consuming the queue", ("queue_name",))
        for queue in self.queues:
            workers.add_metric([queue], len(nodes.get(queue, [])))
            pool.add_metric([queue], processes.get(queue, 0))
        alive = _gauge("celery_worker_up", "1 for a worker that answered the broadcast", ("hostname",))
        for node in sorted({n for names in nodes.values() for n in names}):
            alive.add_metric([node], 1)
        yield from (workers, pool, alive)

    # --- Redis monitoring keys -----------------------------------------------------------------

    def _redis(self) -> Iterator[Metric]:
        tick = beat_last_tick(self.client)
        beat_ts = _gauge(f"{PREFIX}_beat_last_tick_timestamp_seconds", "marketing:beat:last_tick")
        beat_age = _gauge(f"{PREFIX}_beat_last_tick_age_seconds", "Seconds since beat ticked (+Inf: never)")
        if tick is not None:
            beat_ts.add_metric([], tick.timestamp())
        beat_age.add_metric(
            [], math.inf if tick is None else max(0.0, (machine_now() - tick).total_seconds())
        )
        yield from (beat_ts, beat_age)

        window = self.limits.api_errors_window_minutes
        calls = _gauge(f"{PREFIX}_api_calls", f"API calls of the last {window} min", ("marketplace",))
        errors = _gauge(f"{PREFIX}_api_errors", f"Failed calls, last {window} min", ("marketplace",))
        rate = _gauge(
            f"{PREFIX}_api_errors_rate",
            f"Failed share, last {window} min",
            ("marketplace",),
        )
        status = _gauge(
            f"{PREFIX}_api_status",
            "Last health check (7.4.3)",
            ("marketplace", "status"),
        )
        response = _gauge(
            f"{PREFIX}_api_response_time_seconds", "Slowest ping of the last health check", ("marketplace",)
        )
        for marketplace in MARKETPLACES:
            counts = window_counts(self.client, marketplace, window)
            calls.add_metric([marketplace], counts.calls)
            errors.add_metric([marketplace], counts.errors)
            rate.add_metric([marketplace], counts.rate)
            raw: dict[bytes, bytes] = self.client.hgetall(status_key(marketplace))  # type: ignore[assignment]
            if raw:
                health = {k.decode(): v.decode() for k, v in raw.items()}
                for name in ("ok", "slow", "error"):
                    status.add_metric([marketplace, name], 1 if health.get("status") == name else 0)
                response.add_metric([marketplace], int(health.get("response_time_ms") or 0) / 1000)
        yield from (calls, errors, rate, status, response)

        last_run = _gauge(
            f"{PREFIX}_task_last_run_timestamp_seconds",
            "When each task last finished, by its final state (marketing:task_last_run)",
            ("name", "state"),
        )
        runs: dict[bytes, bytes] = self.client.hgetall(LAST_RUN_KEY)  # type: ignore[assignment]
        for key, value in sorted(runs.items()):
            record = json.loads(value)
            moment = parse_utc(record.get("finished_at"))
            stamp = moment.timestamp() if moment else None
            if stamp is not None:
                last_run.add_metric([key.decode(), str(record.get("state", ""))], stamp)
        yield last_run

    # --- PostgreSQL ----------------------------------------------------------------------------

    def _postgresql(self) -> Iterator[Metric]:
        with self.session_factory() as session:
            yield from self._cycle(session)
            yield from self._tasks(session)
            yield from self._bids(session)
            yield from self._spend(session)
            now = now_utc()
            lag = _gauge(
                f"{PREFIX}_stats_collection_lag_seconds",
                "Seconds since the least recently collected active account's last stats collection",
                ("marketplace",),
            )
            for marketplace, minutes in sorted(stats_lag_minutes(session, now).items()):
                lag.add_metric([marketplace], minutes * 60)
            yield lag

    def _cycle(self, session: Session) -> Iterator[Metric]:
        last, finished = cycle_figures(session)
        duration = _gauge(
            f"{PREFIX}_bid_cycle_duration_seconds", "The last bid cycle's duration (a running one: its age)"
        )
        errors = _gauge(f"{PREFIX}_bid_cycle_errors", "Errors of the last finished bid cycle")
        finished_at = _gauge(f"{PREFIX}_bid_cycle_last_finished_timestamp_seconds", "Last cycle's end")
        if last is not None:
            duration.add_metric([], cycle_duration_s(last, now_utc()))
        if finished is not None and finished.finished_at is not None:
            errors.add_metric([], finished.errors)
            finished_at.add_metric([], finished.finished_at.timestamp())
        yield from (duration, errors, finished_at)

    def _tasks(self, session: Session) -> Iterator[Metric]:
        failed = CounterMetricFamily(
            "celery_task_failed_total",
            "Tasks failed for good (dead letters, celery_failed_tasks)",
            labels=["name", "queue_name", "reason"],
        )
        rows = session.execute(
            select(CeleryFailedTask.task_name, CeleryFailedTask.queue, CeleryFailedTask.reason, func.count())
            .group_by(CeleryFailedTask.task_name, CeleryFailedTask.queue, CeleryFailedTask.reason)
            .order_by(CeleryFailedTask.task_name)
        ).all()
        for name, queue, reason, count in rows:
            failed.add_metric([name, queue or "", reason], count)
        yield failed
        runs = CounterMetricFamily(
            f"{PREFIX}_task_runs", "Recorded runs by task and final state", labels=["name", "state"]
        )
        for task, model in ((BID_CYCLE_TASK, MarketingCycleRun), (ANALYTICS_TASK, MarketingAnalyticsRun)):
            for state, count in session.execute(
                select(model.status, func.count()).group_by(model.status).order_by(model.status)
            ):
                runs.add_metric([task, state], count)
        yield runs

    def _bids(self, session: Session) -> Iterator[Metric]:
        bids = CounterMetricFamily(
            f"{PREFIX}_bid_intents",
            "Bid changes by outcome",
            labels=["status"],
        )
        for status, count in session.execute(
            select(MarketingBidIntent.status, func.count())
            .group_by(MarketingBidIntent.status)
            .order_by(MarketingBidIntent.status)
        ):
            bids.add_metric([status], count)
        yield bids

    def _spend(self, session: Session) -> Iterator[Metric]:
        labels = ("account_id", "account", "marketplace")
        spent = _gauge(f"{PREFIX}_account_spent_today_rubles", "Spend of the Moscow day", labels)
        limit = _gauge(
            f"{PREFIX}_account_daily_limit_rubles",
            "Sum of the daily limits set",
            labels,
        )
        today = moscow_today(now_utc())
        spent_today = func.sum(MarketingCampaign.spent_today).filter(MarketingCampaign.spent_date == today)
        rows = session.execute(
            select(
                MarketplaceAccount.id,
                MarketplaceAccount.name,
                MarketplaceAccount.marketplace,
                func.coalesce(spent_today, 0),
                func.coalesce(func.sum(MarketingCampaign.daily_limit), 0),
            )
            .outerjoin(
                MarketingCampaign,
                (MarketingCampaign.account_id == MarketplaceAccount.id)
                & MarketingCampaign.is_removed.is_(False),
            )
            .where(MarketplaceAccount.is_active.is_(True))
            .group_by(MarketplaceAccount.id)
            .order_by(MarketplaceAccount.id)
        ).all()
        for account_id, name, marketplace, kopecks, limit_kopecks in rows:
            key = [str(account_id), name, marketplace]
            spent.add_metric(key, int(kopecks or 0) / 100)
            limit.add_metric(key, int(limit_kopecks or 0) / 100)
        yield from (spent, limit)
