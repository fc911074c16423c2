"""Bids applied exactly once (issue 6 item 4; DESIGN.md §3 "Bids are applied once";
celery-reliability.md §2).

1. **Intent first**: one `marketing_bid_intents` row per change, committed before the API call,
   in a transaction that first checks the fencing token — a cycle that lost its lock (a newer
   cycle run exists) cannot write — and, under the same lock, leaves out every keyword the run
   already has an intent for: a second delivery of an account's task running at the same time as
   the first (issue 14, scenario 4) decides nothing twice.
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

Each step is a few set-based statements for the whole batch (issue 16 item 1): intents inserted
from arrays (`unnest`), results marked with one UPDATE per outcome, history copied from the intent
rows in one INSERT … SELECT, keywords updated in one UPDATE … FROM; lookups by `= ANY(array)`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.core.clock import now_utc
from app.core.money import Bid
from app.models.base import any_of
from app.models.marketing import (
    OPEN_BID_INTENT_STATUSES,
    MarketingBidIntent,
    MarketingCycleRun,
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


@dataclass
class IntentRow:
    """What the protocol needs of one intent row (read or written set-based, not as ORM objects)."""

    id: int
    campaign_id: int
    keyword_id: int | None
    new_bid: int
    status: str
    created_at: datetime | None
    cycle_run_id: int | None = None
    error: str | None = None
    applied_at: datetime | None = None


class IntentLike(Protocol):
    """An IntentRow or a MarketingBidIntent (the read-back holds ORM rows)."""

    @property
    def id(self) -> int: ...
    @property
    def keyword_id(self) -> int | None: ...
    @property
    def new_bid(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...


_INTENT_COLUMNS = "id, campaign_id, keyword_id, new_bid, status, created_at, cycle_run_id, error, applied_at"


def intents_by_id(session: Session, ids: Sequence[int]) -> list[IntentRow]:
    """The intents of `ids`, in that order (to mark them after the call, in a new session)."""
    if not ids:
        return []
    rows = session.execute(
        text(f"SELECT {_INTENT_COLUMNS} FROM marketing_bid_intents WHERE id = ANY(CAST(:ids AS bigint[]))"),
        {"ids": list(ids)},
    )
    found = {r.id: IntentRow(*r) for r in rows}
    return [found[i] for i in ids]


def open_intents(session: Session, keyword_ids: Sequence[int]) -> list[IntentRow]:
    if not keyword_ids:
        return []
    rows = session.execute(
        text(
            f"SELECT {_INTENT_COLUMNS} FROM marketing_bid_intents "
            "WHERE keyword_id = ANY(CAST(:ids AS bigint[])) AND status = ANY(CAST(:open AS text[]))"
        ),
        {"ids": list(keyword_ids), "open": list(OPEN_BID_INTENT_STATUSES)},
    )
    return [IntentRow(*r) for r in rows]


def reconcile(
    session: Session,
    intents: Sequence[IntentLike],
    current_bids: Mapping[Key, int],
    keys: Mapping[int, Key],
    outcome: ApplyOutcome,
    apply_delay: timedelta = timedelta(0),
) -> set[int]:
    """Settle open intents from an earlier attempt against the marketplace's current bids; return
    the keyword ids of the intents too young to settle (still in flight)."""
    now = now_utc()
    in_flight: set[int] = set()
    applied: list[IntentLike] = []
    failed: list[tuple[IntentLike, str]] = []
    for intent in intents:
        if intent.created_at is not None and intent.created_at > now - apply_delay:
            in_flight.add(intent.keyword_id or -1)
            outcome.in_flight += 1
            continue
        key = keys.get(intent.keyword_id or -1)
        current = current_bids.get(key) if key else None
        if current is not None and current == intent.new_bid:
            applied.append(intent)
            outcome.reconciled_applied += 1
        else:
            failed.append(
                (
                    intent,
                    f"not applied: the marketplace shows {current if current is not None else 'no bid'} "
                    f"instead of {intent.new_bid} after an interrupted attempt",
                )
            )
            outcome.reconciled_failed += 1
    _mark_applied(session, applied, now)
    _set_status(session, failed, "failed")
    return in_flight


def record_intents(
    session: Session,
    planned: Sequence[PlannedBid],
    *,
    cycle_run_id: int | None,
    task_id: str | None,
    dry_run_campaigns: frozenset[int] = frozenset(),
) -> list[IntentRow]:
    """Write one intent per change (dry-run campaigns: recorded as dry_run, never sent), in one
    INSERT of arrays after the fence check (ids drawn first, so each change knows its row).

    A change of a keyword the cycle run already has an intent for is left out (logged): the
    rows returned are those of the changes kept, in their order. The fence lock makes the check
    and the insert atomic against another attempt of the same run."""
    check_fence(session, cycle_run_id)
    if cycle_run_id is not None and planned:
        decided = set(
            session.scalars(
                select(MarketingBidIntent.keyword_id).where(
                    MarketingBidIntent.cycle_run_id == cycle_run_id,
                    any_of(MarketingBidIntent.keyword_id, [bid.keyword_id for bid in planned]),
                )
            )
        )
        if decided:
            logger.warning(
                "cycle run %s: %d keywords already decided by another attempt of this run, not again",
                cycle_run_id,
                len(decided),
            )
            planned = [bid for bid in planned if bid.keyword_id not in decided]
    if not planned:
        return []
    # One reading of the clock for the batch: under CLOCK_URL it is an HTTP call, and this
    # transaction holds the fence lock that every other account's cycle waits for.
    now = now_utc()
    ids = list(
        session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('marketing_bid_intents', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": len(planned)},
        )
    )
    dry = [bid.campaign_id in dry_run_campaigns for bid in planned]
    session.execute(
        text(
            "INSERT INTO marketing_bid_intents (id, cycle_run_id, campaign_id, keyword_id, fencing_token, "
            "old_bid, new_bid, bid_unit, base_bid, source, strategy_type, reason, status, attempts, task_id, "
            "created_at) "
            "SELECT u.id, :run, u.campaign_id, u.keyword_id, :run, u.old_bid, u.new_bid, u.bid_unit, "
            "u.base_bid, u.source, u.strategy_type, u.reason, u.status, u.attempts, :task, :now "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:campaigns AS bigint[]), CAST(:keywords AS bigint[]), "
            "CAST(:old AS bigint[]), CAST(:new AS bigint[]), CAST(:units AS text[]), "
            "CAST(:bases AS bigint[]), CAST(:sources AS text[]), CAST(:strategies AS text[]), "
            "CAST(:reasons AS text[]), CAST(:statuses AS text[]), CAST(:attempts AS integer[])) "
            "AS u(id, campaign_id, keyword_id, old_bid, new_bid, bid_unit, base_bid, source, "
            "strategy_type, reason, status, attempts)"
        ),
        {
            "run": cycle_run_id,
            "task": task_id,
            "now": now,
            "ids": ids,
            "campaigns": [b.campaign_id for b in planned],
            "keywords": [b.keyword_id for b in planned],
            "old": [b.old_bid.amount if b.old_bid is not None else None for b in planned],
            "new": [b.new_bid.amount for b in planned],
            "units": [b.new_bid.unit.value for b in planned],
            "bases": [b.base_bid.amount if b.base_bid is not None else None for b in planned],
            "sources": [b.source for b in planned],
            "strategies": [b.strategy_type for b in planned],
            "reasons": [b.reason for b in planned],
            "statuses": ["dry_run" if d else "pending" for d in dry],
            "attempts": [0 if d else 1 for d in dry],
        },
    )
    return [
        IntentRow(
            iid,
            bid.campaign_id,
            bid.keyword_id,
            bid.new_bid.amount,
            "dry_run" if d else "pending",
            now,
            cycle_run_id,
        )
        for iid, bid, d in zip(ids, planned, dry, strict=True)
    ]


def mark_results(
    session: Session,
    intents: Sequence[IntentLike],
    planned: Sequence[PlannedBid],
    results: Sequence[ItemResult],
) -> ApplyOutcome:
    """Mark each sent intent by the marketplace's per-item answer (a few array statements)."""
    outcome = ApplyOutcome(errors=[])
    by_key = {r.key: r for r in results}
    now = now_utc()
    applied: list[IntentLike] = []
    refused: list[tuple[IntentLike, str | None]] = []
    unknown: list[tuple[IntentLike, str | None]] = []
    for intent, bid in zip(intents, planned, strict=True):
        result = by_key.get(bid.key)
        if result is None:
            unknown.append((intent, "the marketplace's answer did not mention this item"))
            outcome.unknown += 1
        elif result.ok:
            applied.append(intent)
            outcome.applied += 1
        else:
            refused.append((intent, result.error))
            outcome.failed += 1
            assert outcome.errors is not None
            outcome.errors.append(f"{bid.key[1]}: {result.error}")
    _set_status(session, unknown, "unknown")
    _mark_applied(session, applied, now)
    _set_status(session, refused, "failed")
    _remember_refusals(session, refused, now)
    return outcome


