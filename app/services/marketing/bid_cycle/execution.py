"""Carrying out one account's plan (spec 7.3.1 steps 5–6) — the only writer of the bid cycle.

1. **Fence** first: a cycle run that lost its lock makes no marketplace write at all (bid_apply).
2. **Minimums** the marketplace reported are kept on the keywords.
3. **Campaign pauses**: with the marketplace's switch, or — where it has none (YM) — by pausing
   every item of the campaign, remembering each bid (pauses.py). A budget pause is recorded as
   `budget_exceeded` and resumed by `check_budgets` the next Moscow day; a safety pause waits for a
   person. A refused pause raises one critical alert.
4. **Keyword pauses**, batched, each remembering what to put back on resume.
5. **Bids**, in write batches of about `BID_WRITE_BATCH` changes (whole campaigns): fenced intents,
   one batched `set_bids`, each intent marked by the per-item answer (bid_apply, set-based).
6. **Alerts** of the plan, plus one per campaign whose bids the marketplace refused, in one batch.

**Time budget** (issue 16 item 1): before each write batch — keyword pauses, each bid batch, and
its send — the account task's deadline is checked, so the soft time limit never lands half-way
through writing. A batch the budget has no room for is not started: its changes are counted in
`not_written` and named in the messages; if its intents were already written they stay open, and
the protocol's reconciliation (bid_apply step 4) settles them on the next attempt. Campaign pauses
protect money and are always made.

A frozen account (issue 12 item 4) skips steps 3–5 except budget pauses, and reports what it did
not do.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.clock import moscow_today, now_utc
from app.core.database import session_scope
from app.models.marketing import MarketplaceAccount
from app.services.marketing.adapters.base import AdapterError, MarketplaceAdapter
from app.services.marketing.adapters.rules import BiddingRules
from app.services.marketing.alerts import AlertRequest, create_alerts
from app.services.marketing.bid_apply import (
    PlannedBid,
    check_fence,
    intents_by_id,
    mark_results,
    mark_unknown,
    record_intents,
)
from app.services.marketing.bid_cycle.inputs import CampaignRow
from app.services.marketing.bid_cycle.planning import CampaignPause, CyclePlan, alert, budget_paused_reason
from app.services.marketing.pauses import pause_campaign, pause_keywords, record_campaign_pause

logger = logging.getLogger(__name__)

# Bid changes per write batch: whole campaigns, so the adapter's own batches stay as full as one
# send of everything would make them (a multiple of the WB/Ozon/YM batch sizes of 100/500/1,500).
BID_WRITE_BATCH = 3000


@dataclass
class AccountCycleResult:
    account_id: int
    marketplace: str
    campaigns: int = 0
    keywords: int = 0
    bids_updated: int = 0
    bids_failed: int = 0  # refused by the marketplace (or by the adapter before sending)
    bids_unknown: int = 0
    dry_run_changes: int = 0
    keywords_paused: int = 0
    campaigns_paused: int = 0
    not_decided: int = 0
    alerts: int = 0
    errors: int = 0
    reconciled: int = 0
    in_flight: int = 0
    frozen: int = 0  # 1 when a freeze covered the account (issue 12 item 4)
    frozen_changes: int = 0  # bids and pauses a freeze held back
    not_written: int = 0  # bid changes and keyword pauses the time budget left for the next cycle
    unreached_campaigns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "messages"} | {"messages": self.messages[:20]}

    def error(self, message: str) -> None:
        logger.error("account %s (%s): %s", self.account_id, self.marketplace, message)
        self.errors += 1
        self.messages.append(message)


class PlanExecutor:
    def __init__(
        self,
        account: MarketplaceAccount,
        adapter: MarketplaceAdapter,
        rules: BiddingRules,
        result: AccountCycleResult,
        *,
        cycle_run_id: int | None,
        task_id: str | None,
        out_of_time: Callable[[], bool] = lambda: False,
    ) -> None:
        """`out_of_time`: True once the task's time budget has no room for another write batch."""
        self.out_of_time = out_of_time
        self.account = account
        self.adapter = adapter
        self.rules = rules
        self.result = result
        self.cycle_run_id = cycle_run_id
        self.task_id = task_id

    async def execute(self, plan: CyclePlan) -> None:
        with session_scope() as session:
            check_fence(session, self.cycle_run_id)
            _keep_min_bids(session, plan.learned_min_bids)
        if plan.frozen is not None:
            self._hold_back_for_freeze(plan)
        for pause in plan.campaign_pauses:
            await self._pause_campaign(pause, plan)
        if plan.keyword_pauses and not self._out_of_time(len(plan.keyword_pauses), "keyword pauses not made"):
            outcome = await pause_keywords(self.adapter, plan.keyword_pauses)
            self.result.keywords_paused += outcome.paused
            for message in outcome.errors:
                self.result.error(message)
        await self._apply_bids(plan)
        if plan.alerts:
            with session_scope() as session:
                self.result.alerts += sum(not r.repeated for r in create_alerts(session, plan.alerts))

    def _out_of_time(self, count: int, what: str) -> bool:
        """True (and reported) when the time budget has no room for the next write batch."""
        if not self.out_of_time():
            return False
        self.result.not_written += count
        self.result.messages.append(f"time budget spent before writing: {count} {what} this cycle")
        return True

    def _hold_back_for_freeze(self, plan: CyclePlan) -> None:
        """Issue 12 item 4: a frozen account reads and reports but writes nothing — except budget
        pauses, which only protect money."""
        budget = [p for p in plan.campaign_pauses if p.for_budget]
        others = len(plan.campaign_pauses) - len(budget)
        self.result.frozen = 1
        self.result.frozen_changes += len(plan.bids) + len(plan.keyword_pauses) + others
        self.result.messages.append(
            f"{plan.frozen}; not made: {len(plan.bids)} bid changes, {len(plan.keyword_pauses)} keyword "
            f"pauses, {others} safety pauses"
        )
        plan.bids, plan.keyword_pauses, plan.campaign_pauses = [], [], budget

    async def _pause_campaign(self, pause: CampaignPause, plan: CyclePlan) -> None:
        campaign = pause.campaign
        try:
            paused_items = await pause_campaign(
                self.adapter, self.rules, campaign.external_id, campaign.keywords
            )
        except AdapterError as error:
            self.result.error(f"campaign {campaign.external_id}: pause failed: {error}")
            plan.alerts.append(self._pause_failed(campaign, pause.reason, str(error)))
            return
        with session_scope() as session:
            record_campaign_pause(
                session, campaign.id, budget_paused_reason(pause), moscow_today(now_utc()), paused_items
            )
        self.result.campaigns_paused += 1

    @staticmethod
    def _pause_failed(campaign: CampaignRow, reason: str, error: str) -> AlertRequest:
        return alert(
            campaign,
            "safety_pause_failed",
            "critical",
            f"Pause it by hand: {campaign.name}",
            f"the campaign had to be paused ({reason}) but the marketplace refused: {error}",
            situation=error,
        )

    async def _apply_bids(self, plan: CyclePlan) -> None:
        batches = list(write_batches(plan.bids, BID_WRITE_BATCH))
        for index, batch in enumerate(batches):
            left = sum(len(b) for b in batches[index:])
            if self._out_of_time(left, "bid changes not made (no intent written; decided anew next cycle)"):
                return
            await self._apply_batch(plan, batch)

    async def _apply_batch(self, plan: CyclePlan, bids: Sequence[PlannedBid]) -> None:
        with session_scope() as session:
            intents = record_intents(
                session,
                bids,
                cycle_run_id=self.cycle_run_id,
                task_id=self.task_id,
                dry_run_campaigns=frozenset(plan.dry_run_campaigns),
            )
            intent_ids = [i.id for i in intents]
        # Keywords another attempt of this run decided meanwhile are left out (bid_apply step 1).
        written = {i.keyword_id for i in intents}
        kept = [bid for bid in bids if bid.keyword_id in written]
        if len(kept) < len(bids):
            self.result.messages.append(
                f"{len(bids) - len(kept)} keywords already decided by another attempt of this run"
            )
        live = [
            (iid, bid)
            for iid, bid in zip(intent_ids, kept, strict=True)
            if bid.campaign_id not in plan.dry_run_campaigns
        ]
        self.result.dry_run_changes += len(kept) - len(live)
        if not live:
            return
        if self._out_of_time(len(live), "bid changes not sent (intents left open for reconciliation)"):
            return
        try:
            results = await self.adapter.set_bids([bid.change() for _, bid in live])
        except AdapterError as error:
            self.result.error(f"setting {len(live)} bids failed: {error}")
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
        if outcome.failed:
            self.result.messages.extend((outcome.errors or [])[:10])
            self._refused_alerts(
                plan, [(bid, r) for (_, bid), r in zip(live, results, strict=True) if not r.ok]
            )

    def _refused_alerts(self, plan: CyclePlan, refused: list[tuple[Any, Any]]) -> None:
        """One alert per campaign with refused bids (issue 17 item 1), de-duplicated per day and
        raised again only when more of its bids are refused."""
        per_campaign = Counter(bid.campaign_id for bid, _ in refused)
        examples = {bid.campaign_id: f"{bid.keyword}: {result.error}" for bid, result in refused}
        for campaign_id, count in per_campaign.items():
            plan.alerts.append(
                AlertRequest(
                    "bids_refused",
                    "warning",
                    f"{count} bids refused by {self.rules.marketplace.display_name}",
                    f"{count} bids of this campaign were refused and will not be resent unchanged; "
                    f"e.g. {examples[campaign_id]}",
                    campaign_id=campaign_id,
                    level=count,
                )
            )


def write_batches(bids: Sequence[PlannedBid], size: int) -> Iterator[list[PlannedBid]]:
    """The changes in batches of whole campaigns, each closed once it holds `size` or more (one
    campaign larger than `size` is one batch of its own)."""
    batch: list[PlannedBid] = []
    for bid in bids:
        if len(batch) >= size and bid.campaign_id != batch[-1].campaign_id:
            yield batch
            batch = []
        batch.append(bid)
    if batch:
        yield batch


def _keep_min_bids(session: Session, learned: dict[int, int]) -> None:
    """The minimums the marketplace reported, kept on the keywords in one statement."""
    if not learned:
        return
    session.execute(
        text(
            "UPDATE marketing_keywords AS k SET min_bid = u.low, updated_at = now() "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:lows AS bigint[])) AS u(id, low) WHERE k.id = u.id"
        ),
        {"ids": list(learned), "lows": list(learned.values())},
    )
