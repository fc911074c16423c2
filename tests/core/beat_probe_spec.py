"""Names shared by the probe beat app (tests/core/beat_probe.py, which replaces the schedule of the
Celery app it loads, so only `celery -A` subprocesses import it) and test_beat_lock."""

from __future__ import annotations

import os

FIRES_KEY = "test:beat:fires"
PERIOD = float(os.environ.get("PROBE_PERIOD", "3"))
ENTRIES = ("probe-a", "probe-b")
