"""check_budgets (spec 7.3.3; issue 5 item 3; issue 9 findings 6, 7, 10): pause at the daily
limit, warn at the warning share (80 %) once per Moscow day, pause ahead when the spend rate says
the limit falls before the next check, resume budget-paused campaigns when a new Moscow day starts.

The decision is the one budget rule (`budget_rules.decide_budget`, shared with the bid cycle),
made on spend whose age is known: spend older than `SPEND_STALE_AFTER` is estimated forward at the
last rate and raises a "budget_data_stale" warning (a failing stats collection must not let a
campaign overspend unnoticed). Every pause made for a budget reason — here or by the cycle — is
recorded as `budget_exceeded` and resumed the next Moscow day. Alerts are de-duplicated per
campaign, type and Moscow day (alerts.py): a refused pause is one critical alert a day, repeated
only when the spend grows, not one every 15 minutes.

Three steps so no transaction stays open across marketplace calls: plan (read PostgreSQL), act
(call the marketplaces, accounts concurrently), record (write statuses and alerts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import moscow_today, now_utc
from app.core.config import ProjectionMode, get_settings
from app.core.database import session_scope
from app.core.money import rub
from app.models.base import any_of
from app.models.marketing import MarketingCampaign, MarketingStats, MarketplaceAccount, PausedReason
from app.services.marketing.adapters.base import AdapterError, MarketplaceAdapter
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.bid_cycle.inputs import load_keyword_rows
from app.services.marketing.budget_rules import (
    WARNING_PCT,
    BudgetAction,
    BudgetState,
    decide_budget,
    spend_rate,
)
from app.services.marketing.freeze import frozen_account_ids
from app.services.marketing.pauses import pause_campaign, record_campaign_pause, resume_campaign
from app.services.marketing.runtime import AdapterPool
from app.services.marketing.safety_logic import SafetyParamsError, parse_safety_params

logger = logging.getLogger(__name__)


@dataclass
class PlannedAction:
    campaign_id: int
    account_id: int
    external_id: str
    name: str
    action: str  # pause | resume | warn | alert_ahead
    reason: str
    spent: int
    limit: int | None
    stale: bool = False
    error: str | None = None
    paused_items: list[int] = field(default_factory=list)


@dataclass
class BudgetSettings:
    check_interval_s: float = 900.0
    projection: ProjectionMode = ProjectionMode.PAUSE
    stale_after_s: float = 1800.0


def plan_budget_checks(
    session: Session, now: datetime, settings: BudgetSettings
) -> tuple[list[PlannedAction], int]:
    """What to do for every campaign with a daily limit; returns the plan and how many were checked."""
    today = moscow_today(now)
    plan: list[PlannedAction] = []
    resumable = session.scalars(
        select(MarketingCampaign).where(
            MarketingCampaign.status == "paused",
            MarketingCampaign.paused_reason == PausedReason.BUDGET_EXCEEDED,
            MarketingCampaign.budget_paused_on < today,
            MarketingCampaign.is_removed.is_(False),
        )
    ).all()
    frozen = frozen_account_ids(session)
    for campaign in resumable:
        if campaign.account_id in frozen:
            continue  # issue 12 item 4: resuming spends; a frozen account stays paused
        reason = f"a new Moscow day ({today}) started: the daily limit is available again"
        plan.append(_action(campaign, "resume", reason, 0))
    active = session.scalars(
        select(MarketingCampaign).where(
            MarketingCampaign.status == "active",
            MarketingCampaign.daily_limit.is_not(None),
            MarketingCampaign.daily_limit > 0,
            MarketingCampaign.is_removed.is_(False),
        )
    ).all()
    rates = recent_spend_rates(session, [c.id for c in active], today)
    for campaign in active:
        spent = campaign.spent_on(today)
        assert campaign.daily_limit is not None
        try:
            warning_pct = parse_safety_params(campaign.safety_params).budget_warning_pct
        except SafetyParamsError:
            warning_pct = WARNING_PCT  # the bid cycle alerts on the bad parameters
        updated = campaign.spent_updated_at if campaign.spent_date == today else None
        decision = decide_budget(
            BudgetState(
                spent_today=spent,
                daily_limit=campaign.daily_limit,
                spend_rate=rates.get(campaign.id),
                seconds_to_next_check=settings.check_interval_s,
                warned_today=False,  # the alert is de-duplicated per Moscow day (alerts.py)
                warning_pct=warning_pct,
                data_age_s=(now - updated).total_seconds() if updated else None,
                stale_after_s=settings.stale_after_s,
            ),
            settings.projection,
        )
        action = {
            BudgetAction.PAUSE: "pause",
            BudgetAction.PAUSE_AHEAD: "pause",
            BudgetAction.WARN: "warn",
            BudgetAction.ALERT_AHEAD: "alert_ahead",
        }.get(decision.action)
        if action or decision.stale:
            plan.append(
                _action(
                    campaign,
                    action or "stale",
                    decision.reason,
                    decision.estimated_spend or spent,
                    decision.stale,
                )
            )
    return plan, len(active)


def _action(
    campaign: MarketingCampaign, action: str, reason: str, spent: int, stale: bool = False
) -> PlannedAction:
    return PlannedAction(
        campaign.id,
        campaign.account_id,
        campaign.external_id,
        campaign.name,
        action,
        reason,
        spent,
        campaign.daily_limit,
        stale,
    )


def recent_spend_rates(session: Session, campaign_ids: Sequence[int], today: date) -> dict[int, float | None]:
    """Per campaign: the spend rate (kopecks per second) from the last two snapshots of today."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(MarketingStats.campaign_id, MarketingStats.collected_at, MarketingStats.spent)
        .where(
            MarketingStats.stat_date == today,
            MarketingStats.keyword_id.is_(None),
            any_of(MarketingStats.campaign_id, campaign_ids),
        )
        .order_by(MarketingStats.campaign_id, MarketingStats.collected_at)
    ).all()
    points: dict[int, list[tuple[float, int]]] = {}
    for campaign_id, collected_at, spent in rows:
        points.setdefault(campaign_id, []).append((collected_at.timestamp(), spent))
    return {cid: spend_rate(p) for cid, p in points.items()}


