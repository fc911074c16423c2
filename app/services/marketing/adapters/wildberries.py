"""Wildberries Promotion API adapter (issue 4 items 1–2; DESIGN.md §3 "Adapters").

Only non-deprecated endpoints of specs/wildberries/promotion.json, at their documented maximum
batch sizes; every request goes through the shared `HttpTransport` (Redis-paced per token type,
retried, typed errors). Units are converted in `wildberries_parse` only. Items a reply gets wrong
are rejected one by one with a logged reason; the rest of the batch goes on.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import httpx

from app.core.clock import machine_now
from app.services.marketing.adapters import wildberries_parse as wp
from app.services.marketing.adapters.base import (
    AdapterError,
    AuthError,
    BidChange,
    Campaign,
    ItemResult,
    Keyword,
    PermanentError,
    Recommendation,
    StatsSnapshot,
)
from app.services.marketing.adapters.http import (
    HttpTransport,
    Pacing,
    RetryPolicy,
    default_error_message,
    json_body,
)
from app.services.marketing.adapters.limits import WbTokenType

logger = logging.getLogger(__name__)

MARKETPLACE = "wb"
# Batch maxima, reference: promotion.json (marketplace-apis.md §1.4).
MAX_ADVERT_IDS = 50  # GET /api/advert/v2/adverts `ids`; GET /adv/v3/fullstats `ids`
MAX_NORMQUERY_ITEMS = 100  # normquery list / get-bids / stats / get-minus / bids
MAX_NM_BID_CAMPAIGNS = 50  # PATCH /api/advert/v1/bids `bids`
MAX_NM_BIDS_PER_CAMPAIGN = 50  # PATCH /api/advert/v1/bids `bids[].nm_bids`
MAX_MIN_BID_NMS = 100  # POST /api/advert/v1/bids/min `nm_ids`
# Tokens that may call POST /api/advert/v1/normquery/bids (kopecks); the rest use the v0 method in
# rubles (promotion.json `x-wb-rate-limits` of both: the v1 method lists Personal/Service only).
MINOR_UNIT_CLUSTER_BID_TOKENS = (WbTokenType.PERSONAL, WbTokenType.SERVICE, WbTokenType.TEST)
# min-bid `placement_types` names the recommendations placement in the singular.
MIN_BID_PLACEMENT = {"combined": "combined", "search": "search", "recommendations": "recommendation"}

T = TypeVar("T")
Key = tuple[str, str]

# The batch errors (`errors[{detail, field}]`) of the reply being handled by this task: the shared
# transport hands adapters only the message string of a 4xx, so our error parser keeps the
# structured list here for PATCH /api/advert/v1/bids (see the report: PermanentError could carry
# the parsed body instead).
_batch_errors: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "wb_batch_errors", default=None
)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def reject(what: str, item: Any, error: Exception) -> None:
    """Log one unusable item of a reply (never the whole reply: it may be large)."""
    logger.warning("wb %s: rejected an item: %s (item: %.200r)", what, error, item)


@dataclass
class Advert:
    """One campaign as GET /api/advert/v2/adverts describes it."""

    id: int
    status: int
    bid_type: str
    payment_type: str | None
    name: str
    placements: tuple[str, ...]
    nm_bids: dict[int, dict[str, int]] = field(default_factory=dict)  # nm → placement → kopecks
    raw: dict[str, Any] = field(default_factory=dict)

    def bid_placements(self) -> tuple[str, ...]:
        """The placements whose nm bids this campaign has (PATCH /api/advert/v1/bids `placement`)."""
        if self.bid_type == "unified":
            return (wp.COMBINED,)
        return self.placements or wp.MANUAL_PLACEMENTS

    def nm_bid(self, nm_id: int, placement: str) -> int | None:
        bids = self.nm_bids.get(nm_id, {})
        if placement == wp.COMBINED:
            # Unified campaigns report their one combined bid under both placements.
            return bids.get("search", bids.get("recommendations"))
        return bids.get(placement)


def parse_advert(item: Any) -> Advert:
    advert_id = wp.identifier(wp.field(item, "id"), "id")
    status = wp.field(item, "status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise wp.BadItem(f"status is not an integer: {status!r}")
    settings = wp.field(item, "settings")
    name = wp.field(settings, "name")
    placements_json = settings.get("placements") if isinstance(settings, Mapping) else None
    placements = tuple(
        p for p in wp.MANUAL_PLACEMENTS if isinstance(placements_json, Mapping) and placements_json.get(p)
    )
    payment_type = settings.get("payment_type")
    if payment_type is not None and not isinstance(payment_type, str):
        raise wp.BadItem(f"settings.payment_type is not a string: {payment_type!r:.60}")
    advert = Advert(
        id=advert_id,
        status=status,
        bid_type=str(item.get("bid_type") or ""),
        payment_type=payment_type,
        name=name if isinstance(name, str) else str(advert_id),
        placements=placements,
        raw=dict(item),
    )
    nm_settings = item.get("nm_settings") or []
    if not isinstance(nm_settings, list):
        raise wp.BadItem(f"nm_settings is not a list: {nm_settings!r}")
    for nm_item in nm_settings:
        try:
            nm_id = wp.identifier(wp.field(nm_item, "nm_id"), "nm_id")
            if nm_id in advert.nm_bids:
                raise wp.BadItem(f"nm_id {nm_id} appears twice")
            bids = wp.field(nm_item, "bids_kopecks")
            advert.nm_bids[nm_id] = {
                p: wp.kopecks(bids[p], f"bids_kopecks.{p}")
                for p in wp.MANUAL_PLACEMENTS
                if isinstance(bids, Mapping) and bids.get(p) is not None
            }
        except wp.BadItem as error:
            reject(f"advert {advert_id} nm_settings", nm_item, error)
    return advert


def stats_counters(node: Any, what: str) -> dict[str, int]:
    """The counters of one full-stats node (campaign, day, app or nm); money rubles → kopecks."""
    return {
        "views": wp.counter(wp.field(node, "views"), f"{what}.views"),
        "clicks": wp.counter(wp.field(node, "clicks"), f"{what}.clicks"),
        "add_to_cart": wp.counter(wp.field(node, "atbs"), f"{what}.atbs"),
        "orders": wp.counter(wp.field(node, "orders"), f"{what}.orders"),
        "spent": wp.rubles_to_kopecks(wp.field(node, "sum"), f"{what}.sum"),
        "revenue": wp.rubles_to_kopecks(wp.field(node, "sum_price"), f"{what}.sum_price"),
    }


def campaign_day_stats(item: Any, day: date) -> StatsSnapshot:
    """One campaign of GET /adv/v3/fullstats → its counters for `day` (zeros if it had no day row)."""
    advert_id = wp.identifier(wp.field(item, "advertId"), "advertId")
    days = wp.items(wp.field(item, "days"), "days")
    if not isinstance(days, list):
        raise wp.BadItem(f"days is not a list: {days!r}")
    matches = [d for d in days if wp.wb_day(wp.field(d, "date")) == day]
    if len(matches) > 1:
        raise wp.BadItem(f"day {day} appears {len(matches)} times")
    counters = (
        stats_counters(matches[0], f"days[{day}]")
        if matches
        else {"views": 0, "clicks": 0, "add_to_cart": 0, "orders": 0, "spent": 0, "revenue": 0}
    )
    return StatsSnapshot(
        campaign_external_id=str(advert_id),
        keyword_external_id=None,
        stat_date=day,
        raw=matches[0] if matches else {},
        **counters,
    )


def nm_day_stats(item: Any, day: date, placement: str) -> list[StatsSnapshot]:
    """The per-nm counters of one full-stats campaign for `day` (summed over its apps), as
    snapshots of the nm's bid keyword in `placement` (issue 9 finding 4: an nm bid needs stats of
    its own, or the cycle can never raise it)."""
    advert_id = wp.identifier(wp.field(item, "advertId"), "advertId")
    totals: dict[int, dict[str, int]] = {}
    for node in wp.items(wp.field(item, "days"), "days"):
        if wp.wb_day(wp.field(node, "date")) != day:
            continue
        for app in wp.items(wp.field(node, "apps"), "apps"):
            for nm in wp.items(wp.field(app, "nms"), "nms"):
                nm_id = wp.identifier(wp.field(nm, "nmId"), "nmId")
                counters = stats_counters(nm, f"nm {nm_id}")
                acc = totals.setdefault(nm_id, dict.fromkeys(counters, 0))
                for name, value in counters.items():
                    acc[name] += value
    return [
        StatsSnapshot(
            campaign_external_id=str(advert_id),
            keyword_external_id=wp.nm_bid_id(nm_id, placement),
            stat_date=day,
            views=counters["views"],
            clicks=counters["clicks"],
            add_to_cart=counters["add_to_cart"],
            orders=counters["orders"],
            spent=counters["spent"],
            revenue=counters["revenue"],
        )
        for nm_id, counters in totals.items()
    ]


def cluster_day_stats(advert_id: int, nm_id: int, entry: Any, day: date) -> StatsSnapshot | None:
    """One `dailyStats` entry of POST /adv/v1/normquery/stats; None when it is another day."""
    if wp.wb_day(wp.field(entry, "date")) != day:
        return None
    stat = wp.field(entry, "stat")
    query = wp.text(wp.field(stat, "normQuery"), "normQuery")
    position = wp.average_position(stat.get("avgPos"))
    return StatsSnapshot(
        campaign_external_id=str(advert_id),
        keyword_external_id=wp.cluster_id(nm_id, query),
        stat_date=day,
        # Views are null for cpc campaigns (promotion.json V1 normquery stats).
        views=wp.optional_counter(stat.get("views"), "views"),
        clicks=wp.counter(wp.field(stat, "clicks"), "clicks"),
        add_to_cart=wp.counter(wp.field(stat, "atbs"), "atbs"),
        orders=wp.counter(wp.field(stat, "orders"), "orders"),
        spent=wp.rubles_to_kopecks(wp.field(stat, "spend"), "spend"),
        revenue=0,  # cluster statistics carry no order value
        avg_position=position,
        raw=dict(stat),
    )


def batch_error_message(response: httpx.Response) -> str:
    """The shared parser's message; also keeps WB's `errors[{detail, field}]` for the batch methods."""
    holder = _batch_errors.get()
    if holder is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, Mapping) else None
        if isinstance(errors, list):
            holder.extend(dict(e) for e in errors if isinstance(e, Mapping))
    return default_error_message(response)


class WildberriesAdapter:
    marketplace = MARKETPLACE

    def __init__(
        self,
        ref: Any,
        secret: dict[str, str],
        http: httpx.AsyncClient,
        pacing: Pacing,
        retry: RetryPolicy,
    ) -> None:
        self.ref = ref
        self._token = secret.get("token", "")
        self._http = http
        self.token_type = self._detect_token_type(ref)
        pacing.limit_key = self.token_type.value
        self._transport = HttpTransport(
            marketplace=MARKETPLACE,
            client=http,
            pacing=pacing,
            auth_headers=self._auth_headers,
            retry=retry,
            error_message=batch_error_message,
        )

    def _detect_token_type(self, ref: Any) -> WbTokenType:
        configured = (getattr(ref, "settings", None) or {}).get("wb_token_type")
        if configured in tuple(WbTokenType):
            return WbTokenType(configured)
        try:
            return wp.token_type(self._token)
        except wp.BadToken as error:
            # The slowest limit row is the safe guess; WB will answer 401 if the token is bad.
            logger.warning("wb account %s: %s; pacing as a base token", getattr(ref, "id", "?"), error)
            return WbTokenType.BASE

    async def _auth_headers(self) -> dict[str, str]:
        # Reference: api-information.json, security scheme HeaderApiKey: the raw JWT, no prefix.
        return {"Authorization": self._token}

    async def _get(self, path: str, operation: str, params: Mapping[str, Any] | None = None) -> Any:
        response = await self._transport.request("GET", path, operation=operation, params=params)
        return json_body(response)

    async def _send(self, method: str, path: str, operation: str, body: Any) -> Any:
        response = await self._transport.request(method, path, operation=operation, json_body=body)
        return json_body(response)

    # ---- one client method per endpoint ---------------------------------------------------------

    async def _promotion_count(self) -> Any:
        # Reference: promotion.json GET /adv/v1/promotion/count
        return await self._get("/adv/v1/promotion/count", "promotion count")

    async def _adverts(self, ids: Sequence[int]) -> Any:
        # Reference: promotion.json GET /api/advert/v2/adverts (ids ≤ 50)
        return await self._get("/api/advert/v2/adverts", "campaign details", {"ids": _ids(ids)})

    async def _fullstats(self, ids: Sequence[int], day: date) -> Any:
        # Reference: promotion.json GET /adv/v3/fullstats (ids ≤ 50, 3/min burst 1)
        params = {"ids": _ids(ids), "beginDate": day.isoformat(), "endDate": day.isoformat()}
        return await self._get("/adv/v3/fullstats", "full stats", params)

    async def _normquery_list(self, pairs: Sequence[tuple[int, int]]) -> Any:
        # Reference: promotion.json POST /adv/v0/normquery/list (items ≤ 100)
        items = [{"advertId": a, "nmId": n} for a, n in pairs]
        return await self._send("POST", "/adv/v0/normquery/list", "cluster list", {"items": items})

    async def _normquery_get_bids(self, pairs: Sequence[tuple[int, int]]) -> Any:
        # Reference: promotion.json POST /adv/v0/normquery/get-bids (items ≤ 100)
        items = [{"advert_id": a, "nm_id": n} for a, n in pairs]
        return await self._send("POST", "/adv/v0/normquery/get-bids", "cluster bids", {"items": items})

    async def _normquery_stats(self, pairs: Sequence[tuple[int, int]], day: date) -> Any:
        # Reference: promotion.json POST /adv/v1/normquery/stats (items ≤ 100, daily breakdown)
        body = {
            "from": day.isoformat(),
            "to": day.isoformat(),
            "items": [{"advertId": a, "nmId": n} for a, n in pairs],
        }
        return await self._send("POST", "/adv/v1/normquery/stats", "cluster stats", body)

    async def _set_cluster_bids_minor(self, bids: Sequence[dict[str, Any]]) -> Any:
        # Reference: promotion.json POST /api/advert/v1/normquery/bids (≤ 100, bidMinorUnits)
        return await self._send("POST", "/api/advert/v1/normquery/bids", "set cluster bids", {"bids": bids})

    async def _set_cluster_bids_rubles(self, bids: Sequence[dict[str, Any]]) -> Any:
        # Reference: promotion.json POST /adv/v0/normquery/bids (≤ 100, `bid` in rubles)
        return await self._send("POST", "/adv/v0/normquery/bids", "set cluster bids", {"bids": bids})

    async def _patch_nm_bids(self, bids: Sequence[dict[str, Any]]) -> Any:
        # Reference: promotion.json PATCH /api/advert/v1/bids (≤ 50 campaigns × 50 nms, kopecks)
        return await self._send("PATCH", "/api/advert/v1/bids", "set nm bids", {"bids": bids})

    async def _get_minus_many(self, pairs: Sequence[tuple[int, int]]) -> Any:
        # Reference: promotion.json POST /adv/v0/normquery/get-minus (items ≤ 100)
        body = {"items": [{"advert_id": advert_id, "nm_id": nm_id} for advert_id, nm_id in pairs]}
        return await self._send("POST", "/adv/v0/normquery/get-minus", "minus phrases", body)

    async def _set_minus(self, advert_id: int, nm_id: int, phrases: Sequence[str]) -> Any:
        # Reference: promotion.json POST /adv/v0/normquery/set-minus (replaces the whole list)
        body = {"advert_id": advert_id, "nm_id": nm_id, "norm_queries": list(phrases)}
        return await self._send("POST", "/adv/v0/normquery/set-minus", "set minus phrases", body)

    async def _start(self, advert_id: int) -> Any:
        # Reference: promotion.json GET /adv/v0/start
        return await self._get("/adv/v0/start", "start campaign", {"id": advert_id})

    async def _pause(self, advert_id: int) -> Any:
        # Reference: promotion.json GET /adv/v0/pause
        return await self._get("/adv/v0/pause", "pause campaign", {"id": advert_id})

    async def _budget(self, advert_id: int) -> Any:
        # Reference: promotion.json GET /adv/v1/budget
        return await self._get("/adv/v1/budget", "campaign budget", {"id": advert_id})

    async def _balance(self) -> Any:
        # Reference: promotion.json GET /adv/v1/balance
        return await self._get("/adv/v1/balance", "balance")

    async def _recommendations(self, advert_id: int, nm_id: int) -> Any:
        # Reference: promotion.json GET /api/advert/v0/bids/recommendations (one advert + nm, 5/min)
        params = {"advertId": advert_id, "nmId": nm_id}
        return await self._get("/api/advert/v0/bids/recommendations", "recommended bids", params)

    async def _min_bids(
        self, advert_id: int, nm_ids: Sequence[int], payment_type: str, placements: Sequence[str]
    ) -> Any:
        # Reference: promotion.json POST /api/advert/v1/bids/min (nm_ids ≤ 100, kopecks)
        body = {
            "advert_id": advert_id,
            "nm_ids": list(nm_ids),
            "payment_type": payment_type,
            "placement_types": list(placements),
        }
        return await self._send("POST", "/api/advert/v1/bids/min", "min bids", body)

    # ---- reading many campaigns -----------------------------------------------------------------

    async def _campaign_index(self) -> dict[int, tuple[int, int]]:
        """advert id → (type, status) from GET /adv/v1/promotion/count."""
        body = await self._promotion_count()
        index: dict[int, tuple[int, int]] = {}
        for group in wp.reply_items(body, "promotion count", "adverts"):
            try:
                kind = wp.counter(wp.field(group, "type"), "type")
                status = wp.field(group, "status")
                for entry in wp.items(wp.field(group, "advert_list"), "advert_list"):
                    advert_id = wp.identifier(wp.field(entry, "advertId"), "advertId")
                    if advert_id in index:
                        raise wp.BadItem(f"advertId {advert_id} is listed twice")
                    index[advert_id] = (kind, status)
            except wp.BadItem as error:
                reject("promotion count", group, error)
        return index

    async def _details(self, ids: Iterable[int]) -> dict[int, Advert]:
        """Campaign details in ceil(N/50) calls; unusable campaigns are rejected one by one."""
        unique = list(dict.fromkeys(ids))
        out: dict[int, Advert] = {}
        for part in chunks(unique, MAX_ADVERT_IDS):
            body = await self._adverts(part)
            for item in wp.reply_items(body, "campaign details", "adverts"):
                try:
                    advert = parse_advert(item)
                    if advert.id in out:
                        raise wp.BadItem(f"campaign {advert.id} appears twice")
                    out[advert.id] = advert
                except wp.BadItem as error:
                    reject("campaign details", item, error)
        return out

    async def _details_of(self, campaign_ids: Sequence[str]) -> dict[int, Advert]:
        return await self._details(_advert_ids(campaign_ids))

    # ---- protocol -------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._promotion_count()

    async def list_campaigns(self) -> list[Campaign]:
        index = await self._campaign_index()
        details = await self._details(sorted(index))
        campaigns = []
        for advert_id, (kind, count_status) in index.items():
            advert = details.get(advert_id)
            if advert is None:
                # Being deleted between the two calls, or rejected above: listed without details.
                campaigns.append(_bare_campaign(advert_id, kind, count_status))
                continue
            campaigns.append(_campaign(advert, kind))
        return campaigns

    async def get_keywords(self, campaign_ids: Sequence[str]) -> list[Keyword]:
        adverts = await self._details_of(campaign_ids)
        keywords = [kw for advert in adverts.values() for kw in _nm_keywords(advert)]
        pairs = await self._cluster_pairs(adverts)
        clusters = await self._cluster_lists(pairs)
        bids = await self._cluster_bids(pairs)
        for (advert_id, nm_id), (active, excluded) in clusters.items():
            advert = adverts[advert_id]
            default = advert.nm_bid(nm_id, "search" if advert.bid_type == "manual" else wp.COMBINED)
            for query, status in [(q, "active") for q in active] + [(q, "excluded") for q in excluded]:
                keywords.append(
                    Keyword(
                        campaign_external_id=str(advert_id),
                        external_id=wp.cluster_id(nm_id, query),
                        keyword=query,
                        kind="cluster",
                        product_id=str(nm_id),
                        # A cluster without a bid of its own is bought at the nm's search bid.
                        current_bid=bids.get((advert_id, nm_id, query), default),
                        status=status,
                    )
                )
        return keywords

    async def _cluster_pairs(self, adverts: Mapping[int, Advert]) -> list[tuple[int, int]]:
        """The (advert, nm) pairs that have search clusters: every nm of type-9 campaigns (the
        normquery methods; legacy types 4–8 have none or need nm_id 0 — marketplace-apis.md §1.3).
        The type is only in GET /adv/v1/promotion/count, one call."""
        if not adverts:
            return []
        index = await self._campaign_index()
        type9 = [a for a in adverts.values() if index.get(a.id, (0, 0))[0] == wp.WB_TYPE_UNIFIED_OR_MANUAL]
        return [(a.id, nm) for a in type9 for nm in a.nm_bids]

    async def _cluster_lists(
        self, pairs: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[list[str], list[str]]]:
        """(advert, nm) → (active, excluded) search clusters, in ceil(P/100) calls."""
        out: dict[tuple[int, int], tuple[list[str], list[str]]] = {}
        asked = set(pairs)
        for part in chunks(pairs, MAX_NORMQUERY_ITEMS):
            body = await self._normquery_list(part)
            for item in wp.reply_items(body, "cluster list", "items"):
                try:
                    key = (
                        wp.identifier(wp.field(item, "advertId"), "advertId"),
                        wp.identifier(wp.field(item, "nmId"), "nmId"),
                    )
                    if key not in asked or key in out:
                        raise wp.BadItem(f"unexpected or repeated (advert, nm) {key}")
                    queries = wp.field(item, "normQueries")
                    active = _query_list(wp.field(queries, "active"), "active")
                    excluded = _query_list(queries.get("excluded") or [], "excluded")
                    out[key] = ([q for q in active if q not in excluded], excluded)
                except wp.BadItem as error:
                    reject("cluster list", item, error)
        return out

    async def _cluster_bids(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int, str], int]:
        """(advert, nm, cluster) → bid kopecks of the clusters that have their own bid."""
        out: dict[tuple[int, int, str], int] = {}
        for part in chunks(pairs, MAX_NORMQUERY_ITEMS):
            body = await self._normquery_get_bids(part)
            for item in wp.reply_items(body, "cluster bids", "bids"):
                try:
                    key = (
                        wp.identifier(wp.field(item, "advert_id"), "advert_id"),
                        wp.identifier(wp.field(item, "nm_id"), "nm_id"),
                        wp.text(wp.field(item, "norm_query"), "norm_query"),
                    )
                    if key in out:
                        raise wp.BadItem(f"cluster bid {key} appears twice")
                    out[key] = wp.kopecks(wp.field(item, "bid_kopecks"), "bid_kopecks")
                except wp.BadItem as error:
                    reject("cluster bids", item, error)
        return out

    async def get_campaign_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]:
        """Campaign totals of `day` from the full stats, plus each nm's own counters for the nm bid
        of a campaign that bids its nms in one placement (unified: `combined`; manual: the one
        placement it has). A manual campaign bidding in both placements gets no per-placement
        split from WB, so its nm bids get no stats (and the cycle does not bid them —
        wildberries_rules.py)."""
        out: list[StatsSnapshot] = []
        seen: set[int] = set()
        adverts = await self._details_of(campaign_ids)
        for part in chunks(_advert_ids(campaign_ids), MAX_ADVERT_IDS):
            try:
                body = await self._fullstats(part, day)
            except PermanentError as error:
                if error.status == 400 and "invalid ids" in error.detail:
                    # WB's answer when none of the ids has statistics (only statuses 7/9/11 do).
                    logger.info("wb full stats: no statistics for campaigns %s on %s", part, day)
                    continue
                raise
            for item in body if isinstance(body, list) else []:
                try:
                    snapshot = campaign_day_stats(item, day)
                    if int(snapshot.campaign_external_id) in seen:
                        raise wp.BadItem(f"campaign {snapshot.campaign_external_id} appears twice")
                    seen.add(int(snapshot.campaign_external_id))
                    out.append(snapshot)
                    advert = adverts.get(int(snapshot.campaign_external_id))
                    placements = advert.bid_placements() if advert is not None else ()
                    if len(placements) == 1:
                        out.extend(nm_day_stats(item, day, placements[0]))
                except wp.BadItem as error:
                    reject("full stats", item, error)
        return out

    async def get_keyword_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]:
        adverts = await self._details_of(campaign_ids)
        pairs = await self._cluster_pairs(adverts)
        out: list[StatsSnapshot] = []
        seen: set[tuple[str, str | None]] = set()
        for part in chunks(pairs, MAX_NORMQUERY_ITEMS):
            body = await self._normquery_stats(part, day)
            for item in wp.reply_items(body, "cluster stats", "items"):
                for snapshot in _cluster_item_stats(item, day):
                    key = (snapshot.campaign_external_id, snapshot.keyword_external_id)
                    if key in seen:
                        reject("cluster stats", item, wp.BadItem(f"cluster {key} appears twice"))
                        continue
                    seen.add(key)
                    out.append(snapshot)
        return out

    async def get_current_bids(self, keywords: Sequence[Keyword]) -> dict[Key, int]:
        nm_keywords = [k for k in keywords if k.kind == "nm"]
        cluster_keywords = [k for k in keywords if k.kind == "cluster"]
        adverts = await self._details_of([k.campaign_external_id for k in keywords])
        out: dict[Key, int] = {}
        for kw in nm_keywords:
            try:
                nm_id, placement = wp.parse_nm_bid_id(kw.external_id)
            except wp.BadItem as error:
                reject("current bids", kw.external_id, error)
                continue
            advert = adverts.get(_int_or_zero(kw.campaign_external_id))
            bid = advert.nm_bid(nm_id, placement) if advert else None
            if bid is not None:
                out[(kw.campaign_external_id, kw.external_id)] = bid
        parsed = _parse_clusters(cluster_keywords)
        pairs = list(dict.fromkeys((a, nm) for a, nm, _ in parsed.values()))
        own = await self._cluster_bids(pairs)
        for key, (advert_id, nm_id, query) in parsed.items():
            advert = adverts.get(advert_id)
            default = (
                advert.nm_bid(nm_id, "search" if advert.bid_type == "manual" else wp.COMBINED)
                if advert
                else None
            )
            bid = own.get((advert_id, nm_id, query), default)
            if bid is not None:
                out[key] = bid
        return out

    # ---- writing bids ---------------------------------------------------------------------------

    async def set_bids(self, changes: Sequence[BidChange]) -> list[ItemResult]:
        """One result per change, in order. nm bids go through PATCH /api/advert/v1/bids, cluster
        bids through the normquery bid method the token may call."""
        counts = Counter(change.key for change in changes)
        results: dict[Key, ItemResult] = {}
        nm_changes: list[tuple[BidChange, int, int, str]] = []
        cluster_changes: list[tuple[BidChange, int, int, str]] = []
        for change in changes:
            if counts[change.key] > 1:
                # Two absolute commands for one item: which one was meant is unknowable.
                results[change.key] = _failed(
                    change.key, "the same item is changed twice in one batch", sent=False
                )
                continue
            try:
                routed = _route_change(change)
            except wp.BadItem as error:
                results[change.key] = _failed(change.key, str(error), sent=False)
                continue
            is_nm = wp.is_nm_bid_id(change.keyword_external_id)
            (nm_changes if is_nm else cluster_changes).append(routed)
        for result in await self._set_nm_bids(nm_changes):
            results[result.key] = result
        for result in await self._set_cluster_bids(cluster_changes):
            results[result.key] = result
        return [results[change.key] for change in changes]

    async def _set_nm_bids(self, changes: Sequence[tuple[BidChange, int, int, str]]) -> list[ItemResult]:
        """PATCH /api/advert/v1/bids: ≤ 50 campaigns × 50 nms per call. WB rejects the whole call
        when any item is wrong (`errors[{detail, field}]`); those items fail and the rest is sent
        once more without them."""
        blocks = _nm_blocks(changes)
        results: list[ItemResult] = []
        for call_blocks in chunks(blocks, MAX_NM_BID_CAMPAIGNS):
            results.extend(await self._send_nm_blocks(list(call_blocks), resend=True))
        return results

    async def _send_nm_blocks(
        self, blocks: list[tuple[int, list[tuple[BidChange, int, str]]]], *, resend: bool
    ) -> list[ItemResult]:
        body = [
            {
                "advert_id": advert_id,
                "nm_bids": [{"nm_id": nm, "bid_kopecks": c.new_bid, "placement": p} for c, nm, p in items],
            }
            for advert_id, items in blocks
        ]
        holder: list[dict[str, Any]] = []
        token = _batch_errors.set(holder)
        try:
            await self._patch_nm_bids(body)
        except AuthError:
            raise
        except PermanentError as error:
            failed = _nm_failures(blocks, holder)
            if not failed or not resend:
                return [_failed(c.key, str(error)) for _, items in blocks for c, _, _ in items]
            remaining = [
                (advert_id, [x for x in items if x[0].key not in failed]) for advert_id, items in blocks
            ]
            remaining = [(a, items) for a, items in remaining if items]
            again = await self._send_nm_blocks(remaining, resend=False) if remaining else []
            return [_failed(key, reason) for key, reason in failed.items()] + again
        except AdapterError as error:
            return [_failed(c.key, str(error)) for _, items in blocks for c, _, _ in items]
        finally:
            _batch_errors.reset(token)
        return [ItemResult(c.key, True) for _, items in blocks for c, _, _ in items]

    async def _set_cluster_bids(self, changes: Sequence[tuple[BidChange, int, int, str]]) -> list[ItemResult]:
        results: list[ItemResult] = []
        minor = self.token_type in MINOR_UNIT_CLUSTER_BID_TOKENS
        for part in chunks(changes, MAX_NORMQUERY_ITEMS):
            if minor:
                results.extend(await self._send_cluster_bids_minor(part))
            else:
                results.extend(await self._send_cluster_bids_rubles(part))
        return results

    async def _send_cluster_bids_minor(
        self, part: Sequence[tuple[BidChange, int, int, str]]
    ) -> list[ItemResult]:
        bids = [
            {"advertId": a, "nmId": nm, "normQuery": q, "bidMinorUnits": c.new_bid} for c, a, nm, q in part
        ]
        try:
            body = await self._set_cluster_bids_minor(bids)
        except AuthError:
            raise
        except AdapterError as error:
            return [_failed(c.key, str(error)) for c, _, _, _ in part]
        succeeded, failed = _split_cluster_outcome(body)
        results = []
        for change, advert_id, nm_id, query in part:
            key = (advert_id, nm_id, query)
            if key in failed:
                results.append(_failed(change.key, f"wb set cluster bids: {failed[key]}"))
            elif key in succeeded:
                results.append(ItemResult(change.key, True))
            else:
                results.append(
                    _failed(change.key, "wb set cluster bids: the reply does not mention this item")
                )
        return results

    async def _send_cluster_bids_rubles(
        self, part: Sequence[tuple[BidChange, int, int, str]]
    ) -> list[ItemResult]:
        results: list[ItemResult] = []
        bids, sent = [], []
        for change, advert_id, nm_id, query in part:
            try:
                rubles = wp.kopecks_to_whole_rubles(change.new_bid)
            except wp.BadItem as error:
                results.append(_failed(change.key, str(error)))
                continue
            bids.append({"advert_id": advert_id, "nm_id": nm_id, "norm_query": query, "bid": rubles})
            sent.append(change)
        if not bids:
            return results
        try:
            await self._set_cluster_bids_rubles(bids)
        except AuthError:
            raise
        except AdapterError as error:
            # The v0 method accepts or refuses the whole call; its message names the item.
            return results + [_failed(c.key, str(error)) for c in sent]
        return results + [ItemResult(c.key, True) for c in sent]

    # ---- campaign and keyword state ---------------------------------------------------------------

    async def pause_campaign(self, campaign_id: str) -> None:
        await self._change_status(campaign_id, self._pause, wp.WB_PAUSED, "pause campaign")

    async def resume_campaign(self, campaign_id: str) -> None:
        await self._change_status(campaign_id, self._start, wp.WB_ACTIVE, "start campaign")

    async def _change_status(
        self, campaign_id: str, call: Callable[[int], Awaitable[Any]], target: int, operation: str
    ) -> None:
        advert_id = _advert_id(campaign_id, operation)
        try:
            await call(advert_id)
        except PermanentError as error:
            # 422 "Статус кампании не изменен": already there is success, anything else is not.
            if error.status != 422:
                raise
            advert = (await self._details([advert_id])).get(advert_id)
            if advert is None or advert.status != target:
                status = advert.status if advert else "unknown"
                raise PermanentError(
                    MARKETPLACE,
                    operation,
                    f"{error.detail} (campaign {advert_id} is in WB status {status}, "
                    f"{wp.map_status(status)})",
                    error.status,
                ) from None

    async def pause_keyword(self, keyword: Keyword) -> None:
        """Add the cluster to the (advert, nm) minus phrases (see `pause_keywords`)."""
        (result,) = await self.pause_keywords([keyword])
        if not result.ok:
            raise PermanentError(MARKETPLACE, "pause keyword", result.error or "refused")

    async def pause_keywords(self, keywords: Sequence[Keyword]) -> list[ItemResult]:
        """Minus phrases for many clusters: the current lists read 100 (advert, nm) pairs per call,
        then one set-minus per pair (it takes one pair and replaces its whole list) with the union."""
        wanted: dict[tuple[int, int], list[Keyword]] = {}
        results: dict[tuple[str, str], ItemResult] = {}
        for kw in keywords:
            key = (kw.campaign_external_id, kw.external_id)
            try:
                advert_id = wp.identifier(_int_or_zero(kw.campaign_external_id), "campaign id")
                nm_id, _ = wp.parse_cluster_id(kw.external_id)
            except wp.BadItem as error:
                results[key] = ItemResult(key, False, f"{error}; only search clusters can be excluded on WB")
                continue
            wanted.setdefault((advert_id, nm_id), []).append(kw)
        current = await self._minus_lists(list(wanted))
        for pair, items in wanted.items():
            have = current.get(pair, [])
            queries = [wp.parse_cluster_id(kw.external_id)[1] for kw in items]
            missing = [q for q in dict.fromkeys(queries) if q not in have]
            refused: str | None = None
            if missing:
                try:
                    await self._set_minus(pair[0], pair[1], [*have, *missing])
                except AuthError:
                    raise
                except AdapterError as failure:
                    refused = str(failure)
            for kw in items:
                key = (kw.campaign_external_id, kw.external_id)
                results[key] = ItemResult(key, refused is None, refused)
        return [results[(k.campaign_external_id, k.external_id)] for k in keywords]

    async def resume_keywords(self, items: Sequence[BidChange]) -> list[ItemResult]:
        """Take clusters off their nm's minus phrases: the lists read 100 pairs per call, then one
        set-minus per pair with the list without them (the cluster's own bid never left)."""
        wanted: dict[tuple[int, int], list[BidChange]] = {}
        results: dict[tuple[str, str], ItemResult] = {}
        for item in items:
            try:
                advert_id = wp.identifier(_int_or_zero(item.campaign_external_id), "campaign id")
                nm_id, _ = wp.parse_cluster_id(item.keyword_external_id)
            except wp.BadItem as error:
                why = f"{error}; only search clusters are paused on WB"
                results[item.key] = ItemResult(item.key, False, why)
                continue
            wanted.setdefault((advert_id, nm_id), []).append(item)
        current = await self._minus_lists(list(wanted))
        for pair, changes in wanted.items():
            have = current.get(pair, [])
            back = {wp.parse_cluster_id(c.keyword_external_id)[1] for c in changes}
            refused: str | None = None
            if any(q in back for q in have):
                try:
                    await self._set_minus(pair[0], pair[1], [q for q in have if q not in back])
                except AuthError:
                    raise
                except AdapterError as failure:
                    refused = str(failure)
            for change in changes:
                results[change.key] = ItemResult(change.key, refused is None, refused)
        return [results[item.key] for item in items]

    async def _minus_lists(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], list[str]]:
        current: dict[tuple[int, int], list[str]] = {}
        for start in range(0, len(pairs), MAX_NORMQUERY_ITEMS):
            body = await self._get_minus_many(pairs[start : start + MAX_NORMQUERY_ITEMS])
            for item in wp.reply_items(body, "minus phrases", "items"):
                if isinstance(item, Mapping):
                    current[(item.get("advert_id"), item.get("nm_id"))] = _query_list(  # type: ignore[index]
                        item.get("norm_queries") or [], "norm_queries"
                    )
        return current

    # ---- signals, money -------------------------------------------------------------------------

    async def get_recommendations(self, keywords: Sequence[Keyword]) -> list[Recommendation]:
        adverts = await self._details_of([k.campaign_external_id for k in keywords])
        by_pair: dict[tuple[int, int], list[tuple[Keyword, str, str | None]]] = {}
        for kw in keywords:
            try:
                advert_id = wp.identifier(_int_or_zero(kw.campaign_external_id), "campaign id")
                if kw.kind == "nm":
                    nm_id, placement = wp.parse_nm_bid_id(kw.external_id)
                    by_pair.setdefault((advert_id, nm_id), []).append((kw, placement, None))
                else:
                    nm_id, query = wp.parse_cluster_id(kw.external_id)
                    by_pair.setdefault((advert_id, nm_id), []).append((kw, "search", query))
            except wp.BadItem as error:
                reject("recommendations", kw.external_id, error)
        minimums = await self._min_bid_table(adverts, by_pair)
        now = machine_now()
        out: list[Recommendation] = []
        for (advert_id, nm_id), items in by_pair.items():
            advert = adverts.get(advert_id)
            if advert is None:
                continue
            try:
                body = await self._recommendations(advert_id, nm_id)
            except AuthError:
                raise
            except AdapterError as error:
                logger.warning("wb recommended bids for %s/%s: %s", advert_id, nm_id, error)
                body = None
            for kw, kw_placement, kw_query in items:
                low = minimums.get((advert_id, nm_id, kw_placement))
                try:
                    levels, positions = _levels(body, kw_query) if body is not None else ((), ())
                except wp.BadItem as error:
                    reject("recommended bids", body, error)
                    levels, positions = (), ()
                if not levels and low is None:
                    continue
                out.append(
                    Recommendation(
                        campaign_external_id=kw.campaign_external_id,
                        keyword_external_id=kw.external_id,
                        bids_by_position=levels,
                        min_bid=low,
                        source="marketplace_recommendation" if levels else "marketplace_min_bid",
                        fetched_at=now,
                        positions=positions,
                    )
                )
        return out

    async def get_min_bids(self, keywords: Sequence[Keyword]) -> dict[tuple[str, str], int]:
        """Minimum bid per item in kopecks (a cluster takes its nm's search minimum); one call per
        campaign and 100 nms."""
        adverts = await self._details_of([k.campaign_external_id for k in keywords])
        by_pair: dict[tuple[int, int], list[tuple[Keyword, str]]] = {}
        for kw in keywords:
            try:
                advert_id = wp.identifier(_int_or_zero(kw.campaign_external_id), "campaign id")
                if kw.kind == "nm":
                    nm_id, placement = wp.parse_nm_bid_id(kw.external_id)
                else:
                    nm_id, _ = wp.parse_cluster_id(kw.external_id)
                    placement = "search"
            except wp.BadItem as error:
                reject("min bids", kw.external_id, error)
                continue
            by_pair.setdefault((advert_id, nm_id), []).append((kw, placement))
        minimums = await self._min_bid_table(adverts, by_pair)
        out: dict[tuple[str, str], int] = {}
        for (advert_id, nm_id), items in by_pair.items():
            for kw, placement in items:
                low = minimums.get((advert_id, nm_id, placement))
                if low is not None:
                    out[(kw.campaign_external_id, kw.external_id)] = low
        return out

    async def _min_bid_table(
        self, adverts: Mapping[int, Advert], by_pair: Mapping[tuple[int, int], Any]
    ) -> dict[tuple[int, int, str], int]:
        """(advert, nm, placement) → min bid kopecks; one call per campaign and 100 nms."""
        nms_of: dict[int, list[int]] = {}
        for advert_id, nm_id in by_pair:
            if advert_id in adverts and nm_id in adverts[advert_id].nm_bids:
                nms_of.setdefault(advert_id, []).append(nm_id)
        out: dict[tuple[int, int, str], int] = {}
        for advert_id, nm_ids in nms_of.items():
            advert = adverts[advert_id]
            if advert.payment_type not in wp.WB_PAYMENT_TYPES:
                continue
            placements = [MIN_BID_PLACEMENT[p] for p in advert.bid_placements()]
            names = {v: k for k, v in MIN_BID_PLACEMENT.items()}
            for part in chunks(nm_ids, MAX_MIN_BID_NMS):
                try:
                    body = await self._min_bids(advert_id, part, str(advert.payment_type), placements)
                except AuthError:
                    raise
                except AdapterError as error:
                    logger.warning("wb min bids for campaign %s: %s", advert_id, error)
                    continue
                for item in wp.reply_items(body, "min bids", "bids"):
                    try:
                        nm_id = wp.identifier(wp.field(item, "nm_id"), "nm_id")
                        for bid in wp.items(wp.field(item, "bids"), "bids"):
                            placement = names.get(str(wp.field(bid, "type")))
                            if placement is not None:
                                out[(advert_id, nm_id, placement)] = wp.kopecks(
                                    wp.field(bid, "value"), "value"
                                )
                    except wp.BadItem as error:
                        reject("min bids", item, error)
        return out

    async def get_budget(self, campaign_id: str) -> int | None:
        body = await self._budget(_advert_id(campaign_id, "campaign budget"))
        try:
            return wp.rubles_to_kopecks(wp.field(body, "total"), "total")
        except wp.BadItem as error:
            reject("campaign budget", body, error)
            return None

    async def get_balance(self) -> int | None:
        body = await self._balance()
        try:
            return wp.rubles_to_kopecks(wp.field(body, "balance"), "balance")
        except wp.BadItem as error:
            reject("balance", body, error)
            return None

    async def aclose(self) -> None:
        await self._http.aclose()


