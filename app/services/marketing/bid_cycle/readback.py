"""Read-back after the marketplaces' apply delay (`confirm_bids`, scheduled by the cycle's finish).

1. The run's applied intents: does the marketplace show each bid? Confirmed, or a mismatch with one
   alert per bid that did not stick.
2. The run's still-open intents (an attempt interrupted mid-send — issue 9 finding 13): settled now
   against what the marketplace shows, the apply delay having passed — applied (history written)
   or failed (a later cycle decides the keyword again). Never re-sent here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.database import session_scope
from app.models.base import any_of
from app.models.marketing import OPEN_BID_INTENT_STATUSES, MarketingBidIntent, MarketplaceAccount
from app.services.marketing.adapters.base import AdapterError, Keyword
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.bid_apply import ApplyOutcome, reconcile
from app.services.marketing.runtime import AdapterPool

logger = logging.getLogger(__name__)
Key = tuple[str, str]


def _keyword(intent: MarketingBidIntent) -> Keyword | None:
    row = intent.keyword
    if row is None:
        return None
    return Keyword(
        intent.campaign.external_id,
        row.external_id,
        row.keyword,
        row.kind,
        row.product_id,
        row.current_bid,
        row.status,
    )


def _to_check(run_id: int) -> dict[int, tuple[MarketplaceAccount, list[tuple[int, Keyword]]]]:
    """Per account: (intent id, item) of the run's applied-unconfirmed and open intents."""
    with session_scope() as session:
        rows = session.execute(
            select(MarketingBidIntent, MarketplaceAccount)
            .join(MarketingBidIntent.campaign)
            .join(MarketplaceAccount)
            .where(
                MarketingBidIntent.cycle_run_id == run_id,
                (
                    (MarketingBidIntent.status == "applied") & MarketingBidIntent.confirm_status.is_(None)
                    | MarketingBidIntent.status.in_(OPEN_BID_INTENT_STATUSES)
                ),
            )
        ).all()
        plan: dict[int, tuple[MarketplaceAccount, list[tuple[int, Keyword]]]] = {}
        for intent, account in rows:
            item = _keyword(intent)
            if item is not None:
                plan.setdefault(account.id, (account, []))[1].append((intent.id, item))
        return plan


async def _read(
    plan: dict[int, tuple[MarketplaceAccount, list[tuple[int, Keyword]]]], run_id: int
) -> dict[int, dict[Key, int]]:
    found: dict[int, dict[Key, int]] = {}
    async with AdapterPool() as pool:
        for account_id, (account, items) in plan.items():
            try:
                found[account_id] = await pool.get(account).get_current_bids([k for _, k in items])
            except AdapterError as error:
                logger.warning("read-back of run %s, account %s failed: %s", run_id, account_id, error)
    return found


def confirm_applied(run_id: int) -> dict[str, int]:
    plan = _to_check(run_id)
    current = asyncio.run(_read(plan, run_id)) if plan else {}
    counts = {"confirmed": 0, "mismatched": 0, "unchecked": 0, "settled_applied": 0, "settled_failed": 0}
    with session_scope() as session:
        for account_id, (_, items) in plan.items():
            bids = current.get(account_id)
            if bids is None:
                counts["unchecked"] += len(items)
                continue
            ids = [iid for iid, _ in items]
            intents = {
                i.id: i
                for i in session.scalars(select(MarketingBidIntent).where(any_of(MarketingBidIntent.id, ids)))
            }
            open_ones = [intents[iid] for iid, _ in items if intents[iid].status in OPEN_BID_INTENT_STATUSES]
            outcome = ApplyOutcome()
            keys = {
                intents[iid].keyword_id or -1: (k.campaign_external_id, k.external_id) for iid, k in items
            }
            reconcile(session, open_ones, bids, keys, outcome)
            counts["settled_applied"] += outcome.reconciled_applied
            counts["settled_failed"] += outcome.reconciled_failed
            applied = [(intents[iid], k) for iid, k in items if intents[iid] not in open_ones]
            _confirm(session, applied, bids, run_id, counts)
    return counts


def _confirm(
    session: Session,
    applied: Sequence[tuple[MarketingBidIntent, Keyword]],
    bids: dict[Key, int],
    run_id: int,
    counts: dict[str, int],
) -> None:
    for checked, item in applied:
        seen = bids.get((item.campaign_external_id, item.external_id))
        checked.confirmed_at = now_utc()
        if seen == checked.new_bid:
            checked.confirm_status = "confirmed"
            counts["confirmed"] += 1
            continue
        checked.confirm_status = "mismatch"
        counts["mismatched"] += 1
        create_alert(
            session,
            AlertRequest(
                "bid_not_applied",
                "warning",
                f"Bid did not stick: {item.keyword}",
                f"set {checked.new_bid}, the marketplace shows {seen}",
                campaign_id=checked.campaign_id,
                keyword_id=checked.keyword_id,
                details={"intent_id": checked.id, "run_id": run_id},
            ),
        )
