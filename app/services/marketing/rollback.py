"""Undoing bid changes (issue 12 items 3 and 5).

What a rollback restores, per keyword:

- `--run N`: the bid before cycle run N changed it — only where the bid is still what run N set
  (a keyword changed since is left alone, saying so: undoing the run must not undo later work);
- `--since TIME`: the bid the keyword had at TIME, i.e. before its first change since;
- `--keyword ID --to TIME`: its bid at TIME; without `--to`: the bid before its latest change;
- the Telegram button: the bid before one change (`request_change_rollback`), once per change
  however often and by whomever it is pressed (a unique `marketing_rollback_requests` row).

Each restored bid goes through the exactly-once path of manual changes
(`manual_bids.apply_manual_change`, source `rollback`) and is held like a manual change, so the
next cycle does not undo the rollback. Every item is checked first with `validate_manual_change`
(today's marketplace rules, the campaign's max_bid): an item that cannot be restored says why and
the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.database import session_scope
from app.models.core import ChannelKind, User, UserRole
from app.models.marketing import (
    BidSource,
    MarketingBidHistory,
    MarketingCampaign,
    MarketingKeyword,
    MarketingRollbackRequest,
    RollbackRequestStatus,
)
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.bid_history import HistoryQuery, format_bid, history_rows
from app.services.marketing.manual_bids import BidChangeError, apply_manual_change, validate_manual_change
from app.services.notification import NotificationService
from app.services.notify.delivery import queue_deliveries


class RollbackError(ValueError):
    """Nothing can be rolled back as asked; the message says why and what to do."""


@dataclass
class RollbackItem:
    keyword_id: int
    keyword: str
    campaign: str
    marketplace: str
    unit: str | None
    current: int | None
    target: int | None
    skip: str | None = None  # why this keyword is not restored
    change_ids: list[int] = field(default_factory=list)

    @property
    def current_text(self) -> str:
        return format_bid(self.current, self.unit)

    @property
    def target_text(self) -> str:
        return format_bid(self.target, self.unit)


def last_run_with_changes(session: Session) -> int | None:
    """The newest bid cycle run that changed a bid."""
    return session.scalar(
        select(MarketingBidHistory.cycle_run_id)
        .where(
            MarketingBidHistory.source == BidSource.BID_CYCLE, MarketingBidHistory.cycle_run_id.is_not(None)
        )
        .order_by(MarketingBidHistory.id.desc())
        .limit(1)
    )


def _items(session: Session, rows: list[Any], target_of: str) -> dict[int, RollbackItem]:
    """Per keyword (rows oldest first): the target is the first row's old bid ("old") or the last
    row's new bid ("new")."""
    items: dict[int, RollbackItem] = {}
    for row in rows:
        change = row.change
        if change.keyword_id is None:
            continue
        item = items.get(change.keyword_id)
        if item is None:
            keyword = session.get(MarketingKeyword, change.keyword_id)
            item = items[change.keyword_id] = RollbackItem(
                change.keyword_id,
                row.keyword or "?",
                row.campaign,
                row.marketplace,
                change.bid_unit,
                keyword.current_bid if keyword else None,
                change.old_bid,
            )
        if target_of == "new":
            item.target = change.new_bid
        item.change_ids.append(change.id)
    return items


def plan_run(session: Session, run_id: int) -> list[RollbackItem]:
    rows = history_rows(
        session, HistoryQuery(run_id=run_id, source=BidSource.BID_CYCLE, limit=None, oldest_first=True)
    )
    if not rows:
        raise RollbackError(
            f"bid cycle run {run_id} changed no bids; nothing to roll back (see `adolf-marketing history`)"
        )
    items = _items(session, rows, "old")
    run_set = {row.change.keyword_id: row.change.new_bid for row in rows}
    for keyword_id, item in items.items():
        if item.current != run_set[keyword_id]:
            item.skip = (
                f"changed since run {run_id} (now {item.current_text}); "
                f"use `rollback --keyword {keyword_id}` to restore it anyway"
            )
    return _checked(session, list(items.values()))