# --- helpers -----------------------------------------------------------------------------------


def _ids(ids: Sequence[int]) -> str:
    return ",".join(str(i) for i in ids)


def _int_or_zero(value: str) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def _advert_id(campaign_id: str, operation: str) -> int:
    if not (isinstance(campaign_id, str) and campaign_id.isdigit() and int(campaign_id) > 0):
        raise PermanentError(MARKETPLACE, operation, f"not a WB campaign id: {campaign_id!r}")
    return int(campaign_id)


def _advert_ids(campaign_ids: Sequence[str]) -> list[int]:
    out = []
    for campaign_id in dict.fromkeys(campaign_ids):
        number = _int_or_zero(campaign_id)
        if number > 0:
            out.append(number)
        else:
            logger.warning("wb: ignored %r, not a WB campaign id", campaign_id)
    return out


def _route_change(change: BidChange) -> tuple[BidChange, int, int, str]:
    """(change, advert, nm, placement) for an nm bid; (change, advert, nm, norm query) for a cluster."""
    advert_id = wp.identifier(_int_or_zero(change.campaign_external_id), "campaign id")
    bid = change.new_bid
    if isinstance(bid, bool) or not isinstance(bid, int) or bid <= 0:
        raise wp.BadItem(f"new bid must be a positive number of kopecks, got {bid!r}")
    if wp.is_nm_bid_id(change.keyword_external_id):
        nm_id, placement = wp.parse_nm_bid_id(change.keyword_external_id)
        return change, advert_id, nm_id, placement
    nm_id, query = wp.parse_cluster_id(change.keyword_external_id)
    return change, advert_id, nm_id, query


