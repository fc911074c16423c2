"""The CLI end to end as a subprocess: bad input gives one clear line and a non-zero exit, no
traceback (issue 2 "Done when"); accounts keep their secret encrypted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.database import session_scope
from app.core.secrets import decrypt_credentials
from app.models.marketing import MarketplaceAccount
from tests.support.cli import assert_one_line_error, cli


def test_unknown_marketplace(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("abc")
    result = cli("accounts", "add", "-m", "amazon", "--name", "x", "--brand", "b", "--token-file", str(token))
    assert_one_line_error(result, "unknown marketplace 'amazon'; use one of wb, ozon, ym")


def test_empty_token_file(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("  \n")
    result = cli("accounts", "add", "-m", "wb", "--name", "x", "--brand", "b", "--token-file", str(token))
    assert_one_line_error(result, "the token is empty")


def test_empty_token_at_the_prompt() -> None:
    result = cli("accounts", "add", "-m", "wb", "--name", "x", "--brand", "b", stdin="\n")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_invalid_setting() -> None:
    assert_one_line_error(
        cli("accounts", "list", env={"TASK_TIME_LIMIT": "soon"}), "Invalid setting TASK_TIME_LIMIT"
    )


@pytest.mark.parametrize(
    ("command", "variable", "url"),
    [
        (("accounts", "list"), "DATABASE_URL", "postgresql://nobody@127.0.0.1:abc/none"),
        (("status",), "REDIS_URL", "redis://127.0.0.1:abc/0"),
    ],
)
def test_non_numeric_port_is_one_line(command: tuple[str, ...], variable: str, url: str) -> None:
    assert_one_line_error(
        cli(*command, env={variable: url}), f"Invalid setting {variable}: Value error, the port"
    )


def test_unreachable_database() -> None:
    result = cli("accounts", "list", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert_one_line_error(result, "cannot reach PostgreSQL")


def test_unreachable_redis() -> None:
    result = cli("status", env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert_one_line_error(result, "cannot reach Redis")


def test_unknown_task() -> None:
    assert_one_line_error(cli("run", "no_such_task"), "unknown task 'no_such_task'; known tasks:")


def test_add_list_remove_account_keeps_the_secret_encrypted(clean_db: None, tmp_path: Path) -> None:
    token = tmp_path / "wb.token"
    token.write_text("secret-wb-token-123\n")
    added = cli(
        "accounts", "add", "-m", "wb", "--name", "main", "--brand", "Brand A", "--token-file", str(token)
    )
    assert added.returncode == 0, added.stderr
    assert "secret-wb-token-123" not in added.stdout + added.stderr
    listed = cli("accounts", "list")
    assert "main" in listed.stdout and "secret-wb-token-123" not in listed.stdout
    with session_scope() as session:
        account = session.scalars(select(MarketplaceAccount)).one()
        assert b"secret-wb-token-123" not in account.credentials_encrypted
        assert decrypt_credentials(account.credentials_encrypted) == {"token": "secret-wb-token-123"}
        account_id = account.id
    duplicate = cli(
        "accounts", "add", "-m", "wb", "--name", "main", "--brand", "Brand A", "--token-file", str(token)
    )
    assert_one_line_error(duplicate, "exists already")
    assert cli("accounts", "remove", str(account_id), "--yes").returncode == 0
    assert_one_line_error(cli("accounts", "remove", str(account_id)), f"no account with id {account_id}")


def test_ym_account_needs_a_business_id(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("key")
    result = cli("accounts", "add", "-m", "ym", "--name", "x", "--brand", "b", "--token-file", str(token))
    assert_one_line_error(result, "business_id")


@pytest.mark.parametrize("args", [("db", "upgrade"), ("db", "check")])
def test_db_commands_succeed_on_the_migrated_database(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 0, result.stderr


@pytest.mark.worker
def test_run_enqueues_by_short_name_and_prints_the_result(clean_db: None, worker_factory) -> None:
    worker_factory(queues="marketing_high")
    result = cli("run", "send_alert", "null", "system_notice", "info", "Hello", "First alert")
    assert result.returncode == 0, result.stderr
    assert '"alert_id": 1' in result.stdout and '"recipients": 0' in result.stdout


@pytest.mark.worker
def test_status_lists_workers_per_queue_and_periodic_entries(worker_factory) -> None:
    worker = worker_factory(queues="marketing_high")
    result = cli("status")
    # Only marketing_high has a worker (and there is no beat, Flower or cycle): Appendix A fails.
    assert result.returncode == 1 and result.stderr == "", result.stderr
    assert "✓ workers:marketing_high" in result.stdout and "✗ workers:marketing_low" in result.stdout
    assert worker.node in result.stdout
    assert "marketing-check-api-health" in result.stdout


def test_default_strategy_setting_is_stored_as_json_and_validated(clean_db: None, tmp_path: Path) -> None:
    # Issue 9 finding 12: it was stored as a string and silently ignored by sync.
    token = tmp_path / "t"
    token.write_text("abc")
    base = ("accounts", "add", "-m", "wb", "--brand", "b", "--token-file", str(token))
    good = '{"strategy_type": "target_position", "strategy_params": {"position": 2}, "max_bid": 30000}'
    result = cli(*base, "--name", "good", "--setting", f"default_strategy={good}")
    assert result.returncode == 0, result.stderr
    with session_scope() as session:
        account = session.scalars(select(MarketplaceAccount).where(MarketplaceAccount.name == "good")).one()
        assert account.settings["default_strategy"] == {
            "strategy_type": "target_position",
            "strategy_params": {"position": 2},
            "max_bid": 30000,
        }
    bad = '{"strategy_type": "target_position", "strategy_params": {"postion": 2}}'
    assert_one_line_error(
        cli(*base, "--name", "bad", "--setting", f"default_strategy={bad}"),
        "--setting default_strategy: default_strategy: target_position: strategy_params.postion: is not a parameter here",
    )
    assert_one_line_error(
        cli(*base, "--name", "bad", "--setting", "default_strategy=target_position"),
        "default_strategy is not valid JSON",
    )
    with session_scope() as session:
        assert not session.scalars(select(MarketplaceAccount).where(MarketplaceAccount.name == "bad")).first()


def test_embedded_database_commands_print_no_warning_without_xdg_runtime_dir(tmp_path: Path) -> None:
    # Issue 17 item 7: pgserver's import made platformdirs print a RuntimeDirWarning on every run.
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "XDG_RUNTIME_DIR"}}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        env={**env, "DATA_DIR": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == "database schema is up to date"
