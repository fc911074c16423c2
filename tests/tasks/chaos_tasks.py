"""Tasks that fail on purpose, loaded into test workers with `--include tests.tasks.chaos_tasks`."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from app.core.celery_config import celery_app


@celery_app.task(
    name="app.tasks.marketing.alerts.test_always_fails",
    bind=True,
    max_retries=2,
    default_retry_delay=0.2,
    autoretry_for=(RuntimeError,),
)
def always_fails(self: Any, account_id: int, api_key: str = "") -> None:
    raise RuntimeError(f"marketplace answered 503 (attempt {self.request.retries + 1})")


@celery_app.task(
    name="app.tasks.marketing.alerts.test_hangs",
    soft_time_limit=1,
    time_limit=2,
)
def hangs() -> None:
    # Like a call stuck in C code: the soft limit is swallowed, so only the hard limit ends it.
    try:
        time.sleep(30)
    except SoftTimeLimitExceeded:
        time.sleep(30)


@celery_app.task(name="app.tasks.marketing.alerts.test_kills_its_worker")
def kills_its_worker() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@celery_app.task(name="app.tasks.marketing.alerts.test_succeeds")
def succeeds(value: int) -> dict[str, int]:
    return {"value": value}
