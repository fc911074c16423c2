"""Reading back the report files the way a user's software does: openpyxl for XLSX, the csv module
with Russian Excel's conventions for CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl

BOM = b"\xef\xbb\xbf"


def workbook(path: Path) -> Any:
    return openpyxl.load_workbook(path)  # charts are read too (ws._charts)


def chart_count(book: Any) -> int:
    return sum(len(sheet._charts) for sheet in book.worksheets)


def table_rows(sheet: Any, first_header: str, header_row: int | None = None) -> list[dict[str, Any]]:
    """The rows under the first header row whose first cell is `first_header`, as dicts, up to the
    first empty row."""
    rows = list(sheet.iter_rows(values_only=True))
    start = (
        header_row
        if header_row is not None
        else next(i for i, r in enumerate(rows) if r and r[0] == first_header)
    )
    headers = [h for h in rows[start] if h is not None]
    found = []
    for row in rows[start + 1 :]:
        if not row or all(value is None for value in row[: len(headers)]):
            break
        found.append(dict(zip(headers, row[: len(headers)], strict=True)))
    return found


def header(row: dict[str, Any], start: str) -> Any:
    """The value of the column whose header starts with `start` ("ДРР" → "ДРР, % (...)")."""
    return next(value for key, value in row.items() if key.startswith(start))


def csv_rows(path: Path) -> tuple[bytes, list[dict[str, str]]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    return raw, list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def decimal_comma(text: str) -> float:
    assert "." not in text, f"{text!r}: Russian Excel wants a decimal comma"
    return float(text.replace(",", "."))