def _failed(key: Key, reason: str, *, sent: bool = True) -> ItemResult:
    return ItemResult(key, False, reason, sent)


def _query_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise wp.BadItem(f"{what} is not a list: {value!r}")
    return list(dict.fromkeys(wp.text(q, what) for q in value))


def _campaign(advert: Advert, kind: int) -> Campaign:
    return Campaign(
        external_id=str(advert.id),
        name=advert.name,
        campaign_type=wp.map_campaign_type(kind, advert.bid_type),
        status=wp.map_status(advert.status),
        marketplace_status=str(advert.status),
        payment_type=wp.map_payment_type(advert.payment_type),
        daily_budget=None,  # WB has no daily budget for cpm campaigns; budgets are read separately
        raw=advert.raw,
    )


def _bare_campaign(advert_id: int, kind: int, status: Any) -> Campaign:
    return Campaign(
        external_id=str(advert_id),
        name=str(advert_id),
        campaign_type=wp.map_campaign_type(kind, None),
        status=wp.map_status(status),
        marketplace_status=str(status),
    )


def _nm_keywords(advert: Advert) -> list[Keyword]:
    return [
        Keyword(
            campaign_external_id=str(advert.id),
            external_id=wp.nm_bid_id(nm_id, placement),
            keyword=f"{nm_id} ({placement})",
            kind="nm",
            product_id=str(nm_id),
            current_bid=advert.nm_bid(nm_id, placement),
        )
        for nm_id in advert.nm_bids
        for placement in advert.bid_placements()
    ]


