"""The one protocol every marketplace adapter implements, its domain types and its errors
(DESIGN.md §3 "Adapters"; issue 4 item 1).

Money is integer kopecks here; each adapter converts at its boundary and nowhere else. Batch
methods take many items and return one result per item. Error messages name the marketplace, the
operation and the marketplace's own message — never a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

# --- Errors ------------------------------------------------------------------------------------


class AdapterError(Exception):
    """A marketplace call failed; `str()` is one line that says what and why.

    `args` are the constructor's own arguments, so the error keeps its type across processes:
    pickled from a pool child to the worker (the dead letter) and rebuilt from the JSON result
    (`adolf-marketing run`) — Celery recreates an exception as `type(*args)` (issue 17 item 11).
    """

    retryable = False

    def __init__(self, marketplace: str, operation: str, message: str, status: int | None = None) -> None:
        self.marketplace = marketplace
        self.operation = operation
        self.status = status
        self.detail = message
        super().__init__(marketplace, operation, message, status)

    def __str__(self) -> str:
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{self.marketplace} {self.operation}{code}: {self.detail}"


class AuthError(AdapterError):
    """The marketplace rejected the credentials (401/403): fix the account's token."""


class PermanentError(AdapterError):
    """The marketplace refused the request (4xx): retrying the same request will not help."""


class TransientError(AdapterError):
    """Timeout, connection error, 5xx or malformed reply that persisted through the retries."""

    retryable = True


class RateLimitedError(TransientError):
    """Still rate-limited (429/420) after the retries; `retry_after` seconds is the server's hint."""

    def __init__(
        self, marketplace: str, operation: str, message: str, status: int | None, retry_after: float
    ):
        super().__init__(marketplace, operation, message, status)
        self.retry_after = retry_after
        self.args = (marketplace, operation, message, status, retry_after)


# --- Domain types ------------------------------------------------------------------------------

# One internal set of statuses and campaign types, mapped from each marketplace's own (issue 5).
CampaignStatus = str  # active | paused | stopped | archived | draft | unknown
KeywordStatus = str  # active | paused | excluded | removed


@dataclass(frozen=True)
class Campaign:
    external_id: str
    name: str
    campaign_type: str
    status: CampaignStatus
    marketplace_status: str
    payment_type: str | None = None
    daily_budget: int | None = None  # kopecks
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Keyword:
    """A biddable item: a WB search cluster (per nm), an Ozon SKU, a YM SKU."""

    campaign_external_id: str
    external_id: str
    keyword: str
    kind: str  # cluster | phrase | nm | sku
    product_id: str | None
    current_bid: int | None  # kopecks
    status: KeywordStatus = "active"


@dataclass(frozen=True)
class StatsSnapshot:
    """Counters accumulated since the start of the Moscow day (DESIGN.md "Stats semantics")."""

    campaign_external_id: str
    keyword_external_id: str | None
    stat_date: date
    views: int
    clicks: int
    add_to_cart: int
    orders: int
    spent: int  # kopecks
    revenue: int  # kopecks
    avg_position: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class BidChange:
    """An absolute command: set this item's bid to `new_bid` kopecks (never relative)."""

    campaign_external_id: str
    keyword_external_id: str
    new_bid: int
    product_id: str | None = None
    keyword: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.campaign_external_id, self.keyword_external_id)


@dataclass(frozen=True)
class ItemResult:
    """One item's outcome. `sent` is False when the adapter refused the item itself, before any
    call (a value the marketplace's rules cannot take): the marketplace never saw it."""

    key: tuple[str, str]
    ok: bool
    error: str | None = None
    sent: bool = True


@dataclass(frozen=True)
class Recommendation:
    """The marketplace's own signal for a bid (fallback when Watcher has no data), in the item's
    own bid unit. `bids_by_position` is best first; `positions[i]` is the worst auction position
    `bids_by_position[i]` is meant to reach (WB cpc `range3To10` → 10), None where the
    marketplace states none (a "competitive" bid); empty = None for every bid."""

    campaign_external_id: str
    keyword_external_id: str
    bids_by_position: tuple[int, ...]
    min_bid: int | None
    source: str  # marketplace_recommendation | marketplace_competitive | marketplace_min_bid
    fetched_at: datetime
    positions: tuple[int | None, ...] = ()

    def __post_init__(self) -> None:
        if self.positions and len(self.positions) != len(self.bids_by_position):
            raise ValueError("positions must have one entry per recommended bid")

    def levels(self) -> list[tuple[int, int | None]]:
        """(bid, position or None), best first."""
        positions = self.positions or (None,) * len(self.bids_by_position)
        return list(zip(self.bids_by_position, positions, strict=True))


@runtime_checkable
class MarketplaceAdapter(Protocol):
    """What the tasks need from a marketplace; every method is batched where the API allows."""

    marketplace: str

    async def ping(self) -> None: ...

    async def list_campaigns(self) -> list[Campaign]: ...

    async def get_keywords(self, campaign_ids: Sequence[str]) -> list[Keyword]: ...

    async def get_campaign_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]: ...

    async def get_keyword_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]: ...

    async def get_current_bids(self, keywords: Sequence[Keyword]) -> dict[tuple[str, str], int]: ...

    async def set_bids(self, changes: Sequence[BidChange]) -> list[ItemResult]: ...

    async def pause_campaign(self, campaign_id: str) -> None: ...

    async def resume_campaign(self, campaign_id: str) -> None: ...

    async def pause_keyword(self, keyword: Keyword) -> None: ...

    async def pause_keywords(self, keywords: Sequence[Keyword]) -> list[ItemResult]:
        """Pause many items in as few calls as the API allows; one result per item."""
        ...

    async def resume_keywords(self, items: Sequence[BidChange]) -> list[ItemResult]:
        """Undo `pause_keywords`: put each item back, with `new_bid` — the bid it had before the
        pause, where the marketplace needs one (adapters/rules.py PauseMode); one result per item."""
        ...

    async def get_recommendations(self, keywords: Sequence[Keyword]) -> list[Recommendation]: ...

    async def get_min_bids(self, keywords: Sequence[Keyword]) -> dict[tuple[str, str], int]:
        """The marketplace's minimum bid per item (its bid unit); items it gives none for are absent."""
        ...

    async def get_budget(self, campaign_id: str) -> int | None: ...

    async def get_balance(self) -> int | None: ...

    async def aclose(self) -> None: ...
