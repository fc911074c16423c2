"""Budget rules (spec 7.3.3; issue 5 item 3) — plain functions, no I/O.

- spent ≥ daily limit → pause the campaign;
- spent ≥ 80 % → one warning per campaign per Moscow day;
- beyond the spec: at the current spend rate, a campaign that would pass its limit before the next
  check is paused (or only alerted, by setting) now, so overspend between checks stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

WARNING_SHARE = 0.8


class BudgetAction(StrEnum):
    NONE = "none"
    WARN = "warn"
    PAUSE = "pause"
    PAUSE_AHEAD = "pause_ahead"  # the projection says the limit falls before the next check
    ALERT_AHEAD = "alert_ahead"  # same, with projection mode "alert"


class ProjectionMode(StrEnum):
    PAUSE = "pause"
    ALERT = "alert"
    OFF = "off"


@dataclass(frozen=True)
class BudgetState:
    spent_today: int  # kopecks, for the current Moscow day
    daily_limit: int  # kopecks, > 0
    spend_rate: float | None  # kopecks per second, recent; None when unknown
    seconds_to_next_check: float
    warned_today: bool


@dataclass(frozen=True)
class BudgetDecision:
    action: BudgetAction
    reason: str
    projected_spend: int | None = None


def rub(kopecks: int) -> str:
    """Money for people: 12345 → "123.45 ₽"."""
    sign = "-" if kopecks < 0 else ""
    whole, part = divmod(abs(kopecks), 100)
    return f"{sign}{whole:,}.{part:02d} ₽".replace(",", " ")


def decide_budget(state: BudgetState, mode: ProjectionMode = ProjectionMode.PAUSE) -> BudgetDecision:
    if state.daily_limit <= 0:
        raise ValueError("daily_limit must be positive kopecks")
    spent, limit = state.spent_today, state.daily_limit
    if spent >= limit:
        return BudgetDecision(BudgetAction.PAUSE, f"spent {rub(spent)} reached the daily limit {rub(limit)}")
    projected = None
    if state.spend_rate is not None and state.spend_rate > 0 and mode is not ProjectionMode.OFF:
        projected = int(spent + state.spend_rate * state.seconds_to_next_check)
        if projected >= limit:
            minutes = (limit - spent) / state.spend_rate / 60
            reason = (
                f"spent {rub(spent)} of {rub(limit)}; at {rub(int(state.spend_rate * 3600))}/h the limit "
                f"is reached in {minutes:.0f} min, before the next check"
            )
            action = BudgetAction.PAUSE_AHEAD if mode is ProjectionMode.PAUSE else BudgetAction.ALERT_AHEAD
            if action is BudgetAction.PAUSE_AHEAD or not state.warned_today:
                return BudgetDecision(action, reason, projected)
    if spent >= limit * WARNING_SHARE and not state.warned_today:
        share = spent * 100 // limit
        return BudgetDecision(BudgetAction.WARN, f"spent {rub(spent)} of {rub(limit)} ({share}%)", projected)
    return BudgetDecision(BudgetAction.NONE, "within budget", projected)


def spend_rate(points: list[tuple[float, int]]) -> float | None:
    """Kopecks per second from (epoch seconds, spent so far today) snapshots, newest last: the
    slope over the last two distinct points (the current pace, not the day's average)."""
    distinct = sorted(dict(points).items())
    if len(distinct) < 2:
        return None
    (t0, s0), (t1, s1) = distinct[-2], distinct[-1]
    if t1 <= t0 or s1 < s0:
        return None  # a counter reset (new day) or clock oddity: no rate
    return (s1 - s0) / (t1 - t0)
