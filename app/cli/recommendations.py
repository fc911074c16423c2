"""`adolf-marketing recommendations list|show|accept|reject` (issue 11 item 3).

Accepting a bid recommendation applies it at once, in this process, through the same exactly-once
path as `apply_bid_change` (app/services/marketing/recommendations.py); accepting it twice
applies it once.
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from app.cli.errors import UserError
from app.core.database import session_scope
from app.models.marketing import (
    RECOMMENDATION_SOURCES,
    RECOMMENDATION_STATUSES,
    MarketingCampaign,
    MarketingRecommendation,
)
from app.services.marketing import recommendations as service

recommendations_app = typer.Typer(help="Recommendations of the nightly analytics.", no_args_is_help=True)


def _who(by: str | None) -> str:
    return (by or getpass.getuser()).strip()[:255] or "unknown"


def _rub(kopecks: int | None) -> str:
    return "" if kopecks is None else f"{kopecks / 100:+,.0f} ₽".replace(",", " ")


@recommendations_app.command("list", help="List recommendations, newest first (default: pending ones).")
def list_recommendations(
    status: str = typer.Option(
        "pending", "--status", help="pending, accepted, rejected, applied, expired or all."
    ),
    campaign: int | None = typer.Option(None, "--campaign", help="Only this campaign id."),
    source: str | None = typer.Option(None, "--source", help="rules or claude."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many rows."),
) -> None:
    if status != "all" and status not in RECOMMENDATION_STATUSES:
        raise UserError(
            f"unknown --status {status!r}; use all or one of {', '.join(RECOMMENDATION_STATUSES)}"
        )
    if source is not None and source not in RECOMMENDATION_SOURCES:
        raise UserError(f"unknown --source {source!r}; use one of {', '.join(RECOMMENDATION_SOURCES)}")
    query = select(MarketingRecommendation, MarketingCampaign.name).join(MarketingCampaign)
    if status != "all":
        query = query.where(MarketingRecommendation.status == status)
    if campaign is not None:
        query = query.where(MarketingRecommendation.campaign_id == campaign)
    if source is not None:
        query = query.where(MarketingRecommendation.source == source)
    table = Table()
    for column in ("id", "status", "source", "priority", "campaign", "what", "spend", "revenue"):
        table.add_column(column)
    with session_scope() as session:
        rows = session.execute(query.order_by(MarketingRecommendation.id.desc()).limit(limit)).all()
        for rec, name in rows:
            table.add_row(
                str(rec.id),
                rec.status,
                rec.source,
                rec.priority,
                f"{rec.campaign_id} {name}",
                rec.title,
                _rub(rec.expected_spend_change),
                _rub(rec.expected_revenue_change),
            )
    Console().print(table)
    if not rows:
        typer.echo("no recommendations match; the nightly run is `calculate_analytics` (01:00 Moscow)")


@recommendations_app.command("show", help="Everything about one recommendation.")
def show_recommendation(
    recommendation_id: int = typer.Argument(..., help="Id from `recommendations list`."),
) -> None:
    with session_scope() as session:
        rec = session.get(MarketingRecommendation, recommendation_id)
        if rec is None:
            raise UserError(
                f"no recommendation with id {recommendation_id}; see `adolf-marketing recommendations list`"
            )
        lines = [
            f"#{rec.id} {rec.title}",
            f"status: {rec.status}" + (f" — {rec.status_note}" if rec.status_note else ""),
            f"type: {rec.recommendation_type}, priority {rec.priority}, source {rec.source}"
            + (f" ({rec.model})" if rec.model else ""),
            f"campaign: {rec.campaign_id} {rec.campaign.name}"
            + (f", keyword {rec.keyword_id}" if rec.keyword_id else ""),
            f"why: {rec.reason}",
            f"evidence: {rec.description}",
            f"expected effect: {rec.expected_effect or '—'}",
        ]
        if rec.proposed_bid is not None:
            lines.append(f"bid: {rec.current_bid} → {rec.proposed_bid} (the marketplace's bid unit)")
        lines.append(f"created: {rec.created_at:%Y-%m-%d %H:%M} UTC")
        if rec.decided_at:
            lines.append(f"decided: {rec.decided_at:%Y-%m-%d %H:%M} UTC by {rec.decided_by}")
        if rec.applied_at:
            lines.append(f"applied: {rec.applied_at:%Y-%m-%d %H:%M} UTC")
    for line in lines:
        typer.echo(line)


def _decide(action: str, recommendation_id: int, by: str | None, reason: str = "") -> None:
    try:
        if action == "accept":
            decision = service.accept(recommendation_id, _who(by))
        else:
            decision = service.reject(recommendation_id, _who(by), reason)
    except service.RecommendationError as error:
        raise UserError(str(error)) from None
    typer.echo(f"#{decision.recommendation_id} {decision.status}: {decision.message}")


@recommendations_app.command("accept", help="Accept; a bid or budget recommendation is applied at once.")
def accept_recommendation(
    recommendation_id: int = typer.Argument(..., help="Id from `recommendations list`."),
    by: str | None = typer.Option(None, "--by", help="Who decides (default: the OS user)."),
) -> None:
    _decide("accept", recommendation_id, by)


@recommendations_app.command("reject", help="Reject a pending recommendation.")
def reject_recommendation(
    recommendation_id: int = typer.Argument(..., help="Id from `recommendations list`."),
    reason: str = typer.Option("", "--reason", help="Why (kept with the recommendation)."),
    by: str | None = typer.Option(None, "--by", help="Who decides (default: the OS user)."),
) -> None:
    _decide("reject", recommendation_id, by, reason)
