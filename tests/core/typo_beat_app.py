"""The real Celery app with one beat entry whose task name has a typo (`celery -A` target of
test_celery_config: worker and beat must refuse to start)."""

from __future__ import annotations

from app.core.celery_config import celery_app

celery_app.conf.beat_schedule = {
    **celery_app.conf.beat_schedule,
    "marketing-typo": {"task": "app.tasks.marketing.cleanup.cleanup_old_stat", "schedule": 60.0},
}
app = celery_app
