"""generate_report (spec 7.1 registry: on request, marketing_low; issue 11 item 4).

1. Check the request: format, period order and length, no day after today (the Moscow business
   day of the system's clock), the brand / account / campaign exist and belong together.
2. Read everything in one session (data.py): past days from the daily aggregates, today from the
   newest snapshots, keywords, bid changes, open recommendations.
3. Write the file under a temporary name in the reports folder (REPORTS_DIR, default
   DATA_DIR/reports) and rename it when complete: a task killed half-way leaves no half report
   under a report's name.
4. Return where it is and how big it is.

`on_progress(done, total, step)` is told before each step (the task turns it into a Celery state
for the CLI's progress bar); it is plain Python, so this module knows nothing of Celery.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from app.core.clock import moscow_today, now_utc, to_moscow
from app.core.config import get_settings
from app.core.database import session_scope
from app.services.marketing.reports.csv_file import write_csv
from app.services.marketing.reports.data import load_report_data
from app.services.marketing.reports.request import (
    ReportError,
    ReportRequest,
    check_format,
    check_period,
    load_scope,
    parse_day,
)
from app.services.marketing.reports.xlsx_file import write_xlsx

ProgressCallback = Callable[[int, int, str], None]
STEPS = ("checking the request", "reading statistics", "writing the file")


@dataclass(frozen=True)
class ReportFile:
    path: Path
    size_bytes: int
    file_format: str
    brand: str
    date_from: date
    date_to: date
    campaigns: int
    charts: int
    incomplete_day: date | None

    def summary(self) -> dict[str, object]:
        """The task's small JSON result."""
        return {
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "format": self.file_format,
            "brand": self.brand,
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "campaigns": self.campaigns,
            "charts": self.charts,
            "incomplete_day": self.incomplete_day.isoformat() if self.incomplete_day else None,
        }


def request_from_arguments(
    brand_id: int,
    date_from: str,
    date_to: str,
    account_id: int | None = None,
    campaign_id: int | None = None,
    file_format: str = "xlsx",
) -> ReportRequest:
    """A request from a task's JSON arguments (dates as YYYY-MM-DD)."""
    return ReportRequest(
        brand_id=brand_id,
        date_from=parse_day(date_from, "--from"),
        date_to=parse_day(date_to, "--to"),
        account_id=account_id,
        campaign_id=campaign_id,
        file_format=check_format(file_format),
    )


def generate_report(
    request: ReportRequest, now: datetime | None = None, on_progress: ProgressCallback | None = None
) -> ReportFile:
    progress = on_progress or (lambda done, total, step: None)
    progress(0, len(STEPS), STEPS[0])
    now = now or now_utc()
    today = moscow_today(now)
    check_format(request.file_format)
    check_period(request.date_from, request.date_to, today)
    with session_scope() as session:
        scope = load_scope(session, request)
        progress(1, len(STEPS), STEPS[1])
        data = load_report_data(session, request, scope, today, now)
    progress(2, len(STEPS), STEPS[2])
    folder = reports_folder()
    final = folder / report_name(request, now)
    partial = final.with_name(f".{final.name}.part")
    try:
        charts = 0
        if request.file_format == "xlsx":
            charts = write_xlsx(data, partial)
        else:
            write_csv(data, partial)
        os.replace(partial, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    progress(len(STEPS), len(STEPS), "done")
    return ReportFile(
        path=final,
        size_bytes=final.stat().st_size,
        file_format=request.file_format,
        brand=scope.brand_name,
        date_from=request.date_from,
        date_to=request.date_to,
        campaigns=len({row.campaign_id for row in data.campaign_days}),
        charts=charts,
        incomplete_day=today if data.includes_today else None,
    )


def reports_folder() -> Path:
    folder = get_settings().reports_path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(
            f"cannot create the reports folder {folder} ({error.strerror}); check REPORTS_DIR"
        ) from None
    if not os.access(folder, os.W_OK):
        raise ReportError(f"the reports folder {folder} is not writable; check REPORTS_DIR")
    return folder


def report_name(request: ReportRequest, now: datetime) -> str:
    """report-b<brand>[-a<account>][-c<campaign>]-<from>_<to>-<Moscow time>-<random>.<format>: ids, not
    names (a brand's name may hold any character), and a random tail so that two requests in the
    same second never share a file."""
    scope = f"b{request.brand_id}"
    if request.account_id is not None:
        scope += f"-a{request.account_id}"
    if request.campaign_id is not None:
        scope += f"-c{request.campaign_id}"
    stamp = f"{to_moscow(now):%Y%m%d-%H%M%S}"
    return (
        f"report-{scope}-{request.date_from:%Y%m%d}_{request.date_to:%Y%m%d}-{stamp}-"
        f"{secrets.token_hex(3)}.{request.file_format}"
    )
