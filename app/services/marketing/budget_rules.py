"""Budget rules (spec 7.3.3; issue 5 item 3) — plain functions, no I/O. The one daily-limit rule:
`check_budgets` and the bid cycle's campaign safety both decide with `decide_budget` (issue 9
finding 14: it existed twice, with different alert types and thresholds).

- spent ≥ daily limit → pause the campaign (resumed the next Moscow day);
- spent ≥ the warning share (spec: 80 %) → one warning per campaign per Moscow day;
- beyond the spec: at the current spend rate, a campaign that would pass its limit before the next
  check is paused (or only alerted, by setting) now, so overspend between checks stays bounded.
  The projection runs from when the spend was read, not from now: the campaign has gone on
  spending for `data_age_s` seconds since (a loaded worker, a queue ahead of the check);
- spend data older than `stale_after_s` (a failing stats collection) is not trusted as it is: the
  spend is estimated forward at the last known rate and the decision says the data is stale
  (issue 9 finding 7), so that a blind budget guard is both cautious and visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from app.core.config import ProjectionMode
from app.core.money import rub

WARNING_PCT = Decimal(80)  # spec 7.3.3: "80% бюджета"


class BudgetAction(StrEnum):
    NONE = "none"
    WARN = "warn"
    PAUSE = "pause"
    PAUSE_AHEAD = "pause_ahead"  # the projection says the limit falls before the next check
    ALERT_AHEAD = "alert_ahead"  # same, with projection mode "alert"


@dataclass(frozen=True)
class BudgetState:
    spent_today: int  # kopecks, for the current Moscow day, as last read
    daily_limit: int  # kopecks, > 0
    spend_rate: float | None  # kopecks per second, recent; None when unknown
    seconds_to_next_check: float
    warned_today: bool
    warning_pct: Decimal = WARNING_PCT
    data_age_s: float | None = None  # seconds since `spent_today` was read; None = unknown
    stale_after_s: float = 1800.0


@dataclass(frozen=True)
class BudgetDecision:
    action: BudgetAction
    reason: str
    projected_spend: int | None = None
    stale: bool = False  # the spend data is older than `stale_after_s`
    estimated_spend: int | None = None  # what the decision assumed was spent by now

    @property
    def pauses(self) -> bool:
        return self.action in (BudgetAction.PAUSE, BudgetAction.PAUSE_AHEAD)


def _estimate(state: BudgetState) -> tuple[int, bool, str]:
    """(spend to decide on, whether the data is stale, a note for the reason)."""
    age = state.data_age_s
    if age is None or age < state.stale_after_s:
        return state.spent_today, False, ""
    minutes = int(age // 60)
    if state.spend_rate is None or state.spend_rate <= 0:
        return state.spent_today, True, f" (spend data {minutes} min old, no spend rate to estimate from)"
    estimate = int(state.spent_today + state.spend_rate * age)
    return estimate, True, f" (spend data {minutes} min old: estimated {rub(estimate)} at the last rate)"


def decide_budget(state: BudgetState, mode: ProjectionMode = ProjectionMode.PAUSE) -> BudgetDecision:
    if state.daily_limit <= 0:
        raise ValueError("daily_limit must be positive kopecks")
    spent, stale, note = _estimate(state)
    limit = state.daily_limit
    if spent >= limit:
        reason = f"spent {rub(spent)} reached the daily limit {rub(limit)}{note}"
        return BudgetDecision(BudgetAction.PAUSE, reason, stale=stale, estimated_spend=spent)
    projected = None
    if state.spend_rate is not None and state.spend_rate > 0 and mode is not ProjectionMode.OFF:
        # A stale spend was already estimated forward to now; a fresh one was read `age` ago.
        since_read = 0.0 if stale or not state.data_age_s else max(0.0, state.data_age_s)
        projected = int(spent + state.spend_rate * (since_read + state.seconds_to_next_check))
        if projected >= limit:
            minutes = max(0.0, (limit - spent) / state.spend_rate - since_read) / 60
            reason = (
                f"spent {rub(spent)} of {rub(limit)}{note}; at {rub(int(state.spend_rate * 3600))}/h the "
                f"limit is reached in {minutes:.0f} min, before the next check"
            )
            action = BudgetAction.PAUSE_AHEAD if mode is ProjectionMode.PAUSE else BudgetAction.ALERT_AHEAD
            if action is BudgetAction.PAUSE_AHEAD or not state.warned_today:
                return BudgetDecision(action, reason, projected, stale, spent)
    if spent * 100 >= limit * Fraction(state.warning_pct) and not state.warned_today:
        share = spent * 100 // limit
        reason = f"spent {rub(spent)} of {rub(limit)} ({share}%){note}"
        return BudgetDecision(BudgetAction.WARN, reason, projected, stale, spent)
    return BudgetDecision(BudgetAction.NONE, f"within budget{note}", projected, stale, spent)


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
