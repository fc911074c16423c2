"""Alerts that reach people (issue 12 item 5, "Done when"): with the sandbox's fake Bot API over
HTTP and a local SMTP server, a warning reaches the brand's manager and the seniors (spec 7.3.7) —
and nobody else; the rollback button restores the bid once when pressed twice; a Bot API outage
delays delivery without losing the alert; info alerts come as one digest."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from app.core.config import reset_settings_cache
from app.core.database import session_scope
from app.models.core import Brand, DeliveryStatus, Notification, NotificationDelivery, User, UserChannel
from app.models.marketing import (
    MarketingAlert,
    MarketingBidHistory,
    MarketingCampaign,
    MarketingKeyword,
    MarketingRollbackRequest,
)
from app.sandbox.server import free_port
from app.services.marketing.alerts import AlertRequest, create_alert
from app.services.marketing.manual_bids import BidChangeBusy, apply_manual_change
from app.services.marketing.rollback import carry_out_request
from app.services.marketing.sync import run_sync
from app.services.notify.bot import handle_update
from app.services.notify.delivery import build_digests, deliver_due
from app.services.notify.telegram import TelegramClient
from tests.integration.test_bid_cycle import sandbox_bid_values
from tests.integration.test_manual_bid import manual_cluster
from tests.support.sandbox_system import SandboxSystem

MANAGER, OTHER_MANAGER, SENIOR, INACTIVE_DIRECTOR = "1001", "1002", "1003", "1004"


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(BytesParser().parsebytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none"}.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield inbox
    controller.stop()


@dataclass
class World:
    system: SandboxSystem
    keyword: MarketingKeyword
    old_bid: int
    new_bid: int
    history_id: int

    @property
    def telegram(self) -> str:
        return self.system.server.url("telegram")

    def chats(self) -> dict[str, list[dict[str, Any]]]:
        messages = httpx.get(self.telegram + "/_sandbox/telegram/messages", timeout=10).json()["messages"]
        by_chat: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            by_chat.setdefault(str(message["chat"]["id"]), []).append(message)
        return by_chat

    def press(self, chat: str, message_id: int, from_id: str | None = None) -> None:
        body = {"chat_id": chat, "message_id": message_id, "from_id": from_id or chat}
        httpx.post(self.telegram + "/_sandbox/telegram/press", json=body, timeout=10).raise_for_status()


def user(session: Any, email: str, role: str, brand_id: int | None, telegram: str, **kw: Any) -> None:
    row = User(email=email, full_name=email, role=role, brand_id=brand_id, **kw)
    row.channels.append(UserChannel(channel="telegram", address=telegram, min_severity="warning"))
    session.add(row)


@pytest.fixture
def world(sandbox_system: SandboxSystem, smtp: Inbox) -> World:
    assert run_sync()["errors"] == 0
    keyword = manual_cluster()
    old_bid = keyword.current_bid or 20_000
    new_bid = old_bid + 1_000
    assert apply_manual_change(keyword.id, new_bid, "raise by hand")["status"] == "applied"
    with session_scope() as session:
        campaign = session.get(MarketingCampaign, keyword.campaign_id)
        assert campaign is not None
        other = Brand(name="Another brand")
        session.add(other)
        session.flush()
        user(session, "anna@shop.example", "manager", campaign.brand_id, MANAGER)
        user(session, "boris@other.example", "manager", other.id, OTHER_MANAGER)
        user(session, "sofia@shop.example", "senior", None, SENIOR)
        user(session, "dmitry@shop.example", "director", None, INACTIVE_DIRECTOR, is_active=False)
        session.flush()
        senior = session.scalars(select(User).where(User.email == "sofia@shop.example")).one()
        senior.channels.append(UserChannel(channel="email", address=senior.email, min_severity="warning"))
        history_id = session.scalars(select(MarketingBidHistory.id)).one()
    return World(sandbox_system, keyword, old_bid, new_bid, history_id)


def raise_alert(world: World, severity: str = "warning", title: str = "Bid capped") -> int:
    with session_scope() as session:
        return create_alert(
            session,
            AlertRequest(
                "bid_exceeds_max",
                severity,
                title,
                "the strategy wanted more than max_bid",
                campaign_id=world.keyword.campaign_id,
                keyword_id=world.keyword.id,
                dedup=False,
            ),
        ).alert_id


def test_a_warning_reaches_the_brand_manager_and_the_seniors_only(world: World, smtp: Inbox) -> None:
    raise_alert(world)
    assert deliver_due() == {"sent": 3, "retrying": 0, "failed": 0}
    chats = world.chats()
    assert set(chats) == {MANAGER, SENIOR}
    message = chats[MANAGER][0]
    assert "Bid capped" in message["text"] and "→" in message["text"]
    button = message["reply_markup"]["inline_keyboard"][0][0]
    assert button["callback_data"] == f"rb:{world.history_id}"
    assert "Roll back to" in button["text"]
    assert [m["To"] for m in smtp.messages] == ["sofia@shop.example"]
    assert smtp.messages[0]["Subject"] == "[ADOLF warning] Bid capped"
    # Nothing is sent twice.
    assert deliver_due() == {"sent": 0, "retrying": 0, "failed": 0}


def test_the_rollback_button_pressed_twice_restores_the_bid_once(world: World) -> None:
    raise_alert(world)
    deliver_due()
    chats = world.chats()
    manager_message = chats[MANAGER][0]["message_id"]
    world.press(MANAGER, manager_message, from_id=OTHER_MANAGER)  # another brand's manager: refused
    world.press(MANAGER, manager_message)
    world.press(MANAGER, manager_message)
    world.press(SENIOR, chats[SENIOR][0]["message_id"])  # a second person, the same change
    token = world.system.world.sandbox.telegram_token
    enqueued: list[int] = []
    with TelegramClient(world.telegram, token) as client:
        for update in client.get_updates(None, 0):
            handle_update(client, update, enqueued.append)
    answers = [
        a["text"]
        for a in httpx.get(world.telegram + "/_sandbox/telegram/answers", timeout=10).json()["answers"]
    ]
    assert answers[0].startswith("Not rolled back: not allowed: a manager rolls back only their own brand's")
    assert answers[1].startswith("Rolling back")
    assert answers[2].startswith("Already asked by anna@shop.example")
    assert answers[3].startswith("Already asked by anna@shop.example")
    assert len(enqueued) == 1
    assert "reply_markup" not in world.chats()[MANAGER][0]  # the button is gone
    # Pressed before WB's 30-second tick showed the change: it waits for it (the task retries).
    with pytest.raises(BidChangeBusy, match="on its way"):
        carry_out_request(enqueued[0], task_id="t0")
    world.system.advance(60)
    before = len(world.system.effects())
    first = carry_out_request(enqueued[0], task_id="t1")
    again = carry_out_request(enqueued[0], task_id="t2")  # a redelivered task
    assert first["status"] == "applied" and again["status"] == "applied"
    assert sandbox_bid_values(world.system, before) == {world.old_bid: 1}
    with session_scope() as session:
        keyword = session.get(MarketingKeyword, world.keyword.id)
        assert keyword is not None and keyword.current_bid == world.old_bid
        assert keyword.held_until is not None  # held like a manual change
        sources = list(session.scalars(select(MarketingBidHistory.source).order_by(MarketingBidHistory.id)))
        assert sources == ["manual", "rollback"]
        assert session.scalar(select(func.count()).select_from(MarketingRollbackRequest)) == 1
    deliver_due()
    reply = world.chats()[MANAGER][-1]["text"]
    assert "rolled back to" in reply


def test_a_bot_api_outage_delays_delivery_without_losing_the_alert(world: World) -> None:
    faults = world.telegram + "/_sandbox/faults"
    httpx.post(
        faults,
        json={"kind": "error", "status": 502, "path": "/bot*", "marketplace": "telegram", "rate": 1},
        timeout=10,
    ).raise_for_status()
    alert_id = raise_alert(world, "critical", "Pause it by hand")
    assert deliver_due() == {"sent": 1, "retrying": 2, "failed": 0}  # the email went, Telegram did not
    with session_scope() as session:
        assert session.get(MarketingAlert, alert_id) is not None
        waiting = session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.channel == "telegram")
        ).all()
        assert {d.status for d in waiting} == {"pending"} and all(d.attempts == 1 for d in waiting)
        assert all("HTTP 502" in (d.last_error or "") for d in waiting)
        assert world.system.world.sandbox.telegram_token not in (waiting[0].last_error or "")
    assert deliver_due() == {"sent": 0, "retrying": 0, "failed": 0}  # not due before the retry delay
    httpx.delete(faults, timeout=10)
    world.system.advance(61)
    assert deliver_due() == {"sent": 2, "retrying": 0, "failed": 0}
    assert {
        chat
        for chat, messages in world.chats().items()
        if any("Pause it by hand" in m["text"] for m in messages)
    } == {
        MANAGER,
        SENIOR,
    }


def test_info_alerts_wait_for_one_daily_digest(world: World) -> None:
    with session_scope() as session:
        session.execute(UserChannel.__table__.update().values(min_severity="info"))
    for title in ("Recommendation ready", "Budget resumed"):
        raise_alert(world, "info", title)
    assert deliver_due()["sent"] == 0
    with session_scope() as session:
        statuses = set(session.scalars(select(NotificationDelivery.status)))
        assert statuses == {DeliveryStatus.DIGEST}
    # Info alerts go to the brand's manager only (spec 7.3.7): one digest on their Telegram.
    assert build_digests() == {"digests": 1, "alerts": 2}
    assert deliver_due() == {"sent": 1, "retrying": 0, "failed": 0}
    digest = world.chats()[MANAGER][0]["text"]
    assert (
        "daily digest: 2 info alerts" in digest
        and "Recommendation ready" in digest
        and "Budget resumed" in digest
    )
    with session_scope() as session:
        digests = (
            select(func.count())
            .select_from(Notification)
            .where(Notification.event_type == "marketing.digest")
        )
        assert session.scalar(digests) == 1
    assert build_digests() == {"digests": 0, "alerts": 0}


@pytest.mark.worker
def test_the_bot_process_and_a_worker_roll_back_once_and_tell_the_user(
    world: World, worker_factory: Any
) -> None:
    """What `up` runs: `adolf-marketing telegram-bot` answers the presses, a worker applies the
    rollback and the message saying so goes out right after its commit (no beat here)."""
    raise_alert(world)
    deliver_due()
    world.system.advance(60)  # past WB's apply tick: the marketplace shows the change to undo
    message = world.chats()[MANAGER][0]["message_id"]
    world.press(MANAGER, message)
    world.press(MANAGER, message)
    worker_factory(queues="marketing_high", extra_env=world.system.env())
    before = len(world.system.effects())
    bot = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "telegram-bot"],
        env={**os.environ, **world.system.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        replies: list[str] = []
        while time.monotonic() < deadline and not replies:
            replies = [m["text"] for m in world.chats()[MANAGER] if "rolled back to" in m["text"]]
            time.sleep(0.5)
    finally:
        bot.terminate()
        output, _ = bot.communicate(timeout=30)
    assert replies, output
    assert "answering rollback buttons" in output and world.system.world.sandbox.telegram_token not in output
    assert sandbox_bid_values(world.system, before) == {world.old_bid: 1}
    answers = [
        a["text"]
        for a in httpx.get(world.telegram + "/_sandbox/telegram/answers", timeout=10).json()["answers"]
    ]
    assert [a.split(" ")[0] for a in answers] == ["Rolling", "Already"]
    with session_scope() as session:
        request = session.scalars(select(MarketingRollbackRequest)).one()
        assert request.status == "applied" and request.requested_by == "anna@shop.example"
