"""The XLSX report with native Excel charts (XlsxWriter: shared/reference/analytics-reports-operations.md
§3 measured it the better writer; constant-memory mode keeps a big brand's report small in the
worker, which means every sheet is written top to bottom, row after row).

Sheets: Сводка (totals, notes, the main chart), По дням, Кампании, Ключевые слова, Ставки,
Рекомендации, Данные (day × campaign, for pivot tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import xlsxwriter

from app.core.clock import to_moscow
from app.services.marketing.reports.data import MAX_LIST_ROWS, TOP_KEYWORDS, ReportData
from app.services.marketing.reports.metrics import (
    ATTRIBUTION_NOTE,
    DRR_BASIS,
    INCOMPLETE_DAY,
    METRIC_COLUMNS,
    RECOMMENDATION_STATUS_NAMES,
    Column,
    Kind,
    metric_values,
    rubles,
    total,
)
from app.services.marketing.reports.tables import (
    Table,
    bid_change_table,
    campaign_table,
    daily_table,
    flat_table,
    keyword_table,
    recommendation_table,
)

NUMBER_FORMATS: Final = {
    Kind.INT: "#,##0",
    Kind.MONEY: "#,##0.00",
    Kind.DECIMAL: "0.00",
    Kind.DATE: "dd.mm.yyyy",
    Kind.DATETIME: "dd.mm.yyyy hh:mm",
    Kind.TEXT: "@",
}
COLUMN_WIDTHS: Final = {Kind.DATE: 11, Kind.DATETIME: 16, Kind.INT: 10, Kind.MONEY: 13, Kind.DECIMAL: 10}
TEXT_WIDTH: Final = 22
SUMMARY_WIDTHS: Final = (36, 46)  # label and value columns of the summary
CHART_BARS: Final = 10  # bars in the ranking charts
SPEND_COLOUR, REVENUE_COLOUR, DRR_COLOUR, ORDERS_COLOUR = "#4472C4", "#70AD47", "#C00000", "#ED7D31"
# The current day's bars, lighter: its numbers are still growing.
SPEND_TODAY, REVENUE_TODAY, ORDERS_TODAY = "#B4C7E7", "#C5E0B4", "#F8CBAD"
SOURCE_NOTE: Final = (
    "Прошедшие дни — дневные итоги (последний снимок счётчиков за день); текущий день — последний "
    "снимок, счётчики с начала дня по Москве."
)


@dataclass
class Formats:
    title: Any
    header: Any
    note: Any
    paragraph: Any
    label: Any
    cells: dict[tuple[Kind, bool], Any]  # (kind, is the row incomplete) → format

    @classmethod
    def create(cls, book: Any) -> Formats:
        cells = {}
        for kind, number_format in NUMBER_FORMATS.items():
            cells[(kind, False)] = book.add_format({"num_format": number_format})
            cells[(kind, True)] = book.add_format(
                {"num_format": number_format, "italic": True, "bg_color": "#FFF2CC"}
            )
        return cls(
            title=book.add_format({"bold": True, "font_size": 14}),
            header=book.add_format(
                {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#D9E1F2", "border": 1}
            ),
            note=book.add_format({"italic": True, "font_color": "#595959"}),
            paragraph=book.add_format(
                {"italic": True, "font_color": "#595959", "text_wrap": True, "valign": "top"}
            ),
            label=book.add_format({"bold": True}),
            cells=cells,
        )


def excel_value(value: object, kind: Kind) -> object:
    """What the cell holds: rubles for kopecks, floats for Decimals, naive Moscow time for timestamps."""
    if value is None:
        return None
    if kind is Kind.MONEY and isinstance(value, int):
        return float(rubles(value))
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return to_moscow(value).replace(tzinfo=None)
    return value


class SheetWriter:
    """Writes one worksheet downward (constant-memory mode: no going back to an earlier row)."""

    def __init__(self, book: Any, formats: Formats, name: str) -> None:
        self.sheet = book.add_worksheet(name)
        self.name = name
        self.formats = formats
        self.row = 0
        # Printed (or exported to PDF) landscape, as wide as one page.
        self.sheet.set_landscape()
        self.sheet.set_paper(9)  # A4
        self.sheet.fit_to_pages(1, 0)

    @staticmethod
    def width(column: Column) -> int:
        return COLUMN_WIDTHS.get(column.kind, TEXT_WIDTH)

    def widths(self, table: Table) -> None:
        for col, column in enumerate(table.columns):
            self.sheet.set_column(col, col, self.width(column))

    def line(self, text: str, fmt: Any = None) -> None:
        self.sheet.write_string(self.row, 0, text, fmt or self.formats.note)
        self.row += 1

    def paragraph(self, text: str, last_col: int, width: int) -> None:
        """A long note wrapped over columns 0..last_col (`width` characters wide in all)."""
        lines = -(-len(text) // max(1, int(width * 0.9)))  # ceiling; italics are a little narrower
        self.sheet.set_row(self.row, 15 * lines)
        self.sheet.merge_range(self.row, 0, self.row, last_col, text, self.formats.paragraph)
        self.row += 1

    def skip(self, rows: int = 1) -> None:
        self.row += rows

    def table(self, table: Table, when_empty: str = "Нет данных за период.") -> tuple[int, int]:
        """Header and rows from the current row, or under the header, after a blank row, `when_empty`;
        returns (first data row, last data row)."""
        lines = max(-(-len(c.header) // self.width(c)) for c in table.columns)
        self.sheet.set_row(self.row, 15 * lines)  # wrapped headers: constant-memory rows do not grow
        for col, column in enumerate(table.columns):
            self.sheet.write_string(self.row, col, column.header, self.formats.header)
        self.row += 1
        first = self.row
        for index, values in enumerate(table.rows):
            incomplete = index in table.incomplete_rows
            for col, (value, column) in enumerate(zip(values, table.columns, strict=True)):
                self.cell(col, excel_value(value, column.kind), column.kind, incomplete)
            self.row += 1
        last = self.row - 1
        if not table.rows:
            self.skip()
            self.line(when_empty)
        return first, last

    def cell(self, col: int, value: object, kind: Kind, incomplete: bool = False) -> None:
        fmt = self.formats.cells[(kind, incomplete)]
        if value is None:
            self.sheet.write_blank(self.row, col, None, fmt)
        elif isinstance(value, datetime | date):
            self.sheet.write_datetime(self.row, col, value, fmt)
        elif isinstance(value, int | float):
            self.sheet.write_number(self.row, col, value, fmt)
        else:
            self.sheet.write_string(self.row, col, str(value), fmt)


def write_xlsx(data: ReportData, path: Path) -> int:
    """Write the workbook to `path`; returns the number of charts in it."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    book.set_properties({"title": f"Отчёт по рекламе: {data.scope.brand_name}", "author": "ADOLF Marketing"})
    formats = Formats.create(book)
    summary = SheetWriter(book, formats, "Сводка")  # the first sheet: where the workbook opens
    charts = _write_daily(book, formats, data, summary)
    _write_summary(summary, data)
    charts += _write_campaigns(book, formats, data)
    charts += _write_keywords(book, formats, data)
    _write_bid_changes(book, formats, data)
    _write_recommendations(book, formats, data)
    _write_flat(book, formats, data)
    book.close()
    return charts


