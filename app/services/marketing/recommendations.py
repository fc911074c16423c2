"""Stored recommendations and a person's decision on them (issue 11 item 3).

Life cycle: `pending` → `accepted` | `rejected` | `expired`; an accepted one that ADOLF can carry
out becomes `applied`:

1. a night's recommendations of one source supersede the pending ones of that source from older
   runs for the same campaigns (→ `expired`); any pending older than `PENDING_DAYS` expires too;
2. accepting locks the row (`SELECT ... FOR UPDATE`) for the whole decision, so two people
   accepting at once apply it once; an `applied` one is never applied again;
3. a bid (raise / lower) is checked again against today's limits with `guards.guard_bid` and
   against the keyword's bid (a bid changed since the night is not overwritten), then applied
   through `manual_bids.apply_manual_change` — the service of `apply_bid_change` — with bid source
   `recommendation`: one intent, one marketplace call, one history row;
4. a budget move changes both campaigns' `daily_limit` (ADOLF's own limits) in one transaction;
5. a pause or a minus phrase is `accepted`: a person does it in the seller's cabinet (ADOLF
   pauses keywords only through its safety rules).

If applying fails, the row stays `accepted` with the error in `status_note`; accepting it again
retries, and the intent protocol reads the marketplace's bid before sending anything twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.database import session_scope
from app.models.marketing import (
    BID_RECOMMENDATION_TYPES,
    MarketingCampaign,
    MarketingKeyword,
    MarketingRecommendation,
    RecommendationSource,
    RecommendationStatus,
    RecommendationType,
)
from app.services.marketing.adapters.base import AdapterError
from app.services.marketing.guards import guard_bid, marketplace_limits
from app.services.marketing.manual_bids import BidChangeError, apply_manual_change
from app.services.marketing.recommendation_rules import Proposal

PENDING_DAYS = 7


class RecommendationError(ValueError):
    """The decision cannot be made; the message says why and what to do."""


def store_proposals(
    session: Session,
    run_id: int,
    source: RecommendationSource,
    proposals: Sequence[Proposal],
    campaign_ids: Collection[int],
    model: str | None = None,
) -> int:
    """Insert `proposals`; expire the pending ones of `source` from older runs of these campaigns."""
    rec = MarketingRecommendation
    if campaign_ids:
        session.execute(
            update(rec)
            .where(
                rec.campaign_id.in_(list(campaign_ids)),
                rec.source == source.value,
                rec.status == RecommendationStatus.PENDING.value,
                rec.analytics_run_id < run_id,
            )
            .values(
                status=RecommendationStatus.EXPIRED.value, status_note=f"superseded by analytics run {run_id}"
            )
        )
    for proposal in proposals:
        session.add(
            MarketingRecommendation(
                campaign_id=proposal.campaign_id,
                keyword_id=proposal.keyword_id,
                analytics_run_id=run_id,
                recommendation_type=proposal.recommendation_type.value,
                priority=proposal.priority.value,
                title=proposal.title[:500],
                reason=proposal.reason,
                description=proposal.description,
                expected_effect=proposal.expected_effect,
                expected_spend_change=proposal.expected_spend_change,
                expected_revenue_change=proposal.expected_revenue_change,
                current_bid=proposal.current_bid,
                proposed_bid=proposal.proposed_bid,
                data=proposal.data,
                source=source.value,
                model=model,
                created_at=now_utc(),
            )
        )
    session.flush()
    return len(proposals)


def expire_stale(session: Session, now: datetime) -> int:
    rec = MarketingRecommendation
    result = session.execute(
        update(rec)
        .where(
            rec.status == RecommendationStatus.PENDING.value,
            rec.created_at < now - timedelta(days=PENDING_DAYS),
        )
        .values(
            status=RecommendationStatus.EXPIRED.value, status_note=f"not decided within {PENDING_DAYS} days"
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Decision:
    recommendation_id: int
    status: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.recommendation_id, "status": self.status, "message": self.message}


def _locked(session: Session, recommendation_id: int) -> MarketingRecommendation:
    row = session.scalars(
        select(MarketingRecommendation)
        .where(MarketingRecommendation.id == recommendation_id)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise RecommendationError(
            f"no recommendation with id {recommendation_id}; see `adolf-marketing recommendations list`"
        )
    return row


def reject(recommendation_id: int, decided_by: str, reason: str = "") -> Decision:
    with session_scope() as session:
        row = _locked(session, recommendation_id)
        if row.status != RecommendationStatus.PENDING.value:
            raise RecommendationError(
                f"recommendation {recommendation_id} is {row.status}: only pending ones can be rejected"
            )
        row.status = RecommendationStatus.REJECTED.value
        row.decided_at, row.decided_by = now_utc(), decided_by
        row.status_note = reason or "rejected"
        return Decision(row.id, row.status, f"rejected: {row.title}")


def accept(recommendation_id: int, decided_by: str) -> Decision:
    with session_scope() as session:
        row = _locked(session, recommendation_id)
        if row.status == RecommendationStatus.APPLIED.value:
            return Decision(
                row.id, row.status, f"already applied at {row.applied_at:%Y-%m-%d %H:%M} UTC: nothing sent"
            )
        if row.status not in (RecommendationStatus.PENDING.value, RecommendationStatus.ACCEPTED.value):
            raise RecommendationError(
                f"recommendation {recommendation_id} is {row.status}: it can no longer be accepted"
            )
        if row.status == RecommendationStatus.PENDING.value:
            row.status = RecommendationStatus.ACCEPTED.value
            row.decided_at, row.decided_by = now_utc(), decided_by
        kind = row.recommendation_type
        if kind in BID_RECOMMENDATION_TYPES:
            return _apply_bid(session, row)
        if kind == RecommendationType.MOVE_BUDGET:
            return _apply_budget_move(session, row)
        row.status_note = "accepted: carry it out in the seller's cabinet (ADOLF does not pause on request)"
        return Decision(row.id, row.status, row.status_note)


def _apply_bid(session: Session, row: MarketingRecommendation) -> Decision:
    keyword = session.get(MarketingKeyword, row.keyword_id) if row.keyword_id else None
    if keyword is None or row.proposed_bid is None:
        raise RecommendationError(f"recommendation {row.id}: its keyword no longer exists; reject it")
    campaign = keyword.campaign
    if keyword.current_bid != row.current_bid:
        raise RecommendationError(
            f"recommendation {row.id}: the bid changed since it was made ({row.current_bid} → "
            f"{keyword.current_bid}); reject it and wait for tonight's recommendations"
        )
    guarded = guard_bid(
        row.proposed_bid,
        keyword_min_bid=keyword.min_bid,
        campaign_max_bid=campaign.max_bid,
        limits=marketplace_limits(campaign.marketplace, campaign.campaign_type, campaign.payment_type),
    )
    if guarded.bid != row.proposed_bid:
        raise RecommendationError(
            f"recommendation {row.id}: bid {row.proposed_bid} is outside today's limits "
            f"({guarded.note}); reject it"
        )
    reason = f"recommendation {row.id} ({row.source}): {row.reason}"[:1000]
    try:
        result = apply_manual_change(keyword.id, row.proposed_bid, reason, source="recommendation")
    except (AdapterError, BidChangeError) as error:
        row.status_note = f"applying failed: {error}; accept it again to retry"
        return Decision(row.id, row.status, row.status_note)
    if result["status"] not in ("applied", "unchanged"):
        row.status_note = (
            f"the marketplace did not confirm the bid ({result['status']}); accept it again to retry"
        )
        return Decision(row.id, row.status, row.status_note)
    row.status, row.applied_at = RecommendationStatus.APPLIED.value, now_utc()
    row.status_note = f"bid {row.current_bid} → {row.proposed_bid} applied"
    return Decision(row.id, row.status, row.status_note)


def _apply_budget_move(session: Session, row: MarketingRecommendation) -> Decision:
    source_id, target_id, amount = (row.data.get(k) for k in ("from_campaign_id", "to_campaign_id", "amount"))
    donor = session.get(MarketingCampaign, source_id, with_for_update=True)
    recipient = session.get(MarketingCampaign, target_id, with_for_update=True)
    if donor is None or recipient is None or not isinstance(amount, int):
        raise RecommendationError(
            f"recommendation {row.id}: a campaign of the move no longer exists; reject it"
        )
    if not donor.daily_limit or donor.daily_limit <= amount or not recipient.daily_limit:
        raise RecommendationError(
            f"recommendation {row.id}: the daily limits changed since it was made; reject it"
        )
    donor.daily_limit -= amount
    recipient.daily_limit += amount
    row.status, row.applied_at = RecommendationStatus.APPLIED.value, now_utc()
    row.status_note = (
        f"daily limits now {donor.daily_limit / 100:.2f} ₽ («{donor.name}») and "
        f"{recipient.daily_limit / 100:.2f} ₽ («{recipient.name}»)"
    )
    return Decision(row.id, row.status, row.status_note)
