"""Spec Appendix A ("Контрольные точки") as checks with figures (issue 10 item 5), for
`adolf-marketing status`, cron and container health checks.

- `beat` (Beat запущен): `marketing:beat:last_tick` younger than ALERT_BEAT_SILENT_MINUTES.
- `workers:<queue>` (Workers online): at least one worker consumes the queue.
- `bid_cycle` (Bid Cycle работает, every 15 min): `marketing:last_bid_cycle` finished within
  15 min + ALERT_BID_CYCLE_DURATION_S.
- `stats` (Stats собираются): `marketing_stats` got rows in the last ALERT_STATS_LAG_MINUTES.
- `alerts` (Алерты отправляются): no message of the last 24 h failed, none is 10 min overdue.
- `flower` (Flower доступен): Flower answers HTTP on FLOWER_PORT (a 401 of basic auth counts).
- `queues` (Очереди не растут, < 50): every queue holds fewer than STATUS_QUEUE_LENGTH messages.

`gather` reads the figures (Redis, PostgreSQL, the broker, a control broadcast, Flower over HTTP);
`evaluate` is pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.beat_lock import beat_last_tick
from app.core.clock import machine_now, now_utc, parse_utc
from app.core.config import Settings
from app.models.core import DeliveryStatus, NotificationDelivery
from app.models.marketing import MarketingAlert
from app.services.marketing.monitoring import (
    online_workers,
    queue_lengths,
    stats_rows_since,
)

CYCLE_KEY = "marketing:last_bid_cycle"  # spec 7.4.3 (bid_cycle/coordinator.py METRICS_KEY)
CYCLE_PERIOD = timedelta(minutes=15)
OVERDUE = timedelta(minutes=10)  # deliver_notifications runs every minute


@dataclass(frozen=True)
class CheckPoint:
    id: str
    criterion: str  # Appendix A's row
    ok: bool
    figure: str  # what the check saw, in words
    value: float | int | None = None  # the number behind it, for machines

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AlertFigures:
    alerts_24h: int
    without_recipients: int
    sent_24h: int
    failed_24h: int
    overdue: int


@dataclass(frozen=True)
class Figures:
    now: datetime
    machine_now: datetime
    beat_last_tick: datetime | None
    workers: dict[str, list[str]]
    processes: dict[str, int]
    cycle: dict[str, str]
    stats_rows: int
    alerts: AlertFigures
    flower_status: int | None  # HTTP status, None when it did not answer
    flower_url: str
    queue_lengths: dict[str, int]


def evaluate(figures: Figures, settings: Settings) -> list[CheckPoint]:
    points: list[CheckPoint] = []
    tick = figures.beat_last_tick
    silent = settings.ALERT_BEAT_SILENT_MINUTES * 60
    if tick is None:
        points.append(
            CheckPoint("beat", "Beat запущен", False, "no tick recorded (marketing:beat:last_tick)")
        )
    else:
        age = max(0.0, (figures.machine_now - tick).total_seconds())
        points.append(
            CheckPoint(
                "beat",
                "Beat запущен",
                age <= silent,
                f"last tick {_ago(age)} ({tick.isoformat(timespec='seconds')})",
                round(age, 1),
            )
        )
    for queue, nodes in figures.workers.items():
        processes = figures.processes.get(queue, 0)
        figure = f"{', '.join(nodes)} ({processes} processes)" if nodes else "no worker online"
        points.append(CheckPoint(f"workers:{queue}", "Workers online", bool(nodes), figure, processes))
    finished = parse_utc(figures.cycle.get("finished_at"))
    limit = CYCLE_PERIOD.total_seconds() + settings.ALERT_BID_CYCLE_DURATION_S
    if finished is None:
        points.append(
            CheckPoint(
                "bid_cycle",
                "Bid Cycle работает",
                False,
                "no cycle in the last hour (marketing:last_bid_cycle)",
            )
        )
    else:
        age = max(0.0, (figures.now - finished).total_seconds())
        points.append(
            CheckPoint(
                "bid_cycle",
                "Bid Cycle работает",
                age <= limit,
                f"run {figures.cycle.get('run_id')} {figures.cycle.get('status')} {_ago(age)}",
                round(age, 1),
            )
        )
    window = settings.ALERT_STATS_LAG_MINUTES
    points.append(
        CheckPoint(
            "stats",
            "Stats собираются",
            figures.stats_rows > 0,
            f"{figures.stats_rows} marketing_stats rows in the last {window} min",
            figures.stats_rows,
        )
    )
    a = figures.alerts
    figure = f"{a.alerts_24h} alerts in 24 h; messages {a.sent_24h} sent, {a.failed_24h} failed, "
    figure += f"{a.overdue} overdue"
    if a.without_recipients:
        figure += f"; {a.without_recipients} reached nobody (add users: `adolf-marketing users add`)"
    points.append(
        CheckPoint("alerts", "Алерты отправляются", not a.failed_24h and not a.overdue, figure, a.failed_24h)
    )
    if figures.flower_status is None:
        flower = CheckPoint("flower", "Flower доступен", False, f"{figures.flower_url} does not answer")
    else:
        flower = CheckPoint(
            "flower",
            "Flower доступен",
            figures.flower_status < 500,
            f"HTTP {figures.flower_status} from {figures.flower_url}",
            figures.flower_status,
        )
    points.append(flower)
    longest = max(figures.queue_lengths.values(), default=0)
    points.append(
        CheckPoint(
            "queues",
            "Очереди не растут",
            longest < settings.STATUS_QUEUE_LENGTH,
            ", ".join(f"{q} {n}" for q, n in figures.queue_lengths.items())
            + f" (each < {settings.STATUS_QUEUE_LENGTH})",
            longest,
        )
    )
    return points


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago"


# --- gathering ----------------------------------------------------------------------------------


def alert_figures(session: Session, now: datetime) -> AlertFigures:
    day_ago = now - timedelta(hours=24)
    alerts = session.execute(
        select(func.count(), func.count().filter(MarketingAlert.notification_id.is_(None))).where(
            MarketingAlert.created_at >= day_ago
        )
    ).one()
    # Delivery rows are stamped by the database's clock, their due times by the system's.
    real_day_ago = machine_now() - timedelta(hours=24)
    status = NotificationDelivery.status
    deliveries = session.execute(
        select(
            func.count().filter(
                status == DeliveryStatus.SENT, NotificationDelivery.created_at >= real_day_ago
            ),
            func.count().filter(
                status == DeliveryStatus.FAILED, NotificationDelivery.created_at >= real_day_ago
            ),
            func.count().filter(
                status == DeliveryStatus.PENDING, NotificationDelivery.next_attempt_at < now - OVERDUE
            ),
        )
    ).one()
    return AlertFigures(int(alerts[0]), int(alerts[1]), *(int(n) for n in deliveries))


def flower_reply(url: str, timeout: float = 3.0) -> int | None:
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def gather(
    session: Session,
    client: redis.Redis,
    app: Any,
    queues: tuple[str, ...],
    settings: Settings,
    now: datetime | None = None,
) -> Figures:
    """`now`: the time of the clock the system follows (the demo sandbox's, when it runs)."""
    now = now or now_utc()
    nodes, processes = online_workers(app, queues)
    raw: dict[bytes, bytes] = client.hgetall(CYCLE_KEY)  # type: ignore[assignment]
    flower_url = f"http://127.0.0.1:{settings.FLOWER_PORT}/"
    return Figures(
        now=now,
        machine_now=machine_now(),
        beat_last_tick=beat_last_tick(client),
        workers={q: nodes.get(q, []) for q in queues},
        processes={q: processes.get(q, 0) for q in queues},
        cycle={k.decode(): v.decode() for k, v in raw.items()},
        stats_rows=stats_rows_since(session, now - timedelta(minutes=settings.ALERT_STATS_LAG_MINUTES)),
        alerts=alert_figures(session, now),
        flower_status=flower_reply(flower_url),
        flower_url=flower_url,
        queue_lengths=queue_lengths(app, client, queues),
    )