def _write_daily(book: Any, formats: Formats, data: ReportData, summary: SheetWriter) -> int:
    """The days sheet, its orders chart, and the main chart (placed on the summary)."""
    table = daily_table(data)
    sheet = SheetWriter(book, formats, "По дням")
    sheet.widths(table)
    sheet.sheet.set_column(1, 1, 24)
    sheet.sheet.freeze_panes(2, 1)
    sheet.line(f"Показатели по дням: {data.scope.brand_name} (дни по московскому времени)", formats.title)
    first, last = sheet.table(table)
    last -= 1  # the last row is the period's total, not a day
    sheet.skip()
    sheet.line(DRR_BASIS)
    if data.includes_today:
        sheet.line(f"{data.today:%d.%m.%Y}: {INCOMPLETE_DAY} — {_snapshot_time(data)}.")
    sheet.line(ATTRIBUTION_NOTE)
    main = main_chart(book, sheet.name, table, first, last, data)
    summary.sheet.insert_chart(1, 3, main, {"x_scale": 1.6, "y_scale": 1.3})
    sheet.sheet.insert_chart(
        1, len(table.columns) + 1, orders_chart(book, sheet.name, table, first, last, data)
    )
    return 2


def _write_flat(book: Any, formats: Formats, data: ReportData) -> None:
    table = flat_table(data)
    sheet = SheetWriter(book, formats, "Данные")
    sheet.widths(table)
    sheet.sheet.freeze_panes(1, 0)
    _, last = sheet.table(table)
    if table.rows:
        sheet.sheet.autofilter(0, 0, last, len(table.columns) - 1)


def _snapshot_time(data: ReportData) -> str:
    if data.today_collected_at is None:
        return "снимков за сегодня ещё нет"
    return f"данные на {to_moscow(data.today_collected_at):%H:%M} МСК"


def _categories(sheet: str, first: int, last: int) -> list[object]:
    return [sheet, first, 0, last, 0]


