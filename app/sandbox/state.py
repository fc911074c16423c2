"""One sandbox: the world, its market and clock, and the per-marketplace bookkeeping the API apps
share (credentials index, rate limiters, effect log, faults, report jobs).

All four apps of one sandbox serve the same `Sandbox`, on one asyncio event loop (server.py runs
the uvicorn servers together; in-process tests use ASGITransport on the test's loop), so handlers
never run concurrently with each other between awaits and need no locks on the world.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.marketplaces import Marketplace
from app.sandbox.clock import VirtualClock
from app.sandbox.effects import EffectLog
from app.sandbox.faults import FaultInjector, current_fault
from app.sandbox.market import Market
from app.sandbox.ratelimit import BucketRegistry, DailyQuota, ParallelGate, Profile, ResourceWindows
from app.sandbox.world import Account, World, WorldSize, build_world

# Documented propagation delays (issue 3, "bid changes taking effect after the documented delays"):
# WB applies bid changes "once per 30 s, the last change within an interval wins" (reference §1.1);
# YM says "up to several minutes" (putBidsForBusiness description) — the sandbox uses 120 s.
WB_BID_TICK_S = 30
YM_BID_DELAY_S = 120
# WB removes a deleted campaign (status -1) after "3–10 minutes"; the sandbox uses 5.
WB_DELETE_DELAY_S = 300


# How the fake Claude can be told to answer (app/sandbox/claude.py).
CLAUDE_ANSWERS = ("normal", "out_of_range", "invalid", "refusal", "truncated", "errored")


@dataclass(slots=True)
class Settings:
    """Switches of a running sandbox (`GET|POST /_sandbox/settings`)."""

    # WB documents for some categories that "a 4XX answer costs 10 requests"; not stated for
    # Promotion (reference §1.2), so off (1) by default.
    wb_client_error_cost: int = 1
    # How long (real seconds) a YM request holds one of the business's 4 parallel slots: long
    # enough that concurrent calls overlap as they do against the real API.
    ym_service_time_s: float = 0.01
    # How the fake Claude answers (one of CLAUDE_ANSWERS).
    claude_answer: str = "normal"


@dataclass(slots=True)
class OzonToken:
    account_id: int
    expires_at: datetime


@dataclass(slots=True)
class ReportJob:
    """An async report (Ozon statistics, YM boost report) and when each state is reached."""

    id: str
    marketplace: Marketplace
    account_id: int
    created_at: datetime
    started_at: datetime  # NOT_STARTED / PENDING until then
    done_at: datetime  # IN_PROGRESS / PROCESSING until then
    request: dict[str, Any]
    kind: str = "STATS"
    campaign_ids: list[int] = field(default_factory=list)
    failed: bool = False

    def state(self, now: datetime) -> str:
        if now < self.started_at:
            return "NOT_STARTED"
        if now < self.done_at:
            return "IN_PROGRESS"
        return "ERROR" if self.failed else "OK"


class Sandbox:
    """Everything one running sandbox holds; create it with `create_sandbox` (server.py)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        profile: Profile | None = None,
        speed: float = 1.0,
        size: WorldSize | None = None,
        start: datetime | None = None,
        history_days: float = 1.0,
    ) -> None:
        self.seed = seed
        self.profile = profile or Profile.named("official")
        world: World = build_world(seed, size, start)
        self.clock = VirtualClock(world.start, speed)
        self.world = world
        self.market = Market(world, self.clock, history_days)
        self.effects = EffectLog()
        self.settings = Settings()
        self.faults = FaultInjector(seed)
        self.wb_buckets = BucketRegistry()
        self.ym_windows = ResourceWindows()
        self.ym_parallel = ParallelGate()
        self.ozon_daily = DailyQuota()
        self.ozon_tokens: dict[str, OzonToken] = {}
        self.reports: dict[str, ReportJob] = {}
        self._ids = itertools.count(1)
        # The Watcher API key (docs/watcher-api.md); one per sandbox, derived from the seed.
        digest = hashlib.sha256(f"watcher:{seed}".encode()).hexdigest()
        self.watcher_key = f"watcher-{seed:x}-{digest[:12]}"
        # The fake Claude's x-api-key, likewise.
        self.claude_key = "sk-ant-sandbox-" + hashlib.sha256(f"claude:{seed}".encode()).hexdigest()[:24]
        # The fake Telegram bot's token (issue 12), shaped like a real one: "<bot id>:<secret>".
        self.telegram_token = "7000000001:" + hashlib.sha256(f"telegram:{seed}".encode()).hexdigest()[:35]
        # Credential indexes.
        self.wb_tokens: dict[str, tuple[Account, str]] = {}
        self.ozon_clients: dict[str, Account] = {}
        self.ym_keys: dict[str, Account] = {}
        for account in world.accounts.values():
            for token_type, token in account.wb_tokens.items():
                self.wb_tokens[token] = (account, token_type)
            if account.ozon_client_id:
                self.ozon_clients[account.ozon_client_id] = account
            if account.ym_api_key:
                self.ym_keys[account.ym_api_key] = account

    def next_id(self) -> int:
        """A sequence for generated ids (request ids, tokens, reports): deterministic per sandbox."""
        return next(self._ids)

    def request_id(self) -> str:
        return f"{self.seed:08x}{self.next_id():024x}"

    def now(self) -> datetime:
        """Virtual now, with the market simulated up to it."""
        return self.market.sync()

    def record(
        self,
        marketplace: Marketplace,
        account_id: int | None,
        method: str,
        path: str,
        status: int,
        effect: dict[str, Any],
    ) -> None:
        self.effects.record(
            at=self.clock.now().isoformat(),
            marketplace=marketplace.long_name,
            account_id=account_id,
            method=method,
            path=path,
            status=status,
            effect=effect,
            fault=current_fault.get(),
        )

    def accounts_json(self, marketplace: str | None = None) -> list[dict[str, Any]]:
        out = []
        for account in self.world.accounts.values():
            if marketplace and account.marketplace.long_name != marketplace:
                continue
            entry: dict[str, Any] = {
                "id": account.id,
                "marketplace": account.marketplace.long_name,
                "brand_id": account.brand_id,
                "name": account.name,
                "credentials": account.credentials(),
                "campaign_ids": sorted(c.id for c in self.world.campaigns_of(account.id)),
            }
            out.append(entry)
        return out
