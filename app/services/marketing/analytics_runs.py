"""The nightly analytics (spec 7.3.4 `calculate_analytics`; issue 11 item 3) and the collection of
its Claude batch.

`run_analytics`, in this order:

1. collect any Claude batch still open from earlier nights (`collect_batches`);
2. in one transaction: a `marketing_analytics_runs` row; anomalies of the last 7 complete days →
   alerts, one per (campaign, metric, direction) within the window (`raise_anomaly_alerts`);
   trends over 14 days; rule-based recommendations over 14 days, superseding the pending rule
   ones of older runs; pending ones older than a week expire. This commit is the night's result
   whatever Claude does;
3. the Claude batch (`submit_batch`): skipped without CLAUDE_API_KEY, with a zero or exhausted
   CLAUDE_MONTHLY_TOKEN_BUDGET, or with no campaign that spent; otherwise older open batches are
   canceled, the run is marked `submitting` with the batch's token estimate (committed), the
   batch is created and its id committed at once. Any failure here is written on the run
   (`ai_status` failed, `ai_note`) plus one warning alert, and the night still completes.

`collect_batches` (every 10 minutes, and first thing each night) polls every `submitted` batch:
still processing → later; ended → each campaign's answer is validated and guarded
(`advice.advice_to_proposals`, against the keywords' bids and limits as they are now) and stored
as `claude` recommendations; past its expiry → `expired`. A run left `submitting` for an hour (a
crash between the create call and its commit) is `lost`: its rule recommendations stand.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.clock import moscow_today, now_utc
from app.core.database import session_scope
from app.models.marketing import (
    OPEN_AI_STATUSES,
    AiStatus,
    AnalyticsRunStatus,
    MarketingAlert,
    MarketingAnalyticsRun,
    MarketingRecommendation,
    RecommendationSource,
)
from app.services.ai.advice import advice_to_proposals, campaign_prompt
from app.services.ai.claude import ClaudeClient, ClaudeError, parse_custom_id
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.analytics import AnalyticsEngine, Anomaly, Trend
from app.services.marketing.analytics_data import ANOMALY_PERIOD_DAYS, RULES_PERIOD_DAYS, load_histories
from app.services.marketing.analytics_model import CampaignHistory, format_rub
from app.services.marketing.guards import marketplace_limits
from app.services.marketing.recommendation_rules import Proposal
from app.services.marketing.recommendations import expire_stale, store_proposals

logger = logging.getLogger(__name__)

ANOMALY_THRESHOLD = 1.5
WARNING_AT_STAKE = 1_000_00  # kopecks: a harmful anomaly with this much at stake is a warning
LOST_AFTER = timedelta(hours=1)
LOST_NOTE = "the batch was never confirmed (a crash while creating it): rule-based recommendations only"
EXPIRY_GRACE = timedelta(hours=1)


def run_analytics(task_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    now = now or now_utc()
    today = moscow_today(now)
    client = ClaudeClient()
    collected = collect_batches(client, now)
    with session_scope() as session:
        run = MarketingAnalyticsRun(task_id=task_id, business_day=today, started_at=now, model=client.model)
        session.add(run)
        session.flush()
        run_id = run.id
        histories = load_histories(session, today)
        engine = AnalyticsEngine(histories, today)
        anomalies = engine.detect_anomalies(period_days=ANOMALY_PERIOD_DAYS, threshold=ANOMALY_THRESHOLD)
        alerts = raise_anomaly_alerts(session, anomalies, {h.campaign_id: h for h in histories}, today)
        trends = engine.analyze_trends(period_days=RULES_PERIOD_DAYS)
        proposals = engine.recommend(period_days=RULES_PERIOD_DAYS)
        expired = expire_stale(session, now)
        stored = store_proposals(
            session, run_id, RecommendationSource.RULES, proposals, [h.campaign_id for h in histories]
        )
        summary: dict[str, Any] = {
            "run_id": run_id,
            "business_day": today.isoformat(),
            "campaigns_analyzed": len(histories),
            "anomalies_detected": len(anomalies),
            "alerts_created": alerts,
            "trends": sum(len(t) for t in trends.values()),
            "recommendations_generated": stored,
            "recommendations_expired": expired,
            "batches_collected": collected["collected"],
        }
    ai = submit_batch(client, run_id, Night(histories, trends, anomalies, proposals), now)
    summary["ai"] = ai
    summary["recommendations_source"] = "rules+claude" if ai["status"] == AiStatus.SUBMITTED else "rules"
    summary["status"] = AnalyticsRunStatus.COMPLETED.value
    with session_scope() as session:
        row = session.get(MarketingAnalyticsRun, run_id)
        assert row is not None
        row.status, row.finished_at, row.summary = AnalyticsRunStatus.COMPLETED.value, now_utc(), summary
    logger.info("analytics run %s: %s", run_id, summary)
    return summary


# --- Anomalies → alerts ------------------------------------------------------------------------------


def alert_type(anomaly: Anomaly) -> str:
    return f"anomaly_{anomaly.metric.value}"


def raise_anomaly_alerts(
    session: Session, anomalies: Sequence[Anomaly], campaigns: dict[int, CampaignHistory], today: Any
) -> int:
    """One alert per (campaign, metric, direction): its latest anomalous day, unless such an alert
    already names a day of the same window (a streak, or last night's run, is not news twice)."""
    window_start = today - timedelta(days=ANOMALY_PERIOD_DAYS)
    groups: dict[tuple[int, str, str], list[Anomaly]] = defaultdict(list)
    for anomaly in anomalies:
        groups[(anomaly.campaign_id, alert_type(anomaly), anomaly.direction)].append(anomaly)
    created = 0
    for (campaign_id, kind, direction), items in sorted(groups.items()):
        seen = session.scalar(
            select(func.count())
            .select_from(MarketingAlert)
            .where(
                MarketingAlert.campaign_id == campaign_id,
                MarketingAlert.alert_type == kind,
                MarketingAlert.details["direction"].astext == direction,
                MarketingAlert.details["day"].astext >= window_start.isoformat(),
            )
        )
        if seen:
            continue
        latest = max(items, key=lambda a: a.day)
        harmful = latest.harmful and latest.money_at_stake >= WARNING_AT_STAKE
        name = campaigns[campaign_id].name if campaign_id in campaigns else str(campaign_id)
        days = sorted(a.day.isoformat() for a in items)
        create_alert(
            session,
            AlertRequest(
                alert_type=kind,
                severity="warning" if harmful else "info",
                title=f"Anomaly: {latest.metric.value.upper()} {direction} ×{latest.ratio:.2f} in «{name}»"[
                    :500
                ],
                message=latest.describe()
                + (f"; unusual on {len(days)} days of the last week" if len(days) > 1 else ""),
                campaign_id=campaign_id,
                details={
                    **latest.to_dict(),
                    "days": days,
                    "money_at_stake_rub_total": sum(a.money_at_stake for a in items) / 100,
                },
            ),
        )
        created += 1
    return created


# --- The Claude batch ----------------------------------------------------------------------------------


def _set_ai(run_id: int, status: AiStatus, note: str | None, **fields: Any) -> dict[str, Any]:
    with session_scope() as session:
        run = session.get(MarketingAnalyticsRun, run_id)
        assert run is not None
        run.ai_status, run.ai_note = status.value, note
        for key, value in fields.items():
            setattr(run, key, value)
    return {"status": status.value, "message": note}


def tokens_this_month(session: Session, now: datetime) -> int:
    month_start = moscow_today(now).replace(day=1)
    used = session.scalar(
        select(
            func.coalesce(
                func.sum(
                    func.coalesce(MarketingAnalyticsRun.tokens_used, MarketingAnalyticsRun.tokens_reserved)
                ),
                0,
            )
        ).where(MarketingAnalyticsRun.business_day >= month_start)
    )
    return int(used or 0)


@dataclass(frozen=True)
class Night:
    """What the night's analysis found, for the Claude prompts."""

    histories: Sequence[CampaignHistory]
    trends: dict[int, list[Trend]]
    anomalies: Sequence[Anomaly]
    proposals: Sequence[Proposal]


def submit_batch(client: ClaudeClient, run_id: int, night: Night, now: datetime) -> dict[str, Any]:
    try:
        return _submit_batch(client, run_id, night, now)
    except Exception as error:  # never a failed night: the rules are stored already
        transient = isinstance(error, ClaudeError) and error.transient
        note = (
            f"{error} — rule-based recommendations only"
            if isinstance(error, ClaudeError)
            else (f"unexpected {type(error).__name__} — rule-based recommendations only")
        )
        logger.warning(
            "analytics run %s: Claude batch not submitted: %s",
            run_id,
            note,
            exc_info=not isinstance(error, ClaudeError),
        )
        with session_scope() as session:
            create_alert(
                session,
                AlertRequest(
                    alert_type="analytics_ai_failed",
                    severity="warning",
                    title="Claude recommendations unavailable tonight",
                    message=note + (" (a temporary failure)" if transient else ""),
                    details={"analytics_run_id": run_id},
                ),
            )
        return _set_ai(run_id, AiStatus.FAILED, note, tokens_reserved=0)


def _submit_batch(client: ClaudeClient, run_id: int, night: Night, now: datetime) -> dict[str, Any]:
    settings = client.settings
    if not client.configured:
        return _set_ai(run_id, AiStatus.OFF, "CLAUDE_API_KEY is not set: rule-based recommendations only")
    budget = settings.CLAUDE_MONTHLY_TOKEN_BUDGET
    if budget == 0:
        return _set_ai(
            run_id, AiStatus.OFF, "CLAUDE_MONTHLY_TOKEN_BUDGET is 0: rule-based recommendations only"
        )
    today = moscow_today(now)
    first = today - timedelta(days=RULES_PERIOD_DAYS)
    asked = [
        h for h in night.histories if h.totals(first, today - timedelta(days=1)).spent > 0 and h.keywords
    ]
    if not asked:
        return _set_ai(run_id, AiStatus.OFF, "no campaign spent in the period: nothing to ask Claude")
    requests = [
        client.request(
            run_id,
            h.campaign_id,
            campaign_prompt(
                h,
                today=today,
                period_days=RULES_PERIOD_DAYS,
                trends=night.trends.get(h.campaign_id, ()),
                anomalies=[a for a in night.anomalies if a.campaign_id == h.campaign_id],
                rules=[p for p in night.proposals if p.campaign_id == h.campaign_id],
                max_keywords=settings.CLAUDE_MAX_KEYWORDS,
            ),
        )
        for h in asked
    ]
    estimate = client.estimate_tokens(requests)
    with session_scope() as session:
        used = tokens_this_month(session, now)
    if used + estimate > budget:
        return _set_ai(
            run_id,
            AiStatus.SKIPPED,
            f"the monthly token budget would be exceeded (used {used:,} of {budget:,}, this batch needs "
            f"about {estimate:,}): rule-based recommendations only",
        )
    _cancel_older_batches(client, run_id)
    _set_ai(run_id, AiStatus.SUBMITTING, None, tokens_reserved=estimate, model=client.model)
    batch = client.submit(requests)
    note = f"batch of {batch.requests} campaigns submitted; collected every 10 minutes"
    return _set_ai(
        run_id,
        AiStatus.SUBMITTED,
        note,
        batch_id=batch.id,
        batch_requests=batch.requests,
        batch_submitted_at=now_utc(),
        batch_expires_at=batch.expires_at,
    ) | {"batch_id": batch.id, "requests": batch.requests, "tokens_estimate": estimate}


def _cancel_older_batches(client: ClaudeClient, run_id: int) -> None:
    with session_scope() as session:
        older = session.scalars(
            select(MarketingAnalyticsRun).where(
                MarketingAnalyticsRun.ai_status == AiStatus.SUBMITTED.value, MarketingAnalyticsRun.id < run_id
            )
        ).all()
        for run in older:
            try:
                client.cancel(str(run.batch_id))
            except ClaudeError as error:
                logger.warning("could not cancel batch %s of run %s: %s", run.batch_id, run.id, error)
            run.ai_status = AiStatus.CANCELED.value
            run.ai_note = f"superseded by analytics run {run_id}"


def collect_batches(client: ClaudeClient | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Poll every open batch once; store what has ended. Never raises for an API failure."""
    client = client or ClaudeClient()
    now = now or now_utc()
    counts = {"open": 0, "collected": 0, "still_processing": 0, "recommendations": 0, "failed": 0}
    with session_scope() as session:
        open_runs = session.execute(
            select(MarketingAnalyticsRun.id, MarketingAnalyticsRun.ai_status)
            .where(MarketingAnalyticsRun.ai_status.in_(OPEN_AI_STATUSES))
            .order_by(MarketingAnalyticsRun.id)
        ).all()
    counts["open"] = len(open_runs)
    for run_id, status in open_runs:
        outcome = _collect_one(client, run_id, status, now)
        counts[outcome[0]] += 1
        counts["recommendations"] += outcome[1]
    return counts


def _collect_one(client: ClaudeClient, run_id: int, status: str, now: datetime) -> tuple[str, int]:
    with session_scope() as session:
        run = session.get(MarketingAnalyticsRun, run_id, with_for_update=True)
        assert run is not None
        if run.ai_status != status:  # another collector got there first
            return "still_processing", 0
        if status == AiStatus.SUBMITTING:
            started = run.started_at
            if now - started >= LOST_AFTER:
                run.ai_status = AiStatus.LOST.value
                run.ai_note = LOST_NOTE
                run.tokens_reserved = 0
                return "failed", 0
            return "still_processing", 0
        if not client.configured:
            return "still_processing", 0
        try:
            state = client.poll(str(run.batch_id))
        except ClaudeError as error:
            if error.transient:
                return "still_processing", 0
            run.ai_status, run.ai_note, run.tokens_reserved = AiStatus.FAILED.value, str(error), 0
            return "failed", 0
        if state.status != "ended":
            if now > state.expires_at + EXPIRY_GRACE:
                run.ai_status, run.ai_note = AiStatus.EXPIRED.value, "the batch did not end within 24 hours"
                return "failed", 0
            return "still_processing", 0
        try:
            items = client.results(str(run.batch_id))
        except ClaudeError as error:
            if error.transient:
                return "still_processing", 0
            run.ai_status, run.ai_note, run.tokens_reserved = AiStatus.FAILED.value, str(error), 0
            return "failed", 0
        stored, notes = _store_answers(session, run, items, client)
        run.ai_status = AiStatus.COLLECTED.value
        run.batch_ended_at = state.ended_at or now
        run.tokens_used = sum(item.tokens for item in items)
        run.ai_note = "; ".join(notes)[:2000]
        run.summary = {**run.summary, "claude": {"recommendations": stored, "notes": notes[:50]}}
        return "collected", stored


def _store_answers(
    session: Session, run: MarketingAnalyticsRun, items: Sequence[Any], client: ClaudeClient
) -> tuple[int, list[str]]:
    by_campaign = {}
    notes: list[str] = []
    for item in items:
        parsed = parse_custom_id(item.custom_id)
        if parsed is None or parsed[0] != run.id:
            notes.append(f"unknown custom_id {item.custom_id!r}")
            continue
        if item.advice is None:
            notes.append(f"campaign {parsed[1]}: {item.error}")
            continue
        by_campaign[parsed[1]] = item.advice
    histories = {
        h.campaign_id: h for h in load_histories(session, run.business_day, campaign_ids=list(by_campaign))
    }
    newer = set(
        session.scalars(
            select(MarketingRecommendation.campaign_id).where(
                MarketingRecommendation.source == RecommendationSource.CLAUDE.value,
                MarketingRecommendation.analytics_run_id > run.id,
            )
        )
    )
    proposals: list[Proposal] = []
    for campaign_id, advice in sorted(by_campaign.items()):
        history = histories.get(campaign_id)
        if history is None or campaign_id in newer:
            notes.append(f"campaign {campaign_id}: no longer analysed or already advised by a newer run")
            continue
        accepted, dropped = advice_to_proposals(
            advice,
            history,
            marketplace_limits(history.marketplace, history.campaign_type, history.payment_type),
            client.settings.CLAUDE_MAX_KEYWORDS,
        )
        proposals += accepted
        notes += [f"campaign {campaign_id}: dropped, {why}" for why in dropped]
    stored = store_proposals(
        session, run.id, RecommendationSource.CLAUDE, proposals, list(by_campaign), model=run.model
    )
    logger.info(
        "analytics run %s: %s Claude recommendations stored (%s); %s",
        run.id,
        stored,
        format_rub(sum(p.expected_revenue_change for p in proposals)),
        "; ".join(notes) or "no notes",
    )
    return stored, notes
