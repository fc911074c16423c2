"""One (marketplace, account) share of a bid cycle run: read → plan → execute (spec 7.3.1).

`run_account` never raises: whatever goes wrong for one account — an adapter error, a lost
fence, a bug — ends as that account's error in its result, so the chord still finishes, the run
row is closed and the lock released (issue 9, Deliver 4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from app.core.clock import moscow_today, now_utc
from app.core.config import get_settings, secret_value
from app.core.database import session_scope
from app.models.marketing import KeywordStatus, MarketplaceAccount
from app.services.marketing.adapters.rules import BiddingRules, rules_for
from app.services.marketing.bid_apply import ApplyOutcome, FencingError, open_intents, reconcile
from app.services.marketing.bid_cycle.execution import AccountCycleResult, PlanExecutor
from app.services.marketing.bid_cycle.inputs import (
    CampaignRow,
    KeywordRow,
    bases_of,
    decided_in_run,
    last_changes,
    latest_stats,
    load_campaigns,
    recent_window,
    usual_days,
)
from app.services.marketing.bid_cycle.market import read_market
from app.services.marketing.bid_cycle.planning import (
    AccountPlanner,
    AccountReadings,
    PlanSettings,
    item_placements,
)
from app.services.marketing.budgets import recent_spend_rates
from app.services.marketing.freeze import frozen_reason
from app.services.marketing.runtime import AdapterPool
from app.services.watcher.client import CompetitorLookup, WatcherClient

logger = logging.getLogger(__name__)


def biddable_keywords(campaigns: list[CampaignRow], rules: BiddingRules) -> list[KeywordRow]:
    out = []
    for campaign in campaigns:
        placements = item_placements(campaign)
        for keyword in campaign.keywords:
            why = rules.not_steered(
                campaign.campaign_type, campaign.payment_type, keyword.kind, placements[keyword.product_id]
            )
            if keyword.status == KeywordStatus.ACTIVE and why is None:
                out.append(keyword)
    return out


def plan_settings() -> PlanSettings:
    settings = get_settings()
    return PlanSettings(
        cycle_interval_s=settings.BUDGET_CHECK_INTERVAL,
        stale_spend_after_s=settings.SPEND_STALE_AFTER,
        projection=settings.BUDGET_PROJECTION,
    )


def run_account(run_id: int | None, account_id: int, task_id: str | None) -> dict[str, Any]:
    """One account's cycle within the account task's time budget (stops at a campaign boundary)."""
    settings = get_settings()
    deadline = time.monotonic() + max(30.0, settings.BID_CYCLE_SOFT_TIME_LIMIT - 60.0)
    try:
        with session_scope() as session:
            account = session.get(MarketplaceAccount, account_id)
    except Exception as error:  # a database blip here too is this account's error, not the chord's
        logger.exception("bid cycle of account %s could not read the account", account_id)
        return AccountCycleResult(
            account_id, "unknown", errors=1, messages=[f"{type(error).__name__}: {error}"]
        ).as_dict()
    if account is None:
        return AccountCycleResult(account_id, "unknown", errors=1, messages=["account vanished"]).as_dict()
    result = AccountCycleResult(account.id, account.marketplace)
    try:
        asyncio.run(_cycle(account, run_id, task_id, deadline, result))
    except FencingError as error:
        result.error(str(error))
    except Exception as error:  # any failure is this account's, never the whole run's
        logger.exception("bid cycle of account %s failed", account_id)
        result.error(f"{type(error).__name__}: {error}")
    return result.as_dict()


async def _cycle(
    account: MarketplaceAccount,
    run_id: int | None,
    task_id: str | None,
    deadline: float,
    result: AccountCycleResult,
) -> None:
    settings = get_settings()
    rules = rules_for(account.marketplace)
    now = now_utc()
    today = moscow_today(now)
    with session_scope() as session:
        campaigns = load_campaigns(session, account.id, today)
        ids = [c.id for c in campaigns]
        keyword_ids = [k.id for c in campaigns for k in c.keywords]
        changes = last_changes(session, keyword_ids)
        readings = AccountReadings(
            account_id=account.id,
            marketplace=account.marketplace,
            now=now,
            campaigns=campaigns,
            today=latest_stats(session, ids, today),
            window=recent_window(session, ids, now, settings.STATS_WINDOW_HOURS, rules.order_attribution_lag),
            usual=usual_days(session, ids, today),
            previous={k: c.old_bid for k, c in changes.items()},
            bases=bases_of(changes),
            spend_rates=recent_spend_rates(session, ids, today),
            frozen=frozen_reason(session, account.marketplace, account.id),
        )
        decided = decided_in_run(session, run_id, keyword_ids)
    biddable = biddable_keywords(campaigns, rules)
    watcher = (
        WatcherClient(
            settings.WATCHER_API_URL, secret_value(settings.WATCHER_API_KEY), timeout=settings.HTTP_TIMEOUT
        )
        if settings.WATCHER_API_URL
        else None
    )
    try:
        async with AdapterPool() as pool:
            adapter = pool.get(account)
            readings.market = await read_market(
                adapter, CompetitorLookup(watcher), account.marketplace, biddable
            )
            result.messages.extend(readings.market.notes)
            with session_scope() as session:
                outcome = ApplyOutcome()
                keys = {k.id: k.key for k in biddable}
                in_flight = reconcile(
                    session,
                    open_intents(session, list(keys)),
                    readings.market.current,
                    keys,
                    outcome,
                    rules.apply_delay,
                )
            result.reconciled = outcome.reconciled_applied + outcome.reconciled_failed
            result.in_flight = outcome.in_flight
            readings.not_now = {kid: "decided by this cycle run" for kid in decided} | {
                kid: "a change is still on its way" for kid in in_flight
            }
            plan = AccountPlanner(rules, plan_settings()).plan(readings, lambda: time.monotonic() > deadline)
            result.campaigns, result.keywords, result.not_decided = (
                plan.campaigns,
                plan.keywords,
                plan.not_decided,
            )
            result.unreached_campaigns = plan.unreached_campaigns
            result.messages.extend(plan.messages)
            for message in plan.errors:
                result.error(message)
            executor = PlanExecutor(
                account,
                adapter,
                rules,
                result,
                cycle_run_id=run_id,
                task_id=task_id,
                out_of_time=lambda: time.monotonic() > deadline,
            )
            await executor.execute(plan)
    finally:
        if watcher is not None:
            await watcher.aclose()
