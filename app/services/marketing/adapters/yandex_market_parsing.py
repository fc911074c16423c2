"""Yandex Market: the pure half of the adapter — units, status/type mapping and the parsing of
every reply, item by item (issue 4 item 2; issue 5 item 4 and "bad data").

Units (DESIGN.md §3 "Money is integer kopecks"): a YM bid is a *rate*, "percent of the item price
× 100" (specs/yandex-market/openapi/components/schemas/SkuBidItemDTO.yaml: 500 = 5 %, 50..9999,
0 removes the SKU). The non-deprecated bid endpoints never return the item price
(`priceRecommendations` of SkuBidRecommendationItemDTO.yaml is deprecated; the boost report has no
price either), so a bid cannot be turned into kopecks without inventing a price. YM bids therefore
stay in their native unit end to end: `Keyword.current_bid`, `BidChange.new_bid` and
`Recommendation.bids_by_position` of a YM item are **hundredths of a percent of the price**, never
kopecks. Money that YM does report as money (the boost report's `bidFee`, rubles) becomes kopecks
here, in `rubles_to_kopecks`, and nowhere else.

Bad items (missing fields, wrong types, negative/NaN numbers, duplicated SKUs) are rejected one by
one with a logged reason; the rest of the reply goes on.
"""

from __future__ import annotations

import io
import json
import logging
import math
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from app.services.marketing.adapters.yandex_market_rules import MAX_BID, MIN_BID

logger = logging.getLogger(__name__)

# Reference: components/schemas/Bid.yaml (0..9999) and SkuBidItemDTO.yaml ("от 50 до 9999"); the
# limits live with YM's other bid rules.
REMOVE_BID = 0

# One internal set of statuses and types (issue 5 item 4; app/models/marketing.py). YM's API
# exposes no campaign status: the adapter derives one from whether any SKU has an API bid
# (see YandexMarketAdapter.list_campaigns), and maps that derived status here.
STATUS_ACTIVE_BIDS = "HAS_API_BIDS"
STATUS_NO_BIDS = "NO_API_BIDS"
STATUS_MAP: Mapping[str, str] = {
    STATUS_ACTIVE_BIDS: "active",
    STATUS_NO_BIDS: "draft",
}
# The business-wide API campaign of putBidsForBusiness is the "sales boost" (буст продаж).
TYPE_MAP: Mapping[str, str] = {"BOOST": "boost"}
# Boost is paid per order: the bid is a share of the price of each order it brought.
PAYMENT_MAP: Mapping[str, str] = {"CPO": "cpo"}


def map_status(marketplace_status: str) -> str:
    return STATUS_MAP.get(marketplace_status, "unknown")


def map_campaign_type(marketplace_type: str) -> str:
    return TYPE_MAP.get(marketplace_type.upper(), "other")


def map_payment_type(marketplace_payment: str) -> str | None:
    return PAYMENT_MAP.get(marketplace_payment.upper())


# --- units -----------------------------------------------------------------------------------------


class BadValue(ValueError):
    """One field of one item is unusable; the message says which and why."""


def bid_percent(bid: int) -> Decimal:
    """A YM bid as a percentage of the price (570 → 5.70 %), for messages and people."""
    return Decimal(bid) / 100