async def act_on_marketplaces(
    plan: list[PlannedAction], accounts: dict[int, MarketplaceAccount], pool: AdapterPool
) -> None:
    """Pause/resume on the marketplaces; accounts run concurrently, one failure stays its own."""
    by_account: dict[int, list[PlannedAction]] = {}
    for item in plan:
        if item.action in ("pause", "resume"):
            by_account.setdefault(item.account_id, []).append(item)

    async def one_account(account_id: int, items: list[PlannedAction]) -> None:
        account = accounts[account_id]
        adapter: MarketplaceAdapter = pool.get(account)
        rules = rules_for(account.marketplace)
        for item in items:
            try:
                if item.action == "pause":
                    with session_scope() as session:
                        keywords = load_keyword_rows(session, item.campaign_id, item.external_id)
                    item.paused_items = await pause_campaign(adapter, rules, item.external_id, keywords)
                else:
                    await resume_campaign(adapter, rules, item.campaign_id, item.external_id)
            except AdapterError as error:
                item.error = str(error)

    await asyncio.gather(*(one_account(a, items) for a, items in by_account.items()))


def record_outcomes(session: Session, plan: list[PlannedAction], now: datetime) -> dict[str, int]:
    today = moscow_today(now)
    counts = {"campaigns_paused": 0, "campaigns_resumed": 0, "alerts_sent": 0, "errors": 0}
    for item in plan:
        campaign = session.get(MarketingCampaign, item.campaign_id)
        if campaign is None:
            continue
        if item.stale:
            _alert(
                session,
                item,
                "budget_data_stale",
                "warning",
                f"Budget data is old: {item.name}",
                f"budget guard works on old data: {item.reason}",
                None,
                counts,
            )
        if item.error:
            counts["errors"] += 1
            _alert(
                session,
                item,
                "budget_action_failed",
                "critical",
                f"Could not {item.action}: {item.name}",
                f"{item.reason}; the marketplace refused: {item.error}",
                None,
                counts,
            )
            continue
        if item.action == "pause":
            record_campaign_pause(
                session, campaign.id, PausedReason.BUDGET_EXCEEDED, today, item.paused_items
            )
            counts["campaigns_paused"] += 1
            message = f"{item.reason}: paused until the next Moscow day"
            _alert(
                session,
                item,
                "budget_exceeded",
                "warning",
                f"Кампания приостановлена: {item.name}",
                message,
                "pause_campaign",
                counts,
            )
        elif item.action == "resume":
            campaign.status = "active"
            campaign.paused_reason = None
            campaign.budget_paused_on = None
            counts["campaigns_resumed"] += 1
            _alert(
                session,
                item,
                "budget_resumed",
                "info",
                f"Кампания возобновлена: {item.name}",
                item.reason,
                "resume_campaign",
                counts,
            )
        elif item.action == "warn":
            _alert(session, item, "budget_warning", "info", f"Бюджет: {item.name}", item.reason, None, counts)
        elif item.action == "alert_ahead":
            _alert(
                session,
                item,
                "budget_projection",
                "warning",
                f"Бюджет будет превышен: {item.name}",
                item.reason,
                None,
                counts,
            )
    return counts


def run_budget_check(settings: BudgetSettings | None = None, now: datetime | None = None) -> dict[str, int]:
    """Plan in one transaction, act on the marketplaces, record in another (no transaction stays
    open across API calls)."""
    config = get_settings()
    settings = settings or BudgetSettings(
        check_interval_s=config.BUDGET_CHECK_INTERVAL,
        projection=config.BUDGET_PROJECTION,
        stale_after_s=config.SPEND_STALE_AFTER,
    )
    now = now or now_utc()
    with session_scope() as session:
        plan, checked = plan_budget_checks(session, now, settings)
        account_ids = {item.account_id for item in plan}
        accounts = {
            a.id: a
            for a in session.scalars(select(MarketplaceAccount).where(MarketplaceAccount.id.in_(account_ids)))
        }

    async def act() -> None:
        async with AdapterPool() as pool:
            await act_on_marketplaces(plan, accounts, pool)

    if any(item.action in ("pause", "resume") for item in plan):
        asyncio.run(act())
    with session_scope() as session:
        counts = record_outcomes(session, plan, now)
    return {"campaigns_checked": checked, **counts}


def _alert(
    session: Session,
    item: PlannedAction,
    alert_type: str,
    severity: str,
    title: str,
    message: str,
    action_taken: str | None,
    counts: dict[str, int],
) -> None:
    result = create_alert(
        session,
        AlertRequest(
            alert_type=alert_type,
            severity=severity,
            title=title,
            message=message,
            campaign_id=item.campaign_id,
            action_taken=action_taken,
            details={"spent_today": item.spent, "daily_limit": item.limit, "spent_rub": rub(item.spent)},
            level=item.spent if alert_type in ("budget_action_failed", "budget_data_stale") else None,
        ),
    )
    if not result.repeated:
        counts["alerts_sent"] += 1
