"""One account's share of the bid cycle (spec 7.3.1; issue 6 item 3).

Read (PostgreSQL snapshots; current bids and competitor bids from the APIs in batches) →
campaign safety → keyword safety → bid calculation → apply (fenced intents, one batched write per
adapter call) → report. A campaign is the unit of work: when the time budget runs low the cycle
stops at a campaign boundary and names the campaigns it did not reach.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.clock import moscow_today, now_utc
from app.core.database import session_scope
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.services.marketing.adapters.base import AdapterError, Keyword, MarketplaceAdapter
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.bid_apply import (
    ApplyOutcome,
    FencingError,
    PlannedBid,
    check_fence,
    intents_by_id,
    mark_results,
    mark_unknown,
    open_intents,
    reconcile,
    record_intents,
)
from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.bidding import (
    BidDecision,
    CompetitorBid,
    CompetitorData,
    KeywordBidContext,
    MarketplaceRecommendations,
    PeriodStats,
    RecommendedBid,
)
from app.services.marketing.bidding import (
    CompetitorSource as DataSource,
)
from app.services.marketing.cycle_data import (
    CampaignRow,
    KeywordRow,
    latest_stats,
    load_campaigns,
    previous_bids,
    usual_days,
)
from app.services.marketing.safety_logic import (
    CampaignSafetyContext,
    KeywordSafetyContext,
    SafetyAction,
    SafetyLogic,
    parse_safety_params,
)
from app.services.marketing.strategies.params import StrategyParamsError, parse_strategy_params
from app.services.watcher.client import CompetitorBids, CompetitorLookup

logger = logging.getLogger(__name__)

# Bid limits when the marketplace did not give one per keyword, in each marketplace's bid unit
# (marketplace-apis.md §1.7, §2.4, §3.2): WB cluster CPM in kopecks (min ~100 ₽), Ozon CPC in
# kopecks (min ~8 ₽), YM hundredths of a percent of the price (50..9999).
DEFAULT_MIN_BID = {"wb": 10_000, "ozon": 800, "ym": 50}
DEFAULT_MAX_BID = {"wb": 10_000_000, "ozon": 100_000_00, "ym": 9_999}
BID_STEP = {"wb": 100}
EMPTY = PeriodStats()


@dataclass
class AccountCycleResult:
    account_id: int
    marketplace: str
    campaigns: int = 0
    keywords: int = 0
    bids_updated: int = 0
    bids_failed: int = 0
    bids_unknown: int = 0
    dry_run_changes: int = 0
    keywords_paused: int = 0
    campaigns_paused: int = 0
    alerts: int = 0
    errors: int = 0
    reconciled: int = 0
    unreached_campaigns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "messages"} | {"messages": self.messages[:20]}


@dataclass
class CyclePlan:
    """The decisions for one account, before anything is written."""

    bids: list[PlannedBid] = field(default_factory=list)
    dry_run_campaigns: set[int] = field(default_factory=set)
    alerts: list[AlertRequest] = field(default_factory=list)
    paused_campaigns: list[tuple[CampaignRow, str]] = field(default_factory=list)
    paused_keywords: list[tuple[KeywordRow, str]] = field(default_factory=list)


class AccountCycle:
    def __init__(
        self,
        account: MarketplaceAccount,
        adapter: MarketplaceAdapter,
        competitors: CompetitorLookup,
        *,
        cycle_run_id: int | None,
        task_id: str | None,
        deadline: float,
    ) -> None:
        self.account = account
        self.adapter = adapter
        self.competitors = competitors
        self.cycle_run_id = cycle_run_id
        self.task_id = task_id
        self.deadline = deadline  # time.monotonic() by which the last campaign must have started
        self.engine = BidEngine()
        self.safety = SafetyLogic()
        self.result = AccountCycleResult(account.id, account.marketplace)

    async def run(self) -> AccountCycleResult:
        now = now_utc()
        today = moscow_today(now)
        with session_scope() as session:
            campaigns = load_campaigns(session, self.account.id, today)
            ids = [c.id for c in campaigns]
            stats = latest_stats(session, ids, today)
            usual = usual_days(session, ids, today)
            previous = previous_bids(session, [k.id for c in campaigns for k in c.keywords])
        active = [k for c in campaigns for k in c.keywords if k.status == "active" and biddable(c, k)]
        current, competitor_data = await self._read_marketplace(active)
        await self._learn_min_bids([k for k in active if k.min_bid is None])
        keys = {k.id: (k.campaign_external_id, k.external_id) for k in active}
        with session_scope() as session:
            outcome = ApplyOutcome()
            reconcile(session, open_intents(session, list(keys)), current, keys, outcome)
            self.result.reconciled = outcome.reconciled_applied + outcome.reconciled_failed
        plan = CyclePlan()
        for index, campaign in enumerate(campaigns):
            if time.monotonic() > self.deadline:
                self.result.unreached_campaigns = [c.external_id for c in campaigns[index:]]
                self.result.messages.append(
                    f"time budget spent: {len(campaigns) - index} campaigns not reached this cycle"
                )
                break
            self._plan_campaign(campaign, stats, usual, previous, current, competitor_data, now, plan)
        await self._execute(plan)
        return self.result

    async def _learn_min_bids(self, keywords: list[KeywordRow]) -> None:
        """The marketplace's minimum bid of items we have none for, kept on the keyword (a
        minimum changes rarely; a refused bid names a new one and sync clears none)."""
        if not keywords:
            return
        try:
            found = await self.adapter.get_min_bids([k.domain() for k in keywords])
        except AdapterError as error:
            self.result.messages.append(f"minimum bids unavailable, defaults used: {error}")
            return
        with session_scope() as session:
            for keyword in keywords:
                low = found.get((keyword.campaign_external_id, keyword.external_id))
                if low is not None:
                    keyword.min_bid = low
                    row = session.get(MarketingKeyword, keyword.id)
                    if row is not None:
                        row.min_bid = low

    async def _read_marketplace(
        self, active: list[KeywordRow]
    ) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], CompetitorBids]]:
        domain: list[Keyword] = [k.domain() for k in active]
        if not domain:
            return {}, {}
        try:
            current = await self.adapter.get_current_bids(domain)
        except AdapterError as error:
            self._error(f"current bids unavailable, nothing changed for this account: {error}")
            raise
        competitors = await self.competitors.for_keywords(self.account.marketplace, domain, self.adapter)
        return current, competitors

    # --- planning (no I/O) ----------------------------------------------------------------------

    def _plan_campaign(
        self,
        campaign: CampaignRow,
        stats: dict[tuple[int, int | None], PeriodStats],
        usual: dict[int, PeriodStats],
        previous: dict[int, int | None],
        current: dict[tuple[str, str], int],
        competitor_data: dict[tuple[str, str], CompetitorBids],
        now: datetime,
        plan: CyclePlan,
    ) -> None:
        self.result.campaigns += 1
        try:
            strategy = parse_strategy_params(campaign.strategy_type, campaign.strategy_params)
            safety_params = parse_safety_params(campaign.safety_params)
        except (StrategyParamsError, ValueError) as error:
            self._error(f"campaign {campaign.external_id}: {error}")
            plan.alerts.append(
                self._alert(campaign, "invalid_strategy", "warning", "Strategy misconfigured", str(error))
            )
            return
        verdict = self.safety.check_campaign(
            CampaignSafetyContext(
                campaign_id=campaign.id,
                marketplace=campaign.marketplace,
                status=campaign.status,
                now=now,
                daily_limit=campaign.daily_limit,
                spent_today=campaign.spent_today,
                today=stats.get((campaign.id, None), EMPTY),
                params=safety_params,
                usual_day=usual.get(campaign.id),
                target_drr_pct=getattr(strategy, "target_drr_pct", None),
            )
        )
        # Dry-run (issue 6 item 5): decide and record everything, apply nothing — pauses included.
        would = "dry_run:" if campaign.dry_run else ""
        if campaign.dry_run:
            plan.dry_run_campaigns.add(campaign.id)
        for finding in verdict.findings:
            action = would + "pause_campaign" if finding.action == SafetyAction.PAUSE_CAMPAIGN else None
            plan.alerts.append(
                self._alert(
                    campaign,
                    finding.alert_type.value,
                    finding.severity.value,
                    "Safety: " + campaign.name,
                    finding.reason,
                    action=action,
                )
            )
        if verdict.action == SafetyAction.PAUSE_CAMPAIGN:
            if not campaign.dry_run:
                plan.paused_campaigns.append((campaign, verdict.reason))
            return
        for keyword in campaign.keywords:
            if keyword.status != "active" or not biddable(campaign, keyword):
                continue
            self.result.keywords += 1
            key = (keyword.campaign_external_id, keyword.external_id)
            today_stats = stats.get((campaign.id, keyword.id), EMPTY)
            check = self.safety.check_keyword(
                KeywordSafetyContext(
                    campaign.id,
                    keyword.id,
                    keyword.keyword,
                    keyword.status,
                    keyword.is_fixed,
                    today_stats,
                    safety_params,
                )
            )
            for finding in check.findings:
                plan.alerts.append(
                    self._alert(
                        campaign,
                        finding.alert_type.value,
                        finding.severity.value,
                        f"Safety: {keyword.keyword}",
                        finding.reason,
                        keyword_id=keyword.id,
                        action=would + "pause_keyword"
                        if finding.action == SafetyAction.PAUSE_KEYWORD
                        else None,
                    )
                )
            if check.action == SafetyAction.PAUSE_KEYWORD:
                if not campaign.dry_run:
                    plan.paused_keywords.append((keyword, check.reason))
                continue
            context = KeywordBidContext(
                marketplace=campaign.marketplace,
                keyword_id=keyword.id,
                keyword=keyword.keyword,
                status=keyword.status,
                is_fixed=keyword.is_fixed,
                payment_type=campaign.payment_type or "cpm",
                current_bid=current.get(key, keyword.current_bid),
                min_bid=max(keyword.min_bid or 0, DEFAULT_MIN_BID[campaign.marketplace]),
                marketplace_max_bid=DEFAULT_MAX_BID[campaign.marketplace],
                campaign_max_bid=campaign.max_bid,
                strategy=strategy,
                now=now,
                today=today_stats if today_stats is not EMPTY else None,
                previous_bid=previous.get(keyword.id),
                **engine_competitors(competitor_data.get(key), now),
            )
            decision = self.engine.calculate_bid(context)
            self._take(campaign, keyword, key, decision, plan)

    def _take(
        self,
        campaign: CampaignRow,
        keyword: KeywordRow,
        key: tuple[str, str],
        decision: BidDecision,
        plan: CyclePlan,
    ) -> None:
        if decision.capped:
            plan.alerts.append(
                self._alert(
                    campaign,
                    "bid_exceeds_max",
                    "warning",
                    f"Bid capped: {keyword.keyword}",
                    f"{decision.reason}; capped at the campaign's max bid {campaign.max_bid}",
                    keyword_id=keyword.id,
                    action="cap_bid",
                )
            )
        if not decision.changes_bid or decision.new_bid is None:
            return
        new_bid = on_step(decision.new_bid, campaign.marketplace, campaign.max_bid)
        if new_bid == decision.old_bid:
            return
        plan.bids.append(
            PlannedBid(
                campaign_id=campaign.id,
                keyword_id=keyword.id,
                key=key,
                old_bid=decision.old_bid,
                new_bid=new_bid,
                source="bid_cycle",
                strategy_type=decision.strategy_type,
                reason=decision.reason,
                product_id=keyword.product_id,
                keyword=keyword.keyword,
            )
        )

    # --- execution ----------------------------------------------------------------------------

    async def _execute(self, plan: CyclePlan) -> None:
        # Pauses are marketplace writes too: a cycle that lost its lock makes none of them.
        try:
            with session_scope() as session:
                check_fence(session, self.cycle_run_id)
        except FencingError as error:
            self._error(str(error))
            raise
        for campaign, reason in plan.paused_campaigns:
            try:
                await self.adapter.pause_campaign(campaign.external_id)
            except AdapterError as error:
                self._error(f"campaign {campaign.external_id}: pause failed: {error}")
                plan.alerts.append(
                    self._alert(
                        campaign,
                        "safety_pause_failed",
                        "critical",
                        f"Pause it by hand: {campaign.name}",
                        f"safety wanted the campaign paused ({reason}) but the marketplace refused: {error}",
                    )
                )
                continue
            with session_scope() as session:
                row = session.get(MarketingCampaign, campaign.id)
                if row is not None:
                    row.status, row.paused_reason = "paused", "safety"
            self.result.campaigns_paused += 1
        await self._pause_keywords(plan.paused_keywords)
        await self._apply_bids(plan)
        with session_scope() as session:
            for alert in plan.alerts:
                create_alert(session, alert)
        self.result.alerts += len(plan.alerts)

    async def _pause_keywords(self, paused: list[tuple[KeywordRow, str]]) -> None:
        """All of the account's keyword pauses in the adapter's batches; each marked on success."""
        if not paused:
            return
        try:
            results = await self.adapter.pause_keywords([keyword.domain() for keyword, _ in paused])
        except AdapterError as error:
            self._error(f"pausing {len(paused)} keywords failed: {error}")
            return
        by_key = {r.key: r for r in results}
        moment = now_utc()
        with session_scope() as session:
            for keyword, reason in paused:
                result = by_key.get((keyword.campaign_external_id, keyword.external_id))
                if result is None or not result.ok:
                    why = result.error if result else "no answer"
                    self._error(f"keyword {keyword.external_id}: pause failed: {why}")
                    continue
                row = session.get(MarketingKeyword, keyword.id)
                if row is not None:
                    row.status, row.pause_reason, row.paused_at = "paused", reason[:255], moment
                self.result.keywords_paused += 1

    async def _apply_bids(self, plan: CyclePlan) -> None:
        if not plan.bids:
            return
        try:
            with session_scope() as session:
                intents = record_intents(
                    session,
                    plan.bids,
                    cycle_run_id=self.cycle_run_id,
                    task_id=self.task_id,
                    dry_run_campaigns=frozenset(plan.dry_run_campaigns),
                )
                intent_ids = [i.id for i in intents]
        except FencingError as error:
            self._error(str(error))
            raise
        live = [
            (iid, bid)
            for iid, bid in zip(intent_ids, plan.bids, strict=True)
            if bid.campaign_id not in plan.dry_run_campaigns
        ]
        self.result.dry_run_changes += len(plan.bids) - len(live)
        if not live:
            return
        try:
            results = await self.adapter.set_bids([bid.change() for _, bid in live])
        except AdapterError as error:
            self._error(f"setting {len(live)} bids failed: {error}")
            with session_scope() as session:
                mark_unknown(session, intents_by_id(session, [iid for iid, _ in live]), error)
            self.result.bids_unknown += len(live)
            return
        with session_scope() as session:
            outcome = mark_results(
                session, intents_by_id(session, [iid for iid, _ in live]), [b for _, b in live], results
            )
        self.result.bids_updated += outcome.applied
        self.result.bids_failed += outcome.failed
        self.result.bids_unknown += outcome.unknown
        self.result.messages.extend((outcome.errors or [])[:10])

    def _error(self, message: str) -> None:
        logger.error("account %s (%s): %s", self.account.id, self.account.marketplace, message)
        self.result.errors += 1
        self.result.messages.append(message)

    @staticmethod
    def _alert(
        campaign: CampaignRow,
        alert_type: str,
        severity: str,
        title: str,
        message: str,
        *,
        keyword_id: int | None = None,
        action: str | None = None,
    ) -> AlertRequest:
        return AlertRequest(
            alert_type,
            severity,
            title,
            message,
            campaign_id=campaign.id,
            keyword_id=keyword_id,
            action_taken=action,
        )


def biddable(campaign: CampaignRow, keyword: KeywordRow) -> bool:
    """WB sets search-cluster bids only in manual CPM campaigns (marketplace-apis.md §1.4, "Set
    cluster bids: manual + cpm only"); a unified campaign's clusters are read, never bid on."""
    if campaign.marketplace == "wb" and keyword.kind == "cluster":
        return campaign.campaign_type == "manual" and campaign.payment_type == "cpm"
    return True


def on_step(bid: int, marketplace: str, max_bid: int | None) -> int:
    """A bid the marketplace accepts: WB takes whole rubles (`cpmStep` 100 kopecks in
    /api/advert/v1/config); up to the step, unless that passes the campaign's max bid."""
    step = BID_STEP.get(marketplace, 1)
    up = -(-bid // step) * step
    if max_bid is not None and up > max_bid:
        return bid // step * step
    return up


def engine_competitors(data: CompetitorBids | None, now: datetime) -> dict[str, Any]:
    """Watcher data → the engine's competitors; the marketplace's signals → its recommendations."""
    if data is None or not data.bids:
        return {}
    fetched = data.observed_at or now
    if data.source == "watcher":
        bids = tuple(CompetitorBid(position=i + 1, bid=b) for i, b in enumerate(data.bids))
        return {"competitors": CompetitorData(DataSource.WATCHER, bids, fetched)}
    recommended = tuple(RecommendedBid(bid=b, position=i + 1) for i, b in enumerate(data.bids))
    return {"recommendations": MarketplaceRecommendations(recommended, fetched)}
