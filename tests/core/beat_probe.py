"""A task that records which beat entry fired it and for which slot (`celery -A` target of
test_beat_lock: the real Celery app with two short-period entries instead of the spec's schedule).
Importing it replaces that app's schedule: the tests import tests/core/beat_probe_spec.py instead."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from app.core.beat_scheduler import SLOT_HEADER
from app.core.celery_config import celery_app
from app.core.redis import get_redis
from tests.core.beat_probe_spec import ENTRIES, FIRES_KEY, PERIOD


@celery_app.task(name="tests.core.beat_probe.record_fire", bind=True)
def record_fire(self: Any, entry: str) -> None:
    get_redis().rpush(
        FIRES_KEY, json.dumps({"entry": entry, "slot": getattr(self.request, SLOT_HEADER, None)})
    )


celery_app.conf.beat_schedule = {
    name: {
        "task": "tests.core.beat_probe.record_fire",
        "schedule": timedelta(seconds=PERIOD),
        "args": [name],
        "options": {"queue": "marketing_high", "expires": PERIOD * 10},
    }
    for name in ENTRIES
}
app = celery_app
