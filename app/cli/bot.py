"""`adolf-marketing telegram-bot`: the process that answers the rollback button of alert messages
(app/services/notify/bot.py). `up` starts it when TELEGRAM_BOT_TOKEN is set."""

from __future__ import annotations

import logging
import threading

import typer

from app.cli.errors import UserError
from app.cli.tasks import release_result
from app.core.celery_config import celery_app
from app.core.config import get_settings
from app.services.notify.bot import run_bot
from app.services.notify.errors import ChannelError
from app.services.notify.telegram import TelegramClient

ROLLBACK_TASK = "app.tasks.marketing.bids.rollback_bid_change"


def enqueue_rollback(request_id: int) -> None:
    release_result(celery_app.send_task(ROLLBACK_TASK, args=[request_id]))


def telegram_bot_command() -> None:
    settings = get_settings()
    if settings.TELEGRAM_BOT_TOKEN is None:
        raise UserError("set TELEGRAM_BOT_TOKEN (the bot's token from @BotFather) to run the Telegram bot")
    logging.basicConfig(level=settings.LOG_LEVEL, format="%(levelname)s %(name)s: %(message)s")
    for name in ("httpx", "httpcore"):  # every long poll would be a line (issue 17 item 9)
        logging.getLogger(name).setLevel(logging.WARNING)
    client = TelegramClient(
        settings.TELEGRAM_API_URL, settings.TELEGRAM_BOT_TOKEN.get_secret_value(), settings.NOTIFY_TIMEOUT
    )
    try:
        me = client.call("getMe", {})
    except ChannelError as error:
        raise UserError(f"{error}; check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL") from None
    typer.echo(f"telegram bot @{me.get('username', '?')}: answering rollback buttons (Ctrl-C stops)")
    try:
        run_bot(client, enqueue_rollback, threading.Event())
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
