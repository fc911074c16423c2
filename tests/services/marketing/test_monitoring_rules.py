"""The pure half of the spec 7.4.2 monitor (app/services/marketing/monitoring.py): which figures
breach which thresholds, and when a breach is news (new, worse by ALERT_WORSE_FACTOR, or cleared)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from app.services.marketing.api_calls import CallCounts
from app.services.marketing.monitoring import (
    CycleFigures,
    OpenBreach,
    Snapshot,
    Thresholds,
    decide,
    evaluate,
)

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
QUEUES = ("marketing_high", "marketing_default", "marketing_low")


def snapshot(**changes: object) -> Snapshot:
    fields: dict[str, object] = {
        "now": NOW,
        "last_cycle": CycleFigures(1, "completed", NOW - timedelta(minutes=3), NOW - timedelta(minutes=2), 0),
        "last_finished_cycle": None,
        "stats_lag_minutes": {"wb": 5.0},
        "api_calls": {"wb": CallCounts(100, 5)},
        "queue_lengths": dict.fromkeys(QUEUES, 0),
        "workers": {q: ["w@h"] for q in QUEUES},
        "processes": dict.fromkeys(QUEUES, 1),
        "beat_last_tick": NOW - timedelta(seconds=10),
        "machine_now": NOW,
    }
    fields["last_finished_cycle"] = fields["last_cycle"]
    fields.update(changes)
    return Snapshot(**fields)  # type: ignore[arg-type]


def test_a_healthy_world_breaches_nothing_at_the_exact_thresholds() -> None:
    world = snapshot(
        stats_lag_minutes={"wb": 20.0},
        queue_lengths={**dict.fromkeys(QUEUES, 0), "marketing_low": 100},
        api_calls={"wb": CallCounts(100, 5)},  # exactly 5 %: not above
        beat_last_tick=NOW - timedelta(minutes=5),
    )
    assert evaluate(world, Thresholds()) == {}


def test_each_figure_over_its_threshold_is_one_breach() -> None:
    running = CycleFigures(2, "running", NOW - timedelta(minutes=6), None, 0)
    errors = CycleFigures(1, "partial", NOW - timedelta(minutes=20), NOW - timedelta(minutes=19), 2)
    world = snapshot(
        last_cycle=running,
        last_finished_cycle=errors,
        stats_lag_minutes={"wb": 21.0, "ozon": 3.0},
        api_calls={"wb": CallCounts(100, 6), "ym": CallCounts(10, 9)},  # ym: too few calls to judge
        queue_lengths={**dict.fromkeys(QUEUES, 0), "marketing_default": 101},
        workers={**{q: ["w@h"] for q in QUEUES}, "marketing_low": []},
        beat_last_tick=None,
    )
    breaches = evaluate(world, Thresholds())
    assert set(breaches) == {
        "bid_cycle_duration",
        "bid_cycle_errors",
        "stats_collection_lag:wb",
        "api_errors_rate:wb",
        "queue_length:marketing_default",
        "worker_status:marketing_low",
        "beat_heartbeat",
    }
    assert breaches["bid_cycle_duration"].level == 360
    assert "has been running for 6.0 min" in breaches["bid_cycle_duration"].message
    assert breaches["api_errors_rate:wb"].level == 6
    assert math.isinf(breaches["beat_heartbeat"].level)
    assert breaches["worker_status:marketing_low"].severity == "critical"


def test_a_breach_is_news_when_new_worse_by_the_factor_or_cleared() -> None:
    limits = Thresholds()
    first = evaluate(snapshot(queue_lengths={"marketing_low": 120}), limits)
    decision = decide({}, first, limits.worse_factor, NOW)
    assert [b.key for b in decision.raise_] == ["queue_length:marketing_low"] and decision.recover == []
    state = decision.state
    assert (
        decide(state, evaluate(snapshot(queue_lengths={"marketing_low": 179}), limits), 1.5, NOW).raise_ == []
    )
    worse = decide(state, evaluate(snapshot(queue_lengths={"marketing_low": 181}), limits), 1.5, NOW)
    assert [b.level for b in worse.raise_] == [181]
    assert worse.state["queue_length:marketing_low"].alerted_level == 181
    cleared = decide(worse.state, {}, 1.5, NOW)
    assert cleared.raise_ == [] and [b.metric for b in cleared.recover] == ["queue_length"]
    assert cleared.state == {}


def test_a_beat_never_seen_does_not_alert_again_when_it_stays_silent() -> None:
    state = {"beat_heartbeat": OpenBreach("beat_heartbeat", None, math.inf, NOW.isoformat())}
    silent = evaluate(snapshot(beat_last_tick=None), Thresholds())
    assert decide(state, silent, 1.5, NOW).raise_ == []
