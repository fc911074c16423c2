"""What each marketplace allows a bid to be, in one place per marketplace (issue 9, Deliver 2).

The bid cycle, manual changes, `campaigns set` and the backtest ask these rules; none of them holds
a per-marketplace constant. Each marketplace's rules live beside its adapter
(`wildberries_rules.py`, `ozon_rules.py`, `yandex_market_rules.py`) and answer the same questions:

- the **bid unit** of a campaign (`campaign_unit`), from its type and payment type — `None` when the
  cycle does not bid on such campaigns at all, with the reason from `not_biddable`;
- which **keywords** of a biddable campaign take a bid at all (`not_biddable`: a manual change may
  set it) and which the cycle's strategies steer (`not_steered`: also needs data to steer by);
- per unit: the **minimum** when the marketplace gave no per-item one, the **maximum**, the bid's
  **step** (granularity) and the **smallest change** worth sending;
- the **apply delay** after which a sent bid shows when read back;
- whether the marketplace reports **revenue** (DRR rules need it);
- what **pausing** a campaign or a keyword means there, and how it is undone;
- the **attribution lag** of orders: spend younger than this may still get its orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from app.core.marketplaces import Marketplace
from app.core.money import Bid, BidUnit


class PauseMode(StrEnum):
    """How one keyword is paused on a marketplace; every mode can be undone."""

    MINUS_PHRASE = "minus_phrase"  # WB: the cluster joins its nm's minus phrases; undone by removing it
    REMOVE_ITEM = "remove_item"  # Ozon: the SKU leaves the campaign; undone by adding it back with its bid
    ZERO_BID = "zero_bid"  # YM: bid 0 takes the SKU out of boost; undone by setting its bid again
    NONE = "none"  # cannot be paused on its own (lower the bid or pause the campaign)


class CampaignPause(StrEnum):
    SWITCH = "switch"  # the API pauses and resumes the campaign itself
    ITEMS = "items"  # no campaign switch: every item is paused (its PauseMode) and restored on resume


@dataclass(frozen=True)
class UnitRules:
    """Limits of one bid unit, as integers of the unit."""

    default_min: int  # used only when the marketplace gave no minimum for the item
    max: int
    step: int  # the marketplace takes multiples of this
    min_change: int  # a smaller change is not sent (spec 7.3.1: 1 ₽ for money units)


@dataclass(frozen=True)
class BiddingRules:
    marketplace: Marketplace
    units: Mapping[BidUnit, UnitRules]
    apply_delay: timedelta
    reports_revenue: bool
    campaign_pause: CampaignPause
    order_attribution_lag: timedelta
    # Billed per order (YM boost): no spend without an order, so "spend without orders" never
    # means waste — a fraction of an order in the stats is not a reason to pause.
    charges_per_order: bool = False

    # --- what the cycle bids on (overridden per marketplace) ------------------------------------

    def campaign_unit(self, campaign_type: str, payment_type: str | None) -> BidUnit | None:
        raise NotImplementedError

    def not_biddable(self, campaign_type: str, payment_type: str | None, kind: str) -> str | None:
        """Why the marketplace takes no bid for a keyword of this kind in such a campaign; None = it
        does (a manual change may set it)."""
        if self.campaign_unit(campaign_type, payment_type) is None:
            return self.campaign_not_biddable(campaign_type, payment_type)
        return None

    def not_steered(
        self, campaign_type: str, payment_type: str | None, kind: str, item_bids: int = 1
    ) -> str | None:
        """Why the cycle's strategies do not bid on such a keyword — it takes no bid, or the
        marketplace gives nothing to steer it by; None = the cycle bids on it. `item_bids` is how
        many item-level bids its product has in the campaign (WB bids an nm once per placement)."""
        return self.not_biddable(campaign_type, payment_type, kind)

    def campaign_not_biddable(self, campaign_type: str, payment_type: str | None) -> str:
        return f"{self.marketplace.display_name} {campaign_type}/{payment_type} campaigns are not bid on"

    def keyword_pause(self, kind: str) -> PauseMode:
        raise NotImplementedError

    # --- limits --------------------------------------------------------------------------------

    def _unit(self, unit: BidUnit) -> UnitRules:
        try:
            return self.units[unit]
        except KeyError:
            raise ValueError(f"{self.marketplace.display_name} has no bids in {unit}") from None

    def min_bid(self, unit: BidUnit, reported: int | None = None) -> Bid:
        """The item's minimum: what the marketplace reported for it, else the unit's default
        (never the larger of the two: a default must not override a lower minimum the marketplace
        itself gave — issue 9 finding 4)."""
        low = reported if reported is not None and reported > 0 else self._unit(unit).default_min
        return unit.bid(low)

    def max_bid(self, unit: BidUnit) -> Bid:
        return unit.bid(self._unit(unit).max)

    def step(self, unit: BidUnit) -> int:
        return self._unit(unit).step

    def min_change(self, unit: BidUnit) -> Bid:
        return unit.bid(self._unit(unit).min_change)

    def check_bid(self, bid: Bid, min_bid: Bid | None = None) -> str | None:
        """Why the marketplace would refuse `bid` (outside min..max, off its step); None = fine."""
        low = min_bid if min_bid is not None else self.min_bid(bid.unit)
        high = self.max_bid(bid.unit)
        name = self.marketplace.display_name
        if bid < low or bid > high:
            return f"{bid} is outside {name}'s range {low} … {high}"
        step = self.step(bid.unit)
        if bid.amount % step:
            return f"{bid} is not a multiple of {name}'s step {bid.unit.bid(step)}"
        return None


_REGISTRY: dict[Marketplace, BiddingRules] = {}


def register(rules: BiddingRules) -> BiddingRules:
    _REGISTRY[rules.marketplace] = rules
    return rules


def rules_for(marketplace: str) -> BiddingRules:
    """The rules of a marketplace (a code such as "wb" or a Marketplace)."""
    # Imported here so that each marketplace's module registers itself (and imports this one).
    from app.services.marketing.adapters import ozon_rules, wildberries_rules, yandex_market_rules  # noqa: F401

    return _REGISTRY[Marketplace.parse(marketplace)]
