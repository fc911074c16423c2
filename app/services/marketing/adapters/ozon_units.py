"""Ozon Performance units ↔ our integer kopecks: the only place they are converted (DESIGN.md
"Money is integer kopecks"; issue 4 item 2).

- Campaign money (`budget`, `dailyBudget`, `weeklyBudget`) and CPC `bid`s are uint64 strings in
  millionths of a ruble, "rounded to kopecks" (performance-openapi.json, extcampaignCampaign;
  reference §2.3/§2.4): 1 000 000 = 1 ₽ = 100 kopecks, so 10 000 micro-rubles = 1 kopeck.
- Statistics give rubles as strings: "123.45" in JSON, "1 110,72" (thousands space, decimal comma)
  in CSV reports (reference §2.5).
- Counters (views, clicks, orders) are uint64 strings.

Every parser raises `BadValue` (a ValueError) with a one-line reason on anything else — negative,
NaN, infinite, fractional counters, words — so callers can reject one item and go on.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from app.models.base import MAX_BIGINT

MICRO_PER_KOPECK = 10_000
# Thousands separators seen in Ozon reports: space, no-break space, narrow no-break space.
_SPACES = (" ", "\u00a0", "\u202f")


class BadValue(ValueError):
    """A field the marketplace sent is not the number its spec promises."""


def micro_to_kopecks(value: Any, field: str = "value") -> int:
    """ "12345678" (millionths of a ruble) → 1235 kopecks, rounding half to even."""
    micro = _non_negative_int(value, field)
    kopecks, rest = divmod(micro, MICRO_PER_KOPECK)
    half = MICRO_PER_KOPECK // 2
    if rest > half or (rest == half and kopecks % 2 == 1):
        kopecks += 1
    return kopecks


def kopecks_to_micro(kopecks: int) -> str:
    """1235 kopecks → "12350000": the uint64 string the spec wants in `bid`."""
    if isinstance(kopecks, bool) or not isinstance(kopecks, int) or kopecks < 0:
        raise BadValue(f"a bid must be a non-negative integer number of kopecks, got {kopecks!r}")
    return str(kopecks * MICRO_PER_KOPECK)


def rubles_to_kopecks(value: Any, field: str = "value") -> int:
    """Ruble amounts of the statistics: "1 110,72" / "1110.72" / 1110.72 → 111072 kopecks."""
    amount = _decimal(value, field)
    try:
        return _stored(int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)), field, value)
    except InvalidOperation:  # beyond the decimal context's precision: no real amount is that big
        raise BadValue(f"{field}: {value!r:.40} is too large to be an amount in rubles") from None


def parse_count(value: Any, field: str = "value") -> int:
    """A counter: "1 234" / "1234" / 1234 → 1234; fractions, negatives and words are rejected."""
    if isinstance(value, str):
        value = _strip_spaces(value)
    return _non_negative_int(value, field)


def _non_negative_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise BadValue(f"{field}: expected an unsigned integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.removeprefix("-").isascii() and value.removeprefix("-").isdigit():
        number = int(value)  # "-5" parses, to be refused below as negative rather than as a word
    else:
        raise BadValue(f"{field}: expected an unsigned integer, got {value!r}")
    if number < 0:
        raise BadValue(f"{field}: negative value {number}")
    return _stored(number, field, value)


def _stored(number: int, field: str, value: Any) -> int:
    """`number` when a BIGINT column of ours can hold it: a larger reply value is not data."""
    if number > MAX_BIGINT:
        raise BadValue(f"{field}: {value!r:.40} is too large to be real")
    return number


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise BadValue(f"{field}: expected an amount in rubles, got {value!r}")
    if isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = _strip_spaces(value).replace(",", ".")
    else:
        raise BadValue(f"{field}: expected an amount in rubles, got {value!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"{field}: {value!r} is not an amount in rubles") from None
    if not amount.is_finite():
        raise BadValue(f"{field}: {value!r} is not a finite amount")
    if amount < 0:
        raise BadValue(f"{field}: negative amount {value!r}")
    return amount


def _strip_spaces(text: str) -> str:
    for space in _SPACES:
        text = text.replace(space, "")
    return text.strip()
