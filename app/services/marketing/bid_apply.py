"""Bids applied exactly once (issue 6 item 4; DESIGN.md §3 "Bids are applied once";
celery-reliability.md §2).

1. **Intent first**: one `marketing_bid_intents` row per change, committed before the API call,
   in a transaction that first checks the fencing token — a cycle that lost its lock (a newer
   cycle run exists) cannot write.
2. **Send**: absolute values ("set bid to X"), batched by the adapter.
3. **Mark**: applied → one `marketing_bid_history` row per intent (unique), the keyword's
   `current_bid` updated and any remembered refusal cleared; refused → failed with the
   marketplace's reason, remembered on the keyword so the same value is not sent again;
   no answer (timeout, crash) → `unknown`.
4. **Reconcile**: before a retried or redelivered attempt sends anything, every open intent
   (pending/unknown) *older than the marketplace's apply delay* is compared with the marketplace's
   current bid, read fresh: equal → it was applied (history written now), different → it did not
   happen (failed) and may be decided anew by a later cycle. A younger one may still be on its way
   (WB applies bids on a 30-second tick): it stays open, its keyword is not decided again, and the
   read-back after the apply delay settles it (issue 9 finding 13).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.money import Bid
from app.models.marketing import (
    OPEN_BID_INTENT_STATUSES,
    MarketingBidHistory,
    MarketingBidIntent,
    MarketingCycleRun,
    MarketingKeyword,
)
from app.services.marketing.adapters.base import AdapterError, BidChange, ItemResult

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (campaign external id, keyword external id)


class FencingError(Exception):
    """This bid cycle lost its lock: a newer cycle run exists, so it must not write money."""


@dataclass(frozen=True)
class PlannedBid:
    """One change to make, in the keyword's bid unit (converted to the marketplace's own unit only
    by the adapter: `change()` hands it the integer of that unit)."""

    campaign_id: int
    keyword_id: int
    key: Key
    old_bid: Bid | None
    new_bid: Bid
    source: str  # bid_cycle | manual | rollback
    strategy_type: str | None
    reason: str
    product_id: str | None = None
    keyword: str | None = None
    base_bid: Bid | None = None  # the strategy's level before dayparting (bid_engine rule 3)

    def change(self) -> BidChange:
        return BidChange(self.key[0], self.key[1], self.new_bid.amount, self.product_id, self.keyword)


@dataclass
class ApplyOutcome:
    applied: int = 0
    failed: int = 0
    unknown: int = 0
    dry_run: int = 0
    reconciled_applied: int = 0
    reconciled_failed: int = 0
    in_flight: int = 0
    errors: list[str] | None = None


def check_fence(session: Session, cycle_run_id: int | None) -> None:
    """Raise FencingError unless `cycle_run_id` is the newest non-skipped cycle run.

    Manual changes (no cycle run) are not fenced. The advisory lock serialises this check (and
    the intents written after it in the same transaction) with the start of a newer cycle run.
    """
    if cycle_run_id is None:
        return
    take_fence_lock(session)
    newest = session.scalar(
        select(func.max(MarketingCycleRun.id)).where(MarketingCycleRun.status != "skipped")
    )
    if newest != cycle_run_id:
        raise FencingError(
            f"bid cycle run {cycle_run_id} lost its lock to run {newest}; it stops before writing bids"
        )


# Arbitrary constant key of the transaction-level advisory lock around the fence.
FENCE_LOCK_KEY = 0x6D61726B6574  # "market"


def take_fence_lock(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FENCE_LOCK_KEY})


def start_cycle_run(session: Session, task_id: str | None) -> MarketingCycleRun:
    """A new cycle run; its id is the fencing token. Serialised with every fence check."""
    take_fence_lock(session)
    run = MarketingCycleRun(task_id=task_id, status="running", started_at=now_utc())
    session.add(run)
    session.flush()
    return run


def intents_by_id(session: Session, ids: Sequence[int]) -> list[MarketingBidIntent]:
    """The intents of `ids`, in that order (to mark them after the call, in a new session)."""
    found = {
        i.id: i for i in session.scalars(select(MarketingBidIntent).where(MarketingBidIntent.id.in_(ids)))
    }
    return [found[i] for i in ids]


def open_intents(session: Session, keyword_ids: Sequence[int]) -> list[MarketingBidIntent]:
    if not keyword_ids:
        return []
    return list(
        session.scalars(
            select(MarketingBidIntent).where(
                MarketingBidIntent.keyword_id.in_(keyword_ids),
                MarketingBidIntent.status.in_(OPEN_BID_INTENT_STATUSES),
            )
        )
    )


def reconcile(
    session: Session,
    intents: Sequence[MarketingBidIntent],
    current_bids: Mapping[Key, int],
    keys: Mapping[int, Key],
    outcome: ApplyOutcome,
    apply_delay: timedelta = timedelta(0),
) -> set[int]:
    """Settle open intents from an earlier attempt against the marketplace's current bids; return
    the keyword ids of the intents too young to settle (still in flight)."""
    now = now_utc()
    in_flight: set[int] = set()
    for intent in intents:
        if intent.created_at is not None and intent.created_at > now - apply_delay:
            in_flight.add(intent.keyword_id or -1)
            outcome.in_flight += 1
            continue
        key = keys.get(intent.keyword_id or -1)
        current = current_bids.get(key) if key else None
        if current is not None and current == intent.new_bid:
            _mark_applied(session, intent, now)
            outcome.reconciled_applied += 1
        else:
            intent.status = "failed"
            intent.error = (
                f"not applied: the marketplace shows {current if current is not None else 'no bid'} "
                f"instead of {intent.new_bid} after an interrupted attempt"
            )
            outcome.reconciled_failed += 1
    return in_flight


def record_intents(
    session: Session,
    planned: Sequence[PlannedBid],
    *,
    cycle_run_id: int | None,
    task_id: str | None,
    dry_run_campaigns: frozenset[int] = frozenset(),
) -> list[MarketingBidIntent]:
    """Write one intent per change (dry-run campaigns: recorded as dry_run, never sent)."""
    check_fence(session, cycle_run_id)
    # One reading of the clock for the batch: under CLOCK_URL it is an HTTP call, and this
    # transaction holds the fence lock that every other account's cycle waits for.
    now = now_utc()
    intents = []
    for bid in planned:
        intent = MarketingBidIntent(
            cycle_run_id=cycle_run_id,
            campaign_id=bid.campaign_id,
            keyword_id=bid.keyword_id,
            fencing_token=cycle_run_id,
            old_bid=bid.old_bid.amount if bid.old_bid is not None else None,
            new_bid=bid.new_bid.amount,
            bid_unit=bid.new_bid.unit.value,
            base_bid=bid.base_bid.amount if bid.base_bid is not None else None,
            source=bid.source,
            strategy_type=bid.strategy_type,
            reason=bid.reason,
            status="dry_run" if bid.campaign_id in dry_run_campaigns else "pending",
            attempts=0 if bid.campaign_id in dry_run_campaigns else 1,
            task_id=task_id,
            created_at=now,
        )
        session.add(intent)
        intents.append(intent)
    session.flush()
    return intents


def mark_results(
    session: Session,
    intents: Sequence[MarketingBidIntent],
    planned: Sequence[PlannedBid],
    results: Sequence[ItemResult],
) -> ApplyOutcome:
    """Mark each sent intent by the marketplace's per-item answer."""
    outcome = ApplyOutcome(errors=[])
    by_key = {r.key: r for r in results}
    now = now_utc()
    for intent, bid in zip(intents, planned, strict=True):
        session.add(intent)
        result = by_key.get(bid.key)
        if result is None:
            intent.status = "unknown"
            intent.error = "the marketplace's answer did not mention this item"
            outcome.unknown += 1
        elif result.ok:
            _mark_applied(session, intent, now)
            outcome.applied += 1
        else:
            intent.status = "failed"
            intent.error = result.error
            outcome.failed += 1
            assert outcome.errors is not None
            outcome.errors.append(f"{bid.key[1]}: {result.error}")
            _remember_refusal(session, intent, result.error or "refused", now)
    return outcome


