"""ADOLF Marketing.

`app.celery` / `app.app` are the Celery app of app.core.celery_config, loaded on first access, so
`celery -A app worker|beat|status` works (Appendix A) while `import app` stays cheap for code that
never touches Celery.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("celery", "app"):
        from app.core.celery_config import celery_app

        return celery_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
