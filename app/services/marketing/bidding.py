"""Inputs and outputs of the bid engine (issue 6, Deliver 1).

Plain frozen dataclasses: the bid cycle maps database rows and adapter replies onto them, the
engine turns one `KeywordBidContext` into one `BidDecision`. No Celery, Redis, HTTP or database
here (DESIGN.md §2). Money is integer kopecks (DESIGN.md §3) in the keyword's bid unit: per 1000
views for cpm, per click for cpc, per order for cpo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from app.core.clock import to_moscow
from app.models.marketing import PAYMENT_TYPES, KeywordStatus

if TYPE_CHECKING:
    from app.services.marketing.strategies.params import StrategyParams

# Spec 7.3.1: `abs(new_bid - keyword.current_bid) >= 1.0` — a change below 1 ₽ is not sent.
MIN_BID_STEP: Final = 100


class BidAction(StrEnum):
    SET = "set"
    HOLD = "hold"


class CompetitorSource(StrEnum):
    """Where the competitor picture a decision used came from."""

    WATCHER = "watcher"
    MARKETPLACE_RECOMMENDATION = "marketplace_recommendation"
    MARKETPLACE_COMPETITIVE = "marketplace_competitive"
    NONE = "none"


def _require_money(name: str, value: int | None) -> None:
    # bool is an int subclass: refuse it too, a True bid is a mapping bug.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer of kopecks, got {value!r}")


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got a naive one")


@dataclass(frozen=True)
class PeriodStats:
    """Counters of one keyword over a period (Moscow day so far, or a recent window).

    `collected_at` is when the newest snapshot in the period was taken; None = never collected.
    """

    views: int = 0
    clicks: int = 0
    orders: int = 0
    spend: int = 0
    revenue: int = 0
    avg_position: float | None = None
    collected_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("views", "clicks", "orders"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        _require_money("spend", self.spend)
        _require_money("revenue", self.revenue)
        _require_aware("collected_at", self.collected_at)


@dataclass(frozen=True)
class CompetitorBid:
    """One bid of the auction, by position (1 = top). `is_ours` marks our own entry, which the
    strategies ignore — outbidding ourselves would ratchet the bid up every cycle."""

    position: int
    bid: int
    is_ours: bool = False

    def __post_init__(self) -> None:
        if self.position < 1:
            raise ValueError(f"competitor position must be >= 1, got {self.position}")
        _require_money("competitor bid", self.bid)


@dataclass(frozen=True)
class CompetitorData:
    """Competitor bids for the keyword (Watcher API, or the marketplace's competitive bids)."""

    source: CompetitorSource
    bids: tuple[CompetitorBid, ...]
    fetched_at: datetime

    def __post_init__(self) -> None:
        _require_aware("fetched_at", self.fetched_at)

    def others_by_position(self) -> list[CompetitorBid]:
        return sorted((b for b in self.bids if not b.is_ours), key=lambda b: (b.position, -b.bid))


@dataclass(frozen=True)
class RecommendedBid:
    """A bid the marketplace itself recommends. `position` is the worst position it is meant to
    reach (WB cpc `range1To2` → 2, `leadersBid` → 1); None = a plain "competitive" bid (WB
    `competitiveBid`, Ozon competitive bid) with no position attached."""

    bid: int
    position: int | None = None

    def __post_init__(self) -> None:
        _require_money("recommended bid", self.bid)
        if self.position is not None and self.position < 1:
            raise ValueError(f"recommended position must be >= 1, got {self.position}")


@dataclass(frozen=True)
class MarketplaceRecommendations:
    bids: tuple[RecommendedBid, ...]
    fetched_at: datetime

    def __post_init__(self) -> None:
        _require_aware("fetched_at", self.fetched_at)


@dataclass(frozen=True)
class KeywordBidContext:
    """Everything the engine needs to decide one keyword's bid for this cycle.

    `min_bid` is the marketplace's minimum for this keyword (the larger of the per-keyword and
    the general minimum); `marketplace_max_bid` the marketplace's maximum; `campaign_max_bid` the
    campaign's own `max_bid` (spec 7.3.1 cap). `previous_bid` is the bid before `current_bid`
    (from the bid history) and lets the engine notice a reversal of direction.
    """

    marketplace: str
    keyword_id: int
    keyword: str
    status: str
    is_fixed: bool
    payment_type: str
    current_bid: int | None
    min_bid: int
    marketplace_max_bid: int | None
    campaign_max_bid: int | None
    strategy: StrategyParams
    now: datetime
    today: PeriodStats | None = None
    window: PeriodStats | None = None
    competitors: CompetitorData | None = None
    recommendations: MarketplaceRecommendations | None = None
    previous_bid: int | None = None

    def __post_init__(self) -> None:
        if self.payment_type not in PAYMENT_TYPES:
            allowed = ", ".join(PAYMENT_TYPES)
            raise ValueError(f"payment_type must be one of {allowed}, got {self.payment_type!r}")
        for name in ("current_bid", "min_bid", "marketplace_max_bid", "campaign_max_bid", "previous_bid"):
            _require_money(name, getattr(self, name))
        _require_aware("now", self.now)

    @property
    def is_active(self) -> bool:
        return self.status == KeywordStatus.ACTIVE

    @property
    def moscow_hour(self) -> int:
        return to_moscow(self.now).hour

    @property
    def moscow_weekday(self) -> int:
        """0 = Monday … 6 = Sunday, of the Moscow day."""
        return to_moscow(self.now).weekday()

    @property
    def stats_collected_at(self) -> datetime | None:
        moments = [s.collected_at for s in (self.today, self.window) if s and s.collected_at]
        return max(moments) if moments else None

    @property
    def performance_stats(self) -> PeriodStats | None:
        """The counters the performance strategies judge: the recent window, else today."""
        return self.window or self.today


@dataclass(frozen=True)
class BidDecision:
    """What to do with one keyword's bid.

    `action` HOLD means: send nothing (`new_bid` None). `capped` means the campaign's `max_bid`
    cut the bid the strategy wanted this cycle — the caller sends the spec's CAP_BID warning alert
    (spec 7.3.1 "bid_exceeds_max"); it is set on a hold too when the bid already sits at the cap.
    `reason` is one human-readable line for the bid history and the alert.
    """

    action: BidAction
    new_bid: int | None
    old_bid: int | None
    reason: str
    strategy_type: str
    target_bid: int | None = None
    capped: bool = False
    competitor_source: CompetitorSource = CompetitorSource.NONE
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changes_bid(self) -> bool:
        return self.action == BidAction.SET
