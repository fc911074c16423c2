"""Client of ADOLF's Watcher API (docs/watcher-api.md; issue 4 item 4).

Competitor bids per marketplace and keyword/SKU, asked in batches of up to 100 keys and cached
until the Watcher's own `fresh_until`, so one bid cycle asks once per key. When the Watcher has no
data for a key ("no_data" is an answer, not "no competitors") or is down, `CompetitorLookup` falls
back to the marketplace's own signals through the adapter (WB recommended bids, Ozon competitive
bids, YM recommendations), and every value carries its source.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from app.core.clock import machine_now
from app.core.http import async_client
from app.core.marketplaces import Marketplace
from app.services.marketing.adapters.base import AdapterError, Keyword, MarketplaceAdapter
from app.services.marketing.adapters.http import HttpTransport, Pacing, RetryPolicy

logger = logging.getLogger(__name__)

MAX_BATCH = 100


@dataclass(frozen=True)
class AuctionEntry:
    """One bidder in a Watcher answer: its bid in the answer's unit; `sku` when the Watcher names
    the advertised product (ours, for example); `ctr` for a per-click bidder — the click-through rate
    its bid is ranked by (docs/watcher-api.md "Units")."""

    bid: int
    keyword: str | None = None
    sku: str | None = None
    ctr: float | None = None


@dataclass(frozen=True)
class CompetitorBids:
    """The auction for one keyword or SKU, or the marketplace's own signals, or the reason there
    are none. Watcher answers carry `entries` in `unit`; marketplace signals carry `bids`
    (best first) with `positions` (the worst position each reaches, None = not stated) in the
    item's own bid unit (`unit` None)."""

    marketplace: str
    key: str
    bids: tuple[int, ...]
    unit: str | None
    source: str  # watcher | marketplace_recommendation | marketplace_competitive | none
    observed_at: datetime | None
    fresh_until: datetime | None
    reason: str | None = None
    entries: tuple[AuctionEntry, ...] = ()
    positions: tuple[int | None, ...] = ()

    @property
    def has_data(self) -> bool:
        return bool(self.bids)


class WatcherClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        client: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = client or async_client(base_url=base_url, timeout=timeout)
        self._api_key = api_key
        self._transport = HttpTransport(
            "watcher",
            self._http,
            Pacing(limiter=None, account_key="watcher"),
            self._headers,
            retry=retry or RetryPolicy(max_attempts=2, backoff_base=0.2, backoff_max=2.0),
        )
        self._cache: dict[tuple[str, str, str], CompetitorBids] = {}

    async def _headers(self) -> dict[str, str]:
        return {"X-Watcher-Key": self._api_key}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_competitor_bids(
        self,
        marketplace: str,
        keywords: Sequence[str] = (),
        skus: Sequence[str] = (),
        now: datetime | None = None,
    ) -> dict[str, CompetitorBids]:
        """One answer per keyword/SKU (keys of the result); cached answers are not asked again."""
        now = now or machine_now()
        wanted = [("keyword", k) for k in dict.fromkeys(keywords)] + [("sku", s) for s in dict.fromkeys(skus)]
        result: dict[str, CompetitorBids] = {}
        missing: list[tuple[str, str]] = []
        for kind, key in wanted:
            cached = self._cache.get((marketplace, kind, key))
            if cached is not None and cached.fresh_until is not None and cached.fresh_until > now:
                result[key] = cached
            else:
                missing.append((kind, key))
        for start in range(0, len(missing), MAX_BATCH):
            chunk = missing[start : start + MAX_BATCH]
            # Reference: docs/watcher-api.md "POST /v1/bids/batch" (≤100 keys, keywords first).
            body = {
                "marketplace": Marketplace(marketplace).long_name,  # the Watcher's names
                "keywords": [k for kind, k in chunk if kind == "keyword"],
                "skus": [k for kind, k in chunk if kind == "sku"],
            }
            response = await self._transport.request(
                "POST", "/v1/bids/batch", operation="bids batch", json_body=body
            )
            ordered = [c for c in chunk if c[0] == "keyword"] + [c for c in chunk if c[0] == "sku"]
            answers = response.json().get("results", [])
            for (kind, key), answer in zip(ordered, answers, strict=False):
                parsed = parse_answer(marketplace, key, answer)
                self._cache[(marketplace, kind, key)] = parsed
                result[key] = parsed
        return result

    async def ping(self) -> None:
        # Reference: docs/watcher-api.md "GET /v1/health".
        await self._transport.request("GET", "/v1/health", operation="health")


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_answer(marketplace: str, key: str, answer: Any) -> CompetitorBids:
    """One /v1/bids answer → competitor bids; malformed entries are skipped, not trusted."""
    if not isinstance(answer, dict) or answer.get("status") != "ok":
        reason = answer.get("reason") if isinstance(answer, dict) else "malformed answer"
        return CompetitorBids(marketplace, key, (), None, "none", None, None, str(reason or "no data"))
    entries = []
    for competitor in answer.get("competitors") or []:
        entry = _entry(competitor)
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda e: -e.bid)
    return CompetitorBids(
        marketplace,
        key,
        tuple(e.bid for e in entries),
        answer.get("unit"),
        "watcher",
        _moment(answer.get("observed_at")),
        _moment(answer.get("fresh_until")),
        None if entries else "no competitors listed",
        entries=tuple(entries),
    )


