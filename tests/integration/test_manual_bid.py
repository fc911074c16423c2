"""apply_bid_change: one manual change through the exactly-once path (issue 6 item 4)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.database import session_scope
from app.models.marketing import MarketingBidHistory, MarketingBidIntent, MarketingCampaign, MarketingKeyword
from app.services.marketing.manual_bids import BidChangeError, apply_manual_change
from app.services.marketing.sync import run_sync
from tests.integration.test_bid_cycle import sandbox_bid_values
from tests.support.sandbox_system import SandboxSystem


def manual_cluster() -> MarketingKeyword:
    with session_scope() as session:
        keyword = session.scalars(
            select(MarketingKeyword)
            .join(MarketingCampaign)
            .where(
                MarketingCampaign.campaign_type == "manual",
                MarketingCampaign.payment_type == "cpm",
                MarketingCampaign.status == "active",
                MarketingKeyword.kind == "cluster",
            )
            .order_by(MarketingKeyword.id)
        ).first()
        assert keyword is not None
        return keyword


def test_a_manual_change_is_applied_once_with_history(sandbox_system: SandboxSystem) -> None:
    assert run_sync()["errors"] == 0
    keyword = manual_cluster()
    new_bid = (keyword.current_bid or 20_000) + 1_000
    before = len(sandbox_system.effects())
    result = apply_manual_change(keyword.id, new_bid, "raise by hand")
    assert result["status"] == "applied"
    assert sandbox_bid_values(sandbox_system, before) == {new_bid: 1}
    with session_scope() as session:
        history = session.scalars(select(MarketingBidHistory)).one()
        assert (history.keyword_id, history.new_bid, history.source, history.reason) == (
            keyword.id,
            new_bid,
            "manual",
            "raise by hand",
        )
        assert session.scalars(select(MarketingBidIntent.status)).one() == "applied"
    # Asked again (a retry after the change went through): read first, nothing sent twice.
    sandbox_system.advance(60)  # past WB's 30-s apply tick
    before = len(sandbox_system.effects())
    assert apply_manual_change(keyword.id, new_bid, "raise by hand")["status"] == "unchanged"
    assert sandbox_bid_values(sandbox_system, before) == {}


@pytest.mark.parametrize(
    ("new_bid", "message"),
    [
        (-5, "positive integer"),
        ("100", "positive integer"),
        (600_000, "above the campaign's max_bid"),
        (10**9, "outside Wildberries's range"),
        (60_050, "not a multiple of Wildberries's step 1.00 ₽/1000 показов"),
    ],
)
def test_bad_manual_changes_are_refused_before_any_call(
    sandbox_system: SandboxSystem, new_bid: object, message: str
) -> None:
    run_sync()
    keyword = manual_cluster()
    with session_scope() as session:
        campaign = session.get(MarketingCampaign, keyword.campaign_id)
        assert campaign is not None
        campaign.max_bid = 500_000
    before = len(sandbox_system.effects())
    with pytest.raises(BidChangeError, match=message):
        apply_manual_change(keyword.id, new_bid, "bad")
    assert len(sandbox_system.effects()) == before


def test_unknown_keyword_is_refused(sandbox_system: SandboxSystem) -> None:
    with pytest.raises(BidChangeError, match="no keyword with id 999999"):
        apply_manual_change(999999, 20_000, "x")