def _cluster_item_stats(item: Any, day: date) -> list[StatsSnapshot]:
    try:
        advert_id = wp.identifier(wp.field(item, "advertId"), "advertId")
        nm_id = wp.identifier(wp.field(item, "nmId"), "nmId")
        daily = wp.items(wp.field(item, "dailyStats"), "dailyStats")
        if not isinstance(daily, list):
            raise wp.BadItem(f"dailyStats is not a list: {daily!r}")
    except wp.BadItem as error:
        reject("cluster stats", item, error)
        return []
    out = []
    for entry in daily:
        try:
            snapshot = cluster_day_stats(advert_id, nm_id, entry, day)
        except wp.BadItem as error:
            reject(f"cluster stats of {advert_id}/{nm_id}", entry, error)
            continue
        if snapshot is not None:
            out.append(snapshot)
    return out


def _parse_clusters(keywords: Sequence[Keyword]) -> dict[Key, tuple[int, int, str]]:
    out = {}
    for kw in keywords:
        try:
            advert_id = wp.identifier(_int_or_zero(kw.campaign_external_id), "campaign id")
            nm_id, query = wp.parse_cluster_id(kw.external_id)
        except wp.BadItem as error:
            reject("current bids", kw.external_id, error)
            continue
        out[(kw.campaign_external_id, kw.external_id)] = (advert_id, nm_id, query)
    return out


