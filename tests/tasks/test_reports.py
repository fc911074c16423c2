"""generate_report on a real marketing_low prefork worker (spec 7.1 registry: on request, low queue):
the task is routed there by its name, writes the file into REPORTS_DIR and answers with its path and
size; a refused request is an answer, not a dead letter."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.celery_config import celery_app
from app.core.clock import moscow_today
from app.core.database import session_scope
from app.models.marketing import CeleryFailedTask
from tests.support.report_files import BOM, chart_count, workbook
from tests.support.report_world import ReportWorld, build_report_world

pytestmark = pytest.mark.worker

TASK = "app.tasks.marketing.reports.generate_report"


@pytest.fixture
def world(clean_db: None) -> ReportWorld:
    with session_scope() as session:
        return build_report_world(session, moscow_today())


def test_a_marketing_low_worker_writes_the_report_and_returns_its_path_and_size(
    world: ReportWorld, worker_factory, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    worker = worker_factory(queues="marketing_low", extra_env={"REPORTS_DIR": str(folder)})
    arguments = {
        "brand_id": world.brand_id,
        "date_from": world.date_from.isoformat(),
        "date_to": world.today.isoformat(),
    }
    xlsx = celery_app.send_task(TASK, kwargs=arguments).get(timeout=120)
    path = Path(xlsx["path"])
    assert path.parent == folder, worker.log()[-3000:]
    assert xlsx["size_bytes"] == path.stat().st_size
    assert (xlsx["format"], xlsx["campaigns"], xlsx["incomplete_day"]) == ("xlsx", 3, world.today.isoformat())
    assert chart_count(workbook(path)) >= 3
    csv = celery_app.send_task(TASK, kwargs={**arguments, "file_format": "csv"}).get(timeout=120)
    assert Path(csv["path"]).read_bytes().startswith(BOM)


def test_a_refused_request_is_an_answer_not_a_dead_letter(
    world: ReportWorld, worker_factory, tmp_path: Path
) -> None:
    worker_factory(queues="marketing_low", extra_env={"REPORTS_DIR": str(tmp_path / "reports")})
    tomorrow = (world.today + timedelta(days=1)).isoformat()
    answer = celery_app.send_task(
        TASK, kwargs={"brand_id": world.brand_id, "date_from": world.today.isoformat(), "date_to": tomorrow}
    ).get(timeout=120)
    assert answer == {
        "refused": f"--to {tomorrow} is after today ({world.today}, Moscow time); end the period today or earlier"
    }
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(CeleryFailedTask)) == 0
    assert not (tmp_path / "reports").exists()
