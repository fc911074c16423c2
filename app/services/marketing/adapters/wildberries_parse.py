"""Wildberries units, statuses and per-item parsing (issue 4 item 2; issue 5 item 4).

Every conversion between WB's units and our integer kopecks happens in this module and nowhere
else (DESIGN.md "Money is integer kopecks"): WB statistics and budgets speak rubles as floats
(promotion.json GET /adv/v3/fullstats "sum", "sum_price"; GET /adv/v1/budget "total"), the old
cluster-bid method speaks whole rubles (POST /adv/v0/normquery/bids "bid"), the new bid methods
speak kopecks (`bid_kopecks`, `bidMinorUnits`, `bidKopecks`).

A value that cannot be trusted (missing, negative, NaN, a string where a number belongs) raises
`BadItem`; callers reject that one item with a logged reason and go on with the rest.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from app.models.base import MAX_BIGINT
from app.models.marketing import CampaignStatus, CampaignType, PaymentType
from app.services.marketing.adapters.base import TransientError
from app.services.marketing.adapters.limits import WbTokenType


class BadItem(ValueError):
    """One item of a WB reply cannot be used; the message says which field and why."""


# --- numbers and money -------------------------------------------------------------------------


def _stored(amount: int, what: str, value: Any) -> int:
    """`amount` when a BIGINT column of ours can hold it: a larger reply value is not data."""
    if amount > MAX_BIGINT:
        raise BadItem(f"{what} is too large to be real: {value!r:.40}")
    return amount


def _number(value: Any, what: str) -> Decimal:
    """A JSON number as an exact Decimal; bools, strings, NaN and infinities are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadItem(f"{what} is not a number: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadItem(f"{what} is not a finite number: {value!r}")
    # Decimal(str(x)), not Decimal(x): 123.45 must be 123.45, not 123.4500000000000028...
    return Decimal(str(value))


def rubles_to_kopecks(value: Any, what: str = "amount") -> int:
    """WB rubles (float or int, ≥ 0) → integer kopecks, rounded half-up to the kopeck.

    123.45 → 12345 exactly; 0.125 (a sub-kopeck artefact) → 13.
    """
    amount = _number(value, what)
    if amount < 0:
        raise BadItem(f"{what} is negative: {value!r}")
    try:
        kopecks = int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise BadItem(f"{what} is out of range: {value!r}") from None
    return _stored(kopecks, what, value)


def kopecks_to_whole_rubles(kopecks: int) -> int:
    """Our kopecks → whole rubles for POST /adv/v0/normquery/bids (`bid`: integer rubles).

    A bid that is not a whole number of rubles is refused rather than rounded: rounding a money
    command silently changes what the user asked for.
    """
    if isinstance(kopecks, bool) or not isinstance(kopecks, int) or kopecks <= 0:
        raise BadItem(f"bid must be a positive number of kopecks, got {kopecks!r}")
    if kopecks % 100:
        raise BadItem(
            f"bid {kopecks} kopecks is not a whole number of rubles; this token type can only set "
            "cluster bids through POST /adv/v0/normquery/bids, which takes whole rubles"
        )
    return kopecks // 100


def kopecks(value: Any, what: str = "bid") -> int:
    """A WB value already in kopecks (`bid_kopecks`, `bidKopecks`, `bidMinorUnits`): an integer ≥ 0."""
    amount = _number(value, what)
    if amount < 0:
        raise BadItem(f"{what} is negative: {value!r}")
    if amount != amount.to_integral_value():
        raise BadItem(f"{what} is not a whole number of kopecks: {value!r}")
    return _stored(int(amount), what, value)


def counter(value: Any, what: str) -> int:
    """A non-negative integer counter (views, clicks, orders...)."""
    amount = _number(value, what)
    if amount < 0:
        raise BadItem(f"{what} is negative: {value!r}")
    if amount != amount.to_integral_value():
        raise BadItem(f"{what} is not a whole number: {value!r}")
    return _stored(int(amount), what, value)


def optional_counter(value: Any, what: str) -> int:
    """A counter that WB sends as null where it does not apply (views of cpc clusters)."""
    return 0 if value is None else counter(value, what)


def average_position(value: Any) -> float | None:
    """WB `avgPos`: a position ≥ 1, or 0/null when the item was not shown (then unknown)."""
    if value is None:
        return None
    position = _number(value, "avgPos")
    if position < 0:
        raise BadItem(f"avgPos is negative: {value!r}")
    return float(position) if position >= 1 else None


def identifier(value: Any, what: str) -> int:
    """A positive integer id (advert id, nm id)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadItem(f"{what} is not a positive integer id: {value!r}")
    return _stored(value, what, value)


def text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadItem(f"{what} is not a non-empty string: {value!r}")
    return value


def field(item: Any, name: str) -> Any:
    if not isinstance(item, Mapping):
        raise BadItem(f"expected an object, got {type(item).__name__}")
    if name not in item:
        raise BadItem(f"missing field {name!r}")
    return item[name]


def items(value: Any, what: str) -> list[Any]:
    """A JSON array of an item; absent (null) is empty, anything else is not an array."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadItem(f"{what} is not a list: {value!r:.60}")
    return value


def reply_items(body: Any, operation: str, name: str) -> list[Any]:
    """The array `name` of a reply object. A reply of another shape is unusable as a whole: a
    TransientError (as for malformed JSON), never an empty list that reads as "nothing there"."""
    if body is None:
        return []
    if not isinstance(body, Mapping):
        raise TransientError(
            "wb", operation, f"malformed reply: expected an object, got {type(body).__name__}"
        )
    try:
        return items(body.get(name), name)
    except BadItem as error:
        raise TransientError("wb", operation, f"malformed reply: {error}") from None


def wb_day(value: Any) -> date:
    """The date of a WB day stamp: "2026-11-29" or "2026-11-29T00:00:00+03:00" (Moscow midnight)."""
    if not isinstance(value, str) or len(value) < 10:
        raise BadItem(f"date is not a date string: {value!r}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BadItem(f"date is not a date string: {value!r}") from None


# --- statuses, types and payment types ---------------------------------------------------------

# Reference: promotion.json, campaign statuses: -1 being deleted (gone in 3–10 min), 4 ready to
# start, 7 finished, 8 declined/cancelled, 9 active, 11 paused (marketplace-apis.md §1.3).
# 4 has never run → draft; 7 and 8 can never run again → stopped; -1 is on its way out → archived.
WB_STATUSES: dict[int, CampaignStatus] = {
    -1: CampaignStatus.ARCHIVED,
    4: CampaignStatus.DRAFT,
    7: CampaignStatus.STOPPED,
    8: CampaignStatus.STOPPED,
    9: CampaignStatus.ACTIVE,
    11: CampaignStatus.PAUSED,
}
WB_ACTIVE = 9
WB_PAUSED = 11
STATUSES_WITH_STATS = (7, 9, 11)  # GET /adv/v3/fullstats answers only for these


def map_status(wb_status: Any) -> CampaignStatus:
    if isinstance(wb_status, bool) or not isinstance(wb_status, int):
        return CampaignStatus.UNKNOWN
    return WB_STATUSES.get(wb_status, CampaignStatus.UNKNOWN)


# Reference: promotion.json GET /adv/v1/promotion/count `type`: 4 catalog, 5 product card,
# 6 search, 7 home recommendations (legacy), 8 unified bid (deprecated "auto"), 9 unified or manual
# bid, told apart by `bid_type` of GET /api/advert/v2/adverts (marketplace-apis.md §1.3).
WB_LEGACY_TYPES: dict[int, CampaignType] = {
    4: CampaignType.CATALOG,
    5: CampaignType.PRODUCT_CARD,
    6: CampaignType.SEARCH,
    7: CampaignType.RECOMMENDATIONS,
    8: CampaignType.UNIFIED,
}
WB_BID_TYPES: dict[str, CampaignType] = {"unified": CampaignType.UNIFIED, "manual": CampaignType.MANUAL}
WB_TYPE_UNIFIED_OR_MANUAL = 9


def map_campaign_type(wb_type: Any, bid_type: Any) -> CampaignType:
    if (
        isinstance(bid_type, str)
        and bid_type in WB_BID_TYPES
        and wb_type in (None, WB_TYPE_UNIFIED_OR_MANUAL)
    ):
        return WB_BID_TYPES[bid_type]
    if isinstance(wb_type, int) and not isinstance(wb_type, bool) and wb_type in WB_LEGACY_TYPES:
        return WB_LEGACY_TYPES[wb_type]
    return CampaignType.OTHER


# Reference: promotion.json `payment_type`: cpm (per 1000 views) or cpc (per click). WB has no
# pay-per-order campaigns, so cpo never comes from here.
WB_PAYMENT_TYPES: dict[str, PaymentType] = {"cpm": PaymentType.CPM, "cpc": PaymentType.CPC}


def map_payment_type(value: Any) -> PaymentType | None:
    return WB_PAYMENT_TYPES.get(value) if isinstance(value, str) else None


# --- tokens ------------------------------------------------------------------------------------

# Reference: api-information.json "Token types": the JWT payload's `acc` is 1 Base, 2 Test,
# 3 Personal, 4 Service. WB's "Base with secret" is a base token too and cannot be told apart by
# the payload; an account setting (`wb_token_type`) may say so.
WB_TOKEN_ACC: dict[int, WbTokenType] = {
    1: WbTokenType.BASE,
    2: WbTokenType.TEST,
    3: WbTokenType.PERSONAL,
    4: WbTokenType.SERVICE,
}


class BadToken(ValueError):
    """The token is not a WB JWT; the message never contains the token."""


def token_type(token: str) -> WbTokenType:
    """The type of a WB token from its JWT payload (no signature check: WB checks it)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise BadToken("the WB token is not a JWT (expected three dot-separated parts)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        raise BadToken("the WB token's payload is not base64url-encoded JSON") from None
    acc = claims.get("acc") if isinstance(claims, dict) else None
    if not isinstance(acc, int) or isinstance(acc, bool) or acc not in WB_TOKEN_ACC:
        raise BadToken(f"the WB token's payload has an unknown token type acc={acc!r}")
    return WB_TOKEN_ACC[acc]


# --- keyword ids -------------------------------------------------------------------------------

# A keyword's external id is unique within its campaign: a search cluster is "<nm_id>:<norm_query>"
# (clusters exist per (advert, nm) in type-9 campaigns); an nm bid is "nm:<nm_id>" for the
# `combined` placement of unified campaigns and "nm:<nm_id>:<placement>" for the `search` and
# `recommendations` placements of manual ones (PATCH /api/advert/v1/bids `placement`).
NM_PREFIX = "nm:"
COMBINED = "combined"
MANUAL_PLACEMENTS = ("search", "recommendations")


def cluster_id(nm_id: int, norm_query: str) -> str:
    return f"{nm_id}:{norm_query}"


def nm_bid_id(nm_id: int, placement: str) -> str:
    return f"{NM_PREFIX}{nm_id}" if placement == COMBINED else f"{NM_PREFIX}{nm_id}:{placement}"


def parse_cluster_id(external_id: str) -> tuple[int, str]:
    """ "<nm_id>:<norm_query>" → (nm_id, norm_query); the query itself may contain colons."""
    nm, sep, query = external_id.partition(":")
    if not sep or not nm.isdigit() or not query:
        raise BadItem(f"not a WB cluster id (<nm_id>:<norm_query>): {external_id!r}")
    return int(nm), query


def parse_nm_bid_id(external_id: str) -> tuple[int, str]:
    """ "nm:<nm_id>[:<placement>]" → (nm_id, placement)."""
    if not external_id.startswith(NM_PREFIX):
        raise BadItem(f"not a WB nm bid id (nm:<nm_id>[:<placement>]): {external_id!r}")
    nm, _, placement = external_id[len(NM_PREFIX) :].partition(":")
    placement = placement or COMBINED
    if not nm.isdigit() or placement not in (COMBINED, *MANUAL_PLACEMENTS):
        raise BadItem(f"not a WB nm bid id (nm:<nm_id>[:<placement>]): {external_id!r}")
    return int(nm), placement


def is_nm_bid_id(external_id: str) -> bool:
    return external_id.startswith(NM_PREFIX)
