"""Side-by-side backtests of strategies for one campaign (issue 9, Deliver 6): the engine of
`adolf-marketing backtest`, on the safety matrix's replay (app/sandbox/backtest.py).

1. **The campaign** is one of ours (`marketing_campaigns.id`) whose account is the sandbox's: its
   external id names the campaign in the sandbox's seeded world, which is generated again here (the
   same seed and size give the same world). Its unit, `max_bid`, `daily_limit` and current strategy
   come from our row; a campaign the world does not have (a real account's) is refused, saying so.
2. **The strategies** are specs: `current` (the campaign's own), `fixed`, a strategy type, or a type
   with parameters — `target_drr:target_drr_pct=8,max_change_pct=20` or
   `target_position:{"position": 2, "dayparting": {"hours": {"0-5": 0.5}}}` — each checked as
   `campaigns set` checks it, in the campaign's unit, before anything runs.
3. **Each spec replays the same days**, from Moscow midnight of `start`, 96 cycles a day, planned by
   the bid cycle's own planner; the totals are the market model's own counters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from app.core.marketplaces import Marketplace
from app.core.money import BidUnit
from app.models.marketing import MarketingCampaign, StrategyType
from app.sandbox.backtest import Backtest, BacktestResult, Variant
from app.sandbox.world import WorldSize, build_world
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.strategies.params import StrategyParamsError, parse_strategy_params

CYCLES_PER_DAY = 96
MAX_DAYS = 14
STRATEGY_TYPES = tuple(StrategyType)


class BacktestError(ValueError):
    """A backtest that cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class StrategySpec:
    label: str
    strategy_type: str
    params: dict[str, Any]


@dataclass(frozen=True)
class CampaignUnderTest:
    """Our campaign and where it lives in the sandbox's world."""

    campaign_id: int
    name: str
    marketplace: Marketplace
    world_campaign_id: int
    unit: BidUnit
    max_bid: int | None
    daily_limit: int | None
    current: StrategySpec
    # Our keywords held out of the strategy (external ids): fixed by hand, or paused.
    fixed: frozenset[str] = frozenset()
    paused: frozenset[str] = frozenset()


def campaign_under_test(session: Session, campaign_id: int, seed: int, size: str) -> CampaignUnderTest:
    row = session.get(MarketingCampaign, campaign_id)
    if row is None:
        raise BacktestError(f"no campaign {campaign_id}; `adolf-marketing campaigns list` shows the ids")
    marketplace = Marketplace.parse(row.marketplace)
    rules = rules_for(marketplace)
    unit = rules.campaign_unit(row.campaign_type, row.payment_type)
    if unit is None:
        why = rules.campaign_not_biddable(row.campaign_type, row.payment_type)
        raise BacktestError(f"campaign {campaign_id}: {why}; no strategy bids on it")
    world = build_world(seed, WorldSize.preset(size))
    found = world.campaigns.get(int(row.external_id)) if row.external_id.isdigit() else None
    if found is None or found.marketplace != marketplace or found.name != row.name:
        raise BacktestError(
            f"campaign {campaign_id} ({row.name!r}) is not in the sandbox world of seed {seed}, size "
            f"{size}: the backtest replays the sandbox's market; give the world's --seed and --size"
        )
    current = StrategySpec(
        f"current ({describe(row.strategy_type, row.strategy_params or {})})",
        row.strategy_type,
        dict(row.strategy_params or {}),
    )
    keywords = row.keywords
    return CampaignUnderTest(
        campaign_id,
        row.name,
        marketplace,
        found.id,
        unit,
        row.max_bid,
        row.daily_limit,
        current,
        fixed=frozenset(k.external_id for k in keywords if k.is_fixed),
        paused=frozenset(k.external_id for k in keywords if k.status == "paused"),
    )


def describe(strategy_type: str, params: dict[str, Any]) -> str:
    if not params:
        return strategy_type
    return f"{strategy_type} " + " ".join(
        f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in params.items()
    )


def parse_spec(text: str, campaign: CampaignUnderTest) -> StrategySpec:
    """One `--strategy` value, checked in the campaign's unit."""
    raw = text.strip()
    if raw == "current":
        spec = campaign.current
    else:
        name, _, rest = raw.partition(":")
        name = name.strip()
        if name not in STRATEGY_TYPES:
            raise BacktestError(
                f"--strategy {text!r}: unknown strategy {name!r}; use current or one of "
                f"{', '.join(STRATEGY_TYPES)}, optionally with :key=value,… or :{{json}}"
            )
        spec = StrategySpec(raw, name, _params(text, rest.strip()))
    try:
        parse_strategy_params(spec.strategy_type, spec.params, campaign.unit)
    except StrategyParamsError as error:
        raise BacktestError(f"--strategy {text!r}: {error}") from None
    return spec


def _params(text: str, rest: str) -> dict[str, Any]:
    if not rest:
        return {}
    if rest.startswith("{"):
        try:
            value = json.loads(rest)
        except ValueError as error:
            raise BacktestError(f"--strategy {text!r}: the parameters are not valid JSON ({error})") from None
        if not isinstance(value, dict):
            raise BacktestError(f"--strategy {text!r}: the parameters must be a JSON object")
        return value
    params: dict[str, Any] = {}
    for pair in rest.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BacktestError(f"--strategy {text!r}: {pair!r} is not key=value")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value.strip()
    return params


@dataclass(frozen=True)
class BacktestRun:
    campaign: CampaignUnderTest
    specs: list[StrategySpec]
    seed: int
    size: str
    start: date
    days: int
    max_bid: int | None
    daily_limit: int | None

    @property
    def cycles(self) -> int:
        return self.days * CYCLES_PER_DAY


def plan_run(
    campaign: CampaignUnderTest,
    specs: list[str],
    *,
    seed: int,
    size: str,
    start: date,
    days: int,
    max_bid: int | None = None,
    daily_limit: int | None = None,
) -> BacktestRun:
    if len(specs) < 2:
        raise BacktestError("give two or more --strategy to compare (current is the campaign's own)")
    if not 1 <= days <= MAX_DAYS:
        raise BacktestError(f"--days must be 1..{MAX_DAYS}, got {days}")
    for name, value in (("--max-bid", max_bid), ("--daily-limit", daily_limit)):
        if value is not None and value <= 0:
            raise BacktestError(f"{name} must be a positive integer of the campaign's unit, got {value}")
    parsed = [parse_spec(text, campaign) for text in specs]
    return BacktestRun(
        campaign,
        parsed,
        seed,
        size,
        start,
        days,
        max_bid if max_bid is not None else campaign.max_bid,
        daily_limit if daily_limit is not None else campaign.daily_limit,
    )


def run_all(run: BacktestRun, progress: Callable[[int], None] | None = None) -> list[BacktestResult]:
    """Every spec over the same days; `progress(n)` after each cycle of each spec."""
    results = []
    for spec in run.specs:
        variant = Variant(spec.label, spec.strategy_type, spec.params, run.max_bid, run.daily_limit)
        test = Backtest(
            run.campaign.world_campaign_id,
            variant,
            seed=run.seed,
            size=run.size,
            start=run.start,
            cycles=run.cycles,
        )
        test.hold_external(run.campaign.fixed, run.campaign.paused)
        results.append(test.run(progress))
    return results
