"""Base class of every task: a redelivery cap for acks_late + reject_on_worker_lost.

With `task_reject_on_worker_lost`, a task whose pool child dies (OOM, kill -9, a poison task that
always crashes) is requeued at once and would loop forever (celery-reliability.md §1.2). Each
start of the same delivery (task id + retry number) is counted in Redis; past MAX_REDELIVERIES the
message is rejected without requeue, which fires `task_failure` and so reaches the dead letters.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import Task
from celery.exceptions import Reject

from app.core.clock import now_utc
from app.core.config import get_settings
from app.core.redis import get_redis

logger = logging.getLogger(__name__)

DELIVERY_COUNTER_TTL = 24 * 3600
# Hash of the last run of every task (field: task name, or "name:arg" for collect_stats per
# marketplace) — read by `adolf-marketing status` and the freshness checks.
LAST_RUN_KEY = "marketing:task_last_run"


def run_key(task_name: str, args: Any) -> str:
    if args and isinstance(args, list | tuple) and isinstance(args[0], str):
        return f"{task_name}:{args[0]}"
    return task_name


class RedeliveryCapExceeded(Exception):
    """The same task delivery started too often: its worker keeps dying."""


def delivery_key(task_id: str, retries: int) -> str:
    return f"marketing:deliveries:{task_id}:{retries}"


class AdolfTask(Task):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.id and not request.is_eager:
            self._count_delivery(request.id, request.retries or 0)
        return super().__call__(*args, **kwargs)

    def after_return(
        self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if self.request.is_eager:
            return
        record = {"finished_at": now_utc().isoformat(), "state": status, "task_id": task_id}
        try:
            get_redis().hset(LAST_RUN_KEY, run_key(self.name, args), json.dumps(record))
        except Exception:  # monitoring must never fail the task it watches
            logger.warning("could not record the last run of %s", self.name, exc_info=True)

    def _count_delivery(self, task_id: str, retries: int) -> None:
        client = get_redis()
        key = delivery_key(task_id, retries)
        with client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, DELIVERY_COUNTER_TTL)
            starts = int(pipe.execute()[0])
        cap = get_settings().MAX_REDELIVERIES
        if starts > cap:
            raise Reject(
                RedeliveryCapExceeded(
                    f"{self.name} started {starts} times for the same delivery (cap {cap}); "
                    "its worker process keeps dying — see the worker log"
                ),
                requeue=False,
            )
