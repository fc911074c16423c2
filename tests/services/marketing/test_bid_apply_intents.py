"""record_intents reads the clock once per batch, not once per intent: under CLOCK_URL (sandbox demo
and tests) every reading is an HTTP call, made while holding the fence lock that all other accounts'
cycles wait for (bench/bid_cycle.py --size full ran into PostgreSQL's statement timeout on it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.database import session_scope
from app.core.money import PerMille
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.services.marketing import bid_apply
from app.services.marketing.bid_apply import PlannedBid, record_intents, start_cycle_run


def test_record_intents_reads_the_clock_once_per_batch(
    clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings: list[datetime] = []

    def clock() -> datetime:
        readings.append(datetime(2026, 11, 29, 6, 0, len(readings), tzinfo=UTC))
        return readings[-1]

    with session_scope() as session:
        brand = Brand(name="intents")
        session.add(brand)
        session.flush()
        account = MarketplaceAccount(
            marketplace="wb",
            brand_id=brand.id,
            name="intents",
            credentials_encrypted=encrypt_credentials({"token": "t"}),
        )
        session.add(account)
        session.flush()
        campaign = MarketingCampaign(
            account_id=account.id,
            marketplace="wb",
            brand_id=brand.id,
            external_id="1",
            name="c",
            campaign_type="search",
            status="active",
        )
        session.add(campaign)
        session.flush()
        keywords = [
            MarketingKeyword(campaign_id=campaign.id, external_id=f"k{i}", keyword=f"k{i}", kind="cluster")
            for i in range(50)
        ]
        session.add_all(keywords)
        session.flush()
        run = start_cycle_run(session, "t")
        planned = [
            PlannedBid(
                campaign.id,
                k.id,
                ("1", k.external_id),
                PerMille(100),
                PerMille(200),
                "bid_cycle",
                "fixed",
                "test",
            )
            for k in keywords
        ]
        monkeypatch.setattr(bid_apply, "now_utc", clock)
        intents = record_intents(session, planned, cycle_run_id=run.id, task_id="t")
    assert len(readings) == 1
    assert len(intents) == 50
    assert {i.created_at for i in intents} == {readings[0]}
