"""The closed-loop safety matrix (issue 9, Deliver 5): every marketplace × campaign type the cycle
bids on × strategy × dayparting × data condition, a simulated day of cycles each against the
sandbox's market model (app/sandbox/backtest.py), and the invariants checked after every cycle.

Invariants (`check`), each with its margin (how far from failing; negative = violated):

1. **limits** — every bid sent lies in [the marketplace's minimum for the item, the campaign's
   max_bid];
2. **overbid** — no bid above 1.5 × what position 1 needs at that moment (the market's truth);
3. **change** — the change per cycle within `max_change_pct` of the current bid (or the smallest
   step), unless it brings the bid inside a limit;
4. **budget** — the campaign's spend never above its daily limit;
5. **untouched** — a keyword fixed by hand and a paused keyword are never sent a bid or paused;
6. **position** — target position reached and held in ≥ 80 % of the second half's auctions, while
   the campaign serves and where the data allows it (a positional price signal);
7. **drr** — target DRR within ±25 % over the second half, where the market allows it (revenue
   reported, bids not pinned at a limit);
8. **oscillation** — the bid reverses direction a bounded number of times;
9. **dayparting** — at the end of every stretch of one multiplier, the bid is where the same
   strategy without dayparting has it (deciding from the same readings) times the multiplier,
   inside the engine's limits: once back at ×1 it is back at the undayparted level (no residue of
   the night or the peak), and a multiplier applies once, never compounding.

Campaign parameters are sized from a probe day of each campaign at its own bids (`fixed`): the
daily limit at 1.5 × that day's spend, so that it binds for strategies that spend more; max_bid at
2 × the highest price of position 1 seen; DRR and CPO targets at 1.3 × the probe's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.money import BidUnit
from app.sandbox.backtest import Backtest, BacktestResult, Conditions, KeywordCycle, Variant, campaign_shape
from app.sandbox.world import WorldSize, build_world
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.bid_engine import OVERBID_FACTOR

CONDITIONS = (
    Conditions("normal"),
    Conditions("no_watcher", watcher=False),
    Conditions("stale_stats", stale=(20, 40)),
    Conditions("no_revenue", revenue=False),
    Conditions("spike_x5", spike=(30, 34, 5.0)),
)
STRATEGIES = ("target_position", "target_drr", "target_cpo", "max_traffic", "fixed")
# A strong day/night profile with two long stretches at ×1 to come back in (06–11, 18–23 Moscow).
DAYPARTING = {"hours": {"0-5": 0.5, "12-17": 1.6}}
MAX_CHANGE_PCT = 30
POSITION = 2
# Sustained oscillation: reversals of the bid beyond those of the level it aims for.
EXTRA_REVERSALS = 2
DRR_TOLERANCE = 0.25
DAYPART_TOLERANCE = 0.15
RECOVERY_CYCLES = 4  # 30 % a cycle doubles a bid in three


@dataclass(frozen=True)
class Shape:
    marketplace: str
    campaign_type: str
    payment_type: str | None

    def __str__(self) -> str:
        return f"{self.marketplace}/{self.campaign_type}/{self.payment_type}"


@dataclass(frozen=True)
class Combination:
    shape: Shape
    campaign_id: int
    strategy: str
    dayparting: bool
    conditions: Conditions

    def __str__(self) -> str:
        day = "daypart" if self.dayparting else "flat"
        return f"{self.shape} {self.strategy} {day} {self.conditions.name}"


@dataclass
class Outcome:
    combination: Combination
    margins: dict[str, float] = field(default_factory=dict)  # invariant → worst margin (< 0 violated)
    max_bid_to_needed: float = 0.0
    drr_error: float | None = None
    result: BacktestResult | None = None

    @property
    def violations(self) -> list[str]:
        return [name for name, margin in self.margins.items() if margin < 0]


def campaigns_of(seed: int, size: str | WorldSize) -> dict[Shape, int]:
    """The first running campaign of every shape the cycle bids on, in the seeded world."""
    world = build_world(seed, size if isinstance(size, WorldSize) else WorldSize.preset(size))
    found: dict[Shape, int] = {}
    for campaign in sorted(world.campaigns.values(), key=lambda c: c.id):
        if campaign.status not in ("9", "CAMPAIGN_STATE_RUNNING", "ACTIVE") or not campaign.items:
            continue
        campaign_type, payment_type = campaign_shape(campaign)
        rules = rules_for(campaign.marketplace)
        if rules.campaign_unit(campaign_type, payment_type) is None:
            continue
        found.setdefault(Shape(campaign.marketplace.value, campaign_type, payment_type), campaign.id)
    return found


@dataclass(frozen=True)
class Probe:
    spend: float
    drr_pct: float | None
    cpo: float | None
    top_needed: int
    unit: BidUnit


def probe(campaign_id: int, seed: int, size: str | WorldSize, cycles: int) -> Probe:
    result = Backtest(campaign_id, Variant("probe", "fixed", {}), seed=seed, size=size, cycles=cycles).run()
    tops = [k.top_needed for k in result.keywords if k.top_needed]
    cpo = result.spend / result.orders if result.orders else None
    return Probe(result.spend, result.drr_pct, cpo, max(tops, default=0), result.unit)


def variant_for(strategy: str, dayparting: bool, found: Probe) -> Variant:
    """The strategy's parameters sized from the probe day, in the campaign's unit."""
    common: dict[str, Any] = {"max_change_pct": MAX_CHANGE_PCT}
    if dayparting:
        common["dayparting"] = DAYPARTING
    max_bid = max(2 * found.top_needed, rules_for_unit_floor(found.unit))
    limit = max(int(found.spend * 1.5), 10_000)
    params: dict[str, Any]
    if strategy == "target_position":
        params = {"position": POSITION}
    elif strategy == "max_traffic":
        params = {"bid_cap": max(found.top_needed * 2, rules_for_unit_floor(found.unit))}
    elif strategy == "target_drr":
        params = {"target_drr_pct": round(max(found.drr_pct or 5.0, 1.0) * 1.3, 1)}
    elif strategy == "target_cpo":
        if found.unit == BidUnit.PRICE_SHARE:
            params = {"target_cpo_pct": round(max(found.drr_pct or 5.0, 1.0) * 1.3, 1)}
        else:
            params = {"target_cpo": max(int((found.cpo or 50_000) * 1.3), 100)}
    else:
        return Variant(strategy, "fixed", {}, max_bid=max_bid, daily_limit=limit)
    return Variant(strategy, strategy, {**common, **params}, max_bid=max_bid, daily_limit=limit)


def rules_for_unit_floor(unit: BidUnit) -> int:
    return 1_000 if unit == BidUnit.PRICE_SHARE else 20_000


def combinations(shapes: dict[Shape, int], strategies: tuple[str, ...] = STRATEGIES) -> Iterator[Combination]:
    for shape, campaign_id in shapes.items():
        for strategy in strategies:
            for conditions in CONDITIONS:
                for dayparting in (False, True):
                    if strategy == "fixed" and dayparting:
                        continue  # dayparting is a strategy parameter; fixed has none
                    yield Combination(shape, campaign_id, strategy, dayparting, conditions)


def run(
    seed: int = 1,
    size: str | WorldSize = "small",
    cycles: int = 96,
    shapes: dict[Shape, int] | None = None,
    strategies: tuple[str, ...] = STRATEGIES,
    conditions: tuple[Conditions, ...] | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Every combination and its outcome."""
    shapes = shapes if shapes is not None else campaigns_of(seed, size)
    probes = {shape: probe(cid, seed, size, cycles) for shape, cid in shapes.items()}
    wanted = conditions or CONDITIONS
    outcomes: list[Outcome] = []
    for combination in combinations(shapes, strategies):
        if combination.conditions not in wanted:
            continue
        variant = variant_for(combination.strategy, combination.dayparting, probes[combination.shape])
        test = Backtest(
            combination.campaign_id, variant, combination.conditions, seed=seed, size=size, cycles=cycles
        )
        items = [i.row.id for i in test.items]
        test.hold_for_the_test(
            fixed=items[-1] if len(items) > 2 else None, paused=items[-2] if len(items) > 3 else None
        )
        outcome = check(combination, test.run())
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes


# --- the invariants -------------------------------------------------------------------------------


def _by_keyword(result: BacktestResult) -> dict[int, list[KeywordCycle]]:
    out: dict[int, list[KeywordCycle]] = {}
    for k in result.keywords:
        out.setdefault(k.keyword_id, []).append(k)
    return out


def check(combination: Combination, result: BacktestResult) -> Outcome:
    outcome = Outcome(combination, result=result)
    rules = rules_for(combination.shape.marketplace)
    unit = result.unit
    step = rules.step(unit)
    min_change = rules.min_change(unit).amount
    margins = outcome.margins
    margins.update(dict.fromkeys(("limits", "overbid", "change", "budget", "untouched"), math.inf))
    positional = has_position_price(combination)
    ratio = 0.0
    for k in result.keywords:
        if k.sent is None:
            continue
        high = min(x for x in (k.max_bid, rules.max_bid(unit).amount) if x is not None)
        margins["limits"] = min(
            margins["limits"], (k.sent - k.min_bid) / max(k.min_bid, 1), (high - k.sent) / high
        )
        if k.top_needed and positional:
            # The guard allows the minimum (on its step) whatever the price of the top.
            allowed = max(math.floor(k.top_needed * OVERBID_FACTOR), math.ceil(k.min_bid / step) * step)
            margins["overbid"] = min(margins["overbid"], (allowed - k.sent) / allowed)
            ratio = max(ratio, k.sent / k.top_needed)
        if k.bid_before:
            bound = max(math.floor(k.bid_before * MAX_CHANGE_PCT / 100), min_change) + step
            correcting = any(
                w in k.reason for w in ("outside the limits", "at most 1.5", "capped", "minimum")
            )
            if not correcting:
                margins["change"] = min(margins["change"], (bound - abs(k.sent - k.bid_before)) / bound)
        if k.keyword_id in (result.fixed_keyword_id, result.paused_keyword_id):
            margins["untouched"] = -1.0
    for k in result.keywords:
        if k.paused and k.keyword_id in (result.fixed_keyword_id, result.paused_keyword_id):
            margins["untouched"] = -1.0
    for cycle in result.cycles:
        if cycle.daily_limit:
            margins["budget"] = min(
                margins["budget"], (cycle.daily_limit - cycle.spend_today) / cycle.daily_limit
            )
    outcome.max_bid_to_needed = ratio
    _position(combination, result, margins)
    _drr(combination, result, outcome)
    _oscillation(combination, result, margins)
    if combination.dayparting:
        _dayparting(result, margins, min_change)
    return outcome


