"""What a strategy returns to the engine: the bid it aims for (before dayparting and limits) or a
reason to hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app.core.money import Bid
from app.services.marketing.bidding import CompetitorSource


@dataclass(frozen=True)
class Damping:
    """The strategy steers by measured results that lag the bid: the engine moves only `gain` of
    the way from the current bid to the (dayparted) goal, and never raises while `may_raise` is
    false (too few orders to trust a higher bid)."""

    gain: Decimal
    may_raise: bool
    why_not_raise: str = ""


@dataclass(frozen=True)
class Proposal:
    goal: Bid | None  # None = hold
    reason: str
    source: CompetitorSource = CompetitorSource.NONE
    warnings: tuple[str, ...] = ()
    damping: Damping | None = None


def age_minutes(moment: datetime, now: datetime) -> int:
    """Whole minutes from `moment` to `now`; a moment in the future counts as 0 (clock skew)."""
    return max(0, int((now - moment) / timedelta(minutes=1)))