def _nm_blocks(
    changes: Sequence[tuple[BidChange, int, int, str]],
) -> list[tuple[int, list[tuple[BidChange, int, str]]]]:
    """Group nm bid changes per campaign, ≤ 50 nms per block (a bigger campaign takes two)."""
    per_campaign: dict[int, list[tuple[BidChange, int, str]]] = {}
    for change, advert_id, nm_id, placement in changes:
        per_campaign.setdefault(advert_id, []).append((change, nm_id, placement))
    return [
        (advert_id, list(part))
        for advert_id, items in per_campaign.items()
        for part in chunks(items, MAX_NM_BIDS_PER_CAMPAIGN)
    ]


def _nm_failures(
    blocks: Sequence[tuple[int, list[tuple[BidChange, int, str]]]], errors: Sequence[Mapping[str, Any]]
) -> dict[Key, str]:
    """Map WB's `errors[{detail, field}]` (field like `.bids[0].nm_bids[2].bid_kopecks`) to items;
    an error on a whole campaign (`.bids[0].advert_id`) fails all of its items."""
    failed: dict[Key, str] = {}
    for error in errors:
        where = str(error.get("field") or "")
        detail = str(error.get("detail") or "rejected")
        match = re.match(r"^\.?bids\[(\d+)\](?:\.nm_bids\[(\d+)\])?", where)
        if not match or int(match.group(1)) >= len(blocks):
            continue
        items = blocks[int(match.group(1))][1]
        if match.group(2) is None:
            targets = items
        elif int(match.group(2)) < len(items):
            targets = [items[int(match.group(2))]]
        else:
            continue
        for change, _, _ in targets:
            failed.setdefault(change.key, f"wb set nm bids: {where}: {detail}")
    return failed


