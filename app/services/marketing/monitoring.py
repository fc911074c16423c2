"""The metrics of spec 7.4.2, their thresholds and their alerts (issue 10 items 1, 2).

1. **Measure** (`measure`, PostgreSQL, Redis, the broker, a control broadcast): the last bid
   cycle's duration and errors (`marketing_cycle_runs`; a cycle still running counts with its age),
   per marketplace the minutes since the least recently collected active account's last
   successful stats collection, per marketplace the share of failed API calls over
   `ALERT_API_ERRORS_WINDOW_MINUTES` (api_calls.py), per queue the waiting messages including
   kombu's priority sub-lists (`name\\x06\\x16N` on the Redis transport), per queue the worker
   processes online, and the age of beat's heartbeat `marketing:beat:last_tick`.
2. **Evaluate** (`evaluate`, pure): each figure over its threshold (app/core/config.py `ALERT_*`)
   is a `Breach` with a key (metric, or metric:subject), a level (higher = worse) and a message.
3. **Decide** (`decide`, pure): against the open breaches of the previous evaluation, a new breach
   raises one alert; an open one raises again only when its level grew by `ALERT_WORSE_FACTOR`
   since its last alert; a breach that is gone raises one recovery alert (`<metric>_recovered`,
   info). Nothing else: evaluating the same world twice sends nothing the second time.
4. **Act** (`run_check`): the alerts go through the alerts service (system alerts: administrators,
   plus seniors and directors for warning and critical; Telegram and email by severity), in one
   transaction; the open breaches are kept in Redis (`marketing:monitor:breaches`) only after it
   committed, so a failed run re-decides instead of losing an alert. A Redis lock keeps two runs
   from deciding at once. `marketing:workers` (spec 7.4.3) is written by every run.
5. **Without beat**: beat sends `check_metrics`, so a dead beat would silence the very check that
   notices it. Every marketing_high worker therefore looks every `MONITOR_WATCHDOG_S` whether a
   check ran in the last two periods (`marketing:monitor:last_check`) and, if none did, the first
   to claim it sends one (`claim_overdue_check`) — a dead beat is alerted within about 15 minutes.

Beat's heartbeat is an ISO-8601 UTC time of the machine's clock (beat ticks by it), so its age is
measured against the machine's clock, not the demo sandbox's; the others use `now_utc()` like the
writers of the figures they read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.beat_lock import beat_last_tick
from app.core.clock import machine_now, moscow_today, now_utc
from app.core.config import Settings, get_settings
from app.core.marketplaces import MARKETPLACES
from app.core.redis import acquire_lock, release_lock
from app.models.marketing import MarketingCycleRun, MarketingStats, MarketplaceAccount
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.api_calls import CallCounts, window_counts

WORKERS_KEY = "marketing:workers"  # spec 7.4.3: active worker processes per queue
STATE_KEY = "marketing:monitor:breaches"
LOCK_KEY = "marketing:lock:check_metrics"
# Set by every run for two periods; while it lives, the workers' watchdog sends nothing.
LAST_CHECK_KEY = "marketing:monitor:last_check"
# kombu's Redis transport keeps priority p > 0 of queue q in the list q + SEP + str(p).
PRIORITY_SEP = "\x06\x16"
DEFAULT_PRIORITY_STEPS = (0, 3, 6, 9)
CHECK_PERIOD_S = 5 * 60
# `marketing:workers` outlives two missed runs of the monitor, then disappears rather than lie.
WORKERS_TTL_S = 3 * CHECK_PERIOD_S

METRICS = (
    "bid_cycle_duration",
    "bid_cycle_errors",
    "stats_collection_lag",
    "api_errors_rate",
    "queue_length",
    "worker_status",
    "beat_heartbeat",
)


def queue_short(queue: str) -> str:
    """`marketing_high` → `high`: the field names spec 7.4.3 gives `marketing:workers`."""
    return queue.removeprefix("marketing_")


@dataclass(frozen=True)
class CycleFigures:
    run_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    errors: int


@dataclass(frozen=True)
class Snapshot:
    """Every figure of spec 7.4.2 at one moment."""

    now: datetime
    last_cycle: CycleFigures | None  # the newest run that was not skipped
    last_finished_cycle: CycleFigures | None
    stats_lag_minutes: dict[str, float]  # per marketplace with active accounts
    api_calls: dict[str, CallCounts]
    queue_lengths: dict[str, int]
    workers: dict[str, list[str]]  # queue → worker node names online
    processes: dict[str, int]  # queue → worker pool processes online
    beat_last_tick: datetime | None
    machine_now: datetime


@dataclass(frozen=True)
class Thresholds:
    bid_cycle_duration_s: int = 300
    bid_cycle_errors: int = 0
    stats_lag_minutes: int = 20
    api_errors_percent: float = 5.0
    api_errors_window_minutes: int = 15
    api_errors_min_calls: int = 20
    queue_length: int = 100
    beat_silent_minutes: int = 5
    worse_factor: float = 1.5

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            bid_cycle_duration_s=settings.ALERT_BID_CYCLE_DURATION_S,
            bid_cycle_errors=settings.ALERT_BID_CYCLE_ERRORS,
            stats_lag_minutes=settings.ALERT_STATS_LAG_MINUTES,
            api_errors_percent=settings.ALERT_API_ERRORS_PERCENT,
            api_errors_window_minutes=settings.ALERT_API_ERRORS_WINDOW_MINUTES,
            api_errors_min_calls=settings.ALERT_API_ERRORS_MIN_CALLS,
            queue_length=settings.ALERT_QUEUE_LENGTH,
            beat_silent_minutes=settings.ALERT_BEAT_SILENT_MINUTES,
            worse_factor=settings.ALERT_WORSE_FACTOR,
        )


@dataclass(frozen=True)
class Breach:
    metric: str
    subject: str | None
    level: float  # higher = worse
    severity: str
    title: str
    message: str

    @property
    def key(self) -> str:
        return self.metric if self.subject is None else f"{self.metric}:{self.subject}"


@dataclass(frozen=True)
class OpenBreach:
    """What the monitor remembers of a breach between runs."""

    metric: str
    subject: str | None
    alerted_level: float
    since: str  # ISO time of the first alert
    alert_id: int | None = None


@dataclass
class Decision:
    raise_: list[Breach] = field(default_factory=list)
    recover: list[OpenBreach] = field(default_factory=list)
    state: dict[str, OpenBreach] = field(default_factory=dict)


# --- 2. Evaluate (pure) -------------------------------------------------------------------------


def cycle_duration_s(cycle: CycleFigures, now: datetime) -> float:
    """A finished cycle's duration; a running one's age (a hung cycle is the worst duration)."""
    end = cycle.finished_at or now
    return max(0.0, (end - cycle.started_at).total_seconds())


def beat_age_s(snapshot: Snapshot) -> float | None:
    if snapshot.beat_last_tick is None:
        return None
    return max(0.0, (snapshot.machine_now - snapshot.beat_last_tick).total_seconds())


def evaluate(snapshot: Snapshot, limits: Thresholds) -> dict[str, Breach]:
    """Every figure over its threshold, by breach key."""
    found: list[Breach] = []
    cycle = snapshot.last_cycle
    if cycle is not None:
        duration = cycle_duration_s(cycle, snapshot.now)
        if duration > limits.bid_cycle_duration_s:
            state = "has been running for" if cycle.finished_at is None else "took"
            found.append(
                Breach(
                    "bid_cycle_duration",
                    None,
                    round(duration, 1),
                    "warning",
                    "Bid cycle too slow",
                    f"bid cycle run {cycle.run_id} {state} {duration / 60:.1f} min "
                    f"(threshold {limits.bid_cycle_duration_s / 60:g} min)",
                )
            )
    finished = snapshot.last_finished_cycle
    if finished is not None and finished.errors > limits.bid_cycle_errors:
        found.append(
            Breach(
                "bid_cycle_errors",
                None,
                finished.errors,
                "warning",
                "Bid cycle finished with errors",
                f"bid cycle run {finished.run_id} finished with {finished.errors} errors "
                f"(threshold {limits.bid_cycle_errors}); see marketing_cycle_runs.summary",
            )
        )
    for marketplace, lag in sorted(snapshot.stats_lag_minutes.items()):
        if lag > limits.stats_lag_minutes:
            found.append(
                Breach(
                    "stats_collection_lag",
                    marketplace,
                    round(lag, 1),
                    "warning",
                    f"Stats collection late on {marketplace}",
                    f"{marketplace}: an active account's stats were last collected {lag:.0f} min ago "
                    f"(threshold {limits.stats_lag_minutes} min)",
                )
            )
    for marketplace, counts in sorted(snapshot.api_calls.items()):
        percent = 100 * counts.rate
        if counts.calls >= limits.api_errors_min_calls and percent > limits.api_errors_percent:
            found.append(
                Breach(
                    "api_errors_rate",
                    marketplace,
                    round(percent, 2),
                    "warning",
                    f"{marketplace} API errors at {percent:.1f} %",
                    f"{marketplace}: {counts.errors} of {counts.calls} API calls failed in the last "
                    f"{limits.api_errors_window_minutes} min ({percent:.1f} %, threshold "
                    f"{limits.api_errors_percent:g} %)",
                )
            )
    for queue, length in sorted(snapshot.queue_lengths.items()):
        if length > limits.queue_length:
            found.append(
                Breach(
                    "queue_length",
                    queue,
                    length,
                    "warning",
                    f"Queue {queue} is growing",
                    f"{length} messages wait in {queue} (threshold {limits.queue_length})",
                )
            )
    for queue in sorted(snapshot.queue_lengths):
        if not snapshot.workers.get(queue):
            found.append(
                Breach(
                    "worker_status",
                    queue,
                    1,
                    "critical",
                    f"No worker on {queue}",
                    f"no worker consumes {queue}: its tasks wait until one starts",
                )
            )
    age = beat_age_s(snapshot)
    if age is None or age > limits.beat_silent_minutes * 60:
        when = "never (no marketing:beat:last_tick)" if age is None else f"{age / 60:.0f} min ago"
        found.append(
            Breach(
                "beat_heartbeat",
                None,
                math.inf if age is None else round(age, 1),
                "critical",
                "Beat is not ticking",
                f"celery beat last ticked {when} (threshold {limits.beat_silent_minutes} min): "
                "no periodic task is being sent",
            )
        )
    return {b.key: b for b in found}


# --- 3. Decide (pure) ---------------------------------------------------------------------------


def decide(
    previous: Mapping[str, OpenBreach], current: Mapping[str, Breach], worse_factor: float, now: datetime
) -> Decision:
    decision = Decision()
    for key, breach in current.items():
        earlier = previous.get(key)
        if earlier is None or _worse(breach.level, earlier.alerted_level, worse_factor):
            decision.raise_.append(breach)
            decision.state[key] = OpenBreach(
                breach.metric,
                breach.subject,
                breach.level,
                earlier.since if earlier else now.isoformat(),
            )
        else:
            decision.state[key] = earlier
    decision.recover = [earlier for key, earlier in previous.items() if key not in current]
    return decision


def _worse(level: float, alerted: float, factor: float) -> bool:
    if math.isinf(alerted):
        return False
    if math.isinf(level):
        return True
    return level > alerted * factor if alerted > 0 else level > 0


def breach_request(breach: Breach) -> AlertRequest:
    return AlertRequest(
        breach.metric,
        breach.severity,
        breach.title,
        breach.message,
        details={"metric": breach.metric, "subject": breach.subject, "level": _json_level(breach.level)},
        level=None if math.isinf(breach.level) else breach.level,
        dedup=False,  # the monitor's own state decides (decide)
    )


def recovery_request(earlier: OpenBreach, now: datetime) -> AlertRequest:
    subject = f" ({earlier.subject})" if earlier.subject else ""
    return AlertRequest(
        f"{earlier.metric}_recovered",
        "info",
        f"Recovered: {earlier.metric}{subject}",
        f"{earlier.metric}{subject} is back within its threshold (breached since {earlier.since}, "
        f"cleared {now.isoformat()})",
        details={"metric": earlier.metric, "subject": earlier.subject, "since": earlier.since},
        dedup=False,
    )


def _json_level(level: float) -> float | None:
    return None if math.isinf(level) else level


# --- 1. Measure ---------------------------------------------------------------------------------


def _cycle(run: MarketingCycleRun | None) -> CycleFigures | None:
    if run is None:
        return None
    return CycleFigures(
        run.id, run.status, run.started_at, run.finished_at, int((run.summary or {}).get("errors", 0) or 0)
    )


def cycle_figures(session: Session) -> tuple[CycleFigures | None, CycleFigures | None]:
    """The newest run that was not skipped, and the newest finished one."""
    runs = select(MarketingCycleRun).where(MarketingCycleRun.status != "skipped")
    last = session.scalars(runs.order_by(MarketingCycleRun.id.desc()).limit(1)).first()
    finished = session.scalars(
        runs.where(MarketingCycleRun.finished_at.is_not(None)).order_by(MarketingCycleRun.id.desc()).limit(1)
    ).first()
    return _cycle(last), _cycle(finished)


def stats_lag_minutes(session: Session, now: datetime) -> dict[str, float]:
    """Per marketplace with active accounts: minutes since the least recently collected one's last
    successful collection (an account never collected counts from its creation)."""
    rows = session.execute(
        select(
            MarketplaceAccount.marketplace,
            func.min(
                func.coalesce(MarketplaceAccount.last_stats_collected_at, MarketplaceAccount.created_at)
            ),
        )
        .where(MarketplaceAccount.is_active.is_(True))
        .group_by(MarketplaceAccount.marketplace)
    ).all()
    return {mp: max(0.0, (now - oldest).total_seconds() / 60) for mp, oldest in rows if oldest is not None}


def stats_rows_since(session: Session, since: datetime) -> int:
    """Rows of `marketing_stats` collected since `since` (Appendix A "Stats собираются")."""
    day = moscow_today(since)
    return int(
        session.scalar(
            select(func.count())
            .select_from(MarketingStats)
            .where(MarketingStats.stat_date >= day, MarketingStats.collected_at >= since)
        )
        or 0
    )


def queue_length(client: redis.Redis, queue: str, steps: tuple[int, ...] = DEFAULT_PRIORITY_STEPS) -> int:
    """Messages waiting in `queue` on the Redis transport, each priority sub-list included."""
    pipe = client.pipeline(transaction=False)
    for step in steps:
        pipe.llen(queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}")
    return sum(int(n) for n in pipe.execute())


def queue_lengths(app: Any, client: redis.Redis, queues: tuple[str, ...]) -> dict[str, int]:
    """Waiting messages per queue, on whichever broker the app uses."""
    options = app.conf.broker_transport_options or {}
    settings = get_settings()
    url = settings.broker_url
    if (
        url.startswith(("redis://", "rediss://", "unix://"))
        and options.get("sep", PRIORITY_SEP) == PRIORITY_SEP
    ):
        steps = tuple(options.get("priority_steps", DEFAULT_PRIORITY_STEPS))
        if url != settings.redis_url:  # a broker Redis of its own (BROKER_URL)
            with redis.Redis.from_url(url) as broker:
                return {q: queue_length(broker, q, steps) for q in queues}
        return {q: queue_length(client, q, steps) for q in queues}
    lengths: dict[str, int] = {}
    with app.connection_for_read() as connection:  # AMQP: the broker counts for us
        channel = connection.default_channel
        for q in queues:
            try:
                lengths[q] = int(channel.queue_declare(queue=q, passive=True).message_count)
            except Exception:
                lengths[q] = 0
                channel = connection.channel()
    return lengths


def online_workers(app: Any, queues: tuple[str, ...], timeout: float = 2.0) -> tuple[dict, dict]:
    """Per queue: the worker nodes consuming it, and their pool processes (a control broadcast to
    the workers' main processes — it does not wait for a free pool child)."""
    inspector = app.control.inspect(timeout=timeout)
    active = inspector.active_queues() or {}
    stats = inspector.stats() or {}
    nodes: dict[str, list[str]] = {q: [] for q in queues}
    processes: dict[str, int] = {q: 0 for q in queues}
    for node, consumed in sorted(active.items()):
        pool = (stats.get(node) or {}).get("pool") or {}
        count = len(pool.get("processes") or []) or int(pool.get("max-concurrency") or 1)
        for queue in consumed:
            name = queue["name"]
            nodes.setdefault(name, []).append(node)
            processes[name] = processes.get(name, 0) + count
    return nodes, processes


def measure(
    session: Session, client: redis.Redis, app: Any, queues: tuple[str, ...], limits: Thresholds
) -> Snapshot:
    now = now_utc()
    last, finished = cycle_figures(session)
    nodes, processes = online_workers(app, queues)
    return Snapshot(
        now=now,
        last_cycle=last,
        last_finished_cycle=finished,
        stats_lag_minutes=stats_lag_minutes(session, now),
        api_calls={mp: window_counts(client, mp, limits.api_errors_window_minutes) for mp in MARKETPLACES},
        queue_lengths=queue_lengths(app, client, queues),
        workers=nodes,
        processes=processes,
        beat_last_tick=beat_last_tick(client),
        machine_now=machine_now(),
    )


def publish_workers(client: redis.Redis, processes: Mapping[str, int], now: datetime) -> None:
    """Spec 7.4.3 `marketing:workers`: {high, default, low: active worker processes}, plus when."""
    mapping: dict[str, str | int] = {queue_short(q): n for q, n in processes.items()}
    mapping["updated_at"] = now.isoformat()
    pipe = client.pipeline()
    pipe.delete(WORKERS_KEY)
    pipe.hset(WORKERS_KEY, mapping=mapping)  # type: ignore[arg-type]
    pipe.expire(WORKERS_KEY, WORKERS_TTL_S)
    pipe.execute()


def claim_overdue_check(client: redis.Redis) -> bool:
    """True for the one caller that finds no check in the last two periods (beat is not sending
    them): it sends one, and the next claim is possible two periods later."""
    return bool(client.set(LAST_CHECK_KEY, machine_now().isoformat(), nx=True, ex=2 * CHECK_PERIOD_S))


# --- 4. Act -------------------------------------------------------------------------------------


def load_state(client: redis.Redis) -> dict[str, OpenBreach]:
    raw: dict[bytes, bytes] = client.hgetall(STATE_KEY)  # type: ignore[assignment]
    state: dict[str, OpenBreach] = {}
    for key, value in raw.items():
        data = json.loads(value)
        level = data["alerted_level"]
        data["alerted_level"] = math.inf if level is None else float(level)
        state[key.decode()] = OpenBreach(**data)
    return state


def save_state(client: redis.Redis, state: Mapping[str, OpenBreach]) -> None:
    pipe = client.pipeline()
    pipe.delete(STATE_KEY)
    if state:
        encoded = {}
        for key, breach in state.items():
            data = asdict(breach)
            data["alerted_level"] = _json_level(breach.alerted_level)
            encoded[key] = json.dumps(data)
        pipe.hset(STATE_KEY, mapping=encoded)  # type: ignore[arg-type]
    pipe.execute()


@dataclass(frozen=True)
class CheckResult:
    breaches: list[str]
    raised: list[str]
    recovered: list[str]
    workers: dict[str, int]
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_check(
    session_factory: Any,
    client: redis.Redis,
    app: Any,
    queues: tuple[str, ...],
    settings: Settings | None = None,
) -> CheckResult:
    """Measure, evaluate, decide, alert; `session_factory()` is a context manager of one
    transaction (app.core.database.session_scope)."""
    limits = Thresholds.from_settings(settings or get_settings())
    client.set(LAST_CHECK_KEY, machine_now().isoformat(), ex=2 * CHECK_PERIOD_S)
    lock = acquire_lock(LOCK_KEY, timeout=CHECK_PERIOD_S)
    if lock is None:
        return CheckResult([], [], [], {}, skipped=True)
    try:
        with session_factory() as session:
            snapshot = measure(session, client, app, queues, limits)
        publish_workers(client, snapshot.processes, snapshot.now)
        current = evaluate(snapshot, limits)
        decision = decide(load_state(client), current, limits.worse_factor, snapshot.now)
        state = dict(decision.state)
        with session_factory() as session:
            for breach in decision.raise_:
                result = create_alert(session, breach_request(breach))
                state[breach.key] = OpenBreach(
                    breach.metric, breach.subject, breach.level, state[breach.key].since, result.alert_id
                )
            for earlier in decision.recover:
                create_alert(session, recovery_request(earlier, snapshot.now))
        save_state(client, state)
        return CheckResult(
            breaches=sorted(current),
            raised=sorted(b.key for b in decision.raise_),
            recovered=sorted(
                e.metric if e.subject is None else f"{e.metric}:{e.subject}" for e in decision.recover
            ),
            workers={queue_short(q): n for q, n in snapshot.processes.items()},
        )
    finally:
        release_lock(lock)
