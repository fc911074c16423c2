"""Campaign sync (issue 5 item 1; spec 7.2.2 "marketing-sync-campaigns").

Upserts one account's campaigns and their keywords/clusters/SKUs from the marketplace, marks
those that disappeared, and never overwrites what our users own: strategy and its parameters,
safety thresholds, daily limit, max bid, dry-run, fixed keywords, and a pause we made ourselves
(budget or safety) that the marketplace now reports back.

Sync reads every account first and writes afterwards, so what it writes is a snapshot taken at
`snapshot_at` (the database's clock when the reads began). A campaign or keyword row written by us
after that moment — a budget pause, a bid the cycle applied — is newer than the snapshot: sync keeps
its status, pause and current bid, and takes the marketplace's values at the next sync (issue 14).
The rows are locked while written, so such a change commits either before (and is seen) or after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.database import session_scope
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.services.marketing.account_settings import AccountSettingError, parse_default_strategy
from app.services.marketing.adapters.base import AdapterError, Campaign, Keyword, MarketplaceAdapter
from app.services.marketing.adapters.rules import PauseMode
from app.services.marketing.runtime import AdapterPool, active_accounts

logger = logging.getLogger(__name__)

# Statuses whose keywords are worth reading (a finished or archived campaign's are not).
LIVE_STATUSES = ("active", "paused", "draft")


@dataclass
class SyncSummary:
    account_id: int
    campaigns_seen: int = 0
    campaigns_created: int = 0
    campaigns_removed: int = 0
    keywords_seen: int = 0
    keywords_created: int = 0
    keywords_removed: int = 0
    rejected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "campaigns_seen": self.campaigns_seen,
            "campaigns_created": self.campaigns_created,
            "campaigns_removed": self.campaigns_removed,
            "keywords_seen": self.keywords_seen,
            "keywords_created": self.keywords_created,
            "keywords_removed": self.keywords_removed,
            "rejected": len(self.rejected),
        }


async def fetch_account_state(adapter: MarketplaceAdapter) -> tuple[list[Campaign], list[Keyword]]:
    """Everything sync needs from the marketplace, read before any database write."""
    campaigns = await adapter.list_campaigns()
    live = [c.external_id for c in campaigns if c.status in LIVE_STATUSES]
    keywords = await adapter.get_keywords(live) if live else []
    return campaigns, keywords


def apply_account_state(
    session: Session,
    account: MarketplaceAccount,
    campaigns: Sequence[Campaign],
    keywords: Sequence[Keyword],
    now: datetime | None = None,
    snapshot_at: datetime | None = None,
) -> SyncSummary:
    """Write one account's marketplace snapshot; rows written after `snapshot_at` keep our state."""
    now = now or now_utc()
    summary = SyncSummary(account_id=account.id)
    existing = {
        c.external_id: c
        for c in session.scalars(
            select(MarketingCampaign)
            .where(MarketingCampaign.account_id == account.id)
            .order_by(MarketingCampaign.id)
            .with_for_update()
        )
    }
    seen: dict[str, MarketingCampaign] = {}
    for remote in _unique(campaigns, summary):
        row = existing.get(remote.external_id)
        if row is None:
            row = MarketingCampaign(
                account_id=account.id,
                marketplace=account.marketplace,
                brand_id=account.brand_id,
                external_id=remote.external_id,
                daily_limit=remote.daily_budget,
            )
            apply_default_strategy(
                row, account.settings.get("default_strategy"), remote.payment_type, summary
            )
            session.add(row)
            summary.campaigns_created += 1
        _update_campaign(row, remote, now, newer_than_snapshot(row, snapshot_at))
        seen[remote.external_id] = row
    summary.campaigns_seen = len(seen)
    for external_id, row in existing.items():
        if external_id not in seen and not row.is_removed:
            row.is_removed = True
            row.removed_at = now
            summary.campaigns_removed += 1
    session.flush()
    _sync_keywords(session, seen, keywords, summary, snapshot_at)
    account.last_synced_at = now
    return summary


def apply_default_strategy(
    row: MarketingCampaign, default: object, payment_type: str | None, summary: SyncSummary
) -> None:
    """An account may carry a default strategy for campaigns it has not seen before (its setting
    `default_strategy`, account_settings.py). Campaigns we already know keep what their users
    set. A stored value that is not valid is reported on the sync summary and not applied."""
    if default is None:
        return
    try:
        parsed = parse_default_strategy(default, payment_type)
    except AccountSettingError as error:
        summary.rejected.append(f"default_strategy not applied to new campaign {row.external_id}: {error}")
        return
    row.strategy_type = parsed.strategy_type
    row.strategy_params = parsed.strategy_params
    if parsed.max_bid is not None:
        row.max_bid = parsed.max_bid
    if parsed.daily_limit is not None:
        row.daily_limit = parsed.daily_limit
    row.dry_run = parsed.dry_run


def _unique(campaigns: Sequence[Campaign], summary: SyncSummary) -> list[Campaign]:
    """Duplicated ids from an API: keep the first, report the rest (issue 5 bad data)."""
    found: dict[str, Campaign] = {}
    for campaign in campaigns:
        if campaign.external_id in found:
            summary.rejected.append(
                f"campaign {campaign.external_id}: duplicated id in the marketplace's list"
            )
            continue
        found[campaign.external_id] = campaign
    return list(found.values())


def newer_than_snapshot(row: MarketingCampaign | MarketingKeyword, snapshot_at: datetime | None) -> bool:
    """The row was written after the snapshot was read (`updated_at` is the database's clock)."""
    updated = getattr(row, "updated_at", None)
    return snapshot_at is not None and updated is not None and updated > snapshot_at


