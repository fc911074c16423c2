"""check_budgets (spec 7.3.3; issue 5 item 3): pause at the daily limit, warn at 80 % once per
Moscow day, pause ahead when the spend rate says the limit falls before the next check, and
resume budget-paused campaigns when a new Moscow day starts.

Three steps so no transaction stays open across marketplace calls: plan (read PostgreSQL), act
(call the marketplaces, accounts concurrently), record (write statuses and alerts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import moscow_day_start, moscow_today, now_utc
from app.core.config import get_settings
from app.core.database import session_scope
from app.models.marketing import MarketingAlert, MarketingCampaign, MarketingStats, MarketplaceAccount
from app.services.marketing.adapters.base import AdapterError, MarketplaceAdapter
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.budget_rules import (
    BudgetAction,
    BudgetState,
    ProjectionMode,
    decide_budget,
    rub,
    spend_rate,
)
from app.services.marketing.runtime import AdapterPool

logger = logging.getLogger(__name__)

BUDGET_ALERT_TYPES = ("budget_warning", "budget_projection")
AdapterFactory = Callable[[MarketplaceAccount], MarketplaceAdapter]


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
    error: str | None = None


@dataclass
class BudgetSettings:
    check_interval_s: float = 900.0
    projection: ProjectionMode = ProjectionMode.PAUSE


def plan_budget_checks(
    session: Session, now: datetime, settings: BudgetSettings
) -> tuple[list[PlannedAction], int]:
    """What to do for every campaign with a daily limit; returns the plan and how many were checked."""
    today = moscow_today(now)
    day_start = moscow_day_start(today)
    plan: list[PlannedAction] = []
    resumable = session.scalars(
        select(MarketingCampaign).where(
            MarketingCampaign.status == "paused",
            MarketingCampaign.paused_reason == "budget_exceeded",
            MarketingCampaign.budget_paused_on < today,
            MarketingCampaign.is_removed.is_(False),
        )
    ).all()
    for campaign in resumable:
        plan.append(
            PlannedAction(
                campaign.id,
                campaign.account_id,
                campaign.external_id,
                campaign.name,
                "resume",
                f"a new Moscow day ({today}) started: the daily limit is available again",
                0,
                campaign.daily_limit,
            )
        )
    active = session.scalars(
        select(MarketingCampaign).where(
            MarketingCampaign.status == "active",
            MarketingCampaign.daily_limit.is_not(None),
            MarketingCampaign.daily_limit > 0,
            MarketingCampaign.is_removed.is_(False),
        )
    ).all()
    warned = set(
        session.scalars(
            select(MarketingAlert.campaign_id).where(
                MarketingAlert.alert_type.in_(BUDGET_ALERT_TYPES), MarketingAlert.created_at >= day_start
            )
        )
    )
    rates = _recent_rates(session, [c.id for c in active], today)
    for campaign in active:
        spent = campaign.spent_on(today)
        assert campaign.daily_limit is not None
        last_point = rates.get(campaign.id, (None, None))
        data_age = (now.timestamp() - last_point[1]) if last_point[1] else 0.0
        decision = decide_budget(
            BudgetState(
                spent_today=spent,
                daily_limit=campaign.daily_limit,
                spend_rate=last_point[0],
                seconds_to_next_check=settings.check_interval_s + max(0.0, data_age),
                warned_today=campaign.id in warned,
            ),
            settings.projection,
        )
        action = {
            BudgetAction.PAUSE: "pause",
            BudgetAction.PAUSE_AHEAD: "pause",
            BudgetAction.WARN: "warn",
            BudgetAction.ALERT_AHEAD: "alert_ahead",
        }.get(decision.action)
        if action:
            plan.append(
                PlannedAction(
                    campaign.id,
                    campaign.account_id,
                    campaign.external_id,
                    campaign.name,
                    action,
                    decision.reason,
                    spent,
                    campaign.daily_limit,
                )
            )
    return plan, len(active)


def _recent_rates(
    session: Session, campaign_ids: Sequence[int], today: date
) -> dict[int, tuple[float | None, float]]:
    """Per campaign: (spend rate from the last two snapshots of today, epoch of the newest)."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(MarketingStats.campaign_id, MarketingStats.collected_at, MarketingStats.spent)
        .where(
            MarketingStats.stat_date == today,
            MarketingStats.keyword_id.is_(None),
            MarketingStats.campaign_id.in_(campaign_ids),
        )
        .order_by(MarketingStats.campaign_id, MarketingStats.collected_at)
    ).all()
    points: dict[int, list[tuple[float, int]]] = {}
    for campaign_id, collected_at, spent in rows:
        points.setdefault(campaign_id, []).append((collected_at.timestamp(), spent))
    return {cid: (spend_rate(p), p[-1][0]) for cid, p in points.items()}


async def act_on_marketplaces(
    plan: list[PlannedAction], accounts: dict[int, MarketplaceAccount], make_adapter: AdapterFactory
) -> None:
    """Pause/resume on the marketplaces; accounts run concurrently, one failure stays its own."""
    by_account: dict[int, list[PlannedAction]] = {}
    for item in plan:
        if item.action in ("pause", "resume"):
            by_account.setdefault(item.account_id, []).append(item)

    async def one_account(account_id: int, items: list[PlannedAction]) -> None:
        adapter = make_adapter(accounts[account_id])
        for item in items:
            try:
                if item.action == "pause":
                    await adapter.pause_campaign(item.external_id)
                else:
                    await adapter.resume_campaign(item.external_id)
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
            )
            counts["alerts_sent"] += 1
            continue
        if item.action == "pause":
            campaign.status = "paused"
            campaign.paused_reason = "budget_exceeded"
            campaign.budget_paused_on = today
            counts["campaigns_paused"] += 1
            _alert(
                session,
                item,
                "budget_exceeded",
                "warning",
                f"Кампания приостановлена: {item.name}",
                item.reason,
                "pause_campaign",
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
            )
        elif item.action == "warn":
            _alert(session, item, "budget_warning", "info", f"Бюджет 80%: {item.name}", item.reason, None)
        else:
            _alert(
                session,
                item,
                "budget_projection",
                "warning",
                f"Бюджет будет превышен: {item.name}",
                item.reason,
                None,
            )
        counts["alerts_sent"] += 1
    return counts


def run_budget_check(settings: BudgetSettings | None = None, now: datetime | None = None) -> dict[str, int]:
    """Plan in one transaction, act on the marketplaces, record in another (no transaction stays
    open across API calls)."""
    settings = settings or BudgetSettings(
        check_interval_s=get_settings().BUDGET_CHECK_INTERVAL,
        projection=ProjectionMode(get_settings().BUDGET_PROJECTION),
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
            await act_on_marketplaces(plan, accounts, pool.get)

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
) -> None:
    create_alert(
        session,
        AlertRequest(
            alert_type=alert_type,
            severity=severity,
            title=title,
            message=message,
            campaign_id=item.campaign_id,
            action_taken=action_taken,
            details={"spent_today": item.spent, "daily_limit": item.limit, "spent_rub": rub(item.spent)},
        ),
    )