def _remember_refusals(
    session: Session, refused: Sequence[tuple[IntentLike, str | None]], now: datetime
) -> None:
    """The keyword keeps what the marketplace refused, so the cycle does not send it again."""
    if not refused:
        return
    session.execute(
        text(
            "UPDATE marketing_keywords AS k SET refused_bid = i.new_bid, "
            "refused_reason = left(u.error, 2000), refused_at = :now, updated_at = now() "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[])) AS u(id, error) "
            "JOIN marketing_bid_intents AS i ON i.id = u.id WHERE k.id = i.keyword_id"
        ),
        {"ids": [i.id for i, _ in refused], "errors": [e or "refused" for _, e in refused], "now": now},
    )


def mark_unknown(session: Session, intents: Sequence[IntentLike], error: AdapterError) -> None:
    """The call failed without a per-item answer: the change may or may not have happened."""
    _set_status(session, [(intent, str(error)) for intent in intents], "unknown")


def _set_status(session: Session, intents: Sequence[tuple[IntentLike, str | None]], status: str) -> None:
    """One UPDATE: each intent gets `status` and its own error text."""
    if not intents:
        return
    session.execute(
        text(
            "UPDATE marketing_bid_intents AS i SET status = :status, error = u.error "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[])) AS u(id, error) WHERE i.id = u.id"
        ),
        {"status": status, "ids": [i.id for i, _ in intents], "errors": [e for _, e in intents]},
    )
    for intent, error in intents:
        _note(intent, status=status, error=error)


