"""Fault injection: per endpoint, for the next N calls or at a rate.

Kinds (issue 3, "Control and observation"; reference §5 "Common"):

- `error`: answer `status` (default 500) without touching the world.
- `timeout`: withhold the reply for `delay_s` seconds without touching the world, then 504 with an
  empty body (a client with a shorter timeout sees a timeout; over real HTTP it may also just
  disconnect).
- `malformed`: apply the call, then send its status with a truncated JSON body.
- `slow`: wait `delay_s` seconds, then handle the call normally.
- `apply_then_timeout`: apply the call (the effect is logged with this fault), then withhold the
  reply as `timeout` does — the case where a client must not resend blindly.
- `report_error`: handle the call normally, but an async report it orders (Ozon statistics, YM
  boost report) ends in state ERROR / FAILED.
"""

from __future__ import annotations

import asyncio
import contextvars
import fnmatch
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["error", "timeout", "malformed", "slow", "apply_then_timeout", "report_error"]
FAULT_KINDS: tuple[str, ...] = ("error", "timeout", "malformed", "slow", "apply_then_timeout", "report_error")

# The fault of the call being handled, so that effect records can say which fault they met.
current_fault: contextvars.ContextVar[str | None] = contextvars.ContextVar("sandbox_fault", default=None)


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message says which field is wrong."""


@dataclass(slots=True)
class FaultRule:
    id: int
    kind: str
    path: str  # exact path or an fnmatch pattern ("/adv/v0/normquery/*")
    method: str = "*"
    marketplace: str = "*"
    status: int = 500
    delay_s: float = 5.0
    remaining: int | None = 1  # calls left; None = until cleared (use with `rate`)
    rate: float | None = None  # probability per matching call

    def matches(self, marketplace: str, method: str, path: str) -> bool:
        return (
            self.marketplace in ("*", marketplace)
            and self.method in ("*", method)
            and (self.path == path or fnmatch.fnmatchcase(path, self.path))
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_rule(data: Any, rule_id: int) -> FaultRule:
    if not isinstance(data, dict):
        raise FaultSpecError("a fault is a JSON object")
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise FaultSpecError("path must be a request path such as /api/advert/v1/bids (fnmatch * allowed)")
    method = str(data.get("method", "*")).upper()
    status = data.get("status", 500 if kind == "error" else 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise FaultSpecError("status must be an HTTP status code")
    delay = data.get("delay_s", 5.0)
    if not isinstance(delay, int | float) or delay < 0 or delay > 600:
        raise FaultSpecError("delay_s must be a number of seconds between 0 and 600")
    count = data.get("count")
    rate = data.get("rate")
    if rate is not None and (not isinstance(rate, int | float) or not 0 < rate <= 1):
        raise FaultSpecError("rate must be a probability in (0, 1]")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise FaultSpecError("count must be a positive integer")
    remaining = count if count is not None else (None if rate is not None else 1)
    return FaultRule(
        id=rule_id,
        kind=kind,
        path=path,
        method=method,
        marketplace=str(data.get("marketplace", "*")),
        status=status,
        delay_s=float(delay),
        remaining=remaining,
        rate=float(rate) if rate is not None else None,
    )


class FaultInjector:
    """The active fault rules of one sandbox; rates draw from a seeded RNG (reproducible)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._rng = random.Random(seed)

    def add(self, data: Any) -> FaultRule:
        with self._lock:
            rule = parse_rule(data, self._next_id)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> int:
        with self._lock:
            n = len(self._rules)
            self._rules.clear()
            return n

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, marketplace: str, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if not rule.matches(marketplace, method, path):
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule
            return None


async def _withhold(receive: Receive, send: Send, delay_s: float) -> None:
    """Keep the client waiting; if it is still there after `delay_s`, answer 504 with no body."""

    async def wait_disconnect() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    try:
        await asyncio.wait_for(wait_disconnect(), timeout=delay_s)
        return
    except TimeoutError:
        pass
    await send({"type": "http.response.start", "status": 504, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


class FaultMiddleware:
    """Applies the fault rules to every marketplace request (never to /_sandbox/*)."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, marketplace: str) -> None:
        self.app = app
        self.injector = injector
        self.marketplace = marketplace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        rule = self.injector.pick(self.marketplace, scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        token = current_fault.set(rule.kind)
        try:
            await self._apply(rule, scope, receive, send)
        finally:
            current_fault.reset(token)

    async def _apply(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        if rule.kind == "error":
            body = b'{"error":"injected fault: internal server error"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": rule.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif rule.kind == "timeout":
            await _withhold(receive, send, rule.delay_s)
        elif rule.kind == "slow":
            await asyncio.sleep(rule.delay_s)
            await self.app(scope, receive, send)
        elif rule.kind == "report_error":
            await self.app(scope, receive, send)
        else:
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)
            if rule.kind == "apply_then_timeout":
                await _withhold(receive, send, rule.delay_s)
                return
            start = next(m for m in captured if m["type"] == "http.response.start")
            body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
            broken = body[: max(1, len(body) // 2)] if len(body) > 1 else b"{"
            headers = [
                (k, v)
                for k, v in start.get("headers", [])
                if k.lower() not in (b"content-length", b"content-type")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(broken)).encode()),
            ]
            await send({"type": "http.response.start", "status": start["status"], "headers": headers})
            await send({"type": "http.response.body", "body": broken})