def _split_cluster_outcome(body: Any) -> tuple[set[tuple[int, int, str]], dict[tuple[int, int, str], str]]:
    succeeded: set[tuple[int, int, str]] = set()
    failed: dict[tuple[int, int, str], str] = {}
    for name in ("success", "failed"):
        for item in wp.reply_items(body, "set cluster bids", name):
            try:
                key = (
                    wp.identifier(wp.field(item, "advertId"), "advertId"),
                    wp.identifier(wp.field(item, "nmId"), "nmId"),
                    wp.text(wp.field(item, "normQuery"), "normQuery"),
                )
            except wp.BadItem as error:
                reject(f"set cluster bids {name}", item, error)
                continue
            if name == "success":
                succeeded.add(key)
            else:
                failed[key] = str(item.get("reason") or "rejected")
    return succeeded, failed


# The worst position each recommended level reaches (issue 9 finding 5): cpc ranges end at 2, 10
# and 34; `leadersBid` leads, `top2` makes the top two; a cluster's maximum reach is the top.
# `competitiveBid` and the medium and minimum reach levels state no position.
LEVEL_POSITIONS: dict[str, int | None] = {
    "range1To2": 2,
    "range3To10": 10,
    "range11To34": 34,
    "leadersBid": 1,
    "top2": 2,
    "competitiveBid": None,
    "reachMax": 1,
    "reachMedium": None,
    "reachMin": None,
}