def _remember_refusal(session: Session, intent: MarketingBidIntent, error: str, now: datetime) -> None:
    """The keyword keeps what the marketplace refused, so the cycle does not send it again."""
    keyword = session.get(MarketingKeyword, intent.keyword_id) if intent.keyword_id else None
    if keyword is not None:
        keyword.refused_bid, keyword.refused_reason, keyword.refused_at = intent.new_bid, error[:2000], now


def mark_unknown(session: Session, intents: Sequence[MarketingBidIntent], error: AdapterError) -> None:
    """The call failed without a per-item answer: the change may or may not have happened."""
    for intent in intents:
        session.add(intent)
        intent.status = "unknown"
        intent.error = str(error)


def _mark_applied(session: Session, intent: MarketingBidIntent, now: datetime) -> None:
    intent.status = "applied"
    intent.applied_at = now
    intent.error = None
    session.add(
        MarketingBidHistory(
            campaign_id=intent.campaign_id,
            keyword_id=intent.keyword_id,
            intent_id=intent.id,
            cycle_run_id=intent.cycle_run_id,
            old_bid=intent.old_bid,
            new_bid=intent.new_bid,
            bid_unit=intent.bid_unit,
            base_bid=intent.base_bid,
            source=intent.source,
            strategy_type=intent.strategy_type,
            reason=intent.reason,
            created_at=now,
        )
    )
    if intent.keyword_id is not None:
        keyword = session.get(MarketingKeyword, intent.keyword_id)
        if keyword is not None:
            keyword.current_bid = intent.new_bid
            keyword.refused_bid = keyword.refused_reason = keyword.refused_at = None
