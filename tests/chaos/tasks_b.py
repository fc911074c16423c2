"""Tasks for the fault-matrix scenarios 18–19, loaded into test workers with
`--include tests.chaos.tasks_b`."""

from __future__ import annotations

import os

from app.core.celery_config import celery_app

# What a leaking task keeps alive in its pool child between tasks.
_leaked: list[bytearray] = []


@celery_app.task(name="app.tasks.marketing.alerts.test_leaks_memory")
def leaks_memory(megabytes: int) -> dict[str, int]:
    """Keep `megabytes` MiB alive in this pool child, touched so they are resident."""
    block = bytearray(megabytes * 1024 * 1024)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    _leaked.append(block)
    return {"pid": os.getpid(), "held_mib": sum(len(b) for b in _leaked) // (1024 * 1024)}