def _levels(body: Any, query: str | None) -> tuple[tuple[int, ...], tuple[int | None, ...]]:
    """Recommended bids, best position first, and the position each reaches, from
    GET /api/advert/v0/bids/recommendations: a cluster's reachMax/Medium/Min; an nm's
    leadersBid/top2/competitiveBid (cpm); cpc levels. A level of 0 kopecks is no level."""
    names, node = _level_names(body, query)
    found = [(wp.kopecks(wp.field(wp.field(node, n), "bidKopecks"), n), LEVEL_POSITIONS[n]) for n in names]
    kept = [(bid, position) for bid, position in found if bid > 0]
    return tuple(b for b, _ in kept), tuple(p for _, p in kept)


def _level_names(body: Any, query: str | None) -> tuple[list[str], Any]:
    if not isinstance(body, Mapping):
        return [], {}
    if body.get("paymentType") == "cpc":
        # The digest writes `levels{range1To2, ...}` (an object); the sandbox sends a list of one
        # such object; the spec snapshot truncates the schema ("[MaxDepth]"). Accept both.
        levels = body.get("levels") or {}
        ranges = levels[0] if isinstance(levels, list) and levels else levels
        if not isinstance(ranges, Mapping):
            raise wp.BadItem(f"levels is neither an object nor a list of one: {levels!r}")
        return [n for n in ("range1To2", "range3To10", "range11To34") if n in ranges], ranges
    if query is not None:
        for entry in body.get("normQueries") or []:
            if isinstance(entry, Mapping) and entry.get("normQuery") == query:
                return [n for n in ("reachMax", "reachMedium", "reachMin") if n in entry], entry
        return [], {}
    base = body.get("base")
    if not isinstance(base, Mapping):
        return [], {}
    return [n for n in ("leadersBid", "top2", "competitiveBid") if n in base], base
