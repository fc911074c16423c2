"""Money and bid units as types (issue 9, Deliver 1: "a bid value always travels with its unit").

Money is integer kopecks (DESIGN.md §3). A *bid* is not just money: it is money per something, and
the marketplaces bid in three different units —

| unit                       | class        | printed as              | bid in it by                |
|----------------------------|--------------|-------------------------|-----------------------------|
| kopecks per click          | `PerClick`   | `12.50 ₽/клик`          | WB cpc, Ozon CPC SKUs       |
| kopecks per 1000 views     | `PerMille`   | `150.00 ₽/1000 показов` | WB cpm, Ozon CPM SKUs       |
| 1/100 % of the item price  | `PriceShare` | `5.50 % от цены`        | YM boost, Ozon pay-per-order |

Each unit is its own class. Values of one unit add, subtract and compare; values of two units do
not: `PerClick(100) + PerMille(100)` is a mypy error (the operand must be `Self`) and, where the
static type is only `Bid`, a `UnitMismatchError` at run time — never arithmetic. Scaling by a
number names its rounding (`scaled`, floor by default: a bid never rounds up by itself).
Conversions between units are explicit functions below; CPM ↔ CPC needs a click-through rate,
and a share of the price needs the price, which YM never reports — so that conversion does not
exist here at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import ClassVar, Final, Self, TypeVar

Number = int | Fraction | Decimal


class UnitMismatchError(TypeError):
    """Two bids of different units met in one operation."""


class BidUnit(StrEnum):
    """The unit names of the Watcher API (docs/watcher-api.md "Units") and of our own docs."""

    PER_CLICK = "kopecks_per_click"
    PER_MILLE = "kopecks_per_1000_views"
    PRICE_SHARE = "percent_of_price_x100"

    def bid(self, amount: int) -> Bid:
        """`amount` (an integer in this unit) as a typed bid."""
        return UNIT_CLASSES[self](amount)

    @property
    def label(self) -> str:
        return UNIT_CLASSES[self].label

    @property
    def billed_per(self) -> str:
        """What one unit of the bid buys, for reasons: "click", "1000 views", "order"."""
        return {BidUnit.PER_CLICK: "click", BidUnit.PER_MILLE: "1000 views", BidUnit.PRICE_SHARE: "order"}[
            self
        ]

    @classmethod
    def parse(cls, name: str) -> BidUnit:
        try:
            return cls(name)
        except ValueError:
            allowed = ", ".join(cls)
            raise ValueError(f"unknown bid unit {name!r}; one of {allowed}") from None


def _check_amount(value: object) -> int:
    # bool is an int subclass: a True bid is a mapping bug, not one kopeck.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a bid amount is an integer, got {value!r}")
    return value


def _round(value: Fraction, rounding: str) -> int:
    if rounding == "floor":
        return math.floor(value)
    if rounding == "ceil":
        return math.ceil(value)
    if rounding == "half_up":
        return math.floor(value + Fraction(1, 2))
    raise ValueError(f"unknown rounding {rounding!r}; floor, ceil or half_up")


@dataclass(frozen=True, slots=True, order=True)
class Bid:
    """A bid in one unit; use the subclasses. `amount` is an integer in the unit (kopecks for the
    money units, hundredths of a percent for `PriceShare`); negative amounts are differences."""

    amount: int
    unit: ClassVar[BidUnit]
    label: ClassVar[str]

    def __post_init__(self) -> None:
        _check_amount(self.amount)
        if type(self) is Bid:
            raise TypeError("Bid is abstract: use PerClick, PerMille or PriceShare")

    def _same(self, other: object, op: str) -> Bid:
        if not isinstance(other, Bid) or type(other) is not type(self):
            theirs = other.unit if isinstance(other, Bid) else type(other).__name__
            raise UnitMismatchError(f"cannot {op} {self.unit} and {theirs}")
        return other

    def __add__(self, other: Self) -> Self:
        return type(self)(self.amount + self._same(other, "add").amount)

    def __sub__(self, other: Self) -> Self:
        return type(self)(self.amount - self._same(other, "subtract").amount)

    def __neg__(self) -> Self:
        return type(self)(-self.amount)

    def __abs__(self) -> Self:
        return type(self)(abs(self.amount))

    def scaled(self, factor: Number, rounding: str = "floor") -> Self:
        """This bid × `factor`, rounded to a whole amount (floor unless told otherwise)."""
        return type(self)(_round(Fraction(self.amount) * Fraction(factor), rounding))

    def ratio(self, other: Self) -> Fraction:
        """self ÷ other, both of one unit."""
        return Fraction(self.amount, self._same(other, "divide").amount)

    def rounded_to(self, step: int, *, up: bool) -> Self:
        """The nearest multiple of `step` at or above (`up`) or at or below this bid."""
        if step <= 1:
            return self
        whole = -(-self.amount // step) if up else self.amount // step
        return type(self)(whole * step)

    def __str__(self) -> str:
        return f"{format_amount(self.amount, 100)} {self.label}"


class PerClick(Bid):
    __slots__ = ()
    unit = BidUnit.PER_CLICK
    label = "₽/клик"


class PerMille(Bid):
    __slots__ = ()
    unit = BidUnit.PER_MILLE
    label = "₽/1000 показов"


class PriceShare(Bid):
    __slots__ = ()
    unit = BidUnit.PRICE_SHARE
    label = "% от цены"

    @property
    def percent(self) -> Fraction:
        return Fraction(self.amount, 100)


UNIT_CLASSES: Final[dict[BidUnit, type[Bid]]] = {
    BidUnit.PER_CLICK: PerClick,
    BidUnit.PER_MILLE: PerMille,
    BidUnit.PRICE_SHARE: PriceShare,
}
B = TypeVar("B", bound=Bid)


def format_amount(amount: int, per: int) -> str:
    """An integer of hundredths as a decimal with two places: 12345 → "123.45"; -5 → "-0.05"."""
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), per)
    return f"{sign}{whole}.{part:02d}"


def rub(kopecks: int) -> str:
    """Kopecks as rubles for reasons and alerts: 12345 → "123.45 ₽" (money that is not a bid)."""
    return f"{format_amount(kopecks, 100)} ₽"


# --- conversions -------------------------------------------------------------------------------


class UnitConversionError(ValueError):
    """A conversion lacks what it needs (a CTR for CPM ↔ CPC); the message says what."""


def per_mille_to_per_click(value: PerMille, ctr: Fraction) -> PerClick:
    """A price per 1000 views as the price per click that earns the same at `ctr` (clicks per
    view): 1000 views bring 1000 × ctr clicks, so cpc = cpm ÷ (1000 × ctr). Rounded down."""
    if ctr <= 0:
        raise UnitConversionError(f"a click-through rate > 0 is needed to convert {value} per click")
    return PerClick(math.floor(Fraction(value.amount) / (1000 * ctr)))


def per_click_to_per_mille(value: PerClick, ctr: Fraction) -> PerMille:
    """The inverse: cpm = cpc × 1000 × ctr (what 1000 views cost at that click price). Rounded down."""
    if ctr <= 0:
        raise UnitConversionError(f"a click-through rate > 0 is needed to convert {value} per 1000 views")
    return PerMille(math.floor(Fraction(value.amount) * 1000 * ctr))


def convert(value: Bid, unit: BidUnit, *, ctr: Fraction | None) -> Bid:
    """`value` in `unit`. Same unit: unchanged. CPM ↔ CPC: with `ctr`, else UnitConversionError.
    A share of the price ↔ money: UnitConversionError (no price is known)."""
    if value.unit == unit:
        return value
    pair = (value.unit, unit)
    if BidUnit.PRICE_SHARE in pair:
        raise UnitConversionError(f"{value} cannot be expressed in {unit}: the item's price is not known")
    if ctr is None:
        raise UnitConversionError(f"converting {value} to {unit} needs a click-through rate; none is known")
    if isinstance(value, PerMille):
        return per_mille_to_per_click(value, ctr)
    assert isinstance(value, PerClick)
    return per_click_to_per_mille(value, ctr)
