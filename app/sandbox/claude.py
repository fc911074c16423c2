"""A fake Anthropic Messages API (issue 11 item 2): `POST /v1/messages` and the Message Batches
API (create, list, retrieve, cancel, results), so that the whole Claude path runs offline over
HTTP with the official SDK (docs/sandbox.md "Fake Claude").

- Auth: the sandbox's key (`GET /_sandbox/accounts` → `claude.api_key`) as `x-api-key` or as
  `Authorization: Bearer` (how SDK 2.x sends it), and an `anthropic-version` header.
- Answers are deterministic, derived from the request: when the last user message is the JSON
  document ADOLF sends (`app/services/ai/advice.py`), the fake advises on its keywords — pause
  the biggest spender without orders, raise the best hand-set bid, lower the worst — in the
  requested JSON; otherwise it answers with no recommendations.
- `POST /_sandbox/settings {"claude_answer": ...}` switches how it answers: `normal`,
  `out_of_range` (bids ×1000 and of 1), `invalid` (JSON not of the schema), `refusal`,
  `truncated` (`stop_reason` max_tokens) or `errored` (messages: 529 overloaded; batches: every
  result `errored`). A batch answers as the setting was when it was created.
- Prompt caching: a system block with `cache_control` is written to the cache on first sight
  (`cache_creation_input_tokens`) and read afterwards (`cache_read_input_tokens`); tokens are
  counted as 4 characters each.
- A batch ends `BATCH_PROCESSING_S` virtual seconds after it was created; its `results_url`
  points back at this app. HTTP faults come from `/_sandbox/faults` (marketplace `claude`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.sandbox.control import control_routes
from app.sandbox.faults import FaultMiddleware, current_fault
from app.sandbox.http import BadJSON, JSONBody, read_json
from app.sandbox.state import Sandbox

BATCH_PROCESSING_S = 120
BATCH_EXPIRY = timedelta(hours=24)
MAX_BATCH_REQUESTS = 100_000
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CHARS_PER_TOKEN = 4


def api_error(status: int, kind: str, message: str, request_id: str = "") -> JSONBody:
    return JSONBody(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id or None},
        status,
    )


class InvalidParams(ValueError):
    pass


def validate_params(params: Any) -> None:
    """The checks the real API makes that ADOLF's requests could fail."""
    if not isinstance(params, dict):
        raise InvalidParams("params must be an object")
    if not isinstance(params.get("model"), str) or not params["model"]:
        raise InvalidParams("model: Field required")
    tokens = params.get("max_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        raise InvalidParams("max_tokens: must be a positive integer")
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidParams("messages: at least one message is required")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise InvalidParams("messages: each message needs role user or assistant")
        if not isinstance(message.get("content"), str | list):
            raise InvalidParams("messages: content must be a string or a list of blocks")
    system = params.get("system")
    if isinstance(system, list):
        for block in system:
            if (
                not isinstance(block, dict)
                or block.get("type") != "text"
                or not isinstance(block.get("text"), str)
            ):
                raise InvalidParams("system: blocks must be {type: text, text: ...}")
            cache = block.get("cache_control")
            if cache is not None and (
                not isinstance(cache, dict)
                or cache.get("type") != "ephemeral"
                or cache.get("ttl", "5m") not in ("5m", "1h")
            ):
                raise InvalidParams("system.cache_control: use {type: ephemeral, ttl: 5m|1h}")
    elif system is not None and not isinstance(system, str):
        raise InvalidParams("system: must be a string or a list of text blocks")
    output = params.get("output_config")
    if output is not None:
        fmt = output.get("format") if isinstance(output, dict) else None
        if (
            not isinstance(fmt, dict)
            or fmt.get("type") != "json_schema"
            or not isinstance(fmt.get("schema"), dict)
        ):
            raise InvalidParams("output_config.format: use {type: json_schema, schema: {...}}")


def _last_user_text(params: dict[str, Any]) -> str:
    content = params["messages"][-1].get("content")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))


