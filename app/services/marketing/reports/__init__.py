"""Reports of a brand's advertising over a period of Moscow days: XLSX with native charts and CSV for
Russian Excel (issue 11 item 4; docs/reports.md).

request.py (what is asked, and every way it can be wrong) → data.py (what is read) → metrics.py and
tables.py (numbers and Russian columns, pure) → xlsx_file.py / csv_file.py → generate.py (the
protocol: check, read, write atomically into the reports folder).
"""

from app.services.marketing.reports.generate import (
    ReportFile,
    generate_report,
    request_from_arguments,
)
from app.services.marketing.reports.request import (
    MAX_REPORT_DAYS,
    ReportError,
    ReportRequest,
    ReportScope,
    find_scope,
)

__all__ = [
    "MAX_REPORT_DAYS",
    "ReportError",
    "ReportFile",
    "ReportRequest",
    "ReportScope",
    "find_scope",
    "generate_report",
    "request_from_arguments",
]
