"""The stop switch (issue 12 item 4): freeze all accounts, one marketplace, or one account.

While a freeze covers an account, its bid cycle still reads the marketplace and plans, and reports
what it would have done, but writes nothing — no bid, no keyword pause, no safety pause — except a
pause for the budget, which only protects money (bid_cycle/execution.py). `check_budgets` does not
resume a frozen account's budget-paused campaigns either: resuming spends. Manual changes
(`apply_bid_change`, `rollback`, accepted recommendations) still go through: a person freezes the
automation, then repairs by hand.

A freeze is a row of `marketing_freezes`, active until `unfrozen_at` is set; the rows stay as the
record of who stopped what, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.models.marketing import FreezeScope, MarketingFreeze, MarketplaceAccount


class FreezeError(ValueError):
    """The freeze or unfreeze cannot be done as asked; the message says what to do."""


@dataclass(frozen=True)
class FreezeTarget:
    scope: FreezeScope
    marketplace: str | None = None
    account_id: int | None = None

    def describe(self, account_name: str | None = None) -> str:
        if self.scope == FreezeScope.ALL:
            return "every account"
        if self.scope == FreezeScope.MARKETPLACE:
            return f"every {self.marketplace} account"
        name = f" ({account_name})" if account_name else ""
        return f"{self.marketplace} account {self.account_id}{name}"


def active_freezes(session: Session) -> list[MarketingFreeze]:
    return list(
        session.scalars(
            select(MarketingFreeze).where(MarketingFreeze.unfrozen_at.is_(None)).order_by(MarketingFreeze.id)
        )
    )


def _covering(marketplace: str, account_id: int) -> ColumnElement[bool]:
    return or_(
        MarketingFreeze.scope == FreezeScope.ALL,
        (MarketingFreeze.scope == FreezeScope.MARKETPLACE) & (MarketingFreeze.marketplace == marketplace),
        (MarketingFreeze.scope == FreezeScope.ACCOUNT) & (MarketingFreeze.account_id == account_id),
    )


def frozen_reason(session: Session, marketplace: str, account_id: int) -> str | None:
    """Why this account is frozen ("frozen by anna at …: reason"), or None when it is not."""
    freeze = session.scalars(
        select(MarketingFreeze)
        .where(MarketingFreeze.unfrozen_at.is_(None), _covering(marketplace, account_id))
        .order_by(MarketingFreeze.id)
        .limit(1)
    ).first()
    if freeze is None:
        return None
    return f"frozen by {freeze.frozen_by} at {freeze.created_at:%Y-%m-%d %H:%M} UTC: {freeze.reason}"


def frozen_account_ids(session: Session) -> set[int]:
    freezes = active_freezes(session)
    if not freezes:
        return set()
    accounts = session.execute(select(MarketplaceAccount.id, MarketplaceAccount.marketplace)).all()
    return {
        account_id
        for account_id, marketplace in accounts
        if any(
            f.scope == FreezeScope.ALL
            or (f.scope == FreezeScope.MARKETPLACE and f.marketplace == marketplace)
            or (f.scope == FreezeScope.ACCOUNT and f.account_id == account_id)
            for f in freezes
        )
    }


def _same_target(target: FreezeTarget) -> ColumnElement[bool]:
    return (
        (MarketingFreeze.scope == target.scope)
        & (
            MarketingFreeze.marketplace.is_(None)
            if target.marketplace is None
            else MarketingFreeze.marketplace == target.marketplace
        )
        & (
            MarketingFreeze.account_id.is_(None)
            if target.account_id is None
            else MarketingFreeze.account_id == target.account_id
        )
    )


def freeze(
    session: Session, target: FreezeTarget, reason: str, by: str, now: datetime | None = None
) -> MarketingFreeze:
    if not reason.strip():
        raise FreezeError("give a --reason: the people who find the system frozen need to know why")
    existing = session.scalars(
        select(MarketingFreeze).where(MarketingFreeze.unfrozen_at.is_(None), _same_target(target))
    ).first()
    if existing is not None:
        raise FreezeError(
            f"{target.describe()} is frozen already (by {existing.frozen_by} at "
            f"{existing.created_at:%Y-%m-%d %H:%M} UTC: {existing.reason})"
        )
    row = MarketingFreeze(
        scope=target.scope.value,
        marketplace=target.marketplace,
        account_id=target.account_id,
        reason=reason.strip(),
        frozen_by=by,
        created_at=now or now_utc(),
    )
    session.add(row)
    session.flush()
    return row


def unfreeze(session: Session, target: FreezeTarget, by: str, now: datetime | None = None) -> MarketingFreeze:
    row = session.scalars(
        select(MarketingFreeze)
        .where(MarketingFreeze.unfrozen_at.is_(None), _same_target(target))
        .with_for_update()
    ).first()
    if row is None:
        active = active_freezes(session)
        listed = "; ".join(describe_freeze(f) for f in active) or "nothing is frozen"
        raise FreezeError(f"{target.describe()} has no freeze of its own to lift (active: {listed})")
    row.unfrozen_at, row.unfrozen_by = now or now_utc(), by
    return row


def describe_freeze(row: MarketingFreeze) -> str:
    target = FreezeTarget(FreezeScope(row.scope), row.marketplace, row.account_id)
    flags = {FreezeScope.ALL: "", FreezeScope.MARKETPLACE: f" --marketplace {row.marketplace}"}
    option = flags.get(FreezeScope(row.scope), f" --account {row.account_id}")
    return (
        f"{target.describe()} (by {row.frozen_by} at {row.created_at:%Y-%m-%d %H:%M} UTC: {row.reason}; "
        f"`adolf-marketing unfreeze{option}` lifts it)"
    )
