"""The auction model: bids and competitors' bids → positions → views → clicks → add-to-carts →
orders → revenue and spend, accumulated per Moscow day.

The simulation is lazy: nothing runs in the background. Every API call first brings the market up to
the clock's "now" by simulating the elapsed virtual time in segments (cut at 30-minute competitor
blocks — hours and Moscow midnight fall on them — and at the moments pending bid changes take
effect). A segment uses expected values, so results depend only on the world, the seed and the
virtual times of the calls (issue 3: same seed → same results for the same calls).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.core.marketplaces import Marketplace
from app.sandbox.clock import MOSCOW, VirtualClock, moscow_date
from app.sandbox.world import Campaign, CampaignItem, Cluster, Product, World

# Competitor bids are piecewise constant over 30-minute blocks; Moscow hours and midnight (UTC+3)
# fall on block boundaries, so one segment never spans two hours or two business days.
BLOCK_S = 1800
# Demand by Moscow hour (evening peak) and by weekday (Mon..Sun, weekend peak), relative to peak.
HOUR_PROFILE = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.10, 0.20, 0.35, 0.50, 0.65, 0.75, 0.80,
    0.85, 0.85, 0.85, 0.85, 0.90, 0.95, 1.00, 1.00, 1.00, 0.95, 0.70, 0.45,
)  # fmt: skip
WEEKDAY_PROFILE = (0.95, 0.95, 0.95, 1.0, 1.0, 1.1, 1.15)
# Funnel rates (plausible marketplace averages): click-through at top positions, add-to-cart per
# click, order per add-to-cart, units per order.
BASE_CTR = 0.03
ATB_RATE = 0.09
ORDER_RATE = 0.33
UNITS_PER_ORDER = 1.08
MAX_SHOWN_POSITION = 60
# Segments shorter than this are not simulated on a read (they are folded into the next one).
MIN_STEP_S = 1.0

# Counter slots of one (campaign, product, cluster, day) row; POS_VIEWS is position × views, so
# that average positions are view-weighted. Money slots are kopecks.
VIEWS, CLICKS, ATBS, ORDERS, SHKS, REVENUE, SPEND, POS_VIEWS = range(8)
SLOTS = 8


def view_share(position: int) -> float:
    """Share of a query's views that reach the ad at `position` (1 = top)."""
    if position > MAX_SHOWN_POSITION:
        return 0.0
    return 1.0 / (1.0 + 0.3 * (position - 1))


def click_through(position: int, quality: float, placement: str) -> float:
    rank = 1.5 if position <= 3 else 1.0 if position <= 10 else 0.6
    return BASE_CTR * quality * rank * (0.5 if placement == "recommendations" else 1.0)


def _noise(*key: int) -> float:
    """Deterministic noise in [-1, 1] from integers (splitmix64 mixing: stable across processes and
    Python versions, unlike hash())."""
    mask = 0xFFFFFFFFFFFFFFFF
    h = 0
    for part in key:
        h = (h ^ (part & mask)) + 0x9E3779B97F4A7C15 & mask
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & mask
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & mask
        h ^= h >> 31
    return (h / mask) * 2.0 - 1.0


@dataclass(order=True, slots=True)
class _Pending:
    effective_at: datetime
    seq: int
    apply: Callable[[], None] = field(compare=False)


@dataclass(slots=True)
class AuctionEntry:
    """One auction entry of a campaign item in a cluster at a moment."""

    campaign: Campaign
    item: CampaignItem
    product: Product
    cluster: Cluster
    effective_bid: float  # comparable with competitors' bids
    charge_bid: int  # what one unit (1000 views / click / order fraction) costs, API units