def _update_campaign(row: MarketingCampaign, remote: Campaign, now: datetime, ours_is_newer: bool) -> None:
    row.name = remote.name
    row.campaign_type = remote.campaign_type
    row.payment_type = remote.payment_type
    row.marketplace_status = remote.marketplace_status
    # A pause or resume of ours since the snapshot stands; the next sync reads it back.
    if not ours_is_newer:
        # A pause we made (budget, safety) keeps its reason while the marketplace reports it
        # back; any resume — ours or a user's — clears it.
        if remote.status == "active":
            row.paused_reason = None
        # Where a pause is made item by item (YM), the marketplace shows the campaign as one
        # without bids, not as paused: our pause stands until we or a user resume it.
        if not (row.status == "paused" and row.paused_reason and remote.status != "active"):
            row.status = remote.status
    if row.daily_limit is None and remote.daily_budget is not None:
        row.daily_limit = remote.daily_budget
    row.is_removed = False
    row.removed_at = None
    row.last_synced_at = now


def _sync_keywords(
    session: Session,
    campaigns: dict[str, MarketingCampaign],
    keywords: Sequence[Keyword],
    summary: SyncSummary,
    snapshot_at: datetime | None = None,
) -> None:
    by_campaign: dict[str, dict[str, Keyword]] = {}
    for keyword in keywords:
        if keyword.campaign_external_id not in campaigns:
            summary.rejected.append(
                f"keyword {keyword.external_id}: belongs to unknown campaign {keyword.campaign_external_id}"
            )
            continue
        bucket = by_campaign.setdefault(keyword.campaign_external_id, {})
        if keyword.external_id in bucket:
            summary.rejected.append(f"keyword {keyword.external_id}: duplicated id in campaign")
            continue
        bucket[keyword.external_id] = keyword
    campaign_ids = [c.id for c in campaigns.values()]
    existing: dict[tuple[int, str], MarketingKeyword] = {
        (k.campaign_id, k.external_id): k
        for k in session.scalars(
            select(MarketingKeyword)
            .where(MarketingKeyword.campaign_id.in_(campaign_ids))
            .order_by(MarketingKeyword.id)
            .with_for_update()
        )
    }
    for external_campaign, items in by_campaign.items():
        campaign = campaigns[external_campaign]
        for remote in items.values():
            summary.keywords_seen += 1
            row = existing.pop((campaign.id, remote.external_id), None)
            if row is None:
                row = MarketingKeyword(
                    campaign_id=campaign.id, external_id=remote.external_id, kind=remote.kind
                )
                session.add(row)
                summary.keywords_created += 1
            row.keyword = remote.keyword
            row.kind = remote.kind
            row.product_id = remote.product_id
            if newer_than_snapshot(row, snapshot_at):
                continue  # a bid or pause of ours since the snapshot: the next sync reads it back
            row.current_bid = remote.current_bid
            if not (
                row.status == "paused" and (remote.status in ("paused", "excluded") or paused_by_us(row))
            ):
                row.status = remote.status
    read_campaigns = {campaigns[c].id for c in by_campaign} | {
        c.id for c in campaigns.values() if c.status in LIVE_STATUSES
    }
    for (campaign_id, _), row in existing.items():
        # An item our pause took off the marketplace (an Ozon SKU removed, a YM SKU at bid 0) is
        # absent from its lists by design: it stays paused, to be put back on resume.
        if campaign_id in read_campaigns and row.status != "removed" and not paused_by_us(row):
            row.status = "removed"
            summary.keywords_removed += 1


def run_sync(account_id: int | None = None) -> dict[str, object]:
    """Sync every active account (or one): read all accounts concurrently, then write each in its
    own transaction, so one account's failure leaves the others' data in place."""
    with session_scope() as session:
        accounts = active_accounts(session, account_id=account_id)
        snapshot_at = session.scalar(select(func.now()))

    async def read_all() -> list[tuple[list[Campaign], list[Keyword]] | BaseException]:
        async with AdapterPool() as pool:
            return await asyncio.gather(
                *(fetch_account_state(pool.get(a)) for a in accounts), return_exceptions=True
            )

    fetched = asyncio.run(read_all()) if accounts else []
    result: dict[str, object] = {"accounts": len(accounts), "errors": 0, "details": []}
    details: list[dict[str, object]] = []
    for account, state in zip(accounts, fetched, strict=True):
        if isinstance(state, AdapterError):
            logger.error("sync of account %s failed: %s", account.id, state)
            details.append({"account_id": account.id, "error": str(state)})
            continue
        if isinstance(state, BaseException):
            raise state
        with session_scope() as session:
            row = session.get(MarketplaceAccount, account.id)
            assert row is not None
            summary = apply_account_state(session, row, *state, snapshot_at=snapshot_at)
        if summary.rejected:
            logger.warning(
                "sync of account %s rejected %d items, e.g. %s",
                account.id,
                len(summary.rejected),
                "; ".join(summary.rejected[:3]),
            )
        details.append(summary.as_dict())
    result["errors"] = sum(1 for d in details if "error" in d)
    result["details"] = details
    return result


def paused_by_us(row: MarketingKeyword) -> bool:
    """A keyword our pause removed from the marketplace, remembered for its resume (pauses.py)."""
    return row.status == "paused" and row.pause_mode in (PauseMode.REMOVE_ITEM, PauseMode.ZERO_BID)