def _mark_applied(session: Session, intents: Sequence[IntentLike], now: datetime) -> None:
    """Applied, in three statements for the whole batch: the intents, one history row each (copied
    from the intent row), and the keywords' current bid (any remembered refusal cleared)."""
    if not intents:
        return
    ids = {"ids": [i.id for i in intents], "now": now}
    session.execute(
        text(
            "UPDATE marketing_bid_intents SET status = 'applied', applied_at = :now, error = NULL "
            "WHERE id = ANY(CAST(:ids AS bigint[]))"
        ),
        ids,
    )
    session.execute(
        text(
            "INSERT INTO marketing_bid_history (campaign_id, keyword_id, intent_id, cycle_run_id, old_bid, "
            "new_bid, bid_unit, base_bid, source, strategy_type, reason, created_at) "
            "SELECT campaign_id, keyword_id, id, cycle_run_id, old_bid, new_bid, bid_unit, base_bid, source, "
            "strategy_type, reason, :now FROM marketing_bid_intents "
            "WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id"
        ),
        ids,
    )
    session.execute(
        text(
            "UPDATE marketing_keywords AS k SET current_bid = i.new_bid, refused_bid = NULL, "
            "refused_reason = NULL, refused_at = NULL, updated_at = now() "
            "FROM marketing_bid_intents AS i WHERE i.id = ANY(CAST(:ids AS bigint[])) AND k.id = i.keyword_id"
        ),
        ids,
    )
    for intent in intents:
        _note(intent, status="applied", applied_at=now, error=None)


def _note(intent: IntentLike, **values: object) -> None:
    """Keep the caller's object in step with the row just written — an ORM instance without
    making it dirty (the UPDATE is done; a flush must not repeat it)."""
    mapped = isinstance(intent, MarketingBidIntent)
    for name, value in values.items():
        if mapped:
            set_committed_value(intent, name, value)
        else:
            setattr(intent, name, value)
