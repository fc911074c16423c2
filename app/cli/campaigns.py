"""`adolf-marketing campaigns list|show|set` (issue 12 item 1): campaigns without SQL."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.cli.common import console, find_account, parse_marketplace, system_now, who
from app.cli.errors import UserError
from app.core.clock import moscow_today
from app.core.database import session_scope
from app.core.money import BidUnit, rub
from app.models.marketing import (
    CAMPAIGN_STATUSES,
    STRATEGY_TYPES,
    MarketingAlert,
    MarketingBidHistory,
    MarketingCampaign,
    MarketingCampaignChange,
)
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.bid_history import HistoryQuery, format_bid, history_rows
from app.services.marketing.campaign_settings import (
    CampaignSettingError,
    SettingsRequest,
    apply_settings,
    describe_change,
    parse_pairs,
    plan_settings,
)
from app.services.marketing.freeze import frozen_reason

campaigns_app = typer.Typer(help="Campaigns: list, show and change their settings.", no_args_is_help=True)

WHERE_KEYS = ("strategy", "marketplace", "payment_type", "campaign_type", "status")


def unit_of(campaign: MarketingCampaign) -> BidUnit | None:
    return rules_for(campaign.marketplace).campaign_unit(campaign.campaign_type, campaign.payment_type)


def _where(query: Select[Any], pairs: list[str]) -> Select[Any]:
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in WHERE_KEYS:
            raise UserError(f"--where {pair!r}: use KEY=VALUE with KEY one of {', '.join(WHERE_KEYS)}")
        if key == "strategy" and value not in STRATEGY_TYPES:
            raise UserError(
                f"--where strategy={value!r}: unknown strategy; use one of {', '.join(STRATEGY_TYPES)}"
            )
        if key == "status" and value not in CAMPAIGN_STATUSES:
            raise UserError(f"--where status={value!r}: use one of {', '.join(CAMPAIGN_STATUSES)}")
        if key == "marketplace":
            value = parse_marketplace(value) or value
        column = "strategy_type" if key == "strategy" else key
        query = query.where(getattr(MarketingCampaign, column) == value)
    return query


def _last_change(session: Session, ids: list[int]) -> dict[int, Any]:
    latest: dict[int, Any] = {}
    for model in (MarketingBidHistory, MarketingCampaignChange):
        rows = session.execute(
            select(model.campaign_id, func.max(model.created_at))
            .where(model.campaign_id.in_(ids))
            .group_by(model.campaign_id)
        ).all()
        for campaign_id, moment in rows:
            latest[campaign_id] = max(filter(None, (latest.get(campaign_id), moment)))
    return latest


@campaigns_app.command(
    "list", help="Campaigns with status, strategy, spend today against the limit, last change."
)
def list_campaigns(
    account: str | None = typer.Option(None, "--account", help="Account id or name."),
    marketplace: str | None = typer.Option(None, "--marketplace", "-m", help="wb, ozon or ym."),
    strategy: str | None = typer.Option(None, "--strategy", help="Only campaigns on this strategy."),
    removed: bool = typer.Option(False, "--removed", help="Also campaigns gone from the marketplace."),
) -> None:
    query = select(MarketingCampaign)
    if strategy is not None:
        query = _where(query, [f"strategy={strategy}"])
    mp = parse_marketplace(marketplace)
    if mp:
        query = query.where(MarketingCampaign.marketplace == mp)
    if not removed:
        query = query.where(MarketingCampaign.is_removed.is_(False))
    table = Table()
    for column in (
        "id",
        "account",
        "mp",
        "name",
        "status",
        "strategy",
        "spent today / limit",
        "max bid",
        "last change (UTC)",
    ):
        table.add_column(column)
    today = moscow_today(system_now())
    with session_scope() as session:
        if account is not None:
            query = query.where(MarketingCampaign.account_id == find_account(session, account).id)
        campaigns = list(session.scalars(query.order_by(MarketingCampaign.id)))
        latest = _last_change(session, [c.id for c in campaigns])
        for c in campaigns:
            unit = unit_of(c)
            limit = rub(c.daily_limit) if c.daily_limit is not None else "no limit"
            status = (
                c.status
                + (f" ({c.paused_reason})" if c.paused_reason else "")
                + (" dry-run" if c.dry_run else "")
            )
            table.add_row(
                str(c.id),
                str(c.account_id),
                c.marketplace,
                c.name,
                status,
                c.strategy_type,
                f"{rub(c.spent_on(today))} / {limit}",
                format_bid(c.max_bid, unit.value if unit else None) if c.max_bid is not None else "-",
                f"{latest[c.id]:%Y-%m-%d %H:%M}" if c.id in latest else "-",
            )
    console().print(table)
    if not campaigns:
        typer.echo("no campaigns match; campaigns arrive with `sync_campaigns` (hourly) after `accounts add`")


@campaigns_app.command(
    "show", help="One campaign: settings, keywords with their bids, last changes, open alerts."
)
def show_campaign(
    campaign_id: int = typer.Argument(..., help="Campaign id from `campaigns list`."),
    changes: int = typer.Option(10, "--changes", min=1, help="How many of the latest changes to show."),
) -> None:
    out = console()
    with session_scope() as session:
        campaign = session.get(MarketingCampaign, campaign_id)
        if campaign is None:
            raise UserError(f"no campaign with id {campaign_id}; see `adolf-marketing campaigns list`")
        unit = unit_of(campaign)
        unit_name = unit.value if unit else None
        today = moscow_today(system_now())
        limit = rub(campaign.daily_limit) if campaign.daily_limit is not None else "none"
        frozen = frozen_reason(session, campaign.marketplace, campaign.account_id)
        lines = [
            f"#{campaign.id} {campaign.name} — {campaign.marketplace} account {campaign.account_id}, "
            f"external id {campaign.external_id}",
            f"status: {campaign.status}"
            + (f" ({campaign.paused_reason})" if campaign.paused_reason else "")
            + (" · removed from the marketplace" if campaign.is_removed else ""),
            f"type: {campaign.campaign_type}/{campaign.payment_type or '-'}; bids in "
            + (f"{unit} ({unit.label})" if unit else "— (the marketplace takes no bids for it)"),
            f"strategy: {campaign.strategy_type} {json.dumps(campaign.strategy_params, ensure_ascii=False)}",
            "safety: "
            + (
                json.dumps(campaign.safety_params, ensure_ascii=False)
                if campaign.safety_params
                else "defaults"
            ),
            "max bid: "
            + (format_bid(campaign.max_bid, unit_name) if campaign.max_bid is not None else "none")
            + "; "
            f"daily limit: {limit}; spent today: {rub(campaign.spent_on(today))}; "
            f"{'dry-run (records, applies nothing)' if campaign.dry_run else 'live'}",
        ]
        if frozen:
            lines.append(f"FROZEN: {frozen}")
        for line in lines:
            out.print(line, soft_wrap=True)
        keywords = Table(title="Keywords")
        for column in ("id", "keyword", "kind", "status", "bid", "min bid", "hold"):
            keywords.add_column(column)
        for k in sorted(campaign.keywords, key=lambda k: k.id):
            hold = "fixed" if k.is_fixed else (f"until {k.held_until:%Y-%m-%d %H:%M}" if k.held_until else "")
            keywords.add_row(
                str(k.id),
                k.keyword[:60],
                k.kind,
                k.status,
                format_bid(k.current_bid, unit_name) if k.current_bid is not None else "-",
                format_bid(k.min_bid, unit_name) if k.min_bid is not None else "-",
                hold,
            )
        out.print(keywords)
        _print_changes(session, campaign, unit, changes)
        alerts = session.scalars(
            select(MarketingAlert)
            .where(MarketingAlert.campaign_id == campaign.id, MarketingAlert.is_resolved.is_(False))
            .order_by(MarketingAlert.id.desc())
            .limit(10)
        ).all()
        if alerts:
            out.print("Open alerts:")
            for a in alerts:
                out.print(
                    f"  {a.created_at:%Y-%m-%d %H:%M} {a.severity} {a.alert_type}: {a.title} — {a.message}",
                    soft_wrap=True,
                )
        else:
            out.print("Open alerts: none")


def _print_changes(session: Session, campaign: MarketingCampaign, unit: BidUnit | None, limit: int) -> None:
    settings = session.scalars(
        select(MarketingCampaignChange)
        .where(MarketingCampaignChange.campaign_id == campaign.id)
        .order_by(MarketingCampaignChange.id.desc())
        .limit(limit)
    ).all()
    bids = history_rows(session, HistoryQuery(campaign_id=campaign.id, limit=limit))
    entries = [
        (
            c.created_at,
            f"{c.changed_by}: " + "; ".join(describe_change(k, v, unit) for k, v in c.changes.items()),
        )
        for c in settings
    ] + [
        (r.change.created_at, f"{r.by}: «{r.keyword}» {r.old} → {r.new} ({r.change.reason or ''})")
        for r in bids
    ]
    out = console()
    if not entries:
        out.print("Last changes: none")
        return
    out.print("Last changes (UTC):")
    for moment, text in sorted(entries, key=lambda e: e[0], reverse=True)[:limit]:
        out.print(f"  {moment:%Y-%m-%d %H:%M} {text}"[:400], soft_wrap=True)


@campaigns_app.command(
    "set",
    help="Change settings of one campaign, an account's campaigns (--all-in-account) or those "
    "--where KEY=VALUE. Every value is checked for every campaign first; one bad value changes nothing.",
)
def set_campaigns(
    campaign_id: int | None = typer.Argument(None, help="Campaign id (or use --all-in-account / --where)."),
    all_in_account: str | None = typer.Option(
        None, "--all-in-account", help="Every campaign of this account (id or name)."
    ),
    where: list[str] = typer.Option(
        [],
        "--where",
        help="Only campaigns with KEY=VALUE (strategy, marketplace, payment_type, campaign_type, status).",
    ),
    strategy: str | None = typer.Option(
        None, "--strategy", help=f"One of {', '.join(STRATEGY_TYPES)} (docs/strategies.md)."
    ),
    param: list[str] = typer.Option(
        [], "--param", help="Strategy parameter KEY=VALUE, e.g. position=3 (KEY=null removes it)."
    ),
    max_bid: str | None = typer.Option(
        None,
        "--max-bid",
        help="Highest bid, in the campaign's unit (15000) or as 150₽ / 5.5% (YM); none removes it.",
    ),
    daily_limit: str | None = typer.Option(
        None,
        "--daily-limit",
        help="Daily spend limit in kopecks (500000) or rubles (5000₽); none removes it.",
    ),
    dry_run: bool | None = typer.Option(
        None, "--dry-run/--live", help="Record what would change and apply nothing / apply."
    ),
    fixed: bool | None = typer.Option(
        None,
        "--fixed/--managed",
        help="Fix every keyword's bid / hand every keyword to the strategy (ends manual holds).",
    ),
    safety: list[str] = typer.Option(
        [], "--safety", help="Safety threshold KEY=VALUE, e.g. keyword_min_ctr_pct=0.5."
    ),
    by: str | None = typer.Option(None, "--by", help="Who changes it (default: the OS user)."),
) -> None:
    chosen = [campaign_id is not None, all_in_account is not None or bool(where)]
    if sum(chosen) != 1:
        raise UserError(
            "name the campaigns: a campaign id, or --all-in-account ACCOUNT and/or --where KEY=VALUE"
        )
    try:
        request = SettingsRequest(
            strategy=strategy,
            params=parse_pairs(param, "--param"),
            safety=parse_pairs(safety, "--safety"),
            max_bid=max_bid,
            daily_limit=daily_limit,
            dry_run=dry_run,
            fixed=fixed,
        )
    except CampaignSettingError as error:
        raise UserError(str(error)) from None
    if request.is_empty():
        raise UserError(
            "nothing to change: give --strategy, --param, --max-bid, --daily-limit, --dry-run/--live, "
            "--fixed/--managed or --safety"
        )
    out = console()
    with session_scope() as session:
        if campaign_id is not None:
            campaign = session.get(MarketingCampaign, campaign_id)
            if campaign is None:
                raise UserError(f"no campaign with id {campaign_id}; see `adolf-marketing campaigns list`")
            campaigns = [campaign]
        else:
            query = _where(select(MarketingCampaign).where(MarketingCampaign.is_removed.is_(False)), where)
            if all_in_account is not None:
                query = query.where(MarketingCampaign.account_id == find_account(session, all_in_account).id)
            campaigns = list(session.scalars(query.order_by(MarketingCampaign.id).with_for_update()))
            if not campaigns:
                raise UserError("no campaign matches; see `adolf-marketing campaigns list`")
        try:
            planned = [plan_settings(c, request) for c in campaigns]
        except CampaignSettingError as error:
            raise UserError(f"{error} — nothing changed") from None
        person, now = who(by), system_now()
        changed = 0
        for plan in planned:
            if apply_settings(session, plan, request, person, now):
                changed += 1
                unit = unit_of(plan.campaign)
                text = "; ".join(describe_change(k, v, unit) for k, v in plan.changes.items())
                out.print(f"campaign {plan.campaign.id} ({plan.campaign.name}): {text}", soft_wrap=True)
    out.print(
        f"{changed} of {len(planned)} campaigns changed by {person}" + ("" if changed else " (already so)")
    )
