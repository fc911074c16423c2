"""collect_stats (spec 7.3.2; issue 5 item 2): snapshots of campaign and keyword counters for
the current Moscow day, written in bulk.

Per account: read every active campaign's stats in the adapter's batches, then write all snapshots
with one COPY in one transaction, update each campaign's `spent_today`, and record the account's
last successful collection (the stats_collection_lag metric, spec 7.4.2). A snapshot naming an
unknown or duplicated campaign/keyword is rejected with a logged reason; the rest goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.clock import moscow_today, now_utc
from app.core.database import session_scope
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.services.marketing.adapters import require_marketplace
from app.services.marketing.adapters.base import AdapterError, MarketplaceAdapter, StatsSnapshot
from app.services.marketing.runtime import AdapterPool, active_accounts
from app.services.marketing.stats_store import StatsTuple, stats_tuple, write_stats_rows

logger = logging.getLogger(__name__)


@dataclass
class AccountStats:
    """What was read from one account, before anything is written."""

    account_id: int
    campaign_snapshots: list[StatsSnapshot] = field(default_factory=list)
    keyword_snapshots: list[StatsSnapshot] = field(default_factory=list)
    failed_campaigns: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class StoreSummary:
    campaigns_fetched: int = 0
    keywords_fetched: int = 0
    stats_saved: int = 0
    rejected: list[str] = field(default_factory=list)


def active_campaign_ids(session: Session, account_id: int) -> list[str]:
    return list(
        session.scalars(
            select(MarketingCampaign.external_id).where(
                MarketingCampaign.account_id == account_id,
                MarketingCampaign.status == "active",
                MarketingCampaign.is_removed.is_(False),
            )
        )
    )


async def fetch_account_stats(
    adapter: MarketplaceAdapter, account_id: int, campaign_ids: Sequence[str], day: date
) -> AccountStats:
    """Campaign totals, then keyword rows; a failed batch marks its campaigns failed, not the run."""
    result = AccountStats(account_id=account_id)
    if not campaign_ids:
        return result
    try:
        result.campaign_snapshots = await adapter.get_campaign_stats(campaign_ids, day)
    except AdapterError as error:
        result.errors.append(str(error))
        result.failed_campaigns.extend(campaign_ids)
        return result
    try:
        result.keyword_snapshots = await adapter.get_keyword_stats(campaign_ids, day)
    except AdapterError as error:
        result.errors.append(str(error))
    return result


def store_account_stats(
    session: Session, account: MarketplaceAccount, fetched: AccountStats, collected_at: datetime, today: date
) -> StoreSummary:
    summary = StoreSummary()
    # Plain tuples, not ORM objects: an account can have tens of thousands of keywords.
    campaigns: dict[str, tuple[int, str]] = {
        external_id: (campaign_id, marketplace)
        for campaign_id, external_id, marketplace in session.execute(
            select(MarketingCampaign.id, MarketingCampaign.external_id, MarketingCampaign.marketplace).where(
                MarketingCampaign.account_id == account.id
            )
        )
    }
    keywords: dict[tuple[int, str], int] = {
        (campaign_id, external_id): keyword_id
        for campaign_id, external_id, keyword_id in session.execute(
            select(MarketingKeyword.campaign_id, MarketingKeyword.external_id, MarketingKeyword.id)
            .join(MarketingCampaign)
            .where(MarketingCampaign.account_id == account.id)
        )
    }
    rows: list[StatsTuple] = []
    spent: list[dict[str, object]] = []
    seen: set[tuple[int, int | None, date]] = set()
    for snapshot in [*fetched.campaign_snapshots, *fetched.keyword_snapshots]:
        found = campaigns.get(snapshot.campaign_external_id)
        if found is None:
            summary.rejected.append(f"stats for unknown campaign {snapshot.campaign_external_id}")
            continue
        campaign_id, marketplace = found
        keyword_id = None
        if snapshot.keyword_external_id is not None:
            keyword_id = keywords.get((campaign_id, snapshot.keyword_external_id))
            if keyword_id is None:
                summary.rejected.append(
                    f"stats for unknown keyword {snapshot.keyword_external_id} of campaign "
                    f"{snapshot.campaign_external_id} (next sync_campaigns adds it)"
                )
                continue
        identity = (campaign_id, keyword_id, snapshot.stat_date)
        if identity in seen:
            summary.rejected.append(
                f"duplicated stats for campaign {snapshot.campaign_external_id} "
                f"keyword {snapshot.keyword_external_id}"
            )
            continue
        seen.add(identity)
        rows.append(
            stats_tuple(snapshot.stat_date, collected_at, campaign_id, keyword_id, marketplace, snapshot)
        )
        if keyword_id is None:
            summary.campaigns_fetched += 1
            if snapshot.stat_date == today:
                spent.append(
                    {
                        "id": campaign_id,
                        "spent_today": snapshot.spent,
                        "spent_date": today,
                        "spent_updated_at": collected_at,
                    }
                )
        else:
            summary.keywords_fetched += 1
    summary.stats_saved = write_stats_rows(session, rows)
    if spent:
        session.execute(update(MarketingCampaign), spent)  # bulk UPDATE by primary key
    if not fetched.errors:
        account.last_stats_collected_at = collected_at
    if summary.rejected:
        # One line per account and collection, not one per item: a day of clusters can be thousands.
        logger.warning(
            "account %s: rejected %d stats items, e.g. %s",
            account.id,
            len(summary.rejected),
            "; ".join(summary.rejected[:3]),
        )
    return summary


def run_collect_stats(marketplace: str, now: datetime | None = None) -> dict[str, object]:
    """Collect today's snapshots of every active account of `marketplace` (accounts concurrently);
    each account is written in its own transaction."""
    require_marketplace(marketplace)
    now = now or now_utc()
    today = moscow_today(now)
    with session_scope() as session:
        accounts = active_accounts(session, marketplace=marketplace)
        wanted = {a.id: active_campaign_ids(session, a.id) for a in accounts}

    async def read_all() -> list[AccountStats]:
        async with AdapterPool() as pool:
            return list(
                await asyncio.gather(
                    *(fetch_account_stats(pool.get(a), a.id, wanted[a.id], today) for a in accounts)
                )
            )

    fetched = asyncio.run(read_all()) if accounts else []
    totals = {"campaigns_fetched": 0, "keywords_fetched": 0, "stats_saved": 0, "rejected": 0, "errors": 0}
    for account, result in zip(accounts, fetched, strict=True):
        with session_scope() as session:
            row = session.get(MarketplaceAccount, account.id)
            assert row is not None
            summary = store_account_stats(session, row, result, now, today)
        totals["campaigns_fetched"] += summary.campaigns_fetched
        totals["keywords_fetched"] += summary.keywords_fetched
        totals["stats_saved"] += summary.stats_saved
        totals["rejected"] += len(summary.rejected)
        totals["errors"] += len(result.failed_campaigns) + (
            len(result.errors) if not result.failed_campaigns else 0
        )
        for error in result.errors:
            logger.error("stats of account %s: %s", account.id, error)
    return {"marketplace": marketplace, "accounts": len(accounts), **totals}
