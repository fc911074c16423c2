"""Pausing and resuming campaigns and keywords, reversibly (issue 9 finding 11; the marketplaces'
meanings of "pause" are in adapters/*_rules.py).

- A **keyword** pause does what its marketplace allows (a WB cluster becomes a minus phrase, an
  Ozon SKU leaves the campaign, a YM SKU's bid becomes 0) and remembers on the keyword what it
  removed — the bid and how it was paused — so that resuming puts back exactly that. Sync keeps a
  keyword we paused as paused even when the marketplace no longer lists it.
- A **campaign** pause uses the marketplace's switch; where there is none (YM), every active item
  of the campaign is paused the keyword way and the campaign is recorded as paused; resuming sets
  the remembered bids again.

The async functions call the marketplace; the `record_*`/`mark_*` functions take a session and
never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.database import session_scope
from app.models.base import any_of
from app.models.marketing import KeywordStatus, MarketingCampaign, MarketingKeyword, PausedReason
from app.services.marketing.adapters.base import BidChange, Keyword, MarketplaceAdapter, PermanentError
from app.services.marketing.adapters.rules import BiddingRules, CampaignPause, PauseMode
from app.services.marketing.bid_cycle.inputs import KeywordRow

CAMPAIGN_PAUSED = "the campaign is paused"  # pause_reason of the items of a campaign paused by items


@dataclass
class PauseOutcome:
    paused: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ItemPause:
    """A keyword to pause: its row, the reason, and how its marketplace pauses it."""

    keyword: KeywordRow
    reason: str
    mode: PauseMode


async def pause_keywords(adapter: MarketplaceAdapter, pauses: Sequence[ItemPause]) -> PauseOutcome:
    """Pause the items in the adapter's batches and record each success on its keyword."""
    outcome = PauseOutcome()
    pausable = [p for p in pauses if p.mode != PauseMode.NONE]
    if not pausable:
        return outcome
    results = await adapter.pause_keywords([p.keyword.domain() for p in pausable])
    by_key = {r.key: r for r in results}
    moment = now_utc()
    with session_scope() as session:
        for pause in pausable:
            result = by_key.get(pause.keyword.key)
            if result is None or not result.ok:
                why = result.error if result else "no answer"
                outcome.errors.append(f"keyword {pause.keyword.external_id}: pause failed: {why}")
                continue
            row = session.get(MarketingKeyword, pause.keyword.id)
            if row is not None:
                mark_keyword_paused(row, pause.reason, pause.mode, moment)
            outcome.paused += 1
    return outcome


def mark_keyword_paused(row: MarketingKeyword, reason: str, mode: PauseMode, moment: datetime) -> None:
    row.paused_bid = row.current_bid if row.paused_bid is None else row.paused_bid
    row.status, row.pause_reason, row.paused_at, row.pause_mode = "paused", reason[:255], moment, mode.value


async def pause_campaign(
    adapter: MarketplaceAdapter,
    rules: BiddingRules,
    campaign_external_id: str,
    keywords: Sequence[KeywordRow],
) -> list[int]:
    """Pause a campaign on its marketplace; return the ids of the keywords paused in its place
    (empty when the marketplace has a campaign switch). Raises AdapterError when refused."""
    if rules.campaign_pause == CampaignPause.SWITCH:
        await adapter.pause_campaign(campaign_external_id)
        return []
    active = [k for k in keywords if k.status == KeywordStatus.ACTIVE]
    if not active:
        return []
    results = await adapter.pause_keywords([k.domain() for k in active])
    failed = [r for r in results if not r.ok]
    ok_keys = {r.key for r in results if r.ok}
    paused = [k.id for k in active if k.key in ok_keys]
    if paused:
        with session_scope() as session:
            moment = now_utc()
            for keyword in session.scalars(
                select(MarketingKeyword).where(any_of(MarketingKeyword.id, paused))
            ):
                mark_keyword_paused(keyword, CAMPAIGN_PAUSED, rules.keyword_pause(keyword.kind), moment)
    if failed:
        raise PermanentError(
            rules.marketplace.value,
            "pause campaign",
            f"{len(failed)} of {len(active)} items could not be paused, e.g. {failed[0].error}",
        )
    return paused


def record_campaign_pause(
    session: Session, campaign_id: int, paused_reason: str, today: date, paused_items: Sequence[int]
) -> None:
    campaign = session.get(MarketingCampaign, campaign_id)
    if campaign is None:
        return
    campaign.status, campaign.paused_reason = "paused", paused_reason
    if paused_reason == PausedReason.BUDGET_EXCEEDED:
        campaign.budget_paused_on = today


async def resume_campaign(
    adapter: MarketplaceAdapter, rules: BiddingRules, campaign_id: int, campaign_external_id: str
) -> int:
    """Resume a campaign on its marketplace; where it was paused item by item, put back the items
    its pause removed. Returns how many items were put back. Raises AdapterError when refused."""
    if rules.campaign_pause == CampaignPause.SWITCH:
        await adapter.resume_campaign(campaign_external_id)
        return 0
    with session_scope() as session:
        rows = session.scalars(
            select(MarketingKeyword).where(
                MarketingKeyword.campaign_id == campaign_id,
                MarketingKeyword.status == KeywordStatus.PAUSED,
                MarketingKeyword.pause_reason == CAMPAIGN_PAUSED,
            )
        ).all()
        items = [(row.id, keyword_of(row, campaign_external_id)) for row in rows]
    return await resume_keywords(adapter, items)


def keyword_of(row: MarketingKeyword, campaign_external_id: str) -> Keyword:
    return Keyword(
        campaign_external_id,
        row.external_id,
        row.keyword,
        row.kind,
        row.product_id,
        row.paused_bid,
        row.status,
    )


async def resume_keywords(adapter: MarketplaceAdapter, items: Sequence[tuple[int, Keyword]]) -> int:
    """Put paused items back with the bids they had; each success marks its keyword active again.
    Raises AdapterError when the whole call is refused; items refused one by one stay paused."""
    if not items:
        return 0
    changes = [
        BidChange(k.campaign_external_id, k.external_id, k.current_bid or 0, k.product_id, k.keyword)
        for _, k in items
    ]
    results = await adapter.resume_keywords(changes)
    resumed = {r.key for r in results if r.ok}
    done = 0
    with session_scope() as session:
        for keyword_id, item in items:
            if (item.campaign_external_id, item.external_id) not in resumed:
                continue
            row = session.get(MarketingKeyword, keyword_id)
            if row is not None:
                mark_keyword_resumed(row)
                done += 1
    return done


def mark_keyword_resumed(row: MarketingKeyword) -> None:
    if row.paused_bid is not None and row.pause_mode != PauseMode.MINUS_PHRASE:
        row.current_bid = row.paused_bid
    row.status, row.pause_reason, row.paused_at, row.pause_mode, row.paused_bid = (
        "active",
        None,
        None,
        None,
        None,
    )