def advise(document: Any, mode: str) -> list[dict[str, Any]]:
    """The fake's deterministic advice for ADOLF's campaign document."""
    if not isinstance(document, dict) or not isinstance(document.get("keywords"), list):
        return []
    keywords = [k for k in document["keywords"] if isinstance(k, dict) and isinstance(k.get("id"), int)]
    advice: list[dict[str, Any]] = []
    wasteful = [k for k in keywords if (k.get("spend_rub") or 0) > 0 and not k.get("orders")]
    if wasteful:
        worst = max(wasteful, key=lambda k: (k.get("spend_rub") or 0, -k["id"]))
        advice.append(
            {
                "action": "pause_keyword",
                "keyword_id": worst["id"],
                "proposed_bid": None,
                "reason": f"spent {worst.get('spend_rub')} ₽ without an order",
                "expected_spend_change_rub": -float(worst.get("spend_rub") or 0) / 2,
                "expected_revenue_change_rub": 0.0,
            }
        )
    biddable = [
        k
        for k in keywords
        if k.get("bid_by_hand")
        and isinstance(k.get("bid"), int)
        and k["bid"] > 0
        and (k.get("revenue_rub") or 0) > 0
    ]
    biddable.sort(key=lambda k: ((k.get("spend_rub") or 0) / (k.get("revenue_rub") or 1), k["id"]))
    for keyword, factor, action in ((biddable[:1], 1.2, "raise_bid"), (biddable[-1:], 0.8, "lower_bid")):
        for item in keyword:
            if any(a["keyword_id"] == item["id"] for a in advice):
                continue
            bid = round(item["bid"] * factor)
            direction = "higher" if factor > 1 else "lower"
            if mode == "out_of_range":
                bid = item["bid"] * 1000 if action == "raise_bid" else 1
            advice.append(
                {
                    "action": action,
                    "keyword_id": item["id"],
                    "proposed_bid": bid,
                    "reason": f"DRR of «{item.get('text')}» calls for a {direction} bid",
                    "expected_spend_change_rub": round((item.get("spend_rub") or 0) * (factor - 1) / 2, 2),
                    "expected_revenue_change_rub": round(
                        (item.get("revenue_rub") or 0) * (factor - 1) / 3, 2
                    ),
                }
            )
    return advice


@dataclass
class FakeBatch:
    id: str
    created_at: datetime
    ends_at: datetime
    mode: str
    requests: list[dict[str, Any]]
    canceled_at: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    def ended(self, now: datetime) -> bool:
        return self.canceled_at is not None or now >= self.ends_at


class ClaudeApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.batches: dict[str, FakeBatch] = {}
        self.cache: set[str] = set()

    # ---- answers ---------------------------------------------------------------------------------

    def _usage(self, params: dict[str, Any]) -> dict[str, int]:
        usage = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        system = params.get("system")
        blocks = [{"type": "text", "text": system}] if isinstance(system, str) else (system or [])
        for block in blocks:
            tokens = len(block["text"]) // CHARS_PER_TOKEN
            if block.get("cache_control"):
                key = hashlib.sha256((params["model"] + block["text"]).encode()).hexdigest()
                if key in self.cache:
                    usage["cache_read_input_tokens"] += tokens
                else:
                    self.cache.add(key)
                    usage["cache_creation_input_tokens"] += tokens
            else:
                usage["input_tokens"] += tokens
        usage["input_tokens"] += len(json.dumps(params["messages"], ensure_ascii=False)) // CHARS_PER_TOKEN
        return usage

    def message(self, params: dict[str, Any], mode: str) -> dict[str, Any]:
        try:
            document = json.loads(_last_user_text(params))
        except ValueError:
            document = None
        recommendations = advise(document, mode)
        text = json.dumps({"recommendations": recommendations}, ensure_ascii=False)
        stop_reason = "end_turn"
        if mode == "invalid":
            text = json.dumps({"recommendations": "raise everything"})
        elif mode == "refusal":
            text, stop_reason = "", "refusal"
        elif mode == "truncated":
            text, stop_reason = text[: len(text) // 2], "max_tokens"
        usage = self._usage(params)
        usage["output_tokens"] = max(1, len(text) // CHARS_PER_TOKEN)
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
        return {
            "id": f"msg_{digest}",
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    # ---- routes ----------------------------------------------------------------------------------

    def _auth(self, request: Request) -> JSONBody | None:
        # SDK 2.x sends the key as a bearer token; curl users send x-api-key. Either will do.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.sb.claude_key not in (request.headers.get("x-api-key"), bearer):
            return api_error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return api_error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    async def _body(self, request: Request) -> Any:
        try:
            return await read_json(request)
        except BadJSON as exc:
            raise InvalidParams(exc.detail) from None

    async def create_message(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        try:
            params = await self._body(request)
            validate_params(params)
        except InvalidParams as exc:
            return api_error(400, "invalid_request_error", str(exc), self.sb.request_id())
        mode = self.sb.settings.claude_answer
        if mode == "errored":
            return api_error(529, "overloaded_error", "Overloaded", self.sb.request_id())
        return JSONBody(self.message(params, mode))

    def _batch_json(self, batch: FakeBatch, base_url: str) -> dict[str, Any]:
        now = self.sb.clock.now()
        ended = batch.ended(now)
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if not ended:
            counts["processing"] = len(batch.requests)
        else:
            for item in self._results(batch):
                counts[item["result"]["type"]] += 1
        ended_at = (batch.canceled_at or batch.ends_at) if ended else None
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": batch.created_at.isoformat(),
            "expires_at": (batch.created_at + BATCH_EXPIRY).isoformat(),
            "ended_at": ended_at.isoformat() if ended_at else None,
            "archived_at": None,
            "cancel_initiated_at": batch.canceled_at.isoformat() if batch.canceled_at else None,
            "results_url": f"{base_url}v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def _results(self, batch: FakeBatch) -> list[dict[str, Any]]:
        if batch.results:
            return batch.results
        for item in batch.requests:
            if batch.canceled_at is not None:
                result: dict[str, Any] = {"type": "canceled"}
            elif batch.mode == "errored":
                result = {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {"type": "api_error", "message": "Internal server error"},
                    },
                }
            else:
                try:
                    validate_params(item["params"])
                    result = {"type": "succeeded", "message": self.message(item["params"], batch.mode)}
                except InvalidParams as exc:
                    result = {
                        "type": "errored",
                        "error": {
                            "type": "error",
                            "error": {"type": "invalid_request_error", "message": str(exc)},
                        },
                    }
            batch.results.append({"custom_id": item["custom_id"], "result": result})
        return batch.results

    async def create_batch(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        try:
            body = await self._body(request)
            requests = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_BATCH_REQUESTS:
                raise InvalidParams(f"requests: give 1..{MAX_BATCH_REQUESTS} requests")
            ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
            if not all(isinstance(i, str) and CUSTOM_ID.match(i) for i in ids):
                raise InvalidParams("requests.custom_id: 1-64 characters of a-z, A-Z, 0-9, _ and -")
            if len(set(ids)) != len(ids):
                raise InvalidParams("requests.custom_id: must be unique within the batch")
        except InvalidParams as exc:
            return api_error(400, "invalid_request_error", str(exc), self.sb.request_id())
        now = self.sb.clock.now()
        batch = FakeBatch(
            f"msgbatch_{self.sb.request_id()}",
            now,
            now + timedelta(seconds=BATCH_PROCESSING_S),
            self.sb.settings.claude_answer,
            requests,
        )
        self.batches[batch.id] = batch
        self._record(
            "POST",
            request.url.path,
            {"action": "create_batch", "batch_id": batch.id, "requests": len(requests)},
        )
        return JSONBody(self._batch_json(batch, str(request.base_url)))

    def _record(self, method: str, path: str, effect: dict[str, Any]) -> None:
        self.sb.effects.record(
            at=self.sb.clock.now().isoformat(),
            marketplace="claude",
            account_id=None,
            method=method,
            path=path,
            status=200,
            effect=effect,
            fault=current_fault.get(),
        )

    def _batch(self, request: Request) -> FakeBatch | Response:
        """The batch of the path, or the error to answer (auth first, as the real API)."""
        denied = self._auth(request)
        if denied:
            return denied
        batch = self.batches.get(request.path_params["batch_id"])
        return batch if batch is not None else api_error(404, "not_found_error", "batch not found")

    async def list_batches(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        items = [self._batch_json(b, str(request.base_url)) for b in reversed(self.batches.values())]
        return JSONBody(
            {
                "data": items,
                "has_more": False,
                "first_id": items[0]["id"] if items else None,
                "last_id": items[-1]["id"] if items else None,
            }
        )

    async def retrieve_batch(self, request: Request) -> Response:
        found = self._batch(request)
        if isinstance(found, Response):
            return found
        return JSONBody(self._batch_json(found, str(request.base_url)))

    async def cancel_batch(self, request: Request) -> Response:
        found = self._batch(request)
        if isinstance(found, Response):
            return found
        if not found.ended(self.sb.clock.now()):
            found.canceled_at = self.sb.clock.now()
            self._record("POST", request.url.path, {"action": "cancel_batch", "batch_id": found.id})
        return JSONBody(self._batch_json(found, str(request.base_url)))

    async def batch_results(self, request: Request) -> Response:
        found = self._batch(request)
        if isinstance(found, Response):
            return found
        if not found.ended(self.sb.clock.now()):
            return api_error(400, "invalid_request_error", f"batch {found.id} is still in progress")
        lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in self._results(found))
        return Response(lines.encode(), media_type="application/x-jsonl")


def create_claude_app(sandbox: Sandbox) -> Starlette:
    api = ClaudeApi(sandbox)
    routes = [
        Route("/v1/messages", api.create_message, methods=["POST"]),
        Route("/v1/messages/batches", api.create_batch, methods=["POST"]),
        Route("/v1/messages/batches", api.list_batches, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}", api.retrieve_batch, methods=["GET"]),
        Route("/v1/messages/batches/{batch_id}/cancel", api.cancel_batch, methods=["POST"]),
        Route("/v1/messages/batches/{batch_id}/results", api.batch_results, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return api_error(
            status, "not_found_error", "no such endpoint" if status == 404 else "method not allowed"
        )

    return Starlette(
        routes=[*routes, *control_routes(sandbox)],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[Middleware(FaultMiddleware, injector=sandbox.faults, marketplace="claude")],
    )