def check_bid(value: Any, *, allow_remove: bool = True) -> int:
    """A YM bid as the API accepts it: an integer 50..9999, or 0 (remove the SKU)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(f"bid must be an integer in hundredths of a percent, got {value!r}")
    if value == REMOVE_BID and allow_remove:
        return value
    if not MIN_BID <= value <= MAX_BID:
        raise BadValue(
            f"bid {value} ({bid_percent(value)} % of the price) is outside {MIN_BID}..{MAX_BID}"
            + (" (or 0 to remove the SKU)" if allow_remove else "")
        )
    return value


def rubles_to_kopecks(value: Any) -> int:
    """Rubles as YM reports money (a JSON number or a numeric string, maybe with a decimal comma)
    → integer kopecks, rounded half up. Floats go through their shortest repr so 0.1 + 0.2 rubles
    is 30 kopecks, not 30.000000000000004."""
    if isinstance(value, bool) or value is None:
        raise BadValue(f"money must be a number of rubles, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadValue(f"money must be a finite number, got {value!r}")
        text = repr(value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.replace("\u00a0", "").replace(" ", "").replace(",", ".")
    else:
        raise BadValue(f"money must be a number of rubles, got {value!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"money must be a number of rubles, got {value!r}") from None
    if not amount.is_finite():
        raise BadValue(f"money must be a finite number, got {value!r}")
    if amount < 0:
        raise BadValue(f"money must not be negative, got {value!r}")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def count(value: Any, name: str) -> int:
    """A non-negative integer counter (shows, clicks, orders); integral floats are accepted."""
    if isinstance(value, bool) or value is None:
        raise BadValue(f"{name} must be a non-negative integer, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise BadValue(f"{name} must be a non-negative integer, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise BadValue(f"{name} must be a non-negative integer, got {value!r}")
    if value < 0:
        raise BadValue(f"{name} must not be negative, got {value}")
    return value


def check_sku(value: Any) -> str:
    """Reference: components/schemas/ShopSku.yaml — a non-empty string of at most 255 characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadValue(f"sku must be a non-empty string of at most 255 characters, got {value!r}")
    return value


# --- replies ---------------------------------------------------------------------------------------


def reject(what: str, item: Any, error: Exception) -> None:
    logger.warning("ym: rejected %s %s: %s", what, _short(item), error)


def _short(item: Any) -> str:
    text = json.dumps(item, ensure_ascii=False, default=str) if not isinstance(item, str) else item
    return text[:200]


def parse_bid_items(items: Any) -> dict[str, int]:
    """`result.bids[{sku, bid}]` of bids/info (GetBidsInfoResponseDTO.yaml) → {sku: bid}.

    A duplicated SKU is rejected entirely (both copies): with two different bids for one SKU we
    cannot know the real one, and a wrong current bid would steer the next change.
    """
    if not isinstance(items, list):
        raise BadValue(f"result.bids must be a list, got {type(items).__name__}")
    found: dict[str, int] = {}
    duplicated: set[str] = set()
    for item in items:
        try:
            if not isinstance(item, Mapping):
                raise BadValue("an item must be an object")
            sku = check_sku(item.get("sku"))
            bid = check_bid(item.get("bid"))
        except BadValue as error:
            reject("bid item", item, error)
            continue
        if sku in found or sku in duplicated:
            reject("bid item", item, BadValue(f"sku {sku!r} appears more than once: every copy is dropped"))
            found.pop(sku, None)
            duplicated.add(sku)
            continue
        found[sku] = bid
    return found


@dataclass(frozen=True)
class ParsedRecommendation:
    sku: str
    bids_by_position: tuple[int, ...]  # hundredths of a percent; index 0 = the most shows
    # The bid for 100 % of shows wins the top position; other shares state no position.
    positions: tuple[int | None, ...] = ()


def parse_recommendations(items: Any) -> list[ParsedRecommendation]:
    """`result.recommendations` (GetBidsRecommendationsResponseDTO.yaml). The levels of
    `bidRecommendations` are ordered by `showPercent` descending, so index 0 is the bid for the
    largest share of shows (the "top position"); without levels the single `bid` is used (the
    spec says to ignore `bid` when `bidRecommendations` is present)."""
    if not isinstance(items, list):
        raise BadValue(f"result.recommendations must be a list, got {type(items).__name__}")
    out: dict[str, ParsedRecommendation] = {}
    duplicated: set[str] = set()
    for item in items:
        try:
            if not isinstance(item, Mapping):
                raise BadValue("an item must be an object")
            sku = check_sku(item.get("sku"))
            shares = _levels(item.get("bidRecommendations"))
            levels = tuple(bid for _, bid in shares)
            positions = tuple(1 if share == FULL_SHOWS else None for share, _ in shares)
            if not levels:
                levels, positions = (check_bid(item.get("bid"), allow_remove=False),), (None,)
        except BadValue as error:
            reject("recommendation", item, error)
            continue
        if sku in out or sku in duplicated:
            reject(
                "recommendation", item, BadValue(f"sku {sku!r} appears more than once: every copy is dropped")
            )
            out.pop(sku, None)
            duplicated.add(sku)
            continue
        out[sku] = ParsedRecommendation(sku, levels, positions)
    return list(out.values())