class Market:
    """Simulates the world forward; owns the counters and the pending bid changes."""

    def __init__(self, world: World, clock: VirtualClock, history_days: float = 0.0) -> None:
        self.world = world
        self.clock = clock
        # A world may start with some past: the first sync simulates `history_days` before "now" so
        # that statistics, cluster lists and positions have data from the first call.
        self.sim_time = clock.now() - timedelta(days=history_days)
        self._pending: list[_Pending] = []
        self._seq = itertools.count()
        # campaign id -> Moscow day -> (product id, cluster id) -> counters
        self.stats: dict[int, dict[date, dict[tuple[int, int], list[float]]]] = {}
        self.daily_spend: dict[tuple[int, date], float] = {}
        self._block_cache: dict[int, list[int]] = {}
        self._cache_block = -1
        self.spend_frac: dict[int, float] = {}

    # ---- time ------------------------------------------------------------------------------------

    def sync(self) -> datetime:
        """Bring the market up to the clock's now; every API handler calls this first."""
        now = self.clock.now()
        self.advance_to(now)
        return now

    def schedule(self, effective_at: datetime, apply: Callable[[], None]) -> None:
        """Run `apply` when virtual time reaches `effective_at` (documented propagation delays)."""
        heapq.heappush(self._pending, _Pending(effective_at, next(self._seq), apply))

    def advance_to(self, target: datetime) -> None:
        while self._pending and self._pending[0].effective_at <= target:
            change = heapq.heappop(self._pending)
            self._simulate(change.effective_at, force=True)
            change.apply()
        self._simulate(target, force=False)

    def _simulate(self, target: datetime, *, force: bool) -> None:
        if target <= self.sim_time:
            return
        if not force and (target - self.sim_time).total_seconds() < MIN_STEP_S:
            return
        t = self.sim_time
        while t < target:
            block_end = datetime.fromtimestamp((math.floor(t.timestamp() / BLOCK_S) + 1) * BLOCK_S, UTC)
            end = min(block_end, target)
            self._segment(t, end)
            t = end
        self.sim_time = target

    # ---- the auction -----------------------------------------------------------------------------

    def competitor_quotes(self, cluster: Cluster, moment: datetime) -> list[tuple[str, int]]:
        """(seller, bid) of every competitor in `cluster` at `moment`; bids drift on a daily cycle
        with seeded jitter and are constant within a 30-minute block."""
        block = math.floor(moment.timestamp() / BLOCK_S)
        out = []
        for k, comp in enumerate(cluster.competitors):
            cycle = math.sin(2 * math.pi * block * BLOCK_S / comp.period_s + comp.phase)
            jitter = 0.08 * _noise(self.world.seed, cluster.id, k, block)
            out.append((comp.seller, max(1, int(comp.base_bid * (1 + comp.amplitude * cycle + jitter)))))
        return out

    def competitor_bids(self, cluster: Cluster, moment: datetime) -> list[int]:
        """Competitors' bids in `cluster` at `moment`, ascending (cached per block)."""
        block = math.floor(moment.timestamp() / BLOCK_S)
        if block != self._cache_block:
            self._block_cache = {}
            self._cache_block = block
        cached = self._block_cache.get(cluster.id)
        if cached is None:
            cached = sorted(bid for _seller, bid in self.competitor_quotes(cluster, moment))
            self._block_cache[cluster.id] = cached
        return cached

    def position(self, entry: AuctionEntry, moment: datetime) -> int:
        """1 + the number of competitors whose bid beats ours (ties go to the incumbent)."""
        bids = self.competitor_bids(entry.cluster, moment)
        return 1 + len(bids) - bisect.bisect_right(bids, entry.effective_bid)

    def is_serving(self, campaign: Campaign, day: date) -> bool:
        if campaign.marketplace == Marketplace.WB:
            return campaign.status == "9" and campaign.budget_kopecks > 0
        if campaign.marketplace == Marketplace.OZON:
            return campaign.status == "CAMPAIGN_STATE_RUNNING" and self.available_budget(campaign, day) > 0
        return campaign.status == "ACTIVE"

    def available_budget(self, campaign: Campaign, day: date) -> float:
        """Kopecks the campaign may still spend today (inf = no limit)."""
        if campaign.marketplace == Marketplace.WB:
            available = campaign.budget_kopecks - self.spend_frac.get(campaign.id, 0.0)
        elif campaign.marketplace == Marketplace.OZON and campaign.budget_kopecks > 0:
            available = campaign.budget_kopecks - campaign.spent_total
        else:
            available = math.inf
        if campaign.daily_budget_kopecks > 0:
            today = campaign.daily_budget_kopecks - self.daily_spend.get((campaign.id, day), 0.0)
            available = min(available, today)
        return max(0.0, available)

    def entries(self, campaign: Campaign) -> Iterator[AuctionEntry]:
        """Every (item, cluster) auction entry a campaign takes part in, with its effective bid."""
        for item in campaign.items.values():
            product = self.world.products.get(item.product_id)
            if product is None:
                continue
            for cluster_id in product.cluster_ids:
                cluster = self.world.clusters[cluster_id]
                entry = self._entry(campaign, item, product, cluster)
                if entry is not None:
                    yield entry

    def _entry(
        self, campaign: Campaign, item: CampaignItem, product: Product, cluster: Cluster
    ) -> AuctionEntry | None:
        mp = campaign.marketplace
        if mp == Marketplace.WB:
            if cluster.text in item.minus_phrases:
                return None
            if cluster.placement == "search":
                if not campaign.placements.get("search", True) and campaign.bid_type == "manual":
                    return None
                bid = (
                    item.cluster_bids.get(cluster.id) or item.bids.get("search") or item.bids.get("combined")
                )
            else:
                if not campaign.placements.get("recommendations") and campaign.bid_type == "manual":
                    return None
                bid = item.bids.get("recommendations") or item.bids.get("combined")
            if not bid:
                return None
            if campaign.payment_type == "cpc":
                # A CPC bid competes by its expected value per 1000 views.
                effective = bid * BASE_CTR * product.quality * 1000
            else:
                effective = float(bid)
            return AuctionEntry(campaign, item, product, cluster, effective, bid)
        if mp == Marketplace.OZON:
            if campaign.payment_type == "CPC":
                bid = item.bids.get("cpc", 0)
                effective = bid * BASE_CTR * product.quality * 1000
            elif campaign.payment_type == "CPM":
                bid = item.bids.get("cpm", 0)
                effective = float(bid)
            else:
                bid = item.bids.get("cpo", 0)
                effective = product.price_kopecks * bid / 10_000 * BASE_CTR * ATB_RATE * ORDER_RATE * 1000
            return AuctionEntry(campaign, item, product, cluster, effective, bid) if bid else None
        bid = item.bids.get("boost", 0)
        return AuctionEntry(campaign, item, product, cluster, float(bid), bid) if bid else None

    # ---- one segment -----------------------------------------------------------------------------

    def _segment(self, start: datetime, end: datetime) -> None:
        hours = (end - start).total_seconds() / 3600.0
        local = start.astimezone(MOSCOW)
        demand = HOUR_PROFILE[local.hour] * WEEKDAY_PROFILE[local.weekday()] * hours
        day = local.date()
        for campaign in self.world.campaigns.values():
            if not self.is_serving(campaign, day):
                continue
            rows: list[tuple[AuctionEntry, list[float]]] = []
            planned = 0.0
            for entry in self.entries(campaign):
                pos = self.position(entry, start)
                views = entry.cluster.views_per_hour * demand * view_share(pos)
                if views <= 0:
                    continue
                clicks = views * click_through(pos, entry.product.quality, entry.cluster.placement)
                atbs = clicks * ATB_RATE
                orders = atbs * ORDER_RATE
                shks = orders * UNITS_PER_ORDER
                revenue = shks * entry.product.price_kopecks
                spend = self._spend(campaign, entry, views, clicks, revenue)
                planned += spend
                rows.append((entry, [views, clicks, atbs, orders, shks, revenue, spend, pos * views]))
            if not rows:
                continue
            available = self.available_budget(campaign, day)
            scale = 1.0
            if planned > available:
                # The budget runs out inside this segment: the ads stop when it reaches zero.
                scale = available / planned if planned > 0 else 0.0
            self._record(campaign, day, rows, scale)
            self._charge(campaign, day, planned * scale, exhausted=planned > available)

    def _spend(
        self, campaign: Campaign, entry: AuctionEntry, views: float, clicks: float, revenue: float
    ) -> float:
        payment = campaign.payment_type.lower()
        if payment == "cpm":
            return views / 1000.0 * entry.charge_bid
        if payment == "cpc":
            return clicks * entry.charge_bid
        # CPO (Ozon pay-per-order, YM boost): percent of the order value, bid = percent × 100.
        return revenue * entry.charge_bid / 10_000

    def _record(
        self, campaign: Campaign, day: date, rows: list[tuple[AuctionEntry, list[float]]], scale: float
    ) -> None:
        by_day = self.stats.setdefault(campaign.id, {}).setdefault(day, {})
        for entry, values in rows:
            key = (entry.product.id, entry.cluster.id)
            counters = by_day.get(key)
            if counters is None:
                counters = by_day[key] = [0.0] * SLOTS
            for i, v in enumerate(values):
                counters[i] += v * scale

    def _charge(self, campaign: Campaign, day: date, amount: float, *, exhausted: bool) -> None:
        campaign.spent_total += amount
        self.daily_spend[(campaign.id, day)] = self.daily_spend.get((campaign.id, day), 0.0) + amount
        if campaign.marketplace == Marketplace.WB:
            frac = self.spend_frac.get(campaign.id, 0.0) + amount
            whole = min(int(frac), campaign.budget_kopecks)
            campaign.budget_kopecks -= whole
            self.spend_frac[campaign.id] = frac - whole
            if exhausted and campaign.budget_kopecks <= 0:
                campaign.budget_kopecks = 0
                self.spend_frac[campaign.id] = 0.0
                campaign.status = "11"  # WB pauses a campaign whose budget ran out
        elif (
            campaign.marketplace == Marketplace.OZON
            and exhausted
            and 0 < campaign.budget_kopecks <= campaign.spent_total + 1e-6
        ):
            campaign.status = "CAMPAIGN_STATE_STOPPED"  # "stopped: budget exhausted" (spec)

    # ---- reads -----------------------------------------------------------------------------------

    def day_rows(self, campaign_id: int, day: date) -> dict[tuple[int, int], list[float]]:
        return self.stats.get(campaign_id, {}).get(day, {})

    def totals(self, campaign_id: int, day: date, product_id: int | None = None) -> list[float]:
        out = [0.0] * SLOTS
        for (pid, _cid), values in self.day_rows(campaign_id, day).items():
            if product_id is None or pid == product_id:
                for i, v in enumerate(values):
                    out[i] += v
        return out

    def totals_by_product(self, campaign_id: int, day: date) -> dict[int, list[float]]:
        """One day's counters of a campaign summed over clusters, per product."""
        out: dict[int, list[float]] = {}
        for (pid, _cid), values in self.day_rows(campaign_id, day).items():
            acc = out.get(pid)
            if acc is None:
                acc = out[pid] = [0.0] * SLOTS
            for i, v in enumerate(values):
                acc[i] += v
        return out

    def days(self, start: date, end: date) -> list[date]:
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]

    def today(self) -> date:
        return moscow_date(self.sim_time)