def _today_points(table: Table, first: int, last: int, colour: str) -> list[dict[str, Any] | None]:
    points: list[dict[str, Any] | None] = [None] * (last - first + 1)
    for index in table.incomplete_rows:
        if index <= last - first:
            points[index] = {"fill": {"color": colour}, "border": {"color": colour}}
    return points


def _title(text: str, data: ReportData) -> str:
    return f"{text} (последний день — неполный)" if data.includes_today else text


def main_chart(book: Any, sheet: str, table: Table, first: int, last: int, data: ReportData) -> Any:
    """Spend and revenue per day as columns (₽), DRR as a line on the right axis (%)."""
    chart = book.add_chart({"type": "column"})
    for header, colour, today in (
        ("Расход", SPEND_COLOUR, SPEND_TODAY),
        ("Выручка", REVENUE_COLOUR, REVENUE_TODAY),
    ):
        col = table.index(header)
        chart.add_series(
            {
                "name": [sheet, first - 1, col],
                "categories": _categories(sheet, first, last),
                "values": [sheet, first, col, last, col],
                "fill": {"color": colour},
                "points": _today_points(table, first, last, today),
            }
        )
    drr = book.add_chart({"type": "line"})
    col = table.index("ДРР")
    drr.add_series(
        {
            "name": "ДРР, %",
            "categories": _categories(sheet, first, last),
            "values": [sheet, first, col, last, col],
            "y2_axis": True,
            "line": {"color": DRR_COLOUR, "width": 2.25},
            "marker": {
                "type": "circle",
                "size": 5,
                "fill": {"color": DRR_COLOUR},
                "border": {"color": DRR_COLOUR},
            },
        }
    )
    chart.combine(drr)
    chart.set_title({"name": _title("Расход, выручка и ДРР по дням", data)})
    chart.set_x_axis({"num_format": "dd.mm", "num_font": {"rotation": -45}})
    chart.set_y_axis(
        {
            "name": "₽",
            "num_format": "#,##0",
            "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
        }
    )
    drr.set_y2_axis({"name": "ДРР, %", "num_format": "0.0"})
    chart.set_legend({"position": "bottom"})
    chart.show_blanks_as("gap")
    return chart


def orders_chart(book: Any, sheet: str, table: Table, first: int, last: int, data: ReportData) -> Any:
    chart = book.add_chart({"type": "column"})
    col = table.index("Заказы")
    chart.add_series(
        {
            "name": [sheet, first - 1, col],
            "categories": _categories(sheet, first, last),
            "values": [sheet, first, col, last, col],
            "fill": {"color": ORDERS_COLOUR},
            "points": _today_points(table, first, last, ORDERS_TODAY),
        }
    )
    chart.set_title({"name": _title("Заказы по дням", data)})
    chart.set_x_axis({"num_format": "dd.mm", "num_font": {"rotation": -45}})
    chart.set_legend({"none": True})
    return chart


def ranking_chart(
    book: Any, sheet: str, title: str, rows: tuple[int, int], col_name: int, col_value: int, colour: str
) -> Any:
    """Horizontal bars, the first row on top."""
    chart = book.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": title,
            "categories": [sheet, rows[0], col_name, rows[1], col_name],
            "values": [sheet, rows[0], col_value, rows[1], col_value],
            "fill": {"color": colour},
            "data_labels": {"value": True, "num_format": "#,##0"},
        }
    )
    chart.set_title({"name": title})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"none": True})
    return chart


def _write_summary(sheet: SheetWriter, data: ReportData) -> None:
    scope, request = data.scope, data.request
    formats = sheet.formats
    sheet.sheet.set_column(0, 0, SUMMARY_WIDTHS[0])
    sheet.sheet.set_column(1, 1, SUMMARY_WIDTHS[1])
    sheet.sheet.fit_to_pages(1, 1)  # the summary and its chart on one page
    sheet.line(f"Отчёт по рекламе: {scope.brand_name}", formats.title)
    period_days = (request.date_to - request.date_from).days + 1
    facts = [
        ("Бренд", scope.brand_name),
        ("Кабинет", scope.account_name or "все"),
        ("Кампания", scope.campaign_name or "все"),
        (
            "Период",
            f"{request.date_from:%d.%m.%Y} – {request.date_to:%d.%m.%Y} ({period_days} дн., по Москве)",
        ),
        ("Сформирован", f"{to_moscow(data.generated_at):%d.%m.%Y %H:%M} МСК"),
        (
            "Текущий день",
            f"{data.today:%d.%m.%Y} — {INCOMPLETE_DAY}, {_snapshot_time(data)}"
            if data.includes_today
            else "не входит в период: все дни полные",
        ),
        ("Кампаний с данными", str(len({row.campaign_id for row in data.campaign_days}))),
        ("Изменений ставок", str(data.bid_changes_total)),
        ("Открытых рекомендаций", str(data.recommendations_total)),
    ]
    for label, value in facts:
        sheet.sheet.write_string(sheet.row, 0, label, formats.label)
        sheet.sheet.write_string(sheet.row, 1, value)
        sheet.skip()
    sheet.skip()
    sheet.sheet.write_string(sheet.row, 0, "Итого за период", formats.header)
    sheet.sheet.write_string(sheet.row, 1, "", formats.header)
    sheet.skip()
    totals = total(data.daily_totals().values())
    for column, amount in zip(METRIC_COLUMNS, metric_values(totals), strict=True):
        sheet.sheet.write_string(sheet.row, 0, column.header, formats.label)
        sheet.cell(1, excel_value(amount, column.kind), column.kind)
        sheet.skip()
    sheet.skip()
    for note in (
        DRR_BASIS,
        ATTRIBUTION_NOTE,
        SOURCE_NOTE,
        "Деньги — в рублях; ставки Яндекс Маркета — в % от цены товара.",
    ):
        sheet.paragraph(note, 1, SUMMARY_WIDTHS[0] + SUMMARY_WIDTHS[1])