FULL_SHOWS = 100


def _levels(levels: Any) -> list[tuple[int, int]]:
    """(showPercent, bid) pairs, the largest share first."""
    if levels is None:
        return []
    if not isinstance(levels, list):
        raise BadValue("bidRecommendations must be a list")
    parsed: list[tuple[int, int]] = []
    for level in levels:
        if not isinstance(level, Mapping):
            raise BadValue("a bidRecommendations item must be an object")
        share = count(level.get("showPercent"), "showPercent")
        if share > 100:
            raise BadValue(f"showPercent must be 0..100, got {share}")
        parsed.append((share, check_bid(level.get("bid"), allow_remove=False)))
    parsed.sort(key=lambda pair: (-pair[0], -pair[1]))
    return parsed


@dataclass(frozen=True)
class ReportRow:
    sku: str
    day: date
    shows: int
    clicks: int
    orders: int
    spent: int  # kopecks (the report's `bidFee`, rubles)
    raw: Mapping[str, Any]


def parse_report_rows(rows: Iterable[Any]) -> list[ReportRow]:
    """Rows of the boost report `{sku, date, shows, clicks, orders, bidFee}`; a (sku, date) seen
    twice is rejected entirely (we cannot tell which copy is right)."""
    out: dict[tuple[str, date], ReportRow] = {}
    duplicated: set[tuple[str, date]] = set()
    for raw in rows:
        try:
            row = _report_row(raw)
        except BadValue as error:
            reject("report row", raw, error)
            continue
        key = (row.sku, row.day)
        if key in out or key in duplicated:
            reject(
                "report row",
                raw,
                BadValue(f"sku {row.sku!r} on {row.day} appears more than once: every copy is dropped"),
            )
            out.pop(key, None)
            duplicated.add(key)
            continue
        out[key] = row
    return list(out.values())


def _report_row(raw: Any) -> ReportRow:
    if not isinstance(raw, Mapping):
        raise BadValue("a row must be an object")
    try:
        day = date.fromisoformat(str(raw.get("date")))
    except ValueError:
        raise BadValue(f"date must be YYYY-MM-DD, got {raw.get('date')!r}") from None
    return ReportRow(
        sku=check_sku(raw.get("sku")),
        day=day,
        shows=count(raw.get("shows"), "shows"),
        clicks=count(raw.get("clicks"), "clicks"),
        orders=count(raw.get("orders"), "orders"),
        spent=rubles_to_kopecks(raw.get("bidFee")),
        raw=dict(raw),
    )


def report_records(content: bytes) -> Iterator[Any]:
    """The records of a downloaded boost report: JSON lines, one JSON array, or a ZIP of either
    (the `format=JSON` reports of ReportFormatType.yaml are "a ZIP archive of JSON files").
    A line that is not JSON is rejected with a reason; the others go on."""
    if content[:2] == b"PK":
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
        except zipfile.BadZipFile as error:
            raise BadValue(f"the report is not a readable ZIP archive: {error}") from None
        for name in archive.namelist():
            if name.lower().endswith((".json", ".jsonl", ".ndjson")):
                yield from report_records(archive.read(name))
        return
    text = content.decode("utf-8-sig", errors="replace").strip()
    if not text:
        return
    if text.startswith("["):
        try:
            records = json.loads(text)
        except ValueError as error:
            raise BadValue(f"the report is not valid JSON: {error}") from None
        if not isinstance(records, list):
            raise BadValue("the report's JSON must be a list of rows")
        yield from records
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            reject("report line", f"#{number}: {line}", BadValue("not valid JSON"))
