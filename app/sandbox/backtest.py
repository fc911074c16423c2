"""Backtests: one campaign of a seeded sandbox world replayed cycle by cycle with the bid cycle's
own planner (issue 9, Deliver 5–6) — the engine of `bench/safety_matrix.py` and of
`adolf-marketing backtest`.

Every 15 simulated minutes (the spec's rhythm) the backtest does what the cycle's reads would see,
in the project's own units:

1. brings the auction model up to the moment (`Market.advance_to`);
2. takes a stats snapshot of every biddable item and of the campaign — counters since Moscow
   midnight, as the marketplaces report them — unless the data condition says stats are stale;
   the recent window and the attribution-lagged spend are computed from those snapshots as
   `bid_cycle.inputs` computes them from `marketing_stats`;
3. asks the sandbox's Watcher for the competitors (our own entry with its click-through rate
   included) and, where the Watcher has nothing, the marketplace's own recommendations — the same
   answers the HTTP apps give, parsed by the project's own parsers;
4. plans with `bid_cycle.planning.AccountPlanner` — the code the real cycle runs;
5. applies the plan to the model with the marketplace's delays (WB's 30-second tick, YM's two
   minutes, Ozon at once): bids, keyword pauses, campaign pauses (YM item by item).

Nothing here touches PostgreSQL, Redis or HTTP. Only the chosen campaign is kept in its world, so a
simulated day of one campaign takes well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from app.core.clock import MOSCOW, moscow_today, to_moscow
from app.core.marketplaces import Marketplace
from app.core.money import Bid, BidUnit
from app.sandbox.market import BASE_CTR, CLICKS, ORDERS, REVENUE, SPEND, VIEWS, AuctionEntry
from app.sandbox.ozon import OzonApi
from app.sandbox.state import WB_BID_TICK_S, YM_BID_DELAY_S, Sandbox
from app.sandbox.watcher import WatcherApi
from app.sandbox.wildberries import WildberriesApi
from app.sandbox.world import Campaign, CampaignItem, Cluster, Product, WorldSize
from app.sandbox.yandex_market import YandexMarketApi
from app.services.marketing.adapters import wildberries_parse as wp
from app.services.marketing.adapters.rules import BiddingRules, PauseMode, rules_for
from app.services.marketing.adapters.wildberries import _levels
from app.services.marketing.adapters.yandex_market_parsing import parse_recommendations
from app.services.marketing.bid_apply import PlannedBid
from app.services.marketing.bid_cycle.inputs import CampaignRow, KeywordRow
from app.services.marketing.bid_cycle.market import MarketView
from app.services.marketing.bid_cycle.planning import AccountPlanner, AccountReadings, CyclePlan, PlanSettings
from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.bidding import BidDecision, KeywordBidContext, PeriodStats
from app.services.marketing.budget_rules import spend_rate
from app.services.marketing.strategies.params import parse_strategy_params
from app.services.watcher.client import CompetitorBids, parse_answer

CYCLE = timedelta(minutes=15)
Counters = tuple[int, int, int, int, int]  # views, clicks, orders, spend, revenue


# --- what is tested -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One strategy with its parameters and the campaign's limits (all in the campaign's unit)."""

    name: str
    strategy_type: str
    strategy_params: dict[str, Any]
    max_bid: int | None = None
    daily_limit: int | None = None
    safety_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conditions:
    """The data a cycle gets. Cycle numbers count from 0 at the day's first cycle."""

    name: str = "normal"
    watcher: bool = True  # False: the Watcher knows nothing, the marketplace's signals only
    stale: tuple[int, int] | None = None  # stats snapshots stop for cycles [from, to)
    revenue: bool = True  # False: the stats report no revenue (as YM's always do)
    spike: tuple[int, int, float] | None = None  # competitors bid ×factor for cycles [from, to)


