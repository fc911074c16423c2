"""`adolf-marketing report` end to end: the real CLI in a subprocess, the real marketing_low worker
it sends the task to, the file it prints; every bad input one line, before any task is sent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.core.clock import moscow_today
from app.core.database import session_scope
from app.services.marketing.reports import MAX_REPORT_DAYS
from tests.cli.test_cli import assert_one_line_error, cli
from tests.support.report_files import BOM, chart_count, workbook
from tests.support.report_world import BRAND, ReportWorld, build_report_world


@pytest.fixture
def world(clean_db: None) -> ReportWorld:
    with session_scope() as session:
        return build_report_world(session, moscow_today())


def period(world: ReportWorld) -> list[str]:
    return ["--from", world.date_from.isoformat(), "--to", world.today.isoformat()]


@pytest.mark.worker
def test_report_writes_an_xlsx_with_charts_and_a_csv_with_a_bom(
    world: ReportWorld, worker_factory, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    env = {"REPORTS_DIR": str(folder)}
    worker_factory(queues="marketing_low", extra_env=env)
    made = cli("report", "--brand", BRAND, *period(world), env=env)
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.strip().splitlines()[-1])
    assert path.parent == folder and path.suffix == ".xlsx"
    assert chart_count(workbook(path)) >= 3
    by_id = cli(
        "report",
        "--brand",
        str(world.brand_id),
        "--account",
        "ym-main",
        *period(world),
        "--format",
        "csv",
        env=env,
    )
    assert by_id.returncode == 0, by_id.stderr
    assert Path(by_id.stdout.strip().splitlines()[-1]).read_bytes().startswith(BOM)
    tomorrow = (world.today + timedelta(days=1)).isoformat()
    future = cli("report", "--brand", BRAND, "--from", world.today.isoformat(), "--to", tomorrow, env=env)
    assert_one_line_error(future, f"--to {tomorrow} is after today")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-12-01", "--to", "2026-12-02"], "--brand is required"),
        (
            ["--brand", "Nobody", "--from", "2026-12-01", "--to", "2026-12-02"],
            "unknown brand 'Nobody'; known brands: Other brand, Бренд «Тест»",
        ),
        (
            ["--brand", BRAND, "--from", "2026-12-05", "--to", "2026-12-01"],
            "--from 2026-12-05 is after --to 2026-12-01; swap them",
        ),
        (
            ["--brand", BRAND, "--from", "2026-01-01", "--to", "2026-12-01"],
            f"has 335 days; a report covers at most {MAX_REPORT_DAYS} days",
        ),
        (
            ["--brand", BRAND, "--from", "01.12.2026", "--to", "2026-12-02"],
            "--from '01.12.2026' is not a date; write it as YYYY-MM-DD",
        ),
        (["--brand", BRAND, "--to", "2026-12-02"], "--from is required"),
        (
            ["--brand", BRAND, "--from", "2026-12-01", "--to", "2026-12-02", "--format", "pdf"],
            "unknown format 'pdf'; use one of xlsx, csv",
        ),
        (
            ["--brand", BRAND, "--account", "wb-other", "--from", "2026-12-01", "--to", "2026-12-02"],
            "the brand has no account 'wb-other'",
        ),
        (
            ["--brand", BRAND, "--campaign", "2001", "--from", "2026-12-01", "--to", "2026-12-02"],
            "the brand has no campaign '2001'",
        ),
    ],
)
def test_bad_input_is_one_line(world: ReportWorld, args: list[str], message: str) -> None:
    assert_one_line_error(cli("report", *args), message)
