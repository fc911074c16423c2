"""`adolf-marketing status` through the real CLI: refused bids show in the cycle line (issue 17
item 1); times say when they are the demo sandbox's simulated clock (item 7); no warning line.
Here nothing runs (no worker, beat or Flower), so its Appendix A check points fail and it exits 1
(issue 10 item 5; tests/cli/test_status_checks.py has them passing)."""

from __future__ import annotations

from pathlib import Path

from app.cli.instance import take_up_lock
from app.services.marketing.bid_cycle.coordinator import publish_metrics
from tests.support.cli import cli
from tests.support.sandbox_system import SandboxSystem

COUNTERS = ("campaigns", "keywords", "bids_updated", "bids_failed", "bids_unknown")


def summary(**per_marketplace: tuple[int, int, int]) -> dict[str, object]:
    marketplaces = {
        name: dict(zip(COUNTERS, (1, 10, *counts), strict=True)) for name, counts in per_marketplace.items()
    }
    return {
        "run_id": 7,
        "status": "completed",
        "started_at": "2026-12-01T10:07:00+00:00",
        "finished_at": "2026-12-01T10:07:09+00:00",
        "campaigns": len(marketplaces),
        "keywords": 10 * len(marketplaces),
        "bids_updated": sum(c[0] for c in per_marketplace.values()),
        "bids_failed": sum(c[1] for c in per_marketplace.values()),
        "bids_unknown": sum(c[2] for c in per_marketplace.values()),
        "errors": 0,
        "marketplaces": marketplaces,
        "unreached_campaigns": [],
    }


def cycle_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("Last bid cycle"))


def test_refused_bids_show_in_the_cycle_line(redis_client) -> None:
    publish_metrics(summary(wb=(8, 0, 0), ozon=(0, 20, 0), ym=(5, 0, 1)))
    result = cli("status")
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert "✗ workers:marketing_high" in result.stdout
    assert cycle_line(result.stdout) == (
        "Last bid cycle (run 7): completed with 20 refused bids and 1 bids of unknown outcome, "
        "started 2026-12-01T10:07:00+00:00, finished 2026-12-01T10:07:09+00:00; campaigns 3, keywords 30, "
        "bids updated 13, refused 20, unknown 1, errors 0; "
        "updated/refused/unknown by marketplace: ozon 0/20/0, wb 8/0/0, ym 5/0/1"
    )


def test_a_clean_cycle_reads_completed(redis_client) -> None:
    publish_metrics(summary(wb=(8, 0, 0)))
    assert "Last bid cycle (run 7): completed, started" in cycle_line(cli("status").stdout)


def test_times_are_labelled_with_the_demo_sandbox_clock(
    sandbox_system: SandboxSystem, tmp_path: Path, redis_client
) -> None:
    lock = take_up_lock(tmp_path)  # as a running `up` with the demo world records it
    lock.update(clock_url=sandbox_system.clock_url)
    try:
        env = {"DATA_DIR": str(tmp_path), "CLOCK_URL": ""}
        result = cli("status", env=env)
    finally:
        lock.release()
    assert result.returncode == 1 and result.stderr == "", result.stderr
    assert "last run (UTC, sandbox clock)" in result.stdout
    simulated = sandbox_system.now().strftime("%Y-%m-%d")
    assert f"Times follow the demo sandbox's simulated clock (now {simulated}" in result.stdout
    assert "sandbox clock" not in cli("status", env={"CLOCK_URL": ""}).stdout