@dataclass
class KeywordCycle:
    """One keyword in one cycle: what it was, what was decided, what the market looked like."""

    cycle: int
    keyword_id: int
    unit: BidUnit
    bid_before: int | None
    sent: int | None  # the bid the plan sent (None: nothing)
    paused: bool
    min_bid: int
    max_bid: int | None
    top_needed: int | None  # what position 1 costs at that moment, in the keyword's unit
    multiplier: Fraction
    positions: list[int]  # our position in each of the keyword's auctions, once the bids took effect
    reason: str = ""
    goal: int | None = None  # the level the strategy aimed for: its goal × the dayparting multiplier
    spend_today: float = 0.0  # the market's truth for this item since Moscow midnight, kopecks
    revenue_today: float = 0.0
    # Dayparted variants: the bid the same strategy without dayparting has after this cycle,
    # deciding from the same readings every cycle (`Shadow`).
    undayparted: int | None = None
    low: int | None = None  # the engine's lowest and highest allowed bid this cycle (rules 7–8)
    high: int | None = None

    @property
    def after(self) -> int | None:
        """The bid once this cycle's decision is applied."""
        return self.sent if self.sent is not None else self.bid_before


@dataclass
class CycleTotals:
    cycle: int
    now: datetime
    spend_today: float  # kopecks, the market's truth since Moscow midnight
    revenue_today: float
    daily_limit: int | None
    campaign_paused: bool


@dataclass
class BacktestResult:
    variant: Variant
    conditions: Conditions
    marketplace: Marketplace
    unit: BidUnit
    keywords: list[KeywordCycle] = field(default_factory=list)
    cycles: list[CycleTotals] = field(default_factory=list)
    fixed_keyword_id: int | None = None
    paused_keyword_id: int | None = None
    views: float = 0.0
    clicks: float = 0.0
    orders: float = 0.0
    revenue: float = 0.0
    spend: float = 0.0
    position_views: float = 0.0  # position × views, for the view-weighted average position

    @property
    def drr_pct(self) -> float | None:
        return 100 * self.spend / self.revenue if self.revenue else None

    @property
    def avg_position(self) -> float | None:
        return self.position_views / self.views if self.views else None

    def second_half_drr(self) -> float | None:
        """DRR in percent of the run's second half, from the market's own counters (one Moscow day)."""
        if not self.cycles:
            return None
        half = self.cycles[len(self.cycles) // 2]
        spend, revenue = self.spend - half.spend_today, self.revenue - half.revenue_today
        return 100 * spend / revenue if revenue > 0 else None

    def summary(self) -> dict[str, Any]:
        return {
            "variant": self.variant.name,
            "spend_rub": round(self.spend / 100, 2),
            "views": round(self.views),
            "clicks": round(self.clicks),
            "orders": round(self.orders, 1),
            "revenue_rub": round(self.revenue / 100, 2),
            "drr_pct": round(self.drr_pct, 2) if self.drr_pct is not None else None,
            "avg_position": round(self.avg_position, 2) if self.avg_position is not None else None,
        }


# --- the world's campaigns as the project sees them ----------------------------------------------


def campaign_shape(campaign: Campaign) -> tuple[str, str | None]:
    """(our campaign_type, our payment_type) of a world campaign, as sync maps them."""
    if campaign.marketplace == Marketplace.WB:
        kind = campaign.bid_type if campaign.kind == "9" else {"8": "unified"}.get(campaign.kind, "other")
        return kind, campaign.payment_type
    if campaign.marketplace == Marketplace.OZON:
        return {"SKU": "sku", "SEARCH_PROMO": "search_promo"}.get(
            campaign.kind, "other"
        ), campaign.payment_type.lower()
    return "boost", "cpo"


@dataclass(frozen=True)
class Item:
    """A biddable item of the campaign, with how to read and set it in the world model."""

    row: KeywordRow
    product: Product
    clusters: tuple[Cluster, ...]
    placement: str  # WB: search | recommendations | combined | cluster; Ozon: cpc | cpm; YM: boost
    cluster: Cluster | None = None


def campaign_items(campaign: Campaign, sandbox: Sandbox) -> list[Item]:
    """The campaign's biddable items as sync would list them: WB nm bids per placement and, in
    manual cpm campaigns, search clusters; Ozon SKUs; YM SKUs."""
    world = sandbox.world
    specs: list[tuple[Product, str, str, str, str, Cluster | None]] = []
    for product_id in sorted(campaign.items):
        product = world.products[product_id]
        search = [world.clusters[c] for c in product.cluster_ids if world.clusters[c].placement == "search"]
        if campaign.marketplace == Marketplace.WB:
            if campaign.bid_type == "unified":
                specs.append(
                    (product, wp.nm_bid_id(product_id, "combined"), f"{product_id}", "nm", "combined", None)
                )
            else:
                for placement in ("search", "recommendations"):
                    if campaign.placements.get(placement):
                        external = wp.nm_bid_id(product_id, placement)
                        specs.append(
                            (product, external, f"{product_id} ({placement})", "nm", placement, None)
                        )
                if campaign.payment_type == "cpm":
                    for cluster in search:
                        external = wp.cluster_id(product_id, cluster.text)
                        specs.append((product, external, cluster.text, "cluster", "cluster", cluster))
        elif campaign.marketplace == Marketplace.OZON:
            specs.append(
                (product, str(product_id), product.title, "sku", campaign.payment_type.lower(), None)
            )
        else:
            specs.append((product, product.shop_sku, product.title, "sku", "boost", None))
    items = []
    for index, (product, external, text, kind, placement, own) in enumerate(specs, start=1):
        # The item's product id as its adapter reports it: YM names products by their shop SKU.
        reported = product.shop_sku if campaign.marketplace == Marketplace.YM else str(product.id)
        row = KeywordRow(index, str(campaign.id), external, text, kind, reported, None, None, "active", False)
        clusters = [world.clusters[c] for c in product.cluster_ids]
        if own is not None:
            shown = [own]
        elif placement == "recommendations":
            shown = [c for c in clusters if c.placement == "recommendations"]
        else:
            shown = [c for c in clusters if c.placement == "search"]
        items.append(Item(row, product, tuple(shown), placement, own))
    return items


def current_bid(campaign: Campaign, item: Item) -> int | None:
    held = campaign.items.get(item.product.id)
    if held is None:
        return None
    if item.placement == "cluster" and item.cluster is not None:
        return held.cluster_bids.get(item.cluster.id) or held.bids.get("search")
    return held.bids.get(item.placement) or None


# --- one backtest ---------------------------------------------------------------------------------


class Backtest:
    """One campaign of the world of (`seed`, `size`), one variant, one data condition."""

    def __init__(
        self,
        campaign_id: int,
        variant: Variant,
        conditions: Conditions = Conditions(),
        *,
        seed: int = 1,
        size: str | WorldSize = "small",
        start: date = date(2026, 11, 25),
        cycles: int = 96,
        configure: Callable[[Campaign, list[Item]], None] | None = None,
    ) -> None:
        size_ = size if isinstance(size, WorldSize) else WorldSize.preset(size)
        midnight = datetime.combine(start, datetime.min.time(), MOSCOW).astimezone(UTC)
        self.sandbox = Sandbox(seed=seed, speed=0.0, size=size_, start=midnight, history_days=1.0)
        world = self.sandbox.world
        if campaign_id not in world.campaigns:
            raise ValueError(f"campaign {campaign_id} is not in the world of seed {seed}, size {size_!r}")
        self.campaign = world.campaigns[campaign_id]
        world.campaigns = {campaign_id: self.campaign}  # the rest of the world is not simulated
        self._prepare_campaign()
        self.rules: BiddingRules = rules_for(self.campaign.marketplace)
        campaign_type, payment_type = campaign_shape(self.campaign)
        unit = self.rules.campaign_unit(campaign_type, payment_type)
        if unit is None:
            why = self.rules.campaign_not_biddable(campaign_type, payment_type)
            raise ValueError(f"campaign {campaign_id}: {why}")
        self.unit = unit
        self.items = campaign_items(self.campaign, self.sandbox)
        if configure is not None:
            configure(self.campaign, self.items)
        self.variant, self.conditions, self.cycles = variant, conditions, cycles
        self.planner = AccountPlanner(self.rules, PlanSettings())
        self.engine = self.planner.engine = RecordingEngine()
        self.bounds: dict[int, tuple[Bid, Bid | None]] = {}
        self.watcher = WatcherApi(self.sandbox)
        self.wb, self.ozon, self.ym = (
            WildberriesApi(self.sandbox),
            OzonApi(self.sandbox),
            YandexMarketApi(self.sandbox),
        )
        self.row = CampaignRow(
            1,
            str(campaign_id),
            self.campaign.name,
            self.campaign.marketplace.value,
            campaign_type,
            payment_type,
            "active",
            variant.strategy_type,
            dict(variant.strategy_params),
            dict(variant.safety_params),
            variant.daily_limit,
            0,
            variant.max_bid,
            False,
        )
        self.snapshots: dict[tuple[int, int | None], list[tuple[datetime, date, Counters]]] = {}
        self.history: dict[int, list[int]] = {}  # keyword id → bids it had, oldest first
        self.bases: dict[int, tuple[int, int]] = {}  # keyword id → (bid, its level before dayparting)
        self.shadow = Shadow(variant.strategy_params) if "dayparting" in variant.strategy_params else None
        self.fixed: set[int] = set()
        self.paused_by_test: set[int] = set()

    def _prepare_campaign(self) -> None:
        """Running, with money on it, from Moscow midnight: only our rules may stop it."""
        campaign = self.campaign
        campaign.status = {Marketplace.WB: "9", Marketplace.OZON: "CAMPAIGN_STATE_RUNNING"}.get(
            campaign.marketplace, "ACTIVE"
        )
        campaign.budget_kopecks = 10**12 if campaign.marketplace == Marketplace.WB else 0
        campaign.daily_budget_kopecks = 0

    def hold_for_the_test(self, fixed: int | None = None, paused: int | None = None) -> None:
        """Mark one keyword fixed by hand and one paused, to check they are never touched."""
        rows = {i.row.id: i for i in self.items}
        if fixed in rows:
            self.fixed.add(fixed)
            rows[fixed].row.is_fixed = True
        if paused in rows:
            self.paused_by_test.add(paused)
            rows[paused].row.status = "paused"

    def hold_external(self, fixed: Collection[str], paused: Collection[str]) -> None:
        """Hold the items our campaign holds (by external id): fixed by hand, or paused."""
        for item in self.items:
            if item.row.external_id in fixed:
                self.fixed.add(item.row.id)
                item.row.is_fixed = True
            elif item.row.external_id in paused:
                self.paused_by_test.add(item.row.id)
                item.row.status = "paused"

    # --- the run --------------------------------------------------------------------------------

    def run(self, progress: Callable[[int], None] | None = None) -> BacktestResult:
        result = BacktestResult(self.variant, self.conditions, self.campaign.marketplace, self.unit)
        result.fixed_keyword_id = next(iter(self.fixed), None)
        result.paused_keyword_id = next(iter(self.paused_by_test), None)
        start = self.sandbox.clock.now()
        self.sandbox.market.advance_to(start)
        for n in range(self.cycles):
            now = start + CYCLE * n
            self._spike(n)
            self.sandbox.clock.set_time(now)
            self.sandbox.market.advance_to(now)
            if not self._stale(n):
                self._snapshot(now)
            self._cycle(n, now, result)
            if progress is not None:
                progress(n)
        end = start + CYCLE * self.cycles
        self.sandbox.clock.set_time(end)
        self.sandbox.market.advance_to(end)
        totals = self._totals_between(start, end)
        result.views, result.clicks, result.orders = totals[VIEWS], totals[CLICKS], totals[ORDERS]
        result.revenue, result.spend, result.position_views = totals[REVENUE], totals[SPEND], totals[7]
        return result

    def _totals_between(self, start: datetime, end: datetime) -> list[float]:
        out = [0.0] * 8
        for offset in range((moscow_today(end) - moscow_today(start)).days + 1):
            day = moscow_today(start) + timedelta(days=offset)
            for i, value in enumerate(self.sandbox.market.totals(self.campaign.id, day)):
                out[i] += value
        return out

    def _stale(self, n: int) -> bool:
        stale = self.conditions.stale
        return stale is not None and stale[0] <= n < stale[1]

    def _spike(self, n: int) -> None:
        spike = self.conditions.spike
        if spike is None:
            return
        first, last, factor = spike
        if n in (first, last):
            scale = factor if n == first else 1 / factor
            for cluster in {c.id: c for i in self.items for c in i.clusters}.values():
                for competitor in cluster.competitors:
                    competitor.base_bid = max(1, round(competitor.base_bid * scale))
            self.sandbox.market._cache_block = -1  # competitor bids are cached per 30-minute block

    # --- reads ----------------------------------------------------------------------------------

    def _truth(self, day: date, item: Item | None) -> list[float]:
        """The market's own counters of the day, of the campaign or of one item."""
        rows = self.sandbox.market.day_rows(self.campaign.id, day)
        total = [0.0] * 8
        for (product_id, cluster_id), values in rows.items():
            if item is not None:
                if product_id != item.product.id:
                    continue
                if item.cluster is not None and cluster_id != item.cluster.id:
                    continue
            for i, v in enumerate(values):
                total[i] += v
        return total

    def _counters(self, day: date, item: Item | None) -> Counters:
        total = self._truth(day, item)
        revenue = int(total[REVENUE]) if self.conditions.revenue and self.rules.reports_revenue else 0
        return (int(total[VIEWS]), int(total[CLICKS]), int(total[ORDERS]), int(total[SPEND]), revenue)

    def _snapshot(self, now: datetime) -> None:
        day = moscow_today(now)
        self.snapshots.setdefault((1, None), []).append((now, day, self._counters(day, None)))
        for item in self.items:
            self.snapshots.setdefault((1, item.row.id), []).append((now, day, self._counters(day, item)))

    def _as_of(
        self, key: tuple[int, int | None], moment: datetime
    ) -> tuple[dict[date, Counters], datetime | None]:
        """Per Moscow day, the newest snapshot at or before `moment`."""
        found: dict[date, Counters] = {}
        newest = None
        for taken, day, counters in self.snapshots.get(key, []):
            if taken <= moment:
                found[day] = counters
                newest = taken
        return found, newest

    def _period(
        self, key: tuple[int, int | None], now: datetime, hours: float, lag: timedelta
    ) -> PeriodStats | None:
        """Today's counters and the recent window, as bid_cycle.inputs computes them."""
        at_now, collected = self._as_of(key, now)
        if collected is None:
            return None
        start = now - timedelta(hours=hours)
        at_start, _ = self._as_of(key, start)
        first = moscow_today(start)
        base = at_start.get(first, (0, 0, 0, 0, 0))
        total = [0, 0, 0, 0, 0]
        for day, counters in at_now.items():
            if day >= first:
                for i, value in enumerate(counters):
                    total[i] += value
        window = tuple(max(0, t - b) for t, b in zip(total, base, strict=True))
        settled_at = now - lag
        settled = 0
        if settled_at > start:
            at_settled, _ = self._as_of(key, settled_at)
            spent = sum(c[3] for d, c in at_settled.items() if d >= first)
            settled = max(0, spent - base[3])
        return PeriodStats(
            views=window[0],
            clicks=window[1],
            orders=window[2],
            spend=window[3],
            revenue=window[4],
            collected_at=collected,
            spend_settled=min(settled, window[3]),
        )

    def _today(self, key: tuple[int, int | None], now: datetime) -> PeriodStats | None:
        found, collected = self._as_of(key, now)
        counters = found.get(moscow_today(now))
        if counters is None or collected is None:
            return None
        views, clicks, orders, spend, revenue = counters
        return PeriodStats(
            views=views, clicks=clicks, orders=orders, spend=spend, revenue=revenue, collected_at=collected
        )

    def _competitors(self, item: Item, now: datetime) -> CompetitorBids | None:
        marketplace = self.campaign.marketplace
        if self.conditions.watcher:
            if item.row.kind == "cluster":
                answer = self.watcher.bids_for(marketplace.long_name, item.row.keyword, None, now)
            else:
                answer = self.watcher.bids_for(marketplace.long_name, None, item.row.product_id, now)
            parsed = parse_answer(marketplace.value, item.row.external_id, answer)
            if parsed.has_data:
                return parsed
        return self._recommendations(item, now)

    def _recommendations(self, item: Item, now: datetime) -> CompetitorBids | None:
        """The marketplace's own signal, as its adapter parses it."""
        marketplace = self.campaign.marketplace
        if marketplace == Marketplace.WB:
            body = self.wb.recommendation_body(self.campaign, item.product.id, now)
            query = item.cluster.text if item.cluster is not None else None
            bids, positions = _levels(body, query)
        elif marketplace == Marketplace.OZON:
            bids, positions = (self.ozon.competitive_bid(self.campaign, item.product, now),), (None,)
        else:
            (parsed,) = parse_recommendations([self.ym._recommendation(item.product, now)])
            bids, positions = parsed.bids_by_position, parsed.positions
        if not bids:
            return None
        return CompetitorBids(
            marketplace.value,
            item.row.external_id,
            bids,
            None,
            "marketplace_recommendation",
            now,
            None,
            positions=positions,
        )

    def _min_bid(self, item: Item) -> int:
        if self.campaign.marketplace == Marketplace.WB:
            placement = "search" if item.placement in ("cluster", "combined") else item.placement
            low = WildberriesApi.min_bid(self.campaign.payment_type, placement, item.product)
            return self.rules.min_bid(self.unit, low).amount
        if self.campaign.marketplace == Marketplace.OZON:
            return self.ozon.min_bid(self.campaign, item.product)
        return self.rules.min_bid(self.unit).amount

    # --- the cycle ------------------------------------------------------------------------------

    def _cycle(self, n: int, now: datetime, result: BacktestResult) -> None:
        lag = self.rules.order_attribution_lag
        campaign_today = self._today((1, None), now)
        spend_points = [
            (t.timestamp(), c[3]) for t, d, c in self.snapshots.get((1, None), []) if d == moscow_today(now)
        ]
        self.row.spent_today = campaign_today.spend if campaign_today else 0
        self.row.spent_updated_at = campaign_today.collected_at if campaign_today else None
        self.row.status = "active" if not self._campaign_paused() else "paused"
        current: dict[tuple[str, str], int] = {}
        competitors: dict[tuple[str, str], CompetitorBids] = {}
        today: dict[tuple[int, int | None], PeriodStats] = {}
        window: dict[tuple[int, int | None], PeriodStats] = {}
        for item in self.items:
            row = item.row
            row.current_bid = current_bid(self.campaign, item)
            row.min_bid = self._min_bid(item)
            if row.current_bid is not None:
                current[row.key] = row.current_bid
            answer = self._competitors(item, now)
            if answer is not None:
                competitors[row.key] = answer
            stats_today = self._today((1, row.id), now)
            stats_window = self._period((1, row.id), now, 24, lag)
            if stats_today is not None:
                today[(1, row.id)] = stats_today
            if stats_window is not None:
                window[(1, row.id)] = stats_window
        if campaign_today is not None:
            today[(1, None)] = campaign_today
        self.row.keywords = [i.row for i in self.items]
        readings = AccountReadings(
            account_id=1,
            marketplace=self.campaign.marketplace.value,
            now=now,
            campaigns=[self.row] if self.row.status == "active" else [],
            today=today,
            window=window,
            usual={},
            previous={kid: bids[-2] for kid, bids in self.history.items() if len(bids) >= 2},
            bases=dict(self.bases),
            spend_rates={1: spend_rate(spend_points)},
            market=MarketView(current=current, competitors=competitors),
        )
        self.engine.bounds_of.clear()
        plan = self.planner.plan(readings)
        self.bounds = dict(self.engine.bounds_of)
        if self.shadow is not None:
            self.shadow.decide(self.planner, readings)
        self._apply(plan, now)
        # Where the bids stood once they had taken effect (after WB's tick, YM's delay).
        settled = now + timedelta(minutes=3)
        self.sandbox.clock.set_time(settled)
        self.sandbox.market.advance_to(settled)
        self._record(n, now, settled, plan, result)

    def _campaign_paused(self) -> bool:
        status = self.campaign.status
        if self.campaign.marketplace == Marketplace.YM:
            return self.row.status == "paused" and self.row.paused_reason is not None
        return status not in ("9", "CAMPAIGN_STATE_RUNNING", "ACTIVE")

    def _top_needed(self, item: Item, now: datetime) -> int | None:
        """What position 1 costs now in the item's auctions, in the keyword's unit: the best
        competitor's bid (as the marketplace ranks it) converted, plus the smallest step."""
        market = self.sandbox.market
        tops = [max(market.competitor_bids(c, now), default=0) for c in item.clusters]
        if not tops:
            return None
        top = max(tops)
        step = self.rules.min_change(self.unit).amount
        if self.unit == BidUnit.PER_CLICK:
            return math.ceil(top / (BASE_CTR * item.product.quality * 1000)) + step
        return top + step

    def _positions(self, item: Item, now: datetime) -> list[int]:
        market = self.sandbox.market
        out = []
        for entry in self._entries(item):
            out.append(market.position(entry, now))
        return out

    def _entries(self, item: Item) -> Iterator[AuctionEntry]:
        for entry in self.sandbox.market.entries(self.campaign):
            if entry.product.id != item.product.id:
                continue
            if item.cluster is not None and entry.cluster.id != item.cluster.id:
                continue
            if item.placement == "recommendations" and entry.cluster.placement != "recommendations":
                continue
            if item.placement not in ("recommendations",) and entry.cluster.placement != "search":
                continue
            yield entry

    def _record(
        self, n: int, now: datetime, settled: datetime, plan: CyclePlan, result: BacktestResult
    ) -> None:
        sent = {bid.keyword_id: bid.new_bid.amount for bid in plan.bids}
        paused = {p.keyword.id for p in plan.keyword_pauses}
        dayparting = getattr(self._strategy(), "dayparting", None)
        local = to_moscow(now)
        factor = Fraction(dayparting.multiplier(local.hour, local.weekday())) if dayparting else Fraction(1)
        for item in self.items:
            row = item.row
            decision = plan.decisions.get(row.id)
            truth = self._truth(moscow_today(now), item)
            bounds = self.bounds.get(row.id)
            result.keywords.append(
                KeywordCycle(
                    cycle=n,
                    keyword_id=row.id,
                    unit=self.unit,
                    bid_before=row.current_bid,
                    sent=sent.get(row.id),
                    paused=row.id in paused,
                    min_bid=row.min_bid or 0,
                    max_bid=self.variant.max_bid,
                    top_needed=self._top_needed(item, now),
                    multiplier=factor,
                    positions=self._positions(item, settled),
                    reason=decision.reason if decision else "",
                    goal=math.floor(decision.target_bid.amount * factor)
                    if decision is not None and decision.target_bid is not None
                    else None,
                    spend_today=truth[SPEND],
                    revenue_today=truth[REVENUE],
                    undayparted=self.shadow.current.get(row.key) if self.shadow is not None else None,
                    low=bounds[0].amount if bounds else None,
                    high=bounds[1].amount if bounds and bounds[1] is not None else None,
                )
            )
            if row.current_bid is not None and (
                not self.history.get(row.id) or self.history[row.id][-1] != row.current_bid
            ):
                self.history.setdefault(row.id, []).append(row.current_bid)
        totals = self.sandbox.market.totals(self.campaign.id, moscow_today(now))
        stopped = self._campaign_paused()
        result.cycles.append(
            CycleTotals(n, now, totals[SPEND], totals[REVENUE], self.variant.daily_limit, stopped)
        )

    def _strategy(self) -> Any:
        return parse_strategy_params(self.variant.strategy_type, self.variant.strategy_params, self.unit)

    # --- writes ---------------------------------------------------------------------------------

    def _delay(self, now: datetime) -> datetime:
        if self.campaign.marketplace == Marketplace.WB:
            return datetime.fromtimestamp(
                (math.floor(now.timestamp() / WB_BID_TICK_S) + 1) * WB_BID_TICK_S, UTC
            )
        if self.campaign.marketplace == Marketplace.YM:
            return now + timedelta(seconds=YM_BID_DELAY_S)
        return now

    def _apply(self, plan: CyclePlan, now: datetime) -> None:
        by_id = {i.row.id: i for i in self.items}
        effective = self._delay(now)
        for bid in plan.bids:
            item = by_id[bid.keyword_id]
            held = self.campaign.items.get(item.product.id)
            if held is None:
                continue
            self.sandbox.market.schedule(effective, _setter(held, item, bid.new_bid.amount))
            self.history.setdefault(item.row.id, []).append(bid.new_bid.amount)
            remember(self.bases, bid)
        for pause in plan.keyword_pauses:
            item = by_id[pause.keyword.id]
            self._pause_item(item, pause.mode)
        for campaign_pause in plan.campaign_pauses:
            self.row.paused_reason = "budget_exceeded" if campaign_pause.for_budget else "safety"
            if self.campaign.marketplace == Marketplace.WB:
                self.campaign.status = "11"
            elif self.campaign.marketplace == Marketplace.OZON:
                self.campaign.status = "CAMPAIGN_STATE_INACTIVE"
            else:
                self.row.status = "paused"
                for item in self.items:
                    self._pause_item(item, PauseMode.ZERO_BID)

    def _pause_item(self, item: Item, mode: PauseMode) -> None:
        held = self.campaign.items.get(item.product.id)
        item.row.status = "paused"
        if held is None:
            return
        if mode == PauseMode.MINUS_PHRASE and item.cluster is not None:
            held.minus_phrases.append(item.cluster.text)
        elif mode == PauseMode.REMOVE_ITEM:
            self.campaign.items.pop(item.product.id, None)
        elif mode == PauseMode.ZERO_BID:
            held.bids["boost"] = 0


class RecordingEngine(BidEngine):
    """The engine the cycle runs, keeping each keyword's limits of the last decision."""

    def __init__(self) -> None:
        self.bounds_of: dict[int, tuple[Bid, Bid | None]] = {}

    def calculate_bid(self, ctx: KeywordBidContext) -> BidDecision:
        self.bounds_of[ctx.keyword_id] = self.bounds(ctx)
        return super().calculate_bid(ctx)


def remember(bases: dict[int, tuple[int, int]], bid: PlannedBid) -> None:
    """Keep the level a sent bid stands for, as the bid history does (bid_apply)."""
    if bid.base_bid is not None:
        bases[bid.keyword_id] = (bid.new_bid.amount, bid.base_bid.amount)
    else:
        bases.pop(bid.keyword_id, None)


class Shadow:
    """The same campaign without dayparting, deciding every cycle from the dayparted run's own
    readings (stats, competitors, limits) and keeping its own bids as if each were applied at once.
    The dayparted bid is judged against it × the multiplier: the same data, only the schedule
    differs (the safety matrix's dayparting invariant)."""

    def __init__(self, strategy_params: dict[str, Any]) -> None:
        self.params = {k: v for k, v in strategy_params.items() if k != "dayparting"}
        self.current: dict[tuple[str, str], int] = {}
        self.before: dict[tuple[str, str], int] = {}  # the shadow's bids as the cycle started
        self.history: dict[int, list[int]] = {}
        self.bases: dict[int, tuple[int, int]] = {}

    def decide(self, planner: AccountPlanner, readings: AccountReadings) -> None:
        for key, value in readings.market.current.items():
            self.current.setdefault(key, value)  # starts where the real campaign starts
        self.before = dict(self.current)
        if not readings.campaigns:
            return
        ours = replace(
            readings,
            campaigns=[replace(c, strategy_params=self.params) for c in readings.campaigns],
            previous={kid: bids[-2] for kid, bids in self.history.items() if len(bids) >= 2},
            bases=dict(self.bases),
            market=replace(readings.market, current=dict(self.current)),
        )
        for bid in planner.plan(ours).bids:
            history = self.history.setdefault(bid.keyword_id, [self.before.get(bid.key, 0)])
            history.append(bid.new_bid.amount)
            self.current[bid.key] = bid.new_bid.amount
            remember(self.bases, bid)


def _setter(held: CampaignItem, item: Item, value: int) -> Callable[[], None]:
    def apply() -> None:
        if item.placement == "cluster" and item.cluster is not None:
            held.cluster_bids[item.cluster.id] = value
        else:
            held.bids[item.placement] = value

    return apply
