"""The Telegram bot process (issue 12 item 5): it answers the rollback button of alert messages.

`adolf-marketing telegram-bot` runs it; `up` starts it when TELEGRAM_BOT_TOKEN is set. It long-polls
`getUpdates` (no webhook, so nothing listens on a port) and per button press
(analytics-reports-operations.md §5):

1. maps the Telegram user (`callback_query.from.id`) to an ADOLF user by their Telegram channel;
2. checks the permission against their role (rollback.may_roll_back) and that the change can still
   be undone;
3. records the request, unique per bid change — pressed twice, or by two people, it is rolled back
   once — and enqueues `rollback_bid_change` for a new one;
4. answers the press at once (`answerCallbackQuery`) and removes the button
   (`editMessageReplyMarkup`). The task's outcome comes back as a message of its own.

A press delivered twice (the bot restarted before confirming it) finds its request and changes
nothing. `/start` tells a person their Telegram id, for `adolf-marketing users set … --telegram ID`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.core.database import session_scope
from app.models.core import ChannelKind, User, UserChannel
from app.services.marketing.rollback import RollbackError, request_change_rollback
from app.services.notify.delivery import ROLLBACK_PREFIX
from app.services.notify.errors import ChannelError
from app.services.notify.telegram import TelegramClient

logger = logging.getLogger(__name__)

Enqueue = Callable[[int], None]
POLL_WAIT_S = 25
ERROR_PAUSE_S = 5.0


def user_of(telegram_id: str) -> User | None:
    with session_scope() as session:
        channel = session.scalars(
            select(UserChannel).where(
                UserChannel.channel == ChannelKind.TELEGRAM, UserChannel.address == telegram_id
            )
        ).first()
        if channel is None:
            return None
        user = channel.user
        session.expunge(user)
        return user


def handle_press(query: dict[str, Any], enqueue: Enqueue) -> str:
    """The answer to one press of a rollback button (steps 1–3)."""
    data = str(query.get("data") or "")
    telegram_id = str((query.get("from") or {}).get("id", ""))
    if not data.startswith(ROLLBACK_PREFIX) or not data[len(ROLLBACK_PREFIX) :].isdigit():
        return "This button is not one of ADOLF's."
    user = user_of(telegram_id)
    if user is None:
        return f"Your Telegram id {telegram_id} is not an ADOLF user's; ask an administrator to add it."
    chat = str(((query.get("message") or {}).get("chat") or {}).get("id", telegram_id))
    try:
        with session_scope() as session:
            fresh = session.get(User, user.id)
            assert fresh is not None
            outcome = request_change_rollback(session, int(data[len(ROLLBACK_PREFIX) :]), fresh, chat)
    except RollbackError as error:
        return f"Not rolled back: {error}"
    if outcome.created:
        enqueue(outcome.request_id)
        logger.info("rollback request %s by %s queued", outcome.request_id, user.email)
    return outcome.message[:1].upper() + outcome.message[1:]


def handle_update(client: TelegramClient, update: dict[str, Any], enqueue: Enqueue) -> None:
    query = update.get("callback_query")
    if isinstance(query, dict):
        answer = handle_press(query, enqueue)
        try:
            client.answer_callback(str(query.get("id")), answer)
        except ChannelError as error:
            logger.warning("could not answer a button press: %s", error)
        message = query.get("message") or {}
        chat = (message.get("chat") or {}).get("id")
        if chat is not None and message.get("reply_markup") and not answer.startswith("Not "):
            try:
                client.remove_buttons(str(chat), str(message["message_id"]))
            except ChannelError as error:
                logger.warning("could not remove the button: %s", error)
        return
    message = update.get("message")
    if isinstance(message, dict) and str(message.get("text", "")).startswith("/start"):
        sender = (message.get("from") or {}).get("id")
        try:
            client.send_message(
                str((message.get("chat") or {}).get("id", sender)),
                f"Your Telegram id is {sender}. To get ADOLF alerts here, ask an administrator to run:\n"
                f"adolf-marketing users set YOUR-EMAIL --telegram {sender}",
            )
        except ChannelError as error:
            logger.warning("could not answer /start: %s", error)


def run_bot(
    client: TelegramClient, enqueue: Enqueue, stop: threading.Event, wait_s: int = POLL_WAIT_S
) -> None:
    """Poll and answer until `stop` is set. The offset confirms updates to Telegram only after they
    were handled, so a crash re-delivers a press — which its request makes harmless."""
    offset: int | None = None
    while not stop.is_set():
        try:
            updates = client.get_updates(offset, wait_s)
        except ChannelError as error:
            logger.warning("Telegram getUpdates failed (%s); retrying in %.0f s", error, ERROR_PAUSE_S)
            stop.wait(ERROR_PAUSE_S)
            continue
        for update in updates:
            try:
                handle_update(client, update, enqueue)
            except Exception:  # one bad update must not stop the bot
                logger.exception("update %s could not be handled", update.get("update_id"))
            offset = int(update.get("update_id", 0)) + 1
