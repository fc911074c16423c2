"""What a strategy returns to the engine: a wished-for bid (before limits) or a reason to hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.services.marketing.bidding import CompetitorSource


@dataclass(frozen=True)
class Proposal:
    target: int | None  # kopecks; None = hold
    reason: str
    source: CompetitorSource = CompetitorSource.NONE
    warnings: tuple[str, ...] = ()


def rub(kopecks: int) -> str:
    """Kopecks as rubles for reasons and alerts: 12345 → "123.45 ₽"."""
    sign = "-" if kopecks < 0 else ""
    whole, part = divmod(abs(kopecks), 100)
    return f"{sign}{whole}.{part:02d} ₽"


def age_minutes(moment: datetime, now: datetime) -> int:
    """Whole minutes from `moment` to `now`; a moment in the future counts as 0 (clock skew)."""
    return max(0, int((now - moment) / timedelta(minutes=1)))
