"""The rules of the channels outbox (issue 12 item 5): which channel carries which severity, how a
failure is retried or given up, what a Telegram message and its rollback button say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.config import Settings
from app.models.core import Notification, NotificationDelivery, UserChannel
from app.services.notify.delivery import _record_failure, render, retry_delay, route
from app.services.notify.errors import ChannelError

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SETTINGS = Settings(NOTIFY_RETRY_BASE=30, NOTIFY_RETRY_MAX=1800, NOTIFY_GIVE_UP_AFTER=86400)


def channel(kind: str, level: str) -> UserChannel:
    return UserChannel(channel=kind, address="x", min_severity=level)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("info", [("telegram", "digest")]),
        ("warning", [("telegram", "pending")]),
        ("critical", [("telegram", "pending"), ("email", "pending")]),
    ],
)
def test_each_channel_carries_alerts_from_its_severity_on_and_info_in_the_digest(
    severity: str, expected: list[tuple[str, str]]
) -> None:
    channels = [channel("telegram", "info"), channel("email", "critical")]
    routed = route(channels, severity, {"telegram", "email"})
    assert [(c.channel, status) for c, status in routed] == expected


def test_a_channel_this_installation_has_not_configured_carries_nothing() -> None:
    assert route([channel("email", "info")], "critical", {"telegram"}) == []


def test_retries_double_up_to_the_cap_and_respect_retry_after() -> None:
    assert [retry_delay(SETTINGS, n, None) for n in (1, 2, 3, 10)] == [30, 60, 120, 1800]
    assert retry_delay(SETTINGS, 1, 90.0) == 90.0


def delivery(age: timedelta) -> NotificationDelivery:
    return NotificationDelivery(status="pending", attempts=0, created_at=NOW - age)


def test_a_transient_failure_is_retried_a_permanent_one_or_an_old_one_given_up() -> None:
    fresh = delivery(timedelta(minutes=1))
    assert _record_failure(fresh, ChannelError("Telegram sendMessage: HTTP 502"), NOW, SETTINGS) == "retrying"
    assert (fresh.status, fresh.attempts, fresh.next_attempt_at) == (
        "pending",
        1,
        NOW + timedelta(seconds=30),
    )
    blocked = delivery(timedelta(minutes=1))
    refusal = ChannelError(
        "Telegram sendMessage: HTTP 403 Forbidden: bot was blocked by the user", permanent=True
    )
    assert _record_failure(blocked, refusal, NOW, SETTINGS) == "failed"
    assert blocked.status == "failed" and "blocked" in (blocked.last_error or "")
    old = delivery(timedelta(days=2))
    assert (
        _record_failure(old, ChannelError("Telegram sendMessage: no answer in time"), NOW, SETTINGS)
        == "failed"
    )


def test_a_bid_change_alert_carries_a_rollback_button() -> None:
    notification = Notification(
        level="warning",
        title="Bid capped: boots",
        message="capped at the campaign's max bid",
        data={
            "campaign_id": 3,
            "campaign_name": "Shoes",
            "marketplace": "wb",
            "bid_change": {
                "history_id": 41,
                "old": "150.00 ₽/1000 показов",
                "new": "180.00 ₽/1000 показов",
                "by": "manual",
            },
        },
    )
    rendered = render(notification)
    assert rendered.subject == "[ADOLF warning] Bid capped: boots"
    assert rendered.text.splitlines() == [
        "⚠️ Bid capped: boots",
        "capped at the campaign's max bid",
        "Campaign: Shoes (wb, id 3)",
        "Last bid change: 150.00 ₽/1000 показов → 180.00 ₽/1000 показов (manual)",
    ]
    assert [(b.text, b.callback_data) for b in rendered.buttons] == [
        ("↩ Roll back to 150.00 ₽/1000 показов", "rb:41")
    ]
