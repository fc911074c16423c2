"""Alert recipients by role and severity (spec 7.3.7) and system alerts without a campaign."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.secrets import encrypt_credentials
from app.models.core import Brand, Notification, User
from app.models.marketing import MarketingAlert, MarketingCampaign, MarketplaceAccount
from app.services.marketing.alerts import AlertError, AlertRequest, create_alert


@pytest.fixture
def world(db_session: Session) -> dict[str, int]:
    brand, other = Brand(name="Brand A"), Brand(name="Brand B")
    db_session.add_all([brand, other])
    db_session.flush()
    users = {
        "manager": User(email="m@a", full_name="M", role="manager", brand_id=brand.id),
        "other_manager": User(email="m@b", full_name="M2", role="manager", brand_id=other.id),
        "inactive_manager": User(
            email="x@a", full_name="X", role="manager", brand_id=brand.id, is_active=False
        ),
        "senior": User(email="s@x", full_name="S", role="senior"),
        "director": User(email="d@x", full_name="D", role="director"),
        "admin": User(email="a@x", full_name="A", role="administrator"),
    }
    db_session.add_all(users.values())
    account = MarketplaceAccount(
        marketplace="wb",
        brand_id=brand.id,
        name="wb-main",
        credentials_encrypted=encrypt_credentials({"token": "t"}),
    )
    db_session.add(account)
    db_session.flush()
    campaign = MarketingCampaign(
        account_id=account.id,
        marketplace="wb",
        brand_id=brand.id,
        external_id="1001",
        name="Summer",
        campaign_type="search",
        status="active",
    )
    db_session.add(campaign)
    db_session.flush()
    ids = {name: user.id for name, user in users.items()}
    ids["campaign"] = campaign.id
    return ids


def recipients_of(session: Session, alert_id: int) -> set[int]:
    return set(session.scalars(select(Notification.user_id).where(Notification.source_id == str(alert_id))))


def test_info_alert_reaches_only_the_brand_managers(db_session: Session, world: dict[str, int]) -> None:
    result = create_alert(
        db_session,
        AlertRequest("budget_warning", "info", "Budget 80%", "spent 80%", campaign_id=world["campaign"]),
    )
    assert recipients_of(db_session, result.alert_id) == {world["manager"]}
    assert result.recipients == 1


@pytest.mark.parametrize("severity", ["warning", "critical"])
def test_warning_and_critical_also_reach_seniors_directors_admins(
    db_session: Session, world: dict[str, int], severity: str
) -> None:
    result = create_alert(
        db_session,
        AlertRequest("budget_exceeded", severity, "Paused", "limit hit", campaign_id=world["campaign"]),
    )
    assert recipients_of(db_session, result.alert_id) == {
        world["manager"],
        world["senior"],
        world["director"],
        world["admin"],
    }


def test_notification_carries_campaign_and_alert(db_session: Session, world: dict[str, int]) -> None:
    result = create_alert(
        db_session,
        AlertRequest("budget_exceeded", "warning", "Paused", "limit", campaign_id=world["campaign"]),
    )
    notification = db_session.scalars(
        select(Notification).where(Notification.user_id == world["manager"])
    ).one()
    assert notification.event_type == "marketing.budget_exceeded"
    assert notification.level == "warning"
    assert notification.data == {
        "campaign_id": world["campaign"],
        "campaign_name": "Summer",
        "marketplace": "wb",
        "alert_id": result.alert_id,
    }
    alert = db_session.get(MarketingAlert, result.alert_id)
    assert alert is not None and alert.brand_id is not None and alert.notification_id is not None


def test_system_alert_without_campaign_works(db_session: Session, world: dict[str, int]) -> None:
    info = create_alert(db_session, AlertRequest("system_notice", "info", "Notice", "text"))
    assert recipients_of(db_session, info.alert_id) == {world["admin"]}
    critical = create_alert(db_session, AlertRequest("system_error", "critical", "Failed", "text"))
    assert recipients_of(db_session, critical.alert_id) == {
        world["senior"],
        world["director"],
        world["admin"],
    }
    alert = db_session.get(MarketingAlert, critical.alert_id)
    assert alert is not None and alert.campaign_id is None


def test_alert_for_a_missing_campaign_is_kept_as_system_alert(
    db_session: Session, world: dict[str, int]
) -> None:
    result = create_alert(
        db_session, AlertRequest("budget_exceeded", "warning", "Paused", "x", campaign_id=999999)
    )
    alert = db_session.get(MarketingAlert, result.alert_id)
    assert alert is not None and alert.campaign_id is None
    assert alert.details["missing_campaign_id"] == 999999


def test_unknown_severity_is_refused(db_session: Session) -> None:
    with pytest.raises(AlertError, match="unknown alert severity 'urgent'"):
        create_alert(db_session, AlertRequest("x", "urgent", "t", "m"))


class TestDeduplication:
    """Issue 9 finding 10: alerts repeated every cycle, each to every senior, director and admin."""

    def cap(self, world: dict[str, int], **fields: object) -> AlertRequest:
        base: dict[str, object] = {
            "alert_type": "bid_exceeds_max",
            "severity": "warning",
            "title": "Bid capped",
            "message": "capped",
            "campaign_id": world["campaign"],
            "level": 30_000,
        }
        return AlertRequest(**{**base, **fields})  # type: ignore[arg-type]

    def test_the_same_alert_the_same_day_is_counted_not_sent(
        self, db_session: Session, world: dict[str, int]
    ) -> None:
        first = create_alert(db_session, self.cap(world))
        again = create_alert(db_session, self.cap(world))
        assert not first.repeated and again.repeated and again.alert_id == first.alert_id
        assert again.recipients == 0
        rows = db_session.scalars(select(MarketingAlert)).all()
        assert len(rows) == 1 and rows[0].repeats == 1
        assert (
            len(recipients_of(db_session, first.alert_id)) == 4
        )  # sent once: manager, senior, director, admin

    def test_a_worse_level_a_new_situation_or_a_higher_severity_is_news(
        self, db_session: Session, world: dict[str, int]
    ) -> None:
        create_alert(db_session, self.cap(world))
        assert create_alert(db_session, self.cap(world, level=32_000)).repeated  # +6.7 %: not news
        assert not create_alert(db_session, self.cap(world, level=40_000)).repeated  # +33 %: worse
        assert not create_alert(db_session, self.cap(world, situation="max_bid 25000")).repeated
        assert not create_alert(db_session, self.cap(world, severity="critical")).repeated
        assert len(db_session.scalars(select(MarketingAlert)).all()) == 4

    def test_another_day_or_another_keyword_is_a_new_alert(
        self, db_session: Session, world: dict[str, int]
    ) -> None:
        first = create_alert(db_session, self.cap(world))
        row = db_session.get(MarketingAlert, first.alert_id)
        assert row is not None and row.alert_date is not None
        row.alert_date = (
            row.alert_date.replace(day=1) if row.alert_date.day != 1 else row.alert_date.replace(day=2)
        )
        db_session.flush()
        assert not create_alert(db_session, self.cap(world)).repeated

    def test_system_alerts_are_not_deduplicated_unless_asked(
        self, db_session: Session, world: dict[str, int]
    ) -> None:
        dead = AlertRequest("task_failed", "critical", "Task failed", "x")
        assert not create_alert(db_session, dead).repeated
        assert not create_alert(db_session, dead).repeated
        errors = AlertRequest("bid_cycle_errors", "warning", "errors", "x", dedup=True, level=2)
        assert not create_alert(db_session, errors).repeated
        assert create_alert(db_session, errors).repeated


def test_alerts_in_one_batch_are_each_created_once_and_deduplicated_in_order(
    db_session: Session, world: dict[str, int]
) -> None:
    """create_alerts (the bid cycle's batch, issue 16 item 1) keeps create_alert's rules: the second
    identical request of the same day is a repeat, a different campaign-less one is its own alert."""
    from app.services.marketing.alerts import create_alerts

    same = AlertRequest(
        "bids_refused", "warning", "2 bids refused", "e.g. k: low", campaign_id=world["campaign"]
    )
    system = AlertRequest("bid_cycle_errors", "warning", "errors", "see runs", dedup=True)
    first, second, third = create_alerts(db_session, [same, same, system])
    assert not first.repeated and second.repeated and second.alert_id == first.alert_id
    assert not third.repeated and third.alert_id != first.alert_id
    assert recipients_of(db_session, first.alert_id) == {
        world["manager"],
        world["senior"],
        world["director"],
        world["admin"],
    }
    assert db_session.get(MarketingAlert, first.alert_id).repeats == 1  # type: ignore[union-attr]