def plan_since(session: Session, since: datetime) -> list[RollbackItem]:
    rows = history_rows(session, HistoryQuery(since=since, limit=None, oldest_first=True))
    if not rows:
        raise RollbackError(f"no bid changed since {since:%Y-%m-%d %H:%M} UTC; nothing to roll back")
    return _checked(session, list(_items(session, rows, "old").values()))


def plan_keyword(session: Session, keyword_id: int, to: datetime | None) -> list[RollbackItem]:
    if session.get(MarketingKeyword, keyword_id) is None:
        raise RollbackError(f"no keyword with id {keyword_id}; see `adolf-marketing campaigns show ID`")
    if to is None:
        latest = history_rows(session, HistoryQuery(keyword_id=keyword_id, limit=1))
        if not latest:
            raise RollbackError(f"keyword {keyword_id} has no bid changes; nothing to roll back")
        return _checked(session, list(_items(session, latest, "old").values()))
    before = history_rows(session, HistoryQuery(keyword_id=keyword_id, until=to, limit=1))
    if before:
        items = _items(session, before, "new")
    else:
        after = history_rows(
            session, HistoryQuery(keyword_id=keyword_id, since=to, limit=1, oldest_first=True)
        )
        if not after:
            raise RollbackError(f"keyword {keyword_id} has no bid changes; nothing to roll back")
        items = _items(session, after, "old")
    return _checked(session, list(items.values()))


def _checked(session: Session, items: list[RollbackItem]) -> list[RollbackItem]:
    """Mark the items that cannot or need not be restored."""
    for item in items:
        if item.skip:
            continue
        keyword = session.get(MarketingKeyword, item.keyword_id)
        assert keyword is not None
        campaign = keyword.campaign
        unit = rules_for(campaign.marketplace).campaign_unit(campaign.campaign_type, campaign.payment_type)
        if item.target is None:
            item.skip = "the bid before the change is not known"
        elif item.current == item.target:
            item.skip = f"already at {item.target_text}"
        elif item.unit and unit is not None and item.unit != unit.value:
            item.skip = f"the campaign bids in {unit} now, the change was in {item.unit}"
        else:
            try:
                validate_manual_change(session, item.keyword_id, item.target, BidSource.ROLLBACK)
            except BidChangeError as error:
                item.skip = str(error)
    return items


# --- the Telegram button -------------------------------------------------------------------------


def may_roll_back(user: User, campaign: MarketingCampaign) -> str | None:
    """Why `user` may not roll back a change of `campaign` (spec 7.3.7 roles): managers only their
    brand's campaigns; seniors, directors and administrators any; inactive users none."""
    if not user.is_active:
        return f"{user.email} is not an active ADOLF user"
    if user.role == UserRole.MANAGER and user.brand_id != campaign.brand_id:
        return f"a manager rolls back only their own brand's campaigns; «{campaign.name}» is another brand's"
    return None


@dataclass(frozen=True)
class RollbackRequestOutcome:
    request_id: int
    created: bool  # False: this change was asked to be rolled back before
    message: str


