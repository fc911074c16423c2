"""docs/reports.md says what the code does: the period limit, the sheets, the seller columns, the
open statuses, the setting — and its picture is there."""

from __future__ import annotations

from pathlib import Path

from app.services.marketing.reports import MAX_REPORT_DAYS
from app.services.marketing.reports.data import MAX_LIST_ROWS, OPEN_RECOMMENDATION_STATUSES, TOP_KEYWORDS
from app.services.marketing.reports.metrics import METRIC_COLUMNS
from tests.services.marketing.test_reports import SHEETS

DOCS = Path(__file__).resolve().parents[3] / "docs"
TEXT = (DOCS / "reports.md").read_text(encoding="utf-8")


def test_the_limits_and_statuses_in_the_docs_are_the_code_s() -> None:
    assert f"**{MAX_REPORT_DAYS} days**" in TEXT
    assert f"top {TOP_KEYWORDS} keywords" in TEXT
    assert f"{MAX_LIST_ROWS:,}".replace(",", " ") + " rows" in TEXT
    assert " or ".join(f"`{s}`" for s in OPEN_RECOMMENDATION_STATUSES) in TEXT
    assert "REPORTS_DIR" in TEXT


def test_every_sheet_and_seller_column_is_documented() -> None:
    for sheet in SHEETS:
        assert f"| {sheet} |" in TEXT, sheet
    for column in METRIC_COLUMNS:
        assert f"`{column.header}`" in TEXT, column.header


def test_the_main_chart_picture_is_a_png() -> None:
    assert "](report-main-chart.png)" in TEXT
    assert (DOCS / "report-main-chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