def _entry(competitor: Any) -> AuctionEntry | None:
    """One competitor entry, or None when its bid cannot be trusted (never a guessed value)."""
    if not isinstance(competitor, dict):
        return None
    bid = competitor.get("bid")
    if not isinstance(bid, int) or isinstance(bid, bool) or bid < 0:
        return None
    raw_ctr = competitor.get("ctr")
    ctr = float(raw_ctr) if isinstance(raw_ctr, int | float) and not isinstance(raw_ctr, bool) else None
    keyword, sku = competitor.get("keyword"), competitor.get("sku")
    return AuctionEntry(
        bid,
        keyword if isinstance(keyword, str) else None,
        str(sku) if isinstance(sku, str | int) and not isinstance(sku, bool) else None,
        ctr if ctr is not None and 0 < ctr <= 1 else None,
    )


class CompetitorLookup:
    """Watcher first, the marketplace's own signals when the Watcher has nothing (issue 4 item 4)."""

    def __init__(self, watcher: WatcherClient | None) -> None:
        self.watcher = watcher

    async def for_keywords(
        self, marketplace: str, keywords: Sequence[Keyword], adapter: MarketplaceAdapter
    ) -> dict[tuple[str, str], CompetitorBids]:
        found: dict[tuple[str, str], CompetitorBids] = {}
        if self.watcher is not None:
            try:
                answers = await self.watcher.get_competitor_bids(
                    marketplace,
                    keywords=[k.keyword for k in keywords if k.kind in ("cluster", "phrase")],
                    skus=[k.product_id or k.external_id for k in keywords if k.kind in ("sku", "nm")],
                )
            except AdapterError as error:
                logger.warning("Watcher unavailable, using the marketplace's own signals: %s", error)
                answers = {}
            for keyword in keywords:
                lookup = (
                    keyword.keyword
                    if keyword.kind in ("cluster", "phrase")
                    else (keyword.product_id or keyword.external_id)
                )
                answer = answers.get(lookup)
                if answer is not None and answer.has_data:
                    found[(keyword.campaign_external_id, keyword.external_id)] = answer
        missing = [k for k in keywords if (k.campaign_external_id, k.external_id) not in found]
        if missing:
            found.update(await self._from_marketplace(marketplace, missing, adapter))
        return found

    async def _from_marketplace(
        self, marketplace: str, keywords: Sequence[Keyword], adapter: MarketplaceAdapter
    ) -> dict[tuple[str, str], CompetitorBids]:
        result: dict[tuple[str, str], CompetitorBids] = {}
        try:
            recommendations = await adapter.get_recommendations(keywords)
        except AdapterError as error:
            logger.warning("%s recommendations unavailable: %s", marketplace, error)
            recommendations = []
        for rec in recommendations:
            result[(rec.campaign_external_id, rec.keyword_external_id)] = CompetitorBids(
                marketplace,
                rec.keyword_external_id,
                tuple(rec.bids_by_position),
                None,
                rec.source,
                rec.fetched_at,
                None,
                None if rec.bids_by_position else "the marketplace gave no recommendation",
                positions=tuple(p for _, p in rec.levels()),
            )
        for keyword in keywords:
            result.setdefault(
                (keyword.campaign_external_id, keyword.external_id),
                CompetitorBids(
                    marketplace,
                    keyword.external_id,
                    (),
                    None,
                    "none",
                    None,
                    None,
                    "neither the Watcher nor the marketplace has data",
                ),
            )
        return result
