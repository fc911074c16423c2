"""generate_report (spec 7.1 registry: on request, marketing_low; issue 11 item 4).

Ids and ISO dates in, the report's path and size out. While it runs the task's state is PROGRESS
with `{"done", "total", "step"}`, which `adolf-marketing report` shows as a progress bar.

A request the service refuses (ReportError: a period ending after today, a brand that does not
exist) is an answer, not a failure of the system: the task returns `{"refused": reason}` instead of
raising, so a typo does not become a dead letter with a critical alert to the administrators. A
database hiccup is retried — the file is written under a temporary name and renamed, so a retry
never leaves two halves.
"""

from __future__ import annotations

from typing import Any, Final

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.services.marketing.reports import ReportError, request_from_arguments
from app.services.marketing.reports import generate_report as build_report

PROGRESS_STATE: Final = "PROGRESS"


@shared_task(
    name="app.tasks.marketing.reports.generate_report",
    bind=True,
    max_retries=2,
    default_retry_delay=30,
    retry_backoff=30,
    retry_backoff_max=120,
    retry_jitter=True,
    autoretry_for=(OperationalError,),
)
def generate_report(
    self: Any,
    brand_id: int,
    date_from: str,
    date_to: str,
    account_id: int | None = None,
    campaign_id: int | None = None,
    file_format: str = "xlsx",
) -> dict[str, Any]:
    def progress(done: int, total: int, step: str) -> None:
        if self.request.id and not self.request.is_eager:
            self.update_state(state=PROGRESS_STATE, meta={"done": done, "total": total, "step": step})

    try:
        request = request_from_arguments(brand_id, date_from, date_to, account_id, campaign_id, file_format)
        return build_report(request, on_progress=progress).summary()
    except ReportError as refused:
        return {"refused": str(refused)}
