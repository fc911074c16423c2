"""`accounts list` is readable at 80 columns and piped; `accounts remove` asks first (issue 17
item 7) — through the real CLI."""

from __future__ import annotations

from sqlalchemy import select

from app.core.database import session_scope
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketplaceAccount
from tests.support.cli import assert_one_line_error, cli

DEMO_SETTINGS = {
    "business_id": "5000100",
    "campaign_ids": [40001000, 40001001],
    "default_strategy": {
        "strategy_type": "max_traffic",
        "strategy_params": {"bid_cap": 900, "outbid_step": 10},
        "max_bid": 1000,
        "by_payment_type": {"cpm": {"strategy_params": {"bid_cap": 20000}, "max_bid": 30000}},
    },
}


def account_with_campaign(campaigns: int = 1) -> int:
    with session_scope() as session:
        brand = Brand(name="Brand A")
        session.add(brand)
        session.flush()
        account = MarketplaceAccount(
            marketplace="ym",
            brand_id=brand.id,
            name="Маркет кабинет 1",
            credentials_encrypted=encrypt_credentials({"api_key": "k"}),
            settings=DEMO_SETTINGS,
        )
        session.add(account)
        session.flush()
        for n in range(campaigns):
            session.add(
                MarketingCampaign(
                    account_id=account.id, marketplace="ym", brand_id=brand.id, external_id=str(n), name="c"
                )
            )
        return account.id


def is_active(account_id: int) -> bool:
    with session_scope() as session:
        return bool(
            session.scalar(select(MarketplaceAccount.is_active).where(MarketplaceAccount.id == account_id))
        )


def test_list_fits_80_columns_one_line_per_account_with_its_settings_below(clean_db: None) -> None:
    account_id = account_with_campaign()
    result = cli("accounts", "list", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), result.stdout
    assert lines[0].split() == ["id", "marketplace", "name", "brand", "active", "campaigns"]
    assert lines[1].split() == [str(account_id), "ym", "Маркет", "кабинет", "1", "Brand", "A", "yes", "1"]
    settings = " ".join(line.strip() for line in lines[2:])
    assert settings == (
        "business_id=5000100; campaign_ids=40001000,40001001; "
        "default strategy max_traffic bid_cap=900 outbid_step=10 max_bid=1000 (cpm: bid_cap=20000 max_bid=30000)"
    )


def test_remove_asks_and_a_script_without_an_answer_changes_nothing(clean_db: None) -> None:
    account_id = account_with_campaign()
    assert_one_line_error(
        cli("accounts", "remove", str(account_id)),
        f"no answer to the confirmation; repeat with --yes to change account {account_id}",
    )
    assert is_active(account_id)
    declined = cli("accounts", "remove", str(account_id), stdin="n\n")
    assert declined.returncode == 0 and "nothing changed" in declined.stdout
    assert "has 1 campaigns with history, so it can only be deactivated" in declined.stdout
    assert is_active(account_id)
    accepted = cli("accounts", "remove", str(account_id), stdin="y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert f"deactivated account {account_id} (ym Маркет кабинет 1)" in accepted.stdout
    assert not is_active(account_id)
