"""Bid units are types (issue 9, Deliver 1): values of one unit add and compare, values of two
units never meet in arithmetic — a mypy error where the types are known, a raised error where
they are not — and every conversion is an explicit function."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from app.core.money import (
    Bid,
    BidUnit,
    PerClick,
    PerMille,
    PriceShare,
    UnitConversionError,
    UnitMismatchError,
    convert,
    per_click_to_per_mille,
    per_mille_to_per_click,
    rub,
)

REPO = Path(__file__).resolve().parents[2]


def test_same_units_add_subtract_compare_and_scale() -> None:
    assert PerClick(1_500) + PerClick(250) == PerClick(1_750)
    assert PerMille(30_000) - PerMille(100) == PerMille(29_900)
    assert max(PerClick(1), PerClick(2)) == PerClick(2)
    assert PerClick(1_000).scaled(Fraction(3, 2)) == PerClick(1_500)
    assert PerClick(7).scaled(Fraction(1, 2)) == PerClick(3)  # floor: a bid never rounds itself up
    assert PerClick(7).scaled(Fraction(1, 2), "ceil") == PerClick(4)
    assert PerMille(15_050).rounded_to(100, up=True) == PerMille(15_100)
    assert PerMille(15_050).rounded_to(100, up=False) == PerMille(15_000)


@pytest.mark.parametrize(
    ("a", "b"),
    [(PerClick(100), PerMille(100)), (PerMille(100), PriceShare(100)), (PriceShare(1), PerClick(1))],
)
def test_different_units_never_meet_in_arithmetic(a: Bid, b: Bid) -> None:
    with pytest.raises(UnitMismatchError):
        a + b  # type: ignore[operator]
    with pytest.raises(UnitMismatchError):
        a - b  # type: ignore[operator]
    with pytest.raises(TypeError):
        a < b  # type: ignore[operator]  # noqa: B015
    with pytest.raises(UnitMismatchError):
        a.ratio(b)  # type: ignore[arg-type]
    assert a != b  # equal amounts of two units are not equal bids


def test_a_bid_is_an_integer_amount_never_a_float_or_a_bool() -> None:
    for bad in (1.5, True, "100", None):
        with pytest.raises(TypeError):
            PerClick(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="abstract"):
        Bid(100)


def test_units_print_as_sellers_read_them() -> None:
    assert str(PerClick(1_250)) == "12.50 ₽/клик"
    assert str(PerMille(15_000)) == "150.00 ₽/1000 показов"
    assert str(PriceShare(550)) == "5.50 % от цены"
    assert str(PerClick(-5)) == "-0.05 ₽/клик"
    assert rub(12_345) == "123.45 ₽"


def test_unit_names_are_the_watchers_and_build_their_bids() -> None:
    assert BidUnit.parse("kopecks_per_1000_views").bid(600) == PerMille(600)
    assert BidUnit.PRICE_SHARE.bid(500) == PriceShare(500)
    with pytest.raises(ValueError, match="unknown bid unit 'kopecks'"):
        BidUnit.parse("kopecks")


def test_cpm_to_cpc_needs_a_click_through_rate_and_says_so() -> None:
    # 600 ₽ per 1000 views at 3 % CTR: 1000 views bring 30 clicks, so a click is worth 20 ₽.
    assert per_mille_to_per_click(PerMille(60_000), Fraction(3, 100)) == PerClick(2_000)
    assert per_click_to_per_mille(PerClick(2_000), Fraction(3, 100)) == PerMille(60_000)
    assert convert(PerMille(60_000), BidUnit.PER_CLICK, ctr=Fraction(3, 100)) == PerClick(2_000)
    assert convert(PerMille(60_000), BidUnit.PER_MILLE, ctr=None) == PerMille(60_000)
    with pytest.raises(UnitConversionError, match="needs a click-through rate"):
        convert(PerMille(60_000), BidUnit.PER_CLICK, ctr=None)
    with pytest.raises(UnitConversionError, match="rate > 0"):
        per_mille_to_per_click(PerMille(60_000), Fraction(0))


def test_a_share_of_the_price_never_converts_to_money() -> None:
    # YM reports no price: there is no way from 5 % of it to kopecks, and none is pretended.
    with pytest.raises(UnitConversionError, match="price is not known"):
        convert(PriceShare(500), BidUnit.PER_CLICK, ctr=Fraction(1, 10))
    with pytest.raises(UnitConversionError, match="price is not known"):
        convert(PerClick(500), BidUnit.PRICE_SHARE, ctr=Fraction(1, 10))


def test_mypy_rejects_adding_a_cpm_value_to_a_cpc_bid(tmp_path: Path) -> None:
    snippet = tmp_path / "mixing.py"
    snippet.write_text(
        "from app.core.money import PerClick, PerMille\n"
        "bid = PerClick(2_000)\n"
        "rival = PerMille(60_000)\n"
        "total = bid + rival\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", str(snippet)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert 'Unsupported operand types for + ("PerClick" and "PerMille")' in result.stdout
