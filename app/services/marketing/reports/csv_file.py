"""The CSV report: one row per (Moscow day, campaign), as Russian Excel opens it with a double click —
UTF-8 with a BOM (else Excel reads Cyrillic as cp1251), `;` between fields (the Russian list
separator), decimal comma, no thousands separator (shared/reference/analytics-reports-operations.md
§3). Dates as dd.mm.yyyy; the current day says it is incomplete in the «День» column."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final

from app.core.clock import to_moscow
from app.services.marketing.reports.data import ReportData
from app.services.marketing.reports.metrics import Kind, rubles
from app.services.marketing.reports.tables import flat_table

ENCODING: Final = "utf-8-sig"
DELIMITER: Final = ";"


def decimal_comma(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


def csv_text(value: object, kind: Kind) -> str:
    if value is None:
        return ""
    if kind is Kind.MONEY and isinstance(value, int):
        return decimal_comma(rubles(value))
    if isinstance(value, Decimal):
        return decimal_comma(value)
    if isinstance(value, datetime):
        return f"{to_moscow(value):%d.%m.%Y %H:%M}"
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    return str(value)


def write_csv(data: ReportData, path: Path) -> int:
    """Write the flat table to `path`; returns its number of data rows."""
    table = flat_table(data)
    with path.open("w", encoding=ENCODING, newline="") as handle:
        writer = csv.writer(handle, delimiter=DELIMITER, lineterminator="\r\n")
        writer.writerow([column.header for column in table.columns])
        for row in table.rows:
            writer.writerow(
                [csv_text(value, column.kind) for value, column in zip(row, table.columns, strict=True)]
            )
    return len(table.rows)
