"""Ozon Performance payloads → our domain types, one item at a time (issue 4 item 2; issue 5 item 4).

Every parser takes the marketplace's JSON (or report text) and returns the items it could read;
an item with a missing field, a negative / NaN / non-numeric number or a duplicated id is dropped
with a logged reason, and the rest of the batch goes on. Statuses, campaign types and payment types
are mapped here to the one internal set of `app/models/marketing.py`.

Reference: specs/ozon-performance/performance-openapi.json (schemas named per function).
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any, TypeVar

from app.models.marketing import CampaignStatus, CampaignType, PaymentType
from app.services.marketing.adapters.base import Campaign, Keyword, StatsSnapshot
from app.services.marketing.adapters.ozon_units import (
    BadValue,
    micro_to_kopecks,
    parse_count,
    rubles_to_kopecks,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Reference: GET /api/client/campaign, parameter `state` (its list of CAMPAIGN_STATE_* values).
STATUS_MAP: Mapping[str, str] = {
    "CAMPAIGN_STATE_RUNNING": CampaignStatus.ACTIVE,
    # Stopped by the owner: our pause.
    "CAMPAIGN_STATE_INACTIVE": CampaignStatus.PAUSED,
    # "Paused for lack of budget": it resumes once the budget is raised, so it is paused, not over.
    "CAMPAIGN_STATE_STOPPED": CampaignStatus.PAUSED,
    # Dates not yet come, or still in moderation: not serving yet.
    "CAMPAIGN_STATE_PLANNED": CampaignStatus.DRAFT,
    "CAMPAIGN_STATE_MODERATION_DRAFT": CampaignStatus.DRAFT,
    "CAMPAIGN_STATE_MODERATION_IN_PROGRESS": CampaignStatus.DRAFT,
    "CAMPAIGN_STATE_MODERATION_FAILED": CampaignStatus.DRAFT,
    # Its period is over: it will not serve again.
    "CAMPAIGN_STATE_FINISHED": CampaignStatus.STOPPED,
    "CAMPAIGN_STATE_ARCHIVED": CampaignStatus.ARCHIVED,
    "CAMPAIGN_STATE_UNKNOWN": CampaignStatus.UNKNOWN,
}

# Reference: GET /api/client/campaign, parameter `advObjectType`.
TYPE_MAP: Mapping[str, str] = {
    "SKU": CampaignType.SKU,  # pay per click on products ("Трафареты")
    "SEARCH_PROMO": CampaignType.SEARCH_PROMO,  # pay per order
    "BANNER": CampaignType.BANNER,
    "VIDEO_BANNER": CampaignType.BANNER,
}

# Reference: extcampaignCampaign.paymentType.
PAYMENT_MAP: Mapping[str, str] = {"CPC": PaymentType.CPC, "CPM": PaymentType.CPM, "CPO": PaymentType.CPO}

CAMPAIGN_STATE_RUNNING = "CAMPAIGN_STATE_RUNNING"


def map_status(state: Any) -> str:
    return STATUS_MAP.get(str(state), CampaignStatus.UNKNOWN)


def map_campaign_type(adv_object_type: Any) -> str:
    return TYPE_MAP.get(str(adv_object_type), CampaignType.OTHER)


def map_payment_type(payment_type: Any) -> str | None:
    return PAYMENT_MAP.get(str(payment_type).upper()) if payment_type else None


def reject(what: str, item: Any, reason: str) -> None:
    """Log why one item of a reply was dropped (never the whole batch)."""
    logger.warning("ozon: rejected %s %s: %s", what, _short(item), reason)


def parse_each(what: str, items: Any, parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """Apply `parse` to every object of a JSON array; a bad one is logged and skipped."""
    if not isinstance(items, list):
        if items is not None:
            reject(what + " list", items, "expected a JSON array")
        return []
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            reject(what, item, "expected a JSON object")
            continue
        try:
            out.append(parse(item))
        except (BadValue, KeyError) as error:
            reject(what, item, _reason(error))
    return out


def unique(what: str, items: Iterable[T], key: Callable[[T], Any]) -> list[T]:
    """Drop every item whose key was already seen: two answers for one id cannot both be true,
    and the first is kept so that results stay deterministic."""
    seen: set[Any] = set()
    out = []
    for item in items:
        k = key(item)
        if k in seen:
            reject(what, k, "duplicated id in the reply")
            continue
        seen.add(k)
        out.append(item)
    return out


def required(item: Mapping[str, Any], field: str) -> Any:
    value = item.get(field)
    if value is None or value == "":
        raise BadValue(f"missing field {field}")
    return value


def uint_id(item: Mapping[str, Any], field: str) -> str:
    """An id (uint64 as a string in this spec): returned as its canonical decimal string."""
    return str(parse_count(required(item, field), field))


def optional_micro(item: Mapping[str, Any], field: str) -> int | None:
    value = item.get(field)
    return None if value in (None, "") else micro_to_kopecks(value, field)


# ---- campaigns ---------------------------------------------------------------------------------


def parse_campaign(item: Mapping[str, Any]) -> Campaign:
    """Reference: GET /api/client/campaign → `list[]` (extcampaignCampaignInList)."""
    state = str(required(item, "state"))
    daily = optional_micro(item, "dailyBudget")
    # Budgets are validated even when unused here, so a broken money field rejects the item.
    optional_micro(item, "budget")
    optional_micro(item, "weeklyBudget")
    return Campaign(
        external_id=uint_id(item, "id"),
        name=str(item.get("title") or ""),
        campaign_type=map_campaign_type(item.get("advObjectType")),
        status=map_status(state),
        marketplace_status=state,
        payment_type=map_payment_type(item.get("paymentType")),
        # `dailyBudget` is deprecated (spec news 2026-05-22) but still the only daily figure; "0"
        # means "no daily limit".
        daily_budget=daily or None,
        raw=dict(item),
    )


def campaign_budget(item: Mapping[str, Any]) -> int | None:
    """The campaign's money cap in kopecks: its total `budget`, else its `weeklyBudget`;
    None when neither is set ("0" = no limit)."""
    return optional_micro(item, "budget") or optional_micro(item, "weeklyBudget") or None


# ---- products (SKUs) and bids ------------------------------------------------------------------


def product_parser(campaign_id: str) -> Callable[[Mapping[str, Any]], Keyword]:
    def parse(item: Mapping[str, Any]) -> Keyword:
        """Reference: GET /api/client/campaign/{campaignId}/v2/products → `products[]`."""
        sku = uint_id(item, "sku")
        return Keyword(
            campaign_external_id=campaign_id,
            external_id=sku,
            keyword=str(item.get("title") or sku),
            kind="sku",
            product_id=sku,
            current_bid=micro_to_kopecks(required(item, "bid"), "bid"),
        )

    return parse


def parse_competitive(item: Mapping[str, Any]) -> tuple[str, int]:
    """Reference: GET .../products/bids/competitive → `bids[{sku, bid}]` (bid in micro-rubles)."""
    return uint_id(item, "sku"), micro_to_kopecks(required(item, "bid"), "bid")


def parse_min_bid(item: Mapping[str, Any]) -> tuple[str, int]:
    """Reference: POST /api/client/min/sku → `minBids[{sku, bid}]`; `bid` is a double in rubles,
    like `minBid` of GET /limits/list (the spec does not restate the unit here: reference §2.4)."""
    return uint_id(item, "sku"), rubles_to_kopecks(required(item, "bid"), "bid")


# ---- statistics --------------------------------------------------------------------------------


def daily_parser(day: date) -> Callable[[Mapping[str, Any]], StatsSnapshot]:
    def parse(item: Mapping[str, Any]) -> StatsSnapshot:
        """Reference: GET /api/client/statistics/daily/json → `rows[{id, title, date, views,
        clicks, moneySpent, orders, ordersMoney}]`; money in rubles. The daily report has no
        add-to-cart counter (the per-SKU rows do)."""
        stat_date = _date(item, "date")
        if stat_date != day:
            raise BadValue(f"row of {stat_date}, asked for {day}")
        return StatsSnapshot(
            campaign_external_id=uint_id(item, "id"),
            keyword_external_id=None,
            stat_date=stat_date,
            views=parse_count(required(item, "views"), "views"),
            clicks=parse_count(required(item, "clicks"), "clicks"),
            add_to_cart=0,
            orders=parse_count(required(item, "orders"), "orders"),
            spent=rubles_to_kopecks(required(item, "moneySpent"), "moneySpent"),
            revenue=rubles_to_kopecks(required(item, "ordersMoney"), "ordersMoney"),
            raw=dict(item),
        )

    return parse


def sku_row_parser(day: date) -> Callable[[Mapping[str, Any]], StatsSnapshot]:
    def parse(item: Mapping[str, Any]) -> StatsSnapshot:
        """Reference: POST /api/client/statistics/products/sku → `rows[]`
        (SearchPromoProductsSKUStatisticsResponseRow): numbers are strings, money in rubles."""
        stat_date = _date(item, "date")
        if stat_date != day:
            raise BadValue(f"row of {stat_date}, asked for {day}")
        return StatsSnapshot(
            campaign_external_id=uint_id(item, "campaignId"),
            keyword_external_id=uint_id(item, "sku"),
            stat_date=stat_date,
            views=parse_count(required(item, "views"), "views"),
            clicks=parse_count(required(item, "clicks"), "clicks"),
            add_to_cart=parse_count(item.get("toCart") or "0", "toCart"),
            orders=parse_count(required(item, "orders"), "orders"),
            spent=rubles_to_kopecks(required(item, "expense"), "expense"),
            revenue=rubles_to_kopecks(required(item, "sales"), "sales"),
            raw=dict(item),
        )

    return parse


def stats_key(s: StatsSnapshot) -> tuple[str, str | None, date]:
    return (s.campaign_external_id, s.keyword_external_id, s.stat_date)


def _date(item: Mapping[str, Any], field: str) -> date:
    raw = str(required(item, field))
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise BadValue(f"{field}: {raw!r} is not a date") from None


# ---- async report (CSV, ZIP of CSVs, or JSON) --------------------------------------------------

# Report CSV columns (the spec's example of GET /api/client/statistics/report) → our counters. Matched
# by prefix: the headers carry units ("Расход, ₽, с НДС") and "Заказы" must not match "Заказы модели".
_CSV_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("views", "Показы", False),
    ("clicks", "Клики", False),
    ("add_to_cart", "В корзину", False),
    ("spent", "Расход", True),
    ("orders", "Заказы", False),
    ("revenue", "Выручка, ", True),
)
_TOTAL_ROW = "Всего"


def parse_report(
    content: bytes, content_type: str, campaign_ids: list[str], day_from: date, day_to: date
) -> list[StatsSnapshot]:
    """A downloaded report, by its content type (GET /api/client/statistics/report): CSV for one
    campaign, a ZIP of `<campaign id>.csv` for several, or the JSON layout of `/statistics/json`.
    Counters are totals over [day_from, day_to] (NO_GROUP_BY) and are dated `day_to`."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/zip" or content[:2] == b"PK":
        out = []
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for name in archive.namelist():
                campaign_id = name.rsplit("/", 1)[-1].removesuffix(".csv")
                text = archive.read(name).decode("utf-8-sig")
                out.extend(parse_report_csv(text, campaign_id, day_to))
        return out
    if kind == "application/json":
        import json

        return parse_report_json(json.loads(content), day_to)
    if len(campaign_ids) != 1:
        raise BadValue(f"a CSV report answers one campaign, {len(campaign_ids)} were asked")
    return parse_report_csv(content.decode("utf-8-sig"), campaign_ids[0], day_to)


