"""A fake Telegram Bot API (issue 12 item 5): the methods ADOLF calls, so that alert messages, the
rollback button and the bot process run offline over HTTP (docs/sandbox.md "Fake Telegram").

- `POST /bot<token>/<method>` with a JSON body, answered `{"ok": true, "result": ...}` or
  `{"ok": false, "error_code": ..., "description": ...}` as Telegram does: `getMe`, `sendMessage`
  (any numeric chat id is a chat; `inline_keyboard` buttons with `callback_data` of 1–64 bytes),
  `answerCallbackQuery` (once per query), `editMessageReplyMarkup`, `getUpdates` (long polling with
  `timeout`, `offset` confirming what came before). The token is the sandbox's
  (`GET /_sandbox/accounts` → `telegram.bot_token`); another one is 401.
- Control: `GET /_sandbox/telegram/messages[?chat_id=N]` — what the bot sent, with each message's
  current buttons; `POST /_sandbox/telegram/press {"chat_id", "message_id", "from_id"[, "data"]}` —
  a person presses a button (default: the message's first); `POST /_sandbox/telegram/text
  {"chat_id", "from_id", "text"}` — a person writes to the bot; `GET /_sandbox/telegram/answers` —
  the bot's answers to presses. An outage is a fault rule of marketplace `telegram`
  (`/_sandbox/faults`, e.g. `{"kind": "error", "status": 502, "path": "/bot*", "marketplace":
  "telegram", "rate": 1}`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.sandbox.control import control_routes
from app.sandbox.faults import FaultMiddleware
from app.sandbox.http import BadJSON, JSONBody, is_int, read_json
from app.sandbox.state import Sandbox

BOT_ID = 7000000001
MAX_WAIT_S = 50


def _fail(status: int, description: str) -> JSONBody:
    return JSONBody({"ok": False, "error_code": status, "description": description}, status)


def _ok(result: Any) -> JSONBody:
    return JSONBody({"ok": True, "result": result})


def _chat_id(value: Any) -> int | None:
    if is_int(value):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


class TelegramApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.messages: dict[int, dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._open_queries: set[str] = set()
        self._arrived: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    def _push(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self.updates.append(update)
        self._event().set()
        return update

    async def method(self, request: Request) -> Response:
        if request.path_params["token"] != self.sb.telegram_token:
            return _fail(401, "Unauthorized")
        try:
            body = await read_json(request, required=False) or {}
        except BadJSON as exc:
            return _fail(400, f"Bad Request: {exc.detail}")
        if not isinstance(body, dict):
            return _fail(400, "Bad Request: the body must be a JSON object")
        handler = {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "answerCallbackQuery": self.answer_callback,
            "editMessageReplyMarkup": self.edit_reply_markup,
        }.get(request.path_params["method"])
        if request.path_params["method"] == "getUpdates":
            return await self.get_updates(body)
        if handler is None:
            return _fail(404, "Not Found")
        return handler(body)

    def get_me(self, body: dict[str, Any]) -> Response:
        return _ok({"id": BOT_ID, "is_bot": True, "first_name": "ADOLF", "username": "adolf_sandbox_bot"})

    def send_message(self, body: dict[str, Any]) -> Response:
        chat = _chat_id(body.get("chat_id"))
        if chat is None:
            return _fail(400, "Bad Request: chat not found")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _fail(400, "Bad Request: message is too long")
        markup = body.get("reply_markup")
        problem = _check_markup(markup)
        if problem:
            return _fail(400, f"Bad Request: {problem}")
        message_id = next(self._message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "ADOLF"},
            "date": int(self.sb.now().timestamp()),
            "text": text,
        }
        if markup and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        self.messages[message_id] = message
        return _ok(message)

    def answer_callback(self, body: dict[str, Any]) -> Response:
        query_id = str(body.get("callback_query_id", ""))
        if query_id not in self._open_queries:
            return _fail(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self._open_queries.discard(query_id)
        self.answers.append({"callback_query_id": query_id, "text": body.get("text", "")})
        return _ok(True)

    def edit_reply_markup(self, body: dict[str, Any]) -> Response:
        message = self.messages.get(body.get("message_id"))  # type: ignore[arg-type]
        if message is None or message["chat"]["id"] != _chat_id(body.get("chat_id")):
            return _fail(400, "Bad Request: message to edit not found")
        markup = body.get("reply_markup")
        problem = _check_markup(markup)
        if problem:
            return _fail(400, f"Bad Request: {problem}")
        if markup and markup.get("inline_keyboard"):
            message["reply_markup"] = markup
        elif "reply_markup" in message:
            del message["reply_markup"]
        else:
            return _fail(400, "Bad Request: message is not modified")
        return _ok(message)

    async def get_updates(self, body: dict[str, Any]) -> Response:
        offset, wait = body.get("offset"), body.get("timeout", 0)
        if offset is not None and not is_int(offset):
            return _fail(400, "Bad Request: offset must be an integer")
        if not is_int(wait) or wait < 0:
            return _fail(400, "Bad Request: timeout must be a non-negative integer")
        if is_int(offset):
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + min(wait, MAX_WAIT_S)
        while not self.updates and time.monotonic() < deadline:
            event = self._event()
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        return _ok(self.updates[:100])

    # --- control --------------------------------------------------------------------------------

    async def list_messages(self, request: Request) -> Response:
        chat = _chat_id(request.query_params.get("chat_id"))
        items = [m for m in self.messages.values() if chat is None or m["chat"]["id"] == chat]
        return JSONBody({"messages": items})

    async def list_answers(self, request: Request) -> Response:
        return JSONBody({"answers": self.answers})

    async def press(self, request: Request) -> Response:
        try:
            data = await read_json(request)
        except BadJSON as exc:
            return JSONBody({"error": exc.detail}, 400)
        if not isinstance(data, dict):
            return JSONBody({"error": 'send {"chat_id", "message_id", "from_id"[, "data"]}'}, 400)
        message = self.messages.get(data.get("message_id"))  # type: ignore[arg-type]
        if message is None or message["chat"]["id"] != _chat_id(data.get("chat_id")):
            return JSONBody({"error": "no such message in that chat"}, 404)
        buttons = [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
        callback = data.get("data") or (buttons[0]["callback_data"] if buttons else None)
        if callback is None:
            return JSONBody({"error": "the message has no button to press"}, 409)
        query_id = str(next(self._query_ids))
        self._open_queries.add(query_id)
        sender = _chat_id(data.get("from_id")) or message["chat"]["id"]
        update = self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": {"id": sender, "is_bot": False, "first_name": "Sandbox user"},
                    "message": message,
                    "chat_instance": str(message["chat"]["id"]),
                    "data": callback,
                }
            }
        )
        return JSONBody({"update_id": update["update_id"], "callback_query_id": query_id}, 201)

    async def text(self, request: Request) -> Response:
        try:
            data = await read_json(request)
        except BadJSON as exc:
            return JSONBody({"error": exc.detail}, 400)
        chat = _chat_id(data.get("chat_id")) if isinstance(data, dict) else None
        if chat is None or not isinstance(data.get("text"), str):
            return JSONBody({"error": 'send {"chat_id", "from_id", "text"}'}, 400)
        sender = _chat_id(data.get("from_id")) or chat
        update = self._push(
            {
                "message": {
                    "message_id": next(self._message_ids),
                    "chat": {"id": chat, "type": "private"},
                    "from": {"id": sender, "is_bot": False, "first_name": "Sandbox user"},
                    "date": int(self.sb.now().timestamp()),
                    "text": data["text"],
                }
            }
        )
        return JSONBody({"update_id": update["update_id"]}, 201)


def _check_markup(markup: Any) -> str | None:
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return 'reply_markup must be {"inline_keyboard": [[button, ...], ...]}'
    for button in (b for row in rows for b in row):
        data = button.get("callback_data") if isinstance(button, dict) else None
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            return "a button needs a text"
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
            return "BUTTON_DATA_INVALID"
    return None


def create_telegram_app(sandbox: Sandbox) -> Starlette:
    api = TelegramApi(sandbox)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _fail(404, "Not Found")

    routes = [
        Route("/bot{token}/{method}", api.method, methods=["POST", "GET"]),
        Route("/_sandbox/telegram/messages", api.list_messages, methods=["GET"]),
        Route("/_sandbox/telegram/answers", api.list_answers, methods=["GET"]),
        Route("/_sandbox/telegram/press", api.press, methods=["POST"]),
        Route("/_sandbox/telegram/text", api.text, methods=["POST"]),
    ]
    return Starlette(
        routes=[*routes, *control_routes(sandbox)],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[Middleware(FaultMiddleware, injector=sandbox.faults, marketplace="telegram")],
    )