def _write_campaigns(book: Any, formats: Formats, data: ReportData) -> int:
    table = campaign_table(data)
    sheet = SheetWriter(book, formats, "Кампании")
    sheet.widths(table)
    sheet.sheet.freeze_panes(2, 4)
    sheet.line("Кампании по расходу за период", formats.title)
    first, last = sheet.table(table)
    if not table.rows:
        return 0
    bars = (first, min(last, first + CHART_BARS - 1))
    chart = ranking_chart(
        book,
        sheet.name,
        f"Топ-{bars[1] - bars[0] + 1} кампаний по расходу, ₽",
        bars,
        table.index("Кампания"),
        table.index("Расход"),
        SPEND_COLOUR,
    )
    sheet.sheet.insert_chart(1, len(table.columns) + 1, chart, {"x_scale": 1.5, "y_scale": 1.2})
    return 1


def _write_keywords(book: Any, formats: Formats, data: ReportData) -> int:
    sheet = SheetWriter(book, formats, "Ключевые слова")
    charts = 0
    for number, (by, title, header, colour) in enumerate(
        (("spent", "по расходу", "Расход", SPEND_COLOUR), ("orders", "по заказам", "Заказы", ORDERS_COLOUR))
    ):
        table = keyword_table(data, data.top_keywords(by))
        if number == 0:
            sheet.widths(table)
        sheet.line(f"Топ-{TOP_KEYWORDS} ключей и товаров {title}", formats.title)
        first, last = sheet.table(table)
        if table.rows:
            bars = (first, min(last, first + CHART_BARS - 1))
            chart = ranking_chart(
                book,
                sheet.name,
                f"Топ-{bars[1] - bars[0] + 1} {title}",
                bars,
                table.index("Ключ"),
                table.index(header),
                colour,
            )
            sheet.sheet.insert_chart(first - 1, len(table.columns) + 1, chart, {"x_scale": 1.3})
            charts += 1
        sheet.skip(max(2, 17 - len(table.rows)))  # room for the chart beside the table
    return charts


def _write_bid_changes(book: Any, formats: Formats, data: ReportData) -> None:
    table = bid_change_table(data)
    sheet = SheetWriter(book, formats, "Ставки")
    sheet.widths(table)
    sheet.sheet.set_column(table.index("Причина"), table.index("Причина"), 70)
    sheet.line("Изменения ставок и их причины (время московское, новые сверху)", formats.title)
    sheet.line(
        "Ставки WB и Ozon — в рублях (CPM — за 1000 показов, CPC — за клик); ставки Яндекс Маркета — "
        "в % от цены товара."
    )
    if data.bid_changes_total > len(table.rows):
        sheet.line(
            f"Показаны последние {len(table.rows)} из {data.bid_changes_total} (не больше {MAX_LIST_ROWS})."
        )
    sheet.table(table, when_empty="Ставки за период не менялись.")


def _write_recommendations(book: Any, formats: Formats, data: ReportData) -> None:
    table = recommendation_table(data)
    sheet = SheetWriter(book, formats, "Рекомендации")
    sheet.widths(table)
    sheet.sheet.set_column(table.index("Описание"), table.index("Описание"), 60)
    statuses = ", ".join(RECOMMENDATION_STATUS_NAMES.values())
    sheet.line(f"Открытые рекомендации ({statuses}), сначала важные", formats.title)
    if data.recommendations_total > len(table.rows):
        sheet.line(f"Показаны {len(table.rows)} из {data.recommendations_total}.")
    sheet.table(table, when_empty="Открытых рекомендаций нет.")