def parse_report_csv(text: str, campaign_id: str, day: date) -> list[StatsSnapshot]:
    """One campaign's CSV: a "; Кампания …" title line, a header, a row per SKU, a "Всего" row."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(";")]
    rows = list(csv.reader(lines, delimiter=";"))
    if not rows:
        return []
    header = [cell.strip() for cell in rows[0]]
    columns = _csv_columns(header)
    out = []
    for row in rows[1:]:
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        first = row[0].strip() if row else ""
        sku = None if first == _TOTAL_ROW else first
        try:
            values = {name: _csv_value(cells, column, money) for name, column, money in columns}
            snapshot = StatsSnapshot(
                campaign_external_id=campaign_id,
                keyword_external_id=None if sku is None else str(parse_count(sku, "sku")),
                stat_date=day,
                raw=cells,
                **values,
            )
        except BadValue as error:
            reject("report row", row, str(error))
            continue
        out.append(snapshot)
    return unique("report row", out, stats_key)


def _csv_columns(header: list[str]) -> list[tuple[str, str, bool]]:
    found = []
    for name, prefix, money in _CSV_COLUMNS:
        column = next(
            (h for h in header if h == prefix.strip(", ") or (h.startswith(prefix) and "модели" not in h)),
            None,
        )
        if column is None:
            raise BadValue(f"report has no {prefix.strip(', ')!r} column")
        found.append((name, column, money))
    return found


def _csv_value(cells: Mapping[str, str], column: str, money: bool) -> int:
    value = cells.get(column)
    if value is None or value == "":
        raise BadValue(f"missing {column!r}")
    return rubles_to_kopecks(value, column) if money else parse_count(value, column)


def parse_report_json(body: Any, day: date) -> list[StatsSnapshot]:
    """The JSON report: `{<campaign id>: {title, report: {rows: [{sku, views, clicks, moneySpent,
    orders, ordersMoney, …}], totals: {…}}}}` with values as strings, decimal commas possible
    (reference §2.5: not in the spec; seen in client code)."""
    if not isinstance(body, Mapping):
        reject("report", body, "expected a JSON object keyed by campaign id")
        return []
    out = []
    for campaign_id, campaign in body.items():
        report = campaign.get("report") if isinstance(campaign, Mapping) else None
        if not isinstance(report, Mapping):
            reject("report of campaign", campaign_id, "missing `report`")
            continue
        out.extend(parse_each("report row", report.get("rows"), _json_row(str(campaign_id), day, True)))
        totals = report.get("totals")
        if isinstance(totals, Mapping):
            out.extend(parse_each("report totals", [totals], _json_row(str(campaign_id), day, False)))
    return unique("report row", out, stats_key)


def _json_row(campaign_id: str, day: date, per_sku: bool) -> Callable[[Mapping[str, Any]], StatsSnapshot]:
    def parse(item: Mapping[str, Any]) -> StatsSnapshot:
        return StatsSnapshot(
            campaign_external_id=str(parse_count(campaign_id, "campaign id")),
            keyword_external_id=uint_id(item, "sku") if per_sku else None,
            stat_date=day,
            views=parse_count(required(item, "views"), "views"),
            clicks=parse_count(required(item, "clicks"), "clicks"),
            add_to_cart=parse_count(item.get("toCart") or "0", "toCart"),
            orders=parse_count(required(item, "orders"), "orders"),
            spent=rubles_to_kopecks(required(item, "moneySpent"), "moneySpent"),
            revenue=rubles_to_kopecks(required(item, "ordersMoney"), "ordersMoney"),
            raw=dict(item),
        )

    return parse


# ---- helpers -----------------------------------------------------------------------------------


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reason(error: Exception) -> str:
    return f"missing field {error}" if isinstance(error, KeyError) else str(error)


def _short(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 200 else text[:197] + "..."
