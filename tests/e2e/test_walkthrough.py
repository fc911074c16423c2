"""The README path of a marketing team, as a new user walks it, without SQL (issue 12 "Done when"):
add a sandbox account, give its campaigns a strategy with `campaigns set`, see the next cycle change
bids, read `history`, roll the run back with `rollback --run`, and freeze the account — every step
a real `adolf-marketing` command against the sandbox over HTTP and a real worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core.database import session_scope
from app.models.marketing import MarketingBidHistory
from tests.integration.test_bid_cycle import sandbox_bid_values
from tests.support.cli import cli
from tests.support.sandbox_system import SandboxSystem, running_sandbox
from tests.support.up_process import failed_points

pytestmark = pytest.mark.worker


@pytest.fixture
def bare_sandbox(
    clean_db: None, redis_client: object, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SandboxSystem]:
    """The sandbox over HTTP with no account registered: the user adds one."""
    with running_sandbox(monkeypatch, register_accounts=False) as system:
        yield system


def ok(*args: str) -> str:
    result = cli(*args, timeout=300)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def run_task(*args: str) -> dict[str, Any]:
    return dict(json.loads(ok("run", *args)))


def last_seq(system: SandboxSystem) -> int:
    effects = system.effects()
    return int(effects[-1]["seq"]) if effects else 0


# About 1.5 minutes on a quiet machine, 3 under load (issue 14): each step is bounded by its own wait.
@pytest.mark.timeout(600)
def test_a_new_user_runs_campaigns_history_rollback_and_freeze_without_sql(
    bare_sandbox: SandboxSystem, worker_factory: Any, tmp_path: Path
) -> None:
    system = bare_sandbox
    worker_factory(queues="marketing_high,marketing_default,marketing_low", extra_env=system.env())
    wb = system.world.sandbox.accounts_json("wildberries")[0]
    token_file = tmp_path / "wb.token"
    token_file.write_text(wb["credentials"]["tokens"]["personal"])

    # 1. The account, and its campaigns as sync brings them: all on `fixed`.
    added = ok(
        "accounts",
        "add",
        "-m",
        "wb",
        "--name",
        "shop",
        "--brand",
        "My brand",
        "--token-file",
        str(token_file),
    )
    assert "added wb account" in added
    assert run_task("sync_campaigns")["errors"] == 0
    listed = ok("campaigns", "list", "--account", "shop")
    assert "fixed" in listed and "target_position" not in listed

    # 2. A strategy for its manual CPM campaigns, checked against WB's rules first.
    chosen = ("--all-in-account", "shop", "--where", "campaign_type=manual", "--where", "payment_type=cpm")
    refused = cli(
        "campaigns",
        "set",
        *chosen,
        "--strategy",
        "target_position",
        "--param",
        "position=3",
        "--max-bid",
        "100₽",
    )
    assert refused.returncode == 1 and "below Wildberries's minimum" in refused.stderr
    changed = ok(
        "campaigns",
        "set",
        *chosen,
        "--strategy",
        "target_position",
        "--param",
        "position=3",
        "--max-bid",
        "1500₽",
    )
    assert "strategy_type fixed → target_position" in changed

    # 3. The next cycle changes bids.
    system.advance(600)
    assert run_task("collect_stats", "wb")["errors"] == 0
    before_cycle = last_seq(system)
    cycle = run_task("run_bid_cycle")
    assert cycle["bids_updated"] > 0, cycle
    run_id = cycle["run_id"]
    with session_scope() as session:
        changes = session.scalars(
            select(MarketingBidHistory).where(MarketingBidHistory.cycle_run_id == run_id)
        ).all()
        restored = {c.keyword_id: c.old_bid for c in changes}
    assert sum(sandbox_bid_values(system, before_cycle).values()) == len(changes)

    # 4. History shows each change in its unit, with who made it.
    history = ok("history", "--run", str(run_id))
    assert "₽/1000 показов →" in history and f"bid cycle run {run_id}" in history

    # 5. Roll the run back: every bid it changed goes back once, through the exactly-once path.
    system.advance(60)  # past WB's 30-second apply tick: the marketplace shows the run's bids
    hold = (system.now() + timedelta(minutes=10)).isoformat()
    before_rollback = last_seq(system)
    rolled = ok("rollback", "--run", "last", "--yes", "--hold", hold, "--by", "anna")
    assert f"{len(restored)} of {len(restored)} bids restored (run {run_id})" in rolled
    assert sandbox_bid_values(system, before_rollback) == {
        value: list(restored.values()).count(value) for value in set(restored.values())
    }
    with session_scope() as session:
        rollbacks = session.scalars(
            select(MarketingBidHistory).where(MarketingBidHistory.source == "rollback")
        ).all()
        assert {r.keyword_id: r.new_bid for r in rollbacks} == restored
        assert all(r.reason == f"rollback of run {run_id} by anna" for r in rollbacks)
    assert "rollback" in ok("history", "--source", "rollback")
    again = cli("rollback", "--run", str(run_id), "--yes")
    assert again.returncode == 1 and "nothing to restore" in again.stderr

    # 6. Freeze the account: the next cycle reads and reports, and changes nothing.
    frozen = ok("freeze", "--account", "shop", "--reason", "checking the rollback", "--by", "anna")
    assert "frozen: wb account" in frozen
    system.advance(900)  # the rollback's hold is over: the strategy would move the bids again
    assert run_task("collect_stats", "wb")["errors"] == 0
    before_frozen = last_seq(system)
    quiet = run_task("run_bid_cycle")
    assert quiet["bids_updated"] == 0 and quiet["frozen"] == 1, quiet
    assert quiet["frozen_changes"] > 0, quiet
    assert sandbox_bid_values(system, before_frozen) == {}
    status = cli("status", timeout=300)  # Appendix A: no beat or Flower here, so exit 1 says so
    assert status.returncode == (1 if failed_points(status.stdout) else 0), status.stdout + status.stderr
    assert "FROZEN: wb account" in status.stdout
    ok("unfreeze", "--account", "shop")
