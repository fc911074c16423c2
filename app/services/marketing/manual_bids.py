"""One manual bid change through the same exactly-once path as the cycle (issue 6 item 4,
`apply_bid_change`; issue 9 finding 9).

1. **Validate** before anything else: the keyword exists and can take a bid, the bid is an integer
   of the campaign's bid unit inside the marketplace's rules (minimum, maximum, step) and the
   campaign's `max_bid` — a one-line `BidChangeError` otherwise (`validate_manual_change`, also used
   by the CLI before it enqueues anything).
2. **Hold**: the keyword is held — until a moment (default: the start of the next Moscow day) or
   for good (`is_fixed`) — and that is committed first, so no cycle decides it from now on and the
   next cycle does not revert the change.
3. **Wait for or supersede** an open intent: one younger than the marketplace's apply delay may
   still be on its way, so the change waits (`BidChangeBusy`, retried by the task after the
   delay); an older one is settled against the marketplace's current bid first. Two writers that
   still meet at the unique open-intent index make the later one wait, never a dead letter. When
   the marketplace already shows the asked bid but a change applied within the apply delay is
   not shown yet, it waits too (issue 12): WB shows a bid only at its next 30-second tick, so an
   undo pressed at once would read the old bid, send nothing, and see the change land after it.
4. **Send**: intent, set_bids, mark — applied (history, source `manual`/`rollback`), refused by
   the marketplace (its message), or unknown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.clock import moscow_day_start, moscow_today, now_utc
from app.core.database import session_scope
from app.core.money import Bid
from app.models.base import is_row_id
from app.models.marketing import (
    BidIntentStatus,
    MarketingBidIntent,
    MarketingCampaign,
    MarketingKeyword,
    MarketplaceAccount,
)
from app.services.marketing.adapters.base import AdapterError, Keyword
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.bid_apply import (
    ApplyOutcome,
    PlannedBid,
    intents_by_id,
    mark_results,
    mark_unknown,
    open_intents,
    reconcile,
    record_intents,
)
from app.services.marketing.runtime import AdapterPool

BID_SOURCES = ("manual", "rollback", "recommendation")
HOLD_NEXT_DAY = "next_day"  # held until the next Moscow day starts (the default)
HOLD_FIXED = "fixed"  # held for good: is_fixed, until a person unfixes it


class BidChangeError(ValueError):
    """The requested change cannot be made; the message says why and what to do."""


class BidChangeBusy(Exception):
    """Another change of this keyword may still be on its way; retry after `retry_in` seconds."""

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in

    def __reduce__(self) -> tuple[Any, ...]:
        return (BidChangeBusy, (str(self), self.retry_in))


@dataclass(frozen=True)
class ManualChange:
    """A validated change: what to send and to whom."""

    keyword: MarketingKeyword
    campaign: MarketingCampaign
    account: MarketplaceAccount
    bid: Bid


def _load(
    session: Session, keyword_id: Any
) -> tuple[MarketingKeyword, MarketingCampaign, MarketplaceAccount]:
    if not is_row_id(keyword_id):
        raise BidChangeError(f"keyword_id must be a positive integer keyword id, got {keyword_id!r}")
    keyword = session.get(MarketingKeyword, keyword_id)
    if keyword is None:
        raise BidChangeError(f"no keyword with id {keyword_id}")
    campaign = keyword.campaign
    if campaign.is_removed or keyword.status == "removed":
        raise BidChangeError(f"keyword {keyword_id} or its campaign no longer exists on the marketplace")
    return keyword, campaign, campaign.account


def validate_manual_change(
    session: Session, keyword_id: Any, new_bid: Any, source: str = "manual"
) -> ManualChange:
    """Everything that can be checked without the marketplace, as one-line BidChangeErrors."""
    if source not in BID_SOURCES:
        raise BidChangeError(f"source must be one of {', '.join(BID_SOURCES)}")
    keyword, campaign, account = _load(session, keyword_id)
    rules = rules_for(campaign.marketplace)
    unit = rules.campaign_unit(campaign.campaign_type, campaign.payment_type)
    if unit is None:
        why = rules.campaign_not_biddable(campaign.campaign_type, campaign.payment_type)
        raise BidChangeError(f"keyword {keyword.id}: {why}")
    why_not = rules.not_biddable(campaign.campaign_type, campaign.payment_type, keyword.kind)
    if why_not is not None:
        raise BidChangeError(f"keyword {keyword.id} takes no bid: {why_not}")
    if isinstance(new_bid, bool) or not isinstance(new_bid, int) or new_bid <= 0:
        raise BidChangeError(
            f"new_bid must be a positive integer in the campaign's bid unit ({unit}), got {new_bid!r}"
        )
    bid = unit.bid(new_bid)
    problem = rules.check_bid(bid, rules.min_bid(unit, keyword.min_bid))
    if problem:
        raise BidChangeError(f"new_bid {problem}")
    if campaign.max_bid is not None and bid > unit.bid(campaign.max_bid):
        raise BidChangeError(
            f"new_bid {bid} is above the campaign's max_bid {unit.bid(campaign.max_bid)}; raise max_bid first"
        )
    return ManualChange(keyword, campaign, account, bid)


def hold_until(hold: Any, now: datetime) -> datetime | None:
    """The moment a manual change holds until; None = held for good (`fixed`)."""
    if hold in (None, HOLD_NEXT_DAY):
        return moscow_day_start(moscow_today(now) + timedelta(days=1))
    if hold == HOLD_FIXED:
        return None
    if isinstance(hold, str):
        try:
            moment = datetime.fromisoformat(hold)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None and moment > now:
            return moment
    raise BidChangeError(
        f"hold must be {HOLD_NEXT_DAY!r}, {HOLD_FIXED!r} or a future ISO time with a time zone, got {hold!r}"
    )


def apply_manual_change(
    keyword_id: Any,
    new_bid: Any,
    reason: str,
    source: str = "manual",
    task_id: str | None = None,
    hold: Any = None,
) -> dict[str, Any]:
    now = now_utc()
    until = hold_until(hold, now)
    with session_scope() as session:
        change = validate_manual_change(session, keyword_id, new_bid, source)
        keyword, campaign, account = change.keyword, change.campaign, change.account
        if until is None:
            keyword.is_fixed = True
        else:
            keyword.held_until = max(until, keyword.held_until or until)
        rules = rules_for(campaign.marketplace)
        unit = change.bid.unit
        item = keyword_domain(keyword, campaign)
        planned = PlannedBid(
            campaign.id,
            keyword.id,
            (campaign.external_id, keyword.external_id),
            unit.bid(keyword.current_bid) if keyword.current_bid is not None else None,
            change.bid,
            source,
            campaign.strategy_type,
            reason or source,
            keyword.product_id,
            keyword.keyword,
        )
        held = "held for good (is_fixed)" if until is None else f"held until {until.isoformat()}"

    async def send() -> dict[str, Any]:
        async with AdapterPool() as pool:
            adapter = pool.get(account)
            # A retried or redelivered attempt reads the marketplace's bid before sending again.
            current = await adapter.get_current_bids([item])
            outcome = ApplyOutcome()
            with session_scope() as session:
                busy = reconcile(
                    session,
                    open_intents(session, [planned.keyword_id]),
                    current,
                    {planned.keyword_id: planned.key},
                    outcome,
                    rules.apply_delay,
                )
            shown = current.get(planned.key)
            already = shown == planned.new_bid.amount
            if busy or (already and _not_shown_yet(planned.keyword_id, shown, rules.apply_delay)):
                raise BidChangeBusy(
                    f"keyword {planned.keyword_id} has a change on its way; retrying after the "
                    f"marketplace's apply delay",
                    rules.apply_delay.total_seconds(),
                )
            if already:
                status = "applied" if outcome.reconciled_applied else "unchanged"
                return {"status": status, "new_bid": planned.new_bid.amount, "unit": unit.value, "hold": held}
            try:
                with session_scope() as session:
                    intent_id = record_intents(session, [planned], cycle_run_id=None, task_id=task_id)[0].id
            except IntegrityError:
                raise BidChangeBusy(
                    f"keyword {planned.keyword_id}: a bid cycle wrote a change at the same moment; retrying",
                    rules.apply_delay.total_seconds(),
                ) from None
            try:
                results = await adapter.set_bids([planned.change()])
            except AdapterError as error:
                with session_scope() as session:
                    mark_unknown(session, intents_by_id(session, [intent_id]), error)
                raise
            with session_scope() as session:
                done = mark_results(session, intents_by_id(session, [intent_id]), [planned], results)
            if done.failed:
                sent = all(r.sent for r in results)
                who = "the marketplace refused the bid" if sent else "the bid was not sent"
                raise BidChangeError(f"{who}: {'; '.join(done.errors or [])}")
            return {
                "status": "applied" if done.applied else "unknown",
                "new_bid": planned.new_bid.amount,
                "unit": unit.value,
                "intent_id": intent_id,
                "hold": held,
            }

    return asyncio.run(send())


def _not_shown_yet(keyword_id: int, shown: int | None, apply_delay: timedelta) -> bool:
    """A change of this keyword applied within the apply delay whose bid the marketplace does not
    show yet (it may still land after ours)."""
    with session_scope() as session:
        recent = session.scalars(
            select(MarketingBidIntent.new_bid)
            .where(
                MarketingBidIntent.keyword_id == keyword_id,
                MarketingBidIntent.status == BidIntentStatus.APPLIED,
                MarketingBidIntent.applied_at > now_utc() - apply_delay,
            )
            .order_by(MarketingBidIntent.id.desc())
            .limit(1)
        ).first()
    return recent is not None and recent != shown


def keyword_domain(keyword: MarketingKeyword, campaign: MarketingCampaign) -> Keyword:
    return Keyword(
        campaign.external_id,
        keyword.external_id,
        keyword.keyword,
        keyword.kind,
        keyword.product_id,
        keyword.current_bid,
        keyword.status,
    )
