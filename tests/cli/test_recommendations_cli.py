"""`adolf-marketing recommendations list|show|accept|reject` as a user runs them (issue 11 item 3)."""

from __future__ import annotations

from sqlalchemy import select

from app.core.database import session_scope
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketingRecommendation, MarketplaceAccount
from tests.cli.test_cli import assert_one_line_error, cli


def seed() -> tuple[int, int]:
    with session_scope() as session:
        brand = Brand(name="B")
        session.add(brand)
        session.flush()
        account = MarketplaceAccount(
            marketplace="wb",
            brand_id=brand.id,
            name="a",
            credentials_encrypted=encrypt_credentials({"token": "t"}),
        )
        session.add(account)
        session.flush()
        campaign = MarketingCampaign(
            account_id=account.id, marketplace="wb", brand_id=brand.id, external_id="1", name="Зонты"
        )
        session.add(campaign)
        session.flush()
        recs = [
            MarketingRecommendation(
                campaign_id=campaign.id,
                recommendation_type=kind,
                title=title,
                reason="spent 1 200 ₽ with no order",
                description="14 days: ...",
                expected_effect="over 7 days: spend -600.00 ₽, revenue 0.00 ₽",
                expected_spend_change=-60_000,
                expected_revenue_change=0,
            )
            for kind, title in (("pause_keyword", "Pause «зонт»"), ("add_minus_phrase", "Add «зонт даром»"))
        ]
        session.add_all(recs)
        session.flush()
        return recs[0].id, recs[1].id


def test_list_show_accept_reject(clean_db: None) -> None:
    pause, minus = seed()
    listed = cli("recommendations", "list", env={"COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    assert "Pause «зонт»" in listed.stdout and "-600 ₽" in listed.stdout
    shown = cli("recommendations", "show", str(pause))
    assert shown.returncode == 0 and "why: spent 1 200 ₽ with no order" in shown.stdout
    accepted = cli("recommendations", "accept", str(pause), "--by", "anna")
    assert (
        accepted.returncode == 0 and "accepted" in accepted.stdout and "seller's cabinet" in accepted.stdout
    )
    rejected = cli("recommendations", "reject", str(minus), "--reason", "we sell that")
    assert rejected.returncode == 0 and f"#{minus} rejected" in rejected.stdout
    assert_one_line_error(
        cli("recommendations", "accept", str(minus)), "is rejected: it can no longer be accepted"
    )
    with session_scope() as session:
        rows = {r.id: r for r in session.scalars(select(MarketingRecommendation))}
        assert (rows[pause].status, rows[pause].decided_by) == ("accepted", "anna")
        assert (rows[minus].status, rows[minus].status_note) == ("rejected", "we sell that")


def test_bad_input_is_one_line() -> None:
    assert_one_line_error(cli("recommendations", "show", "999999"), "no recommendation with id 999999")
    assert_one_line_error(cli("recommendations", "list", "--status", "new"), "unknown --status 'new'")
