"""The Telegram Bot API over plain synchronous HTTP (analytics-reports-operations.md §5).

Async bot libraries inside prefork tasks fail with "Event loop is closed" (python-telegram-bot#4023,
aiogram#1492), so the tasks and the bot process use this small client: one `POST
{TELEGRAM_API_URL}/bot<token>/<method>` per call, JSON in and out. The token is part of every URL,
so no URL and no httpx exception text ever leaves this module: errors carry the method, the status
and Telegram's own description only.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from app.services.notify.errors import ChannelError

# Telegram's limit on one message's text.
MAX_TEXT = 4096
_BOT_PATH = re.compile(r"/bot[^/]+/")


class _HideToken(logging.Filter):
    """httpx logs each request's URL (at INFO, shown with LOG_LEVEL=DEBUG): not the token in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _BOT_PATH.sub("/bot<token>/", str(a)) if "/bot" in str(a) else a for a in record.args
            )
        return True


_HIDE_TOKEN = _HideToken()


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str  # 1-64 bytes


class TelegramClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self._url = f"{base_url.rstrip('/')}/bot{token}/"
        self._client = httpx.Client(timeout=timeout)
        logging.getLogger("httpx").addFilter(_HIDE_TOKEN)  # one filter object: adding it again is a no-op

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TelegramClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, payload: dict[str, Any], timeout: float | None = None) -> Any:
        """`result` of a Bot API call, or a ChannelError without secrets."""
        try:
            reply = self._client.post(
                self._url + method,
                json=payload,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            raise ChannelError(f"Telegram {method}: no answer in time") from None
        except httpx.HTTPError as error:
            raise ChannelError(f"Telegram {method}: cannot connect ({type(error).__name__})") from None
        try:
            body = reply.json()
        except ValueError:
            body = {}
        if reply.status_code == 200 and isinstance(body, dict) and body.get("ok"):
            return body.get("result")
        description = str(body.get("description") or "") if isinstance(body, dict) else ""
        message = f"Telegram {method}: HTTP {reply.status_code}" + (f" {description}" if description else "")
        if reply.status_code == 429:
            parameters = body.get("parameters") if isinstance(body, dict) else None
            retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
            raise ChannelError(message, retry_after=float(retry_after) if retry_after else None)
        # 400 (chat not found, bad request), 401 (bad token), 403 (the user blocked the bot) will
        # not get better by sending the same again; 5xx and others may.
        raise ChannelError(message, permanent=reply.status_code in (400, 403, 404))

    def send_message(self, chat_id: str, text: str, buttons: list[Button] | None = None) -> str:
        """Send `text` (plain, no markup to escape); returns Telegram's message_id."""
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text[:MAX_TEXT]}
        if buttons:
            payload["reply_markup"] = {
                "inline_keyboard": [[{"text": b.text, "callback_data": b.callback_data} for b in buttons]]
            }
        result = self.call("sendMessage", payload)
        return str(result["message_id"]) if isinstance(result, dict) and "message_id" in result else ""

    def answer_callback(self, callback_id: str, text: str) -> None:
        self.call("answerCallbackQuery", {"callback_query_id": callback_id, "text": text[:200]})

    def remove_buttons(self, chat_id: str, message_id: str) -> None:
        self.call(
            "editMessageReplyMarkup",
            {"chat_id": chat_id, "message_id": int(message_id), "reply_markup": {"inline_keyboard": []}},
        )

    def get_updates(self, offset: int | None, wait_s: int) -> list[dict[str, Any]]:
        """Long polling: updates after `offset`, waiting up to `wait_s` seconds for one."""
        payload: dict[str, Any] = {"timeout": wait_s, "allowed_updates": ["callback_query", "message"]}
        if offset is not None:
            payload["offset"] = offset
        result = self.call("getUpdates", payload, timeout=wait_s + 10)
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []
