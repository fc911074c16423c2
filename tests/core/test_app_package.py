"""`celery -A app ...` (Appendix A) finds the Celery app through the package's lazy attribute,
and `import app` alone does not load Celery (issue 10 item 4)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.worker import REPO_ROOT


def test_importing_the_package_does_not_load_celery() -> None:
    probe = "import sys, app; print('celery' in sys.modules, 'app.core.celery_config' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_the_package_exposes_the_celery_app_as_celery_and_app() -> None:
    import app
    from app.core.celery_config import celery_app

    assert app.celery is celery_app
    assert app.app is celery_app
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = app.nothing  # type: ignore[attr-defined]


@pytest.mark.worker
@pytest.mark.parametrize("target", ["app", "app.core.celery_config"])
def test_celery_status_lists_the_running_worker(worker_factory, target: str) -> None:
    worker = worker_factory(queues="marketing_high")
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", target, "status", "--timeout=5"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert f"{worker.node}: OK" in result.stdout
