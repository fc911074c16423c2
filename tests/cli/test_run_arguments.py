"""`adolf-marketing run` checks a task's arguments before enqueueing (issue 17 item 4): every bad
input is one line, nothing is enqueued, and no dead letter or critical alert is created; positional
`NAME=VALUE` is accepted. Errors of a task that did run keep their type (item 11)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.core.celery_config import QUEUES
from app.core.database import session_scope
from app.core.secrets import encrypt_credentials
from app.models.marketing import (
    CeleryFailedTask,
    MarketingAlert,
    MarketingCampaign,
    MarketingKeyword,
    MarketplaceAccount,
)
from app.services.marketing.sync import run_sync
from tests.integration.test_manual_bid import manual_cluster
from tests.support.cli import assert_one_line_error, cli
from tests.support.sandbox_system import SandboxSystem


@pytest.fixture
def synced(sandbox_system: SandboxSystem) -> MarketingKeyword:
    assert run_sync()["errors"] == 0
    return manual_cluster()  # a live WB cluster of an active manual CPM campaign


def nothing_was_enqueued_or_recorded(redis_client) -> None:
    assert {name: redis_client.llen(name) for name, _ in QUEUES} == {name: 0 for name, _ in QUEUES}
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(CeleryFailedTask)) == 0
        assert session.scalar(select(func.count()).select_from(MarketingAlert)) == 0


def test_bad_arguments_are_one_line_and_nothing_is_enqueued(synced: MarketingKeyword, redis_client) -> None:
    keyword = synced.id
    with session_scope() as session:
        removed = session.scalars(select(MarketingKeyword).where(MarketingKeyword.id != keyword)).first()
        assert removed is not None
        removed.status = "removed"
        removed_id = removed.id
    cases = [
        (
            ("apply_bid_change", "--keyword-id", "five", "--new-bid", "20000"),
            "apply_bid_change: keyword_id must be an integer, got 'five'",
        ),
        (
            ("apply_bid_change", "--keyword", "5", "--new-bid", "20000"),
            "apply_bid_change has no parameter 'keyword'; its parameters: keyword_id, new_bid, reason, source",
        ),
        (
            ("apply_bid_change", "--kw", f"keyword_id={keyword}"),
            "apply_bid_change needs new_bid: e.g. `adolf-marketing run apply_bid_change --new-bid VALUE`",
        ),
        (
            ("apply_bid_change", f"keyword_id={keyword}", "new_bid=-5"),
            "apply_bid_change: new_bid must be a positive integer",
        ),
        (
            ("apply_bid_change", "keyword_id=999999", "new_bid=20000"),
            "apply_bid_change: no keyword with id 999999",
        ),
        (
            ("apply_bid_change", f"keyword_id={removed_id}", "new_bid=20000"),
            f"apply_bid_change: keyword {removed_id} or its campaign no longer exists",
        ),
        (
            ("apply_bid_change", str(keyword), "20000", f"keyword_id={keyword}"),
            "apply_bid_change: keyword_id is given twice (positionally and by name)",
        ),
        (
            ("collect_stats", "wb", "ozon"),
            "collect_stats takes 1 argument(s) (marketplace), got 2: 'wb' 'ozon'",
        ),
        (("collect_stats", "amazon"), "collect_stats: unknown marketplace 'amazon'; use one of wb, ozon, ym"),
        (("sync_campaigns", "--account", "424242"), "sync_campaigns: no active account with id 424242"),
        (("check_budgets", "now"), "check_budgets takes no arguments, got 1: 'now'"),
        (
            ("send_alert", "null", "system_notice", "loud", "Title", "Text"),
            "send_alert: unknown alert severity 'loud'; use one of info, warning, critical",
        ),
    ]
    for args, message in cases:
        assert_one_line_error(cli("run", *args, timeout=30), message)
    nothing_was_enqueued_or_recorded(redis_client)


@pytest.mark.worker
def test_positional_name_value_is_applied_through_a_worker(
    synced: MarketingKeyword, sandbox_system: SandboxSystem, worker_factory
) -> None:
    worker_factory(queues="marketing_high", extra_env=sandbox_system.env())
    new_bid = max(synced.current_bid or 0, 20_000) + 1_000
    result = cli("run", "apply_bid_change", f"keyword_id={synced.id}", f"new_bid={new_bid}", "reason=by hand")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no redis ImportError or AsyncResult noise at exit (item 11)
    assert json.loads(result.stdout)["status"] == "applied"


@pytest.mark.worker
def test_an_auth_error_keeps_its_type_in_the_cli_and_the_dead_letter(
    synced: MarketingKeyword, sandbox_system: SandboxSystem, worker_factory
) -> None:
    with session_scope() as session:
        campaign = session.get(MarketingCampaign, synced.campaign_id)
        assert campaign is not None
        account = session.get(MarketplaceAccount, campaign.account_id)
        assert account is not None
        account.credentials_encrypted = encrypt_credentials({"token": "revoked-token"})
    worker_factory(queues="marketing_high", extra_env=sandbox_system.env())
    result = cli("run", "apply_bid_change", "--keyword-id", str(synced.id), "--new-bid", "20000")
    assert_one_line_error(result, "task failed: AuthError: wb ")
    with session_scope() as session:
        dead = session.scalars(select(CeleryFailedTask)).one()
        assert dead.exception.startswith("AuthError: wb ")
