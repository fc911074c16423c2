"""The log of every state-changing call the sandbox received, in order, with its effect.

Reliability tests compare it with the system's bid history (issue 3, "Control and observation"):
a bid applied twice, or a call lost, shows up here. Read it at `GET /_sandbox/effects?since=<seq>`.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Effect:
    seq: int
    at: str  # virtual time, ISO 8601 UTC
    marketplace: str
    account_id: int | None
    method: str
    path: str
    status: int
    effect: dict[str, Any] = field(default_factory=dict)
    fault: str | None = None  # the injected fault the call met, if any (e.g. "apply_then_timeout")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class EffectLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Effect] = []

    def record(
        self,
        *,
        at: str,
        marketplace: str,
        account_id: int | None,
        method: str,
        path: str,
        status: int,
        effect: dict[str, Any],
        fault: str | None = None,
    ) -> Effect:
        with self._lock:
            item = Effect(
                len(self._items) + 1, at, marketplace, account_id, method, path, status, effect, fault
            )
            self._items.append(item)
            return item

    def since(self, seq: int = 0, marketplace: str | None = None) -> list[Effect]:
        with self._lock:
            items = self._items[seq:] if seq >= 0 else list(self._items)
        return [e for e in items if marketplace is None or e.marketplace == marketplace]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return len(self._items)