def has_position_price(combination: Combination) -> bool:
    """Whether the data says what position 1 costs: the Watcher, or a marketplace recommendation
    tied to a position (WB's levels, YM's bid for all shows). Ozon's own signal is a competitive
    bid with no position: without the Watcher nothing says what the top costs, so neither the
    engine's guard nor this invariant can hold a bid to it (docs/strategies.md, "The matrix")."""
    return combination.conditions.watcher or combination.shape.marketplace != "ozon"


def _second_half(result: BacktestResult) -> set[int]:
    cycles = len(result.cycles)
    return {c.cycle for c in result.cycles if c.cycle >= cycles // 2 and not c.campaign_paused}


def _position(combination: Combination, result: BacktestResult, margins: dict[str, float]) -> None:
    if combination.strategy != "target_position":
        return
    if not has_position_price(combination):
        return
    serving = _second_half(result)
    held = total = 0
    for k in result.keywords:
        if k.cycle in serving and k.keyword_id not in (result.fixed_keyword_id, result.paused_keyword_id):
            total += len(k.positions)
            held += sum(1 for p in k.positions if p <= POSITION)
    if total:
        margins["position"] = held / total - 0.8


def _drr(combination: Combination, result: BacktestResult, outcome: Outcome) -> None:
    # Dayparting asks for a different DRR by the hour on purpose (×1.6 bids are ×1.6 DRR): the
    # target is judged without it, the return to it by the dayparting invariant.
    if combination.strategy != "target_drr" or combination.dayparting:
        return
    rules = rules_for(combination.shape.marketplace)
    if not combination.conditions.revenue or (
        not rules.reports_revenue and combination.shape.marketplace != "ym"
    ):
        return
    target = float(result.variant.strategy_params["target_drr_pct"])
    tail = _managed_second_half_drr(result)  # from the market's truth
    if tail is None:
        return
    pinned = _pinned_share(result)
    if pinned > 0.5:
        return  # the bids sat at a limit: the market does not allow the target
    error = abs(tail - target) / target
    outcome.drr_error = error
    outcome.margins["drr"] = DRR_TOLERANCE - error


def _managed_second_half_drr(result: BacktestResult) -> float | None:
    """DRR of the second half over the keywords the strategy steers (not the fixed or paused one)."""
    half = len(result.cycles) // 2
    untouched = (result.fixed_keyword_id, result.paused_keyword_id)
    rows = _by_keyword(result)
    spend = revenue = 0.0
    for keyword_id, cycles in rows.items():
        if keyword_id in untouched or len(cycles) <= half:
            continue
        spend += cycles[-1].spend_today - cycles[half].spend_today
        revenue += cycles[-1].revenue_today - cycles[half].revenue_today
    return 100 * spend / revenue if revenue > 0 else None


def _pinned_share(result: BacktestResult) -> float:
    half = len(result.cycles) // 2
    late = [k for k in result.keywords if k.cycle >= half and k.bid_before is not None]
    if not late:
        return 0.0
    rules = rules_for(result.marketplace.value)
    pinned = 0
    for k in late:
        low, high = k.min_bid, min(x for x in (k.max_bid, rules.max_bid(result.unit).amount) if x is not None)
        if k.bid_before is not None and (k.bid_before <= low or k.bid_before >= high):
            pinned += 1
    return pinned / len(late)


LIMITS_IN_REASONS = (
    "at most 1.5",
    "capped",
    "marketplace minimum",
    "marketplace maximum",
    "outside the limits",
)


def _aim(k: KeywordCycle) -> int:
    """Where the bid was meant to go: the strategy's dayparted goal, or the limit that held it."""
    assert k.goal is not None
    return k.sent if k.sent is not None and any(w in k.reason for w in LIMITS_IN_REASONS) else k.goal


def _reversals(values: list[int]) -> int:
    moves = [b - a for a, b in itertools.pairwise(values) if b != a]
    return sum(1 for a, b in itertools.pairwise(moves) if a * b < 0)


def _oscillation(combination: Combination, result: BacktestResult, margins: dict[str, float]) -> None:
    """A bid that follows a moving goal reverses when its goal does; one that oscillates reverses
    more often than its goal (the dayparted level the strategy aims for). At most two more."""
    worst = math.inf
    for cycles in _by_keyword(result).values():
        sent = [(k.sent, _aim(k)) for k in cycles if k.sent is not None and k.goal is not None]
        if len(sent) < 4:
            continue
        bids, goals = [b for b, _ in sent], [g for _, g in sent]
        allowed = _reversals(goals) + EXTRA_REVERSALS
        worst = min(worst, (allowed - _reversals(bids)) / allowed)
    margins["oscillation"] = worst


def _dayparting(result: BacktestResult, margins: dict[str, float], min_change: int) -> None:
    """At the end of every long stretch of one multiplier (its last 12 cycles), the bid is the bid
    of the same strategy without dayparting — deciding from the same readings every cycle
    (backtest.Shadow) — times the multiplier, inside the limits the engine applied; within 15 % (or
    two smallest changes). At ×1 that is the return to the undayparted level; at ×0.5 or ×1.6 it
    says the multiplier applies once and does not compound."""
    stretches = _stretches(sorted({k.cycle for k in result.keywords}), result)
    serving = {c.cycle for c in result.cycles if not c.campaign_paused}
    # Stale stats never raise a bid (the engine's rule 6 comes first) while the undayparted bid
    # had nothing to raise: judge from a few cycles after fresh stats are back.
    stale = result.conditions.stale
    if stale is not None:
        serving -= set(range(stale[0], stale[1] + RECOVERY_CYCLES))
    untouched = (result.fixed_keyword_id, result.paused_keyword_id)
    worst = math.inf
    for first, last in stretches:
        if last - first < 16:
            continue
        for k in result.keywords:
            if not (last - 11 <= k.cycle <= last) or k.cycle not in serving or k.keyword_id in untouched:
                continue
            if k.after is None or k.undayparted is None or k.low is None:
                continue
            low, high = _expected(k, min_change)
            allowed = max(high * DAYPART_TOLERANCE, 2 * min_change)
            miss = max(low - k.after, k.after - high, 0)
            worst = min(worst, (allowed - miss) / allowed)
    margins["dayparting"] = worst


def _expected(k: KeywordCycle, min_change: int) -> tuple[int, int]:
    """Where the dayparted bid belongs: the undayparted bid × the multiplier, inside the engine's
    limits. An undayparted bid held at a limit says only that its level lies beyond it: at the floor
    the level is at most the floor, at a ceiling at least the ceiling."""
    assert k.undayparted is not None and k.low is not None
    top = k.high if k.high is not None else math.inf
    scaled = math.floor(k.undayparted * k.multiplier)
    low, high = scaled, scaled
    if k.undayparted <= k.low + min_change:
        low = k.low
    if k.undayparted >= top - min_change:
        high = int(top)
    low, high = min(low, scaled), max(high, scaled)
    return int(min(max(low, k.low), top)), int(min(max(high, k.low), top))


def _stretches(cycles: list[int], result: BacktestResult) -> list[tuple[int, int]]:
    """Runs of consecutive cycles with one dayparting multiplier."""
    multiplier = {k.cycle: k.multiplier for k in result.keywords}
    out: list[tuple[int, int]] = []
    for cycle in cycles:
        if out and cycle == out[-1][1] + 1 and multiplier[cycle] == multiplier[out[-1][1]]:
            out[-1] = (out[-1][0], cycle)
        else:
            out.append((cycle, cycle))
    return out


def worst_margin(outcome: Outcome) -> tuple[str, float]:
    finite = {k: v for k, v in outcome.margins.items() if math.isfinite(v)}
    if not finite:
        return "-", math.inf
    name = min(finite, key=lambda n: finite[n])
    return name, finite[name]
