"""The one list of marketplaces (issue 9 item 14: two enums disagreed, `wb` vs `wildberries`).

The value is the short code the spec uses everywhere (`for mp_code in ["wb", "ozon", "ym"]`, the
`marketplace` columns, task arguments, Redis keys such as `marketing:api_status:{mp}`).
`long_name` is how the Watcher API (docs/watcher-api.md) and the sandbox's control API name them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Marketplace(StrEnum):
    WB = "wb"
    OZON = "ozon"
    YM = "ym"

    @property
    def long_name(self) -> str:
        return LONG_NAMES[self]

    @property
    def display_name(self) -> str:
        """For people: "Wildberries", "Ozon", "Yandex Market"."""
        return DISPLAY_NAMES[self]

    @classmethod
    def parse(cls, name: str) -> Marketplace:
        """A short code or a long name, any case; ValueError with the accepted names otherwise."""
        text = str(name).strip().lower()
        for member in cls:
            if text in (member.value, LONG_NAMES[member]):
                return member
        accepted = ", ".join(f"{m.value} ({LONG_NAMES[m]})" for m in cls)
        raise ValueError(f"unknown marketplace {name!r}; use one of {accepted}")


LONG_NAMES: Final = {Marketplace.WB: "wildberries", Marketplace.OZON: "ozon", Marketplace.YM: "yandex_market"}
DISPLAY_NAMES: Final = {
    Marketplace.WB: "Wildberries",
    Marketplace.OZON: "Ozon",
    Marketplace.YM: "Yandex Market",
}
MARKETPLACES: Final[tuple[str, ...]] = tuple(Marketplace)
