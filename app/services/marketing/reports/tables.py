"""The report's tables: Russian column headers and typed values, shared by the XLSX and CSV writers
(pure: from ReportData to rows; how a value looks is the writer's business)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final

from app.services.marketing.reports.data import KeywordTotal, ReportData
from app.services.marketing.reports.metrics import (
    BID_SOURCE_NAMES,
    CAMPAIGN_STATUS_NAMES,
    COMPLETE_DAY,
    INCOMPLETE_DAY,
    KEYWORD_KIND_NAMES,
    MARKETPLACE_NAMES,
    METRIC_COLUMNS,
    NO_DATA_DAY,
    PRIORITY_NAMES,
    RECOMMENDATION_SOURCE_NAMES,
    RECOMMENDATION_STATUS_NAMES,
    STRATEGY_NAMES,
    Column,
    Kind,
    bid_shown,
    bid_unit,
    change_percent,
    metric_values,
    named,
    percent,
    total,
)

Cell = object  # int | Decimal | date | datetime | str | None, typed by the column's Kind

TOTAL_LABEL: Final = "Итого"
METRICS: Final[tuple[Column, ...]] = tuple(Column(c.header, c.kind) for c in METRIC_COLUMNS)


@dataclass
class Table:
    columns: tuple[Column, ...]
    rows: list[list[Cell]] = field(default_factory=list)
    # Rows of the current, still running Moscow day (shown apart: their numbers will grow).
    incomplete_rows: set[int] = field(default_factory=set)

    def index(self, header_start: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.header.startswith(header_start))


def day_status(data: ReportData, day: date, has_data: bool) -> str:
    if day == data.today:
        return INCOMPLETE_DAY
    return COMPLETE_DAY if has_data else NO_DATA_DAY


def daily_table(data: ReportData) -> Table:
    """One row per day of the period (the scope's totals), then the period's total."""
    table = Table((Column("Дата", Kind.DATE), Column("День", Kind.TEXT), *METRICS))
    with_data = data.days_with_data()
    daily = data.daily_totals()
    for day, totals in daily.items():
        if day == data.today:
            table.incomplete_rows.add(len(table.rows))
        table.rows.append([day, day_status(data, day, day in with_data), *metric_values(totals)])
    table.rows.append([None, TOTAL_LABEL, *metric_values(total(daily.values()))])
    return table


CAMPAIGN_COLUMNS: Final[tuple[Column, ...]] = (
    Column("Маркетплейс", Kind.TEXT),
    Column("Кабинет", Kind.TEXT),
    Column("Кампания", Kind.TEXT),
    Column("ID на маркетплейсе", Kind.TEXT),
)


def campaign_table(data: ReportData) -> Table:
    """Campaigns ranked by spend, with their share of the scope's spend."""
    table = Table(
        (
            Column("№", Kind.INT),
            *CAMPAIGN_COLUMNS,
            Column("Статус", Kind.TEXT),
            Column("Стратегия", Kind.TEXT),
            *METRICS,
            Column("Доля расхода, %", Kind.DECIMAL),
        )
    )
    ranked = data.campaign_totals()
    spent = sum(totals.spent for _, totals in ranked)
    for rank, (campaign, totals) in enumerate(ranked, start=1):
        table.rows.append(
            [
                rank,
                named(MARKETPLACE_NAMES, campaign.marketplace),
                campaign.account_name,
                campaign.name,
                campaign.external_id,
                named(CAMPAIGN_STATUS_NAMES, campaign.status),
                named(STRATEGY_NAMES, campaign.strategy_type),
                *metric_values(totals),
                percent(totals.spent, spent),
            ]
        )
    return table


def keyword_table(data: ReportData, keywords: list[KeywordTotal]) -> Table:
    table = Table(
        (
            Column("№", Kind.INT),
            Column("Ключ / товар", Kind.TEXT),
            Column("Тип", Kind.TEXT),
            Column("Кампания", Kind.TEXT),
            Column("Маркетплейс", Kind.TEXT),
            *METRICS,
        )
    )
    for rank, keyword in enumerate(keywords, start=1):
        campaign = data.campaigns[keyword.campaign_id]
        table.rows.append(
            [
                rank,
                keyword.keyword,
                named(KEYWORD_KIND_NAMES, keyword.kind),
                campaign.name,
                named(MARKETPLACE_NAMES, campaign.marketplace),
                *metric_values(keyword.totals),
            ]
        )
    return table


def bid_change_table(data: ReportData) -> Table:
    """Bid changes, newest first, each in its marketplace's unit (YM: % of price)."""
    table = Table(
        (
            Column("Время (МСК)", Kind.DATETIME),
            Column("Маркетплейс", Kind.TEXT),
            Column("Кампания", Kind.TEXT),
            Column("Ключ / товар", Kind.TEXT),
            Column("Было", Kind.DECIMAL),
            Column("Стало", Kind.DECIMAL),
            Column("Единица ставки", Kind.TEXT),
            Column("Изменение, %", Kind.DECIMAL),
            Column("Источник", Kind.TEXT),
            Column("Стратегия", Kind.TEXT),
            Column("Причина", Kind.TEXT),
        )
    )
    for change in data.bid_changes:
        campaign = data.campaigns[change.campaign_id]
        table.rows.append(
            [
                change.at,
                named(MARKETPLACE_NAMES, campaign.marketplace),
                campaign.name,
                change.keyword or "",
                bid_shown(change.old_bid),
                bid_shown(change.new_bid),
                bid_unit(
                    change.bid_unit, campaign.marketplace, campaign.campaign_type, campaign.payment_type
                ),
                change_percent(change.old_bid, change.new_bid),
                named(BID_SOURCE_NAMES, change.source),
                named(STRATEGY_NAMES, change.strategy_type),
                change.reason or "",
            ]
        )
    return table


def recommendation_table(data: ReportData) -> Table:
    table = Table(
        (
            Column("Создана (МСК)", Kind.DATETIME),
            Column("Приоритет", Kind.TEXT),
            Column("Кампания", Kind.TEXT),
            Column("Ключ / товар", Kind.TEXT),
            Column("Тип", Kind.TEXT),
            Column("Рекомендация", Kind.TEXT),
            Column("Описание", Kind.TEXT),
            Column("Ожидаемый эффект", Kind.TEXT),
            Column("Источник", Kind.TEXT),
            Column("Статус", Kind.TEXT),
        )
    )
    for item in data.recommendations:
        table.rows.append(
            [
                item.created_at,
                named(PRIORITY_NAMES, item.priority),
                data.campaigns[item.campaign_id].name,
                item.keyword or "",
                item.recommendation_type,
                item.title,
                item.description,
                item.expected_effect or "",
                named(RECOMMENDATION_SOURCE_NAMES, item.source),
                named(RECOMMENDATION_STATUS_NAMES, item.status),
            ]
        )
    return table


def flat_table(data: ReportData) -> Table:
    """One row per (day, campaign) with data: the CSV, and the XLSX's data sheet for pivot tables."""
    table = Table((Column("Дата", Kind.DATE), Column("День", Kind.TEXT), *CAMPAIGN_COLUMNS, *METRICS))
    for row in sorted(data.campaign_days, key=lambda r: (r.day, r.campaign_id)):
        campaign = data.campaigns[row.campaign_id]
        if row.day == data.today:
            table.incomplete_rows.add(len(table.rows))
        table.rows.append(
            [
                row.day,
                day_status(data, row.day, True),
                named(MARKETPLACE_NAMES, campaign.marketplace),
                campaign.account_name,
                campaign.name,
                campaign.external_id,
                *metric_values(row.totals),
            ]
        )
    return table
