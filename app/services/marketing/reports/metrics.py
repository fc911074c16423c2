"""The report's numbers and their Russian names (pure: no database, no files).

Counters are summed first and ratios computed from the sums — an average of daily CTRs is not the
period's CTR. Money stays integer kopecks here; the writers show rubles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

from app.core.marketplaces import MARKETPLACES
from app.core.money import BidUnit
from app.services.marketing.adapters.rules import rules_for

# Yandex Market's boost report has no order value (adapters/yandex_market.py), so its spend has no
# revenue to be compared with: DRR is computed over the marketplaces that report ad revenue only.
AD_REVENUE_MARKETPLACES: Final[frozenset[str]] = frozenset(
    m for m in MARKETPLACES if rules_for(m).reports_revenue
)

DRR_BASIS: Final = (
    "ДРР = Расход ÷ Выручка × 100 %, где Выручка — стоимость заказов, которые маркетплейс приписал "
    "рекламе (WB, Ozon). Яндекс Маркет не сообщает выручку по рекламе: его расход входит в Расход, "
    "но не в ДРР. Пусто — выручки не было."
)
ATTRIBUTION_NOTE: Final = (
    "Маркетплейсы приписывают заказы рекламе с задержкой (Ozon — до 10 дней после клика): заказы и "
    "выручка последних дней ещё могут вырасти."
)
INCOMPLETE_DAY: Final = "неполный — текущий день"
COMPLETE_DAY: Final = "полный"
NO_DATA_DAY: Final = "нет данных"


@dataclass(frozen=True)
class Totals:
    """Counters summed over campaigns and/or days. `drr_spent` is the part of `spent` that has a
    revenue to compare with (AD_REVENUE_MARKETPLACES)."""

    views: int = 0
    clicks: int = 0
    orders: int = 0
    spent: int = 0
    revenue: int = 0
    drr_spent: int = 0

    @classmethod
    def of(cls, marketplace: str, views: int, clicks: int, orders: int, spent: int, revenue: int) -> Totals:
        return cls(
            views, clicks, orders, spent, revenue, spent if marketplace in AD_REVENUE_MARKETPLACES else 0
        )

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.views + other.views,
            self.clicks + other.clicks,
            self.orders + other.orders,
            self.spent + other.spent,
            self.revenue + other.revenue,
            self.drr_spent + other.drr_spent,
        )

    @property
    def ctr(self) -> Decimal | None:
        """Percent of views that were clicked."""
        return percent(self.clicks, self.views)

    @property
    def cpc(self) -> int | None:
        """Kopecks per click."""
        return per_unit(self.spent, self.clicks)

    @property
    def cpo(self) -> int | None:
        """Kopecks per order."""
        return per_unit(self.spent, self.orders)

    @property
    def drr(self) -> Decimal | None:
        """Percent of ad revenue spent on ads (DRR_BASIS)."""
        return percent(self.drr_spent, self.revenue)


def total(items: Iterable[Totals]) -> Totals:
    return sum(items, Totals())


def percent(part: int, whole: int) -> Decimal | None:
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def per_unit(kopecks: int, count: int) -> int | None:
    if count <= 0:
        return None
    return int((Decimal(kopecks) / count).quantize(Decimal(1), ROUND_HALF_UP))


def rubles(kopecks: int) -> Decimal:
    return Decimal(kopecks) / 100


class Kind(StrEnum):
    """How a value is shown: XLSX number format and CSV text (decimal comma)."""

    INT = "int"
    MONEY = "money"  # integer kopecks, shown as rubles
    DECIMAL = "decimal"  # a Decimal shown with two decimals: percents (2.35 = 2.35 %), bids
    DATE = "date"
    DATETIME = "datetime"
    TEXT = "text"


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind


@dataclass(frozen=True)
class MetricColumn(Column):
    value: Callable[[Totals], int | Decimal | None]


# The columns sellers know from their cabinets (LiteStat, Ozon's reports), in their order.
METRIC_COLUMNS: Final[tuple[MetricColumn, ...]] = (
    MetricColumn("Показы", Kind.INT, lambda t: t.views),
    MetricColumn("Клики", Kind.INT, lambda t: t.clicks),
    MetricColumn("CTR, %", Kind.DECIMAL, lambda t: t.ctr),
    MetricColumn("CPC, ₽", Kind.MONEY, lambda t: t.cpc),
    MetricColumn("Расход, ₽", Kind.MONEY, lambda t: t.spent),
    MetricColumn("Заказы", Kind.INT, lambda t: t.orders),
    MetricColumn("Выручка, ₽", Kind.MONEY, lambda t: t.revenue),
    MetricColumn("ДРР, % (расход ÷ выручка с рекламы)", Kind.DECIMAL, lambda t: t.drr),
    MetricColumn("CPO, ₽", Kind.MONEY, lambda t: t.cpo),
)


def metric_values(totals: Totals) -> list[int | Decimal | None]:
    return [column.value(totals) for column in METRIC_COLUMNS]


def metric_index(header_start: str) -> int:
    """Position of a metric column by the start of its header ("Расход", "ДРР")."""
    return next(i for i, c in enumerate(METRIC_COLUMNS) if c.header.startswith(header_start))


def bid_unit(stored: str | None, marketplace: str, campaign_type: str, payment_type: str | None) -> str:
    """What a stored bid means: the unit it was recorded in, else its campaign's unit by the
    marketplace's rules — kopecks per click or per 1000 views, or YM's percent of the item's price
    × 100, shown as a percent, never as rubles (DESIGN.md §3 "Money")."""
    unit = BidUnit(stored) if stored else rules_for(marketplace).campaign_unit(campaign_type, payment_type)
    return unit.label if unit is not None else "—"


def bid_shown(value: int | None) -> Decimal | None:
    """A stored bid as shown: rubles from kopecks, percent from YM's percent × 100 — both ÷ 100."""
    return None if value is None else Decimal(value) / 100


def change_percent(old: int | None, new: int) -> Decimal | None:
    if not old:
        return None
    return percent(new - old, old)


MARKETPLACE_NAMES: Final = {"wb": "Wildberries", "ozon": "Ozon", "ym": "Яндекс Маркет"}
CAMPAIGN_STATUS_NAMES: Final = {
    "active": "активна",
    "paused": "на паузе",
    "stopped": "остановлена",
    "archived": "в архиве",
    "draft": "черновик",
    "unknown": "неизвестно",
}
STRATEGY_NAMES: Final = {
    "target_position": "целевая позиция",
    "target_drr": "целевой ДРР",
    "target_cpo": "целевой CPO",
    "max_traffic": "максимум трафика",
    "fixed": "фиксированная ставка",
}
BID_SOURCE_NAMES: Final = {
    "bid_cycle": "автоматический цикл",
    "manual": "вручную",
    "rollback": "откат",
    "recommendation": "рекомендация",
}
KEYWORD_KIND_NAMES: Final = {
    "cluster": "кластер",
    "phrase": "фраза",
    "nm": "товар (nm)",
    "sku": "товар (SKU)",
}
PRIORITY_NAMES: Final = {"high": "высокий", "medium": "средний", "low": "низкий"}
RECOMMENDATION_SOURCE_NAMES: Final = {"rules": "правила", "ai": "ИИ", "claude": "ИИ (Claude)"}
RECOMMENDATION_STATUS_NAMES: Final = {"pending": "ждёт решения"}


def named(names: dict[str, str], value: str | None) -> str:
    """The Russian name of a stored code; a code without one (added later) is shown as it is."""
    if value is None:
        return ""
    return names.get(value, value)
