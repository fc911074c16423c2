"""The commands a marketing team runs without SQL (issue 12 items 1–4), as subprocesses: bad input
to each is one line and changes nothing; a good change is applied and recorded (who, old → new)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.database import session_scope
from app.models.core import User, UserChannel
from app.models.marketing import (
    MarketingCampaign,
    MarketingCampaignChange,
    MarketingFreeze,
    MarketplaceAccount,
)
from app.services.marketing.sync import run_sync
from tests.support.cli import assert_one_line_error, cli
from tests.support.sandbox_system import SandboxSystem

SETTINGS = ("strategy_type", "strategy_params", "safety_params", "max_bid", "daily_limit", "dry_run")


@pytest.fixture
def synced(sandbox_system: SandboxSystem) -> SandboxSystem:
    assert run_sync()["errors"] == 0
    return sandbox_system


def snapshot() -> list[tuple[Any, ...]]:
    with session_scope() as session:
        rows = session.scalars(select(MarketingCampaign).order_by(MarketingCampaign.id)).all()
        return [tuple(getattr(c, name) for name in SETTINGS) for c in rows]


def wb_campaigns(payment_type: str) -> list[int]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(MarketingCampaign.id)
                .where(
                    MarketingCampaign.marketplace == "wb",
                    MarketingCampaign.campaign_type == "manual",
                    MarketingCampaign.payment_type == payment_type,
                )
                .order_by(MarketingCampaign.id)
            )
        )


def test_bad_campaign_settings_are_one_line_and_change_nothing(synced: SandboxSystem) -> None:
    cpm = wb_campaigns("cpm")[0]
    with session_scope() as session:
        wb_account = session.scalar(
            select(MarketplaceAccount.id).where(MarketplaceAccount.marketplace == "wb")
        )
    before = snapshot()
    cases = [
        (("campaigns", "set", str(cpm), "--strategy", "best"), "unknown strategy 'best'; use one of"),
        (
            ("campaigns", "set", str(cpm), "--strategy", "target_position", "--param", "position=0"),
            "strategy_params.position: input should be greater than or equal to 1",
        ),
        (
            ("campaigns", "set", str(cpm), "--max-bid", "10000"),
            "--max-bid 100.00 ₽/1000 показов is below Wildberries's minimum 150.00 ₽/1000 показов",
        ),
        (("campaigns", "set", "999999", "--strategy", "fixed"), "no campaign with id 999999"),
        (("campaigns", "set", str(cpm), "--max-bid", "5.5%"), "not in % of the price"),
        (("campaigns", "set", str(cpm)), "nothing to change"),
        (("campaigns", "set", "--where", "colour=red", "--live"), "--where 'colour=red': use KEY=VALUE"),
        # One campaign of the account cannot take the cap: none of them changes.
        (
            (
                "campaigns",
                "set",
                "--all-in-account",
                str(wb_account),
                "--where",
                "campaign_type=manual",
                "--max-bid",
                "100₽",
            ),
            "below Wildberries's minimum 150.00 ₽/1000 показов (15000 in kopecks_per_1000_views)",
        ),
        (("campaigns", "set", "--all-in-account", str(wb_account), "--max-bid", "200₽"), "takes no bids"),
        (("campaigns", "show", "999999"), "no campaign with id 999999"),
        (("campaigns", "list", "--account", "nope"), "no account 'nope'"),
    ]
    for args, fragment in cases:
        assert_one_line_error(cli(*args), fragment)
    assert snapshot() == before
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MarketingCampaignChange)) == 0


def test_campaigns_set_applies_records_and_shows_the_change(synced: SandboxSystem) -> None:
    cpm = wb_campaigns("cpm")[0]
    result = cli(
        "campaigns", "set", str(cpm), "--strategy", "target_position", "--param", "position=3",
        "--max-bid", "1500₽", "--daily-limit", "5000₽", "--by", "anna",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "max_bid none → 1500.00 ₽/1000 показов" in result.stdout
    assert "1 of 1 campaigns changed by anna" in result.stdout
    with session_scope() as session:
        campaign = session.get(MarketingCampaign, cpm)
        assert campaign is not None
        assert (campaign.strategy_type, campaign.strategy_params) == ("target_position", {"position": 3})
        assert (campaign.max_bid, campaign.daily_limit) == (150_000, 500_000)
        change = session.scalars(select(MarketingCampaignChange)).one()
        assert change.changed_by == "anna" and change.campaign_id == cpm
        assert change.changes["max_bid"] == {"old": None, "new": 150_000}
    again = cli("campaigns", "set", str(cpm), "--max-bid", "150000", "--by", "anna")
    assert "0 of 1 campaigns changed by anna (already so)" in again.stdout
    shown = cli("campaigns", "show", str(cpm))
    assert shown.returncode == 0, shown.stderr
    assert "strategy: target_position" in shown.stdout and "₽/1000 показов" in shown.stdout
    change_line = next(line for line in shown.stdout.splitlines() if " anna: " in line)
    assert "strategy_type fixed → target_position" in change_line and "max_bid none → 1500.00" in change_line
    listed = cli("campaigns", "list", "--strategy", "target_position")
    assert str(cpm) in listed.stdout and "50.00 ₽" not in listed.stdout
    assert "5000.00 ₽" in listed.stdout
    bulk = cli("campaigns", "set", "--where", "strategy=fixed", "--where", "marketplace=wb", "--dry-run")
    assert bulk.returncode == 0, bulk.stderr
    with session_scope() as session:
        wb_fixed = session.scalars(
            select(MarketingCampaign).where(
                MarketingCampaign.marketplace == "wb", MarketingCampaign.strategy_type == "fixed"
            )
        ).all()
        assert wb_fixed and all(c.dry_run for c in wb_fixed)
        assert session.get(MarketingCampaign, cpm).dry_run is False  # type: ignore[union-attr]


def test_users_and_their_channels(synced: SandboxSystem) -> None:
    with session_scope() as session:
        brand = session.scalar(select(MarketplaceAccount).limit(1)).brand.name  # type: ignore[union-attr]
    bad = [
        (("users", "add", "anna@shop.example", "--name", "Anna", "--role", "boss"), "unknown role 'boss'"),
        (
            ("users", "add", "anna@shop.example", "--name", "Anna", "--role", "manager"),
            "a manager belongs to a brand",
        ),
        (("users", "add", "anna", "--name", "Anna", "--role", "senior"), "'anna' is not an email address"),
        (
            ("users", "add", "anna@shop.example", "--name", "Anna", "--role", "manager", "--brand", "Nope"),
            "no brand 'Nope'",
        ),
        (
            ("users", "add", "anna@shop.example", "--name", "A", "--role", "senior", "--telegram", "@anna"),
            "give the numeric Telegram id",
        ),
        (("users", "set", "nobody@x.example", "--inactive"), "no user 'nobody@x.example'"),
    ]
    for args, fragment in bad:
        assert_one_line_error(cli(*args), fragment)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
    added = cli(
        "users", "add", "anna@shop.example", "--name", "Anna", "--role", "manager", "--brand", brand,
        "--telegram", "1001", "--email-level", "critical",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "telegram 1001 from warning, email anna@shop.example from critical" in added.stdout
    assert "note: email messages need SMTP_HOST where the workers run (not set here)" in added.stdout
    assert_one_line_error(
        cli("users", "add", "ANNA@shop.example", "--name", "Anna", "--role", "senior"), "exists already"
    )
    changed = cli("users", "set", "anna@shop.example", "--telegram-level", "info", "--email-level", "none")
    assert changed.returncode == 0, changed.stderr
    with session_scope() as session:
        channels = session.execute(select(UserChannel.channel, UserChannel.min_severity)).all()
        assert channels == [("telegram", "info")]
    listed = cli("users", "list")
    assert "anna@shop.example" in listed.stdout and "manager" in listed.stdout
    assert_one_line_error(cli("users", "remove", "anna@shop.example"), "repeat with --yes")
    removed = cli("users", "remove", "anna@shop.example", "--yes")
    assert removed.returncode == 0 and "removed user" in removed.stdout


def test_freeze_and_unfreeze(synced: SandboxSystem) -> None:
    assert_one_line_error(cli("freeze", "--reason", " "), "give a --reason")
    assert_one_line_error(cli("freeze", "--account", "nope", "--reason", "x"), "no account 'nope'")
    assert_one_line_error(
        cli("freeze", "--marketplace", "amazon", "--reason", "x"), "unknown marketplace 'amazon'"
    )
    frozen = cli("freeze", "--marketplace", "wb", "--reason", "price war", "--by", "anna")
    assert frozen.returncode == 0, frozen.stderr
    assert "frozen: every wb account (by anna at" in frozen.stdout
    assert_one_line_error(cli("freeze", "-m", "wb", "--reason", "again"), "is frozen already (by anna at")
    assert_one_line_error(
        cli("unfreeze"), "every account has no freeze of its own to lift (active: every wb account"
    )
    lifted = cli("unfreeze", "--marketplace", "wb", "--by", "boris")
    assert lifted.returncode == 0 and "unfrozen: every wb account" in lifted.stdout
    with session_scope() as session:
        row = session.scalars(select(MarketingFreeze)).one()
        assert (row.frozen_by, row.unfrozen_by, row.reason) == ("anna", "boris", "price war")


def test_history_and_rollback_refuse_bad_input(synced: SandboxSystem) -> None:
    cases = [
        (("rollback",), "choose what to roll back"),
        (
            ("rollback", "--run", "424242", "--yes"),
            "bid cycle run 424242 changed no bids; nothing to roll back",
        ),
        (("rollback", "--run", "last", "--yes"), "no bid cycle run has changed a bid yet"),
        (("rollback", "--keyword", "999999", "--yes"), "no keyword with id 999999"),
        (("rollback", "--since", "yesterday", "--yes"), "--since 'yesterday': give an ISO time"),
        (("rollback", "--run", "1", "--to", "2h"), "--to goes with --keyword"),
        (("rollback", "--run", "1", "--hold", "forever"), "--hold: hold must be 'next_day', 'fixed'"),
        (("history", "--source", "robot"), "unknown --source 'robot'"),
    ]
    for args, fragment in cases:
        assert_one_line_error(cli(*args), fragment)
    empty = cli("history", "--since", "1d")
    assert empty.returncode == 0 and "no bid changes match" in empty.stdout
