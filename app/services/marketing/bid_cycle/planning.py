"""One account's decisions for this cycle — pure: readings in, a plan out (issue 9, Deliver 4).

No database, HTTP, Redis or clock here: `account.py` reads (inputs.py, market.py), calls
`plan_account`, and hands the plan to `execution.py`. The backtest (app/services/marketing/
backtest.py) plans with the same function against the sandbox's market model.

Per campaign, in order (spec 7.3.1 steps 3–5):

1. the strategy's parameters are validated for the campaign's bid unit (a misconfigured campaign
   raises one de-duplicated alert and is left alone);
2. a campaign the marketplace takes no bids for is skipped, saying why (adapters/*_rules.py);
3. campaign safety, the daily limit first (budget_rules.py, the one rule): a pause stops the
   campaign's keywords; findings become alerts; skipped rules become notes;
4. per biddable keyword: keywords already decided by this cycle run, or with a change still on
   its way, are not decided again (issue 9 finding 13); keyword safety (a pause where the
   marketplace can pause the item alone, else an alert); the engine; a bid the marketplace refused
   last time is not sent again unchanged (issue 17 item 11); the cap alert.

Dry-run campaigns (issue 6 item 5) decide and record everything and apply nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.core.config import ProjectionMode
from app.core.money import Bid, BidUnit
from app.models.marketing import KeywordKind, PausedReason
from app.services.marketing.adapters.rules import BiddingRules, PauseMode
from app.services.marketing.alerts import AlertRequest
from app.services.marketing.bid_apply import PlannedBid
from app.services.marketing.bid_cycle.inputs import CampaignRow, KeywordRow
from app.services.marketing.bid_cycle.market import MarketView, engine_market
from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.bidding import BidDecision, KeywordBidContext, PeriodStats
from app.services.marketing.pauses import ItemPause
from app.services.marketing.safety_logic import (
    CampaignSafetyContext,
    KeywordSafetyContext,
    SafetyAction,
    SafetyLogic,
    SafetyParamsError,
    parse_safety_params,
)
from app.services.marketing.strategies.params import (
    StrategyParams,
    StrategyParamsError,
    parse_strategy_params,
)

EMPTY = PeriodStats()
StatsKey = tuple[int, int | None]


@dataclass(frozen=True)
class PlanSettings:
    cycle_interval_s: float = 900.0
    stale_spend_after_s: float = 1800.0
    projection: ProjectionMode = ProjectionMode.PAUSE


@dataclass
class AccountReadings:
    """Everything read for one account before planning (inputs.py and market.py)."""

    account_id: int
    marketplace: str
    now: datetime
    campaigns: list[CampaignRow]
    today: dict[StatsKey, PeriodStats] = field(default_factory=dict)
    window: dict[StatsKey, PeriodStats] = field(default_factory=dict)
    usual: dict[int, PeriodStats] = field(default_factory=dict)
    previous: dict[int, int | None] = field(default_factory=dict)
    # keyword id → (the bid our last change set, the strategy's level before dayparting it stood for)
    bases: dict[int, tuple[int, int]] = field(default_factory=dict)
    spend_rates: dict[int, float | None] = field(default_factory=dict)
    not_now: dict[int, str] = field(default_factory=dict)  # keyword id → why it is not decided now
    market: MarketView = field(default_factory=MarketView)
    frozen: str | None = None  # why the account is frozen (issue 12 item 4: plan, report, do not write)


@dataclass(frozen=True)
class CampaignPause:
    campaign: CampaignRow
    reason: str
    for_budget: bool


@dataclass
class CyclePlan:
    """The decisions for one account, before anything is written."""

    bids: list[PlannedBid] = field(default_factory=list)
    dry_run_campaigns: set[int] = field(default_factory=set)
    alerts: list[AlertRequest] = field(default_factory=list)
    campaign_pauses: list[CampaignPause] = field(default_factory=list)
    keyword_pauses: list[ItemPause] = field(default_factory=list)
    decisions: dict[int, BidDecision] = field(default_factory=dict)  # keyword id → decision
    learned_min_bids: dict[int, int] = field(default_factory=dict)
    frozen: str | None = None  # the readings' freeze: execution writes only budget pauses
    campaigns: int = 0
    keywords: int = 0
    not_decided: int = 0
    unreached_campaigns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def alert(
    campaign: CampaignRow, alert_type: str, severity: str, title: str, message: str, **extra: object
) -> AlertRequest:
    return AlertRequest(alert_type, severity, title, message, campaign_id=campaign.id, **extra)  # type: ignore[arg-type]


def item_placements(campaign: CampaignRow) -> Counter[str | None]:
    """How many nm-level bids each product has in the campaign (WB bids an nm per placement)."""
    return Counter(k.product_id for k in campaign.keywords if k.kind == KeywordKind.NM)


class AccountPlanner:
    def __init__(self, rules: BiddingRules, settings: PlanSettings | None = None) -> None:
        self.rules = rules
        self.settings = settings or PlanSettings()
        self.engine = BidEngine()
        self.safety = SafetyLogic()

    def plan(self, readings: AccountReadings, should_stop: Callable[[], bool] = lambda: False) -> CyclePlan:
        plan = CyclePlan(frozen=readings.frozen)
        for index, campaign in enumerate(readings.campaigns):
            if should_stop():
                plan.unreached_campaigns = [c.external_id for c in readings.campaigns[index:]]
                plan.messages.append(
                    f"time budget spent: {len(readings.campaigns) - index} campaigns not reached this cycle"
                )
                break
            self._campaign(campaign, readings, plan)
        return plan

    # --- one campaign ---------------------------------------------------------------------------

    def _campaign(self, campaign: CampaignRow, readings: AccountReadings, plan: CyclePlan) -> None:
        plan.campaigns += 1
        unit = self.rules.campaign_unit(campaign.campaign_type, campaign.payment_type)
        if unit is None:
            plan.messages.append(
                f"campaign {campaign.external_id}: "
                f"{self.rules.campaign_not_biddable(campaign.campaign_type, campaign.payment_type)}"
            )
            return
        try:
            strategy = parse_strategy_params(campaign.strategy_type, campaign.strategy_params, unit)
            safety_params = parse_safety_params(campaign.safety_params)
        except (StrategyParamsError, SafetyParamsError) as error:
            plan.errors.append(f"campaign {campaign.external_id}: {error}")
            plan.alerts.append(
                alert(
                    campaign,
                    "invalid_strategy",
                    "warning",
                    "Strategy misconfigured",
                    str(error),
                    situation=str(error),
                )
            )
            return
        max_bid = unit.bid(campaign.max_bid) if campaign.max_bid is not None else None
        if max_bid is not None and max_bid > self.rules.max_bid(unit):
            plan.messages.append(
                f"campaign {campaign.external_id}: max_bid {max_bid} is above the marketplace maximum"
            )
        verdict = self.safety.check_campaign(
            CampaignSafetyContext(
                campaign_id=campaign.id,
                marketplace=campaign.marketplace,
                status=campaign.status,
                now=readings.now,
                daily_limit=campaign.daily_limit,
                spent_today=campaign.spent_today,
                today=readings.today.get((campaign.id, None), EMPTY),
                params=safety_params,
                usual_day=readings.usual.get(campaign.id),
                target_drr_pct=getattr(strategy, "target_drr_pct", None),
                reports_revenue=self.rules.reports_revenue,
                spend_rate=readings.spend_rates.get(campaign.id),
                spend_age_s=(readings.now - campaign.spent_updated_at).total_seconds()
                if campaign.spent_updated_at
                else None,
                seconds_to_next_check=self.settings.cycle_interval_s,
                stale_spend_after_s=self.settings.stale_spend_after_s,
                projection=self.settings.projection,
            )
        )
        would = "dry_run:" if campaign.dry_run else ""
        if campaign.dry_run:
            plan.dry_run_campaigns.add(campaign.id)
        for note in verdict.notes:
            plan.messages.append(f"campaign {campaign.external_id}: {note}")
        for finding in verdict.findings:
            plan.alerts.append(
                alert(
                    campaign,
                    finding.alert_type.value,
                    finding.severity.value,
                    "Safety: " + campaign.name,
                    finding.reason,
                    action_taken=would + "pause_campaign"
                    if finding.action == SafetyAction.PAUSE_CAMPAIGN
                    else None,
                    level=verdict.budget.estimated_spend if verdict.budget else None,
                )
            )
        if verdict.action == SafetyAction.PAUSE_CAMPAIGN:
            if not campaign.dry_run:
                plan.campaign_pauses.append(
                    CampaignPause(campaign, verdict.reason, verdict.pauses_for_budget)
                )
            return
        placements = item_placements(campaign)
        for keyword in campaign.keywords:
            why_not = self.rules.not_steered(
                campaign.campaign_type, campaign.payment_type, keyword.kind, placements[keyword.product_id]
            )
            if keyword.status != "active" or why_not is not None:
                continue
            if keyword.id in readings.not_now:
                plan.not_decided += 1
                continue
            plan.keywords += 1
            self._keyword(campaign, keyword, unit, strategy, safety_params, max_bid, readings, plan, would)

    # --- one keyword ----------------------------------------------------------------------------

    def _keyword(
        self,
        campaign: CampaignRow,
        keyword: KeywordRow,
        unit: BidUnit,
        strategy: StrategyParams,
        safety_params: object,
        max_bid: Bid | None,
        readings: AccountReadings,
        plan: CyclePlan,
        would: str,
    ) -> None:
        today = readings.today.get((campaign.id, keyword.id))
        window = readings.window.get((campaign.id, keyword.id))
        pause_mode = self.rules.keyword_pause(keyword.kind)
        check = self.safety.check_keyword(
            KeywordSafetyContext(
                campaign.id,
                keyword.id,
                keyword.keyword,
                keyword.status,
                keyword.is_fixed,
                today or EMPTY,
                safety_params,  # type: ignore[arg-type]
                window=window,
                can_pause=pause_mode != PauseMode.NONE,
                charges_per_order=self.rules.charges_per_order,
            )
        )
        for finding in check.findings:
            plan.alerts.append(
                alert(
                    campaign,
                    finding.alert_type.value,
                    finding.severity.value,
                    f"Safety: {keyword.keyword}",
                    finding.reason,
                    keyword_id=keyword.id,
                    action_taken=would + "pause_keyword"
                    if finding.action == SafetyAction.PAUSE_KEYWORD
                    else None,
                )
            )
        if check.action == SafetyAction.PAUSE_KEYWORD:
            if not campaign.dry_run:
                plan.keyword_pauses.append(ItemPause(keyword, check.reason, pause_mode))
            return
        reported_min = readings.market.min_bids.get(keyword.key)
        if reported_min is not None and keyword.min_bid is None:
            plan.learned_min_bids[keyword.id] = reported_min
        current = readings.market.current.get(keyword.key, keyword.current_bid)
        previous = readings.previous.get(keyword.id)
        kept = readings.bases.get(keyword.id)
        # A bid changed since our last change (in the marketplace's cabinet) is its own level.
        base = kept[1] if kept is not None and kept[0] == current else None
        competitors, recommendations, note = engine_market(
            readings.market.competitors.get(keyword.key), unit, keyword.product_id, readings.now
        )
        if note:
            plan.messages.append(f"keyword {keyword.external_id}: {note}")
        context = KeywordBidContext(
            marketplace=campaign.marketplace,
            keyword_id=keyword.id,
            keyword=keyword.keyword,
            status=keyword.status,
            is_fixed=keyword.is_fixed,
            unit=unit,
            current_bid=unit.bid(current) if current is not None else None,
            min_bid=self.rules.min_bid(unit, keyword.min_bid or reported_min),
            marketplace_max_bid=self.rules.max_bid(unit),
            campaign_max_bid=max_bid,
            strategy=strategy,
            now=readings.now,
            min_change=self.rules.min_change(unit),
            bid_step=self.rules.step(unit),
            today=today,
            window=window,
            competitors=competitors,
            recommendations=recommendations,
            previous_bid=unit.bid(previous) if previous is not None else None,
            held_until=keyword.held_until,
            base_bid=unit.bid(base) if base is not None else None,
        )
        decision = self.engine.calculate_bid(context)
        plan.decisions[keyword.id] = decision
        self._take(campaign, keyword, decision, max_bid, plan)

    def _take(
        self,
        campaign: CampaignRow,
        keyword: KeywordRow,
        decision: BidDecision,
        max_bid: Bid | None,
        plan: CyclePlan,
    ) -> None:
        if decision.capped and max_bid is not None:
            wanted = decision.target_bid
            plan.alerts.append(
                alert(
                    campaign,
                    "bid_exceeds_max",
                    "warning",
                    f"Bid capped: {keyword.keyword}",
                    f"{decision.reason}; capped at the campaign's max bid {max_bid}",
                    keyword_id=keyword.id,
                    action_taken="cap_bid",
                    situation=f"max_bid {max_bid.amount}",
                    level=wanted.amount if wanted is not None else None,
                )
            )
        for warning in decision.warnings:
            if "below the marketplace minimum" in warning:
                plan.alerts.append(
                    alert(
                        campaign,
                        "max_bid_below_minimum",
                        "warning",
                        f"No valid bid: {keyword.keyword}",
                        warning,
                        keyword_id=keyword.id,
                        situation=warning,
                    )
                )
        new_bid = decision.new_bid
        if not decision.changes_bid or new_bid is None:
            return
        if keyword.refused_bid is not None and keyword.refused_bid == new_bid.amount:
            plan.not_decided += 1
            why = f"{new_bid} was refused last time ({keyword.refused_reason}); not resent"
            plan.messages.append(f"keyword {keyword.external_id}: {why}")
            return
        plan.bids.append(
            PlannedBid(
                campaign_id=campaign.id,
                keyword_id=keyword.id,
                key=keyword.key,
                old_bid=decision.old_bid,
                new_bid=new_bid,
                source="bid_cycle",
                strategy_type=decision.strategy_type,
                reason=decision.reason,
                product_id=keyword.product_id,
                keyword=keyword.keyword,
                base_bid=decision.base_bid,
            )
        )


def budget_paused_reason(pause: CampaignPause) -> str:
    """What `paused_reason` a cycle's campaign pause records: a budget pause is resumed by
    check_budgets the next Moscow day (issue 9 finding 6), a safety pause waits for a person."""
    return PausedReason.BUDGET_EXCEEDED if pause.for_budget else PausedReason.SAFETY
