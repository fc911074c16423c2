"""One manual bid change through the same exactly-once path as the cycle (issue 6 item 4,
`apply_bid_change`): validate, reconcile an interrupted earlier attempt, intent, send, mark."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.orm import Session

from app.core.database import session_scope
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.services.marketing.adapters.base import AdapterError, Keyword
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


class BidChangeError(ValueError):
    """The requested change cannot be made; the message says why and what to do."""


def _load(
    session: Session, keyword_id: int
) -> tuple[MarketingKeyword, MarketingCampaign, MarketplaceAccount]:
    keyword = session.get(MarketingKeyword, keyword_id)
    if keyword is None:
        raise BidChangeError(f"no keyword with id {keyword_id}")
    campaign = keyword.campaign
    account = campaign.account
    if campaign.is_removed or keyword.status == "removed":
        raise BidChangeError(f"keyword {keyword_id} or its campaign no longer exists on the marketplace")
    return keyword, campaign, account


def validate(new_bid: Any, campaign: MarketingCampaign, source: str) -> int:
    if isinstance(new_bid, bool) or not isinstance(new_bid, int) or new_bid <= 0:
        raise BidChangeError(
            f"new_bid must be a positive integer in the marketplace's bid unit, got {new_bid!r}"
        )
    if campaign.max_bid is not None and new_bid > campaign.max_bid:
        raise BidChangeError(
            f"new_bid {new_bid} is above the campaign's max_bid {campaign.max_bid}; raise max_bid first"
        )
    if source not in BID_SOURCES:
        raise BidChangeError(f"source must be one of {', '.join(BID_SOURCES)}")
    return new_bid


def apply_manual_change(
    keyword_id: int, new_bid: Any, reason: str, source: str = "manual", task_id: str | None = None
) -> dict[str, Any]:
    with session_scope() as session:
        keyword, campaign, account = _load(session, keyword_id)
        bid = validate(new_bid, campaign, source)
        item = Keyword(
            campaign.external_id,
            keyword.external_id,
            keyword.keyword,
            keyword.kind,
            keyword.product_id,
            keyword.current_bid,
            keyword.status,
        )
        planned = PlannedBid(
            campaign.id,
            keyword.id,
            (campaign.external_id, keyword.external_id),
            keyword.current_bid,
            bid,
            source,
            campaign.strategy_type,
            reason or source,
            keyword.product_id,
            keyword.keyword,
        )

    async def send() -> dict[str, Any]:
        async with AdapterPool() as pool:
            adapter = pool.get(account)
            # A retried or redelivered attempt reads the marketplace's bid before sending again.
            current = await adapter.get_current_bids([item])
            outcome = ApplyOutcome()
            with session_scope() as session:
                reconcile(
                    session, open_intents(session, [keyword_id]), current, {keyword_id: planned.key}, outcome
                )
            if current.get(planned.key) == bid:
                return {
                    "status": "unchanged" if not outcome.reconciled_applied else "applied",
                    "new_bid": bid,
                }
            with session_scope() as session:
                intent_id = record_intents(session, [planned], cycle_run_id=None, task_id=task_id)[0].id
            try:
                results = await adapter.set_bids([planned.change()])
            except AdapterError as error:
                with session_scope() as session:
                    mark_unknown(session, intents_by_id(session, [intent_id]), error)
                raise
            with session_scope() as session:
                done = mark_results(session, intents_by_id(session, [intent_id]), [planned], results)
            if done.failed:
                raise BidChangeError(f"the marketplace refused the bid: {'; '.join(done.errors or [])}")
            return {
                "status": "applied" if done.applied else "unknown",
                "new_bid": bid,
                "intent_id": intent_id,
            }

    return asyncio.run(send())
