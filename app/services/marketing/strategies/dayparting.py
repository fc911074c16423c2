"""Dayparting: bid multipliers by Moscow hour and weekday, usable with any strategy (issue 6).

Format of `strategy_params.dayparting` (docs/strategies.md "Dayparting"):

    {"hours": {"0-7": 0.5, "20-23": 1.2}, "weekdays": {"sat-sun": 1.2, "mon": 0.9}}

Hour keys are one hour "H" or an inclusive range "H-H" of 0..23 (no wrap past midnight: write
"22-23" and "0-5"); weekday keys are mon..sun or a range such as "mon-fri". Keys of one table must
not overlap. Unlisted hours and days count 1. The hour and weekday multipliers are multiplied.
Hours are Moscow hours: the business day is Moscow's (DESIGN.md §3 "Time").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from pydantic import BaseModel, ConfigDict, field_validator

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A multiplier outside these bounds is almost certainly a typo (5 for 0.5) and moves real money.
MIN_MULTIPLIER: Final = Decimal("0.1")
MAX_MULTIPLIER: Final = Decimal("3")


def _hour(text: str) -> int:
    if not text.strip().isdigit() or not 0 <= int(text) <= 23:
        raise ValueError(f"hour {text!r} is not an hour 0..23")
    return int(text)


def _weekday(text: str) -> int:
    name = text.strip().lower()
    if name not in WEEKDAYS:
        raise ValueError(f"weekday {text!r} is not one of {', '.join(WEEKDAYS)}")
    return WEEKDAYS.index(name)


def hour_span(key: str) -> range:
    start, _, end = key.partition("-")
    first, last = _hour(start), _hour(end) if end else _hour(start)
    if first > last:
        raise ValueError(f"hour range {key!r} runs backwards; split a range past midnight in two")
    return range(first, last + 1)


def weekday_span(key: str) -> range:
    start, _, end = key.partition("-")
    first, last = _weekday(start), _weekday(end) if end else _weekday(start)
    if first > last:
        raise ValueError(f"weekday range {key!r} runs backwards (the week starts on mon)")
    return range(first, last + 1)


def _check_table(table: dict[str, Decimal], what: str) -> dict[str, Decimal]:
    seen: dict[int, str] = {}
    for key, multiplier in table.items():
        if not MIN_MULTIPLIER <= multiplier <= MAX_MULTIPLIER:
            raise ValueError(
                f"multiplier {multiplier} for {key!r} is outside {MIN_MULTIPLIER}..{MAX_MULTIPLIER}"
            )
        spanner = hour_span if what == "hour" else weekday_span
        for unit in spanner(key):
            if unit in seen:
                raise ValueError(f"{what} keys {seen[unit]!r} and {key!r} overlap")
            seen[unit] = key
    return table


class Dayparting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: dict[str, Decimal] = {}
    weekdays: dict[str, Decimal] = {}

    @field_validator("hours")
    @classmethod
    def _hours(cls, table: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_table(table, "hour")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, table: dict[str, Decimal]) -> dict[str, Decimal]:
        return _check_table(table, "weekday")

    def multiplier(self, hour: int, weekday: int) -> Decimal:
        """The factor for a Moscow hour (0..23) and weekday (0 = Monday)."""
        factor = Decimal(1)
        for key, value in self.hours.items():
            if hour in hour_span(key):
                factor *= value
        for key, value in self.weekdays.items():
            if weekday in weekday_span(key):
                factor *= value
        return factor

    def describe(self, hour: int, weekday: int) -> str:
        hits = [f"hours {k}" for k in self.hours if hour in hour_span(k)]
        hits += [k for k in self.weekdays if weekday in weekday_span(k)]
        return ", ".join(hits)
