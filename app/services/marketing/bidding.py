"""Inputs and outputs of the bid engine (issue 6, Deliver 1; units as types: issue 9, Deliver 1).

Plain frozen dataclasses: the bid cycle (and the backtest) maps database rows and adapter replies
onto them, the engine turns one `KeywordBidContext` into one `BidDecision`. No Celery, Redis, HTTP
or database here (DESIGN.md §2).

Every bid here is a typed `Bid` (app/core/money.py) in the keyword's bid unit — per click, per
1000 views or a share of the price — except competitor bids, which carry the unit the Watcher
reported them in; the engine converts those explicitly (strategies/units.py). Spend and revenue
are plain integer kopecks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING

from app.core.clock import to_moscow
from app.core.money import Bid, BidUnit, UnitMismatchError
from app.models.marketing import KeywordStatus

if TYPE_CHECKING:
    from app.services.marketing.strategies.params import StrategyParams


class BidAction(StrEnum):
    SET = "set"
    HOLD = "hold"


class CompetitorSource(StrEnum):
    """Where the competitor picture a decision used came from."""

    WATCHER = "watcher"
    MARKETPLACE_RECOMMENDATION = "marketplace_recommendation"
    MARKETPLACE_COMPETITIVE = "marketplace_competitive"
    NONE = "none"


def _require_count(name: str, value: object) -> None:
    # bool is an int subclass: refuse it too, a True count is a mapping bug.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got a naive one")


def _require_bid(name: str, value: Bid | None, unit: BidUnit, *, positive: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, Bid):
        raise TypeError(f"{name} must be a Bid in {unit}, got {value!r}")
    if value.unit != unit:
        raise UnitMismatchError(f"{name} is {value} but the keyword bids in {unit}")
    if value.amount < (1 if positive else 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}, got {value}")


@dataclass(frozen=True)
class PeriodStats:
    """Counters of one keyword over a period (Moscow day so far, or a recent window).

    Money (`spend`, `revenue`) is kopecks. `collected_at` is when the newest snapshot in the period
    was taken; None = never collected. `spend_settled` is the part of `spend` old enough for its
    orders to have been attributed (the marketplace's attribution lag); None = all of it.
    """

    views: int = 0
    clicks: int = 0
    orders: int = 0
    spend: int = 0
    revenue: int = 0
    avg_position: float | None = None
    collected_at: datetime | None = None
    spend_settled: int | None = None

    def __post_init__(self) -> None:
        for name in ("views", "clicks", "orders", "spend", "revenue"):
            _require_count(name, getattr(self, name))
        if self.spend_settled is not None:
            _require_count("spend_settled", self.spend_settled)
        _require_aware("collected_at", self.collected_at)

    @property
    def settled_spend(self) -> int:
        return self.spend if self.spend_settled is None else min(self.spend, self.spend_settled)

    def ctr(self) -> Fraction | None:
        return Fraction(self.clicks, self.views) if self.views else None


@dataclass(frozen=True)
class CompetitorBid:
    """One bid of the auction, by position (1 = top), in the unit the Watcher reported.

    `is_ours` marks our own entry, which the strategies never bid against — outbidding ourselves
    would ratchet the bid up every cycle. `ctr` is the click-through rate the marketplace credits
    a per-click bidder with when it ranks per-click and per-1000-views bids together (the Watcher
    reports it on per-click entries); on our own entry it is what converts the auction's prices
    into our per-click unit.
    """

    position: int
    bid: Bid
    is_ours: bool = False
    ctr: Fraction | None = None

    def __post_init__(self) -> None:
        if self.position < 1:
            raise ValueError(f"competitor position must be >= 1, got {self.position}")
        if not isinstance(self.bid, Bid) or self.bid.amount < 0:
            raise ValueError(f"competitor bid must be a non-negative Bid, got {self.bid!r}")
        if self.ctr is not None and not 0 < self.ctr <= 1:
            raise ValueError(f"competitor ctr must be in (0, 1], got {self.ctr}")


@dataclass(frozen=True)
class CompetitorData:
    """Competitor bids for the keyword (Watcher API), all in one unit."""

    source: CompetitorSource
    bids: tuple[CompetitorBid, ...]
    fetched_at: datetime

    def __post_init__(self) -> None:
        _require_aware("fetched_at", self.fetched_at)
        units = {b.bid.unit for b in self.bids}
        if len(units) > 1:
            raise UnitMismatchError(f"competitor bids mix units: {', '.join(sorted(units))}")

    @property
    def unit(self) -> BidUnit | None:
        return self.bids[0].bid.unit if self.bids else None

    def others_by_position(self) -> list[CompetitorBid]:
        return sorted((b for b in self.bids if not b.is_ours), key=lambda b: (b.position, -b.bid.amount))

    def our_ctr(self) -> Fraction | None:
        """The click-through rate the marketplace credits our own entry with, if reported."""
        rates = [b.ctr for b in self.bids if b.is_ours and b.ctr is not None]
        return rates[0] if rates else None


@dataclass(frozen=True)
class RecommendedBid:
    """A bid the marketplace itself recommends, in the keyword's unit. `position` is the worst
    position it is meant to reach (WB cpc `range1To2` → 2, `range3To10` → 10, `leadersBid` → 1);
    None = a plain "competitive" bid (WB `competitiveBid`, Ozon competitive bid) with no position."""

    bid: Bid
    position: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bid, Bid) or self.bid.amount < 0:
            raise ValueError(f"recommended bid must be a non-negative Bid, got {self.bid!r}")
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

    `unit` is the keyword's bid unit; every bid field is a `Bid` of it. `min_bid` is the
    marketplace's minimum for this item, `marketplace_max_bid` its maximum, `campaign_max_bid` the
    campaign's own `max_bid` (spec 7.3.1 cap); `bid_step` the marketplace's granularity and
    `min_change` the smallest change worth sending (the marketplace's rules,
    app/services/marketing/adapters/rules.py). `previous_bid` is the bid before `current_bid` (from
    the bid history) and lets the engine notice a reversal of direction. `held_until` is set while
    a manual change holds the keyword. `base_bid` is the strategy's level the current bid stands for
    before the dayparting multiplier, kept with the bid that set it (None: the current bid itself).
    """

    marketplace: str
    keyword_id: int
    keyword: str
    status: str
    is_fixed: bool
    unit: BidUnit
    current_bid: Bid | None
    min_bid: Bid
    marketplace_max_bid: Bid | None
    campaign_max_bid: Bid | None
    strategy: StrategyParams
    now: datetime
    min_change: Bid
    bid_step: int = 1
    today: PeriodStats | None = None
    window: PeriodStats | None = None
    competitors: CompetitorData | None = None
    recommendations: MarketplaceRecommendations | None = None
    previous_bid: Bid | None = None
    held_until: datetime | None = None
    base_bid: Bid | None = None

    def __post_init__(self) -> None:
        for name in ("current_bid", "marketplace_max_bid", "campaign_max_bid", "previous_bid", "base_bid"):
            _require_bid(name, getattr(self, name), self.unit)
        _require_bid("min_bid", self.min_bid, self.unit)
        _require_bid("min_change", self.min_change, self.unit, positive=True)
        if self.recommendations is not None:
            for rec in self.recommendations.bids:
                _require_bid("recommended bid", rec.bid, self.unit)
        if self.bid_step < 1:
            raise ValueError(f"bid_step must be >= 1, got {self.bid_step}")
        _require_aware("now", self.now)
        _require_aware("held_until", self.held_until)

    def bid(self, amount: int) -> Bid:
        """An integer of the keyword's unit as a Bid (strategy parameters are integers)."""
        return self.unit.bid(amount)

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
    `reason` is one human-readable line for the bid history and the alert. `base_bid` is the
    strategy's level `new_bid` stands for before the dayparting multiplier (bid_engine rule 3),
    kept with the bid for the next cycle's `KeywordBidContext.base_bid`; None: the bid is its own.
    """

    action: BidAction
    new_bid: Bid | None
    old_bid: Bid | None
    reason: str
    strategy_type: str
    target_bid: Bid | None = None
    capped: bool = False
    base_bid: Bid | None = None
    competitor_source: CompetitorSource = CompetitorSource.NONE
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changes_bid(self) -> bool:
        return self.action == BidAction.SET