def request_change_rollback(
    session: Session, history_id: int, user: User, reply_to: str | None
) -> RollbackRequestOutcome:
    """Record the request to undo one change (RollbackError when it cannot be done); the caller
    enqueues `rollback_bid_change` when `created`."""
    change = session.get(MarketingBidHistory, history_id)
    if change is None or change.keyword_id is None:
        raise RollbackError("that bid change is no longer in the history")
    keyword = session.get(MarketingKeyword, change.keyword_id)
    assert keyword is not None
    why_not = may_roll_back(user, keyword.campaign)
    if why_not:
        raise RollbackError(f"not allowed: {why_not}")
    existing = session.scalars(
        select(MarketingRollbackRequest).where(MarketingRollbackRequest.history_id == history_id)
    ).first()
    if existing is not None:
        return RollbackRequestOutcome(existing.id, False, _done_before(existing))
    if change.old_bid is None:
        raise RollbackError("the bid before that change is not known")
    if keyword.current_bid != change.new_bid:
        raise RollbackError(
            f"the bid changed since (now {format_bid(keyword.current_bid, change.bid_unit)}); "
            f"use `adolf-marketing rollback --keyword {keyword.id}`"
        )
    try:
        validate_manual_change(session, keyword.id, change.old_bid, BidSource.ROLLBACK)
    except BidChangeError as error:
        raise RollbackError(str(error)) from None
    created = session.scalar(
        insert(MarketingRollbackRequest)
        .values(
            history_id=history_id,
            keyword_id=keyword.id,
            target_bid=change.old_bid,
            bid_unit=change.bid_unit,
            user_id=user.id,
            requested_by=user.email,
            reply_to=reply_to,
            created_at=now_utc(),
        )
        .on_conflict_do_nothing(index_elements=["history_id"])
        .returning(MarketingRollbackRequest.id)
    )
    if created is None:  # pressed twice at the same moment: the other press won
        first = session.scalars(
            select(MarketingRollbackRequest).where(MarketingRollbackRequest.history_id == history_id)
        ).one()
        return RollbackRequestOutcome(first.id, False, _done_before(first))
    target = format_bid(change.old_bid, change.bid_unit)
    return RollbackRequestOutcome(int(created), True, f"rolling back «{keyword.keyword}» to {target}")


def _done_before(request: MarketingRollbackRequest) -> str:
    state = request.result or request.status
    return f"already asked by {request.requested_by} at {request.created_at:%Y-%m-%d %H:%M} UTC: {state}"


def carry_out_request(request_id: int, task_id: str | None) -> dict[str, Any]:
    """Apply one rollback request (task `rollback_bid_change`); BidChangeBusy propagates for the
    task to retry. A request carried out already returns its outcome again, sending nothing."""
    with session_scope() as session:
        request = session.get(MarketingRollbackRequest, request_id)
        if request is None:
            return {"status": "missing", "request_id": request_id}
        if request.status != RollbackRequestStatus.QUEUED:
            return {"status": request.status, "request_id": request_id, "result": request.result}
        keyword_id, target, unit = request.keyword_id, request.target_bid, request.bid_unit
        reason = f"rollback of bid change {request.history_id}, asked by {request.requested_by} in Telegram"
    try:
        outcome = apply_manual_change(keyword_id, target, reason, source=BidSource.ROLLBACK, task_id=task_id)
    except BidChangeError as error:
        status, result = RollbackRequestStatus.REFUSED, f"not rolled back: {error}"
    else:
        status = (
            RollbackRequestStatus.UNCHANGED
            if outcome["status"] == "unchanged"
            else RollbackRequestStatus.APPLIED
        )
        result = f"rolled back to {format_bid(target, unit)}" + (
            "" if outcome["status"] != "unknown" else " (sent; the marketplace has not confirmed it yet)"
        )
    with session_scope() as session:
        request = session.get(MarketingRollbackRequest, request_id)
        assert request is not None
        request.status, request.result, request.finished_at = status.value, result, now_utc()
        if request.user_id is not None:
            _tell(session, request.user_id, request, result)
    return {"status": status.value, "request_id": request_id, "result": result}


def _tell(session: Session, user_id: int, request: MarketingRollbackRequest, result: str) -> None:
    keyword = session.get(MarketingKeyword, request.keyword_id)
    notification = NotificationService(session).create(
        user_id=user_id,
        event_type="marketing.rollback",
        level="info",
        title=f"Rollback of «{keyword.keyword if keyword else request.keyword_id}»",
        message=result,
        data={"keyword_id": request.keyword_id, "history_id": request.history_id},
        source_module="marketing",
        source_id=f"rollback:{request.id}",
    )
    queue_deliveries(session, notification, reply_on=ChannelKind.TELEGRAM)
