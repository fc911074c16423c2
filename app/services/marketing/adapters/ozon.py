"""Ozon Performance API 2.0 adapter (issue 4 items 1–2; DESIGN.md §3 "Adapters").

Reference: specs/ozon-performance/performance-openapi.json (non-deprecated operations only) and
reference/marketplace-apis.md §2. `OzonClient` has one method per endpoint; `OzonAdapter` builds
the protocol on it. Units are converted in `ozon_units`, payloads parsed in `ozon_parse`.

Auth: `client_id` + `client_secret` → POST /api/client/token (client_credentials) → a Bearer token
valid `expires_in` seconds. The token lives in this adapter instance only (never Redis, never a log
or an error text); it is renewed a minute before it expires and once on a 401.

Limits: Ozon documents only a daily request quota and the statistics-export rules
(`limits.OZON_QUOTAS`); there is no per-second limit to pace. Reports run one at a time per account
(a Redis semaphore of capacity 1 shared by every worker).
"""

from __future__ import annotations

import asyncio
import csv
import re
import time
import zipfile
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Set
from dataclasses import replace
from datetime import date
from typing import Any, TypeVar

import httpx

from app.core.clock import machine_now
from app.models.marketing import CampaignType
from app.services.marketing.adapters import AccountRef
from app.services.marketing.adapters.base import (
    AdapterError,
    AuthError,
    BidChange,
    Campaign,
    ItemResult,
    Keyword,
    PermanentError,
    RateLimitedError,
    Recommendation,
    StatsSnapshot,
    TransientError,
)
from app.services.marketing.adapters.http import HttpTransport, Pacing, RetryPolicy, json_body
from app.services.marketing.adapters.limits import OZON_QUOTAS
from app.services.marketing.adapters.ozon_parse import (
    CAMPAIGN_STATE_RUNNING,
    campaign_budget,
    chunks,
    daily_parser,
    parse_campaign,
    parse_competitive,
    parse_each,
    parse_min_bid,
    parse_report,
    product_parser,
    reject,
    sku_row_parser,
    stats_key,
    unique,
)
from app.services.marketing.adapters.ozon_units import BadValue, kopecks_to_micro, parse_count
from app.services.marketing.adapters.pacing import PacingTimeout, RedisSemaphore

T = TypeVar("T")
MARKETPLACE = "ozon"
# Renew the token this long before Ozon says it expires (clock skew, requests in flight).
TOKEN_REFRESH_MARGIN_S = 60.0
# Page sizes: the spec documents none; a campaign holds at most 500 products, so one page of 500
# reads a whole campaign, and campaigns are read 100 per page.
CAMPAIGN_PAGE_SIZE = 100
PRODUCT_PAGE_SIZE = OZON_QUOTAS.products_per_campaign
# Campaign ids per synchronous statistics call: undocumented; 100 ids keep the query string short.
STATS_CAMPAIGNS_PER_CALL = 100
# SKUs per POST /min/sku: undocumented; the competitive-bids maximum (200) is used.
MIN_BIDS_PER_CALL = OZON_QUOTAS.competitive_bids_max_skus
# Per-campaign calls (products, bids) run this many at once: Ozon documents no parallel limit.
PARALLEL_CAMPAIGNS = 5
# The async report: poll with backoff, give up after REPORT_TIMEOUT_S.
REPORT_POLL_FIRST_S = 1.0
REPORT_POLL_MAX_S = 30.0
REPORT_TIMEOUT_S = 900.0
# A 400 of PUT .../products names the offending entry as `bids[<i>]` (the sandbox does; real Ozon's
# wording is undocumented — without an index, the whole request's items fail together).
MAX_REFUSED_PER_BATCH = 10
# Campaign states that serve no ads until their owner acts (GET /api/client/campaign, `state`).
NOT_SERVING_STATES = frozenset(
    {
        "CAMPAIGN_STATE_INACTIVE",
        "CAMPAIGN_STATE_STOPPED",
        "CAMPAIGN_STATE_FINISHED",
        "CAMPAIGN_STATE_ARCHIVED",
    }
)
_BAD_BID_INDEX = re.compile(r"bids\[(\d+)\]")


class OzonClient:
    """One method per Ozon Performance endpoint the system uses; no business logic."""

    def __init__(self, transport: HttpTransport) -> None:
        self.t = transport

    async def campaigns(self, page: int, page_size: int) -> Any:
        # Reference: GET /api/client/campaign (page starts at 1)
        reply = await self.t.request(
            "GET",
            "/api/client/campaign",
            operation="list campaigns",
            params={"page": page, "pageSize": page_size},
        )
        return json_body(reply)

    async def campaigns_by_id(self, campaign_ids: list[str]) -> Any:
        # Reference: GET /api/client/campaign?campaignIds=…&campaignIds=… (explode: true)
        reply = await self.t.request(
            "GET", "/api/client/campaign", operation="get campaigns", params={"campaignIds": campaign_ids}
        )
        return json_body(reply)

    async def activate(self, campaign_id: str) -> None:
        # Reference: POST /api/client/campaign/{campaignId}/activate (body: Empty)
        await self.t.request(
            "POST", f"/api/client/campaign/{campaign_id}/activate", operation="activate", json_body={}
        )

    async def deactivate(self, campaign_id: str) -> None:
        # Reference: POST /api/client/campaign/{campaignId}/deactivate (body: Empty)
        await self.t.request(
            "POST", f"/api/client/campaign/{campaign_id}/deactivate", operation="deactivate", json_body={}
        )

    async def products(self, campaign_id: str, page: int, page_size: int) -> Any:
        # Reference: GET /api/client/campaign/{campaignId}/v2/products
        reply = await self.t.request(
            "GET",
            f"/api/client/campaign/{campaign_id}/v2/products",
            operation="list products",
            params={"page": page, "pageSize": page_size},
        )
        return json_body(reply)

    async def update_bids(self, campaign_id: str, bids: list[dict[str, str]]) -> None:
        # Reference: PUT /api/client/campaign/{campaignId}/products (extcampaignUpdateProductsRequest)
        await self.t.request(
            "PUT",
            f"/api/client/campaign/{campaign_id}/products",
            operation="set bids",
            json_body={"bids": bids},
        )

    async def add_products(self, campaign_id: str, bids: list[dict[str, str]]) -> None:
        # Reference: POST /api/client/campaign/{campaignId}/products (extcampaignAddProductsRequest);
        # without `bid` Ozon sets the competitive bid.
        await self.t.request(
            "POST",
            f"/api/client/campaign/{campaign_id}/products",
            operation="add products",
            json_body={"bids": bids},
        )

    async def delete_products(self, campaign_id: str, skus: list[str]) -> None:
        # Reference: POST /api/client/campaign/{campaignId}/products/delete
        await self.t.request(
            "POST",
            f"/api/client/campaign/{campaign_id}/products/delete",
            operation="delete products",
            json_body={"sku": skus},
        )

    async def competitive_bids(self, campaign_id: str, skus: list[str]) -> Any:
        # Reference: GET /api/client/campaign/{campaignId}/products/bids/competitive (≤ 200 SKUs)
        reply = await self.t.request(
            "GET",
            f"/api/client/campaign/{campaign_id}/products/bids/competitive",
            operation="competitive bids",
            params={"skus": skus},
        )
        return json_body(reply)

    async def min_bids(self, skus: list[str]) -> Any:
        # Reference: POST /api/client/min/sku (extcampaignBidBySKURequest); CPC = search and
        # recommendations, the placement of our pay-per-click campaigns; Russian storefront.
        reply = await self.t.request(
            "POST",
            "/api/client/min/sku",
            operation="min bids",
            json_body={"sku": skus, "paymentType": "CPC", "marketplaceId": "MARKETPLACE_ID_RU"},
        )
        return json_body(reply)

    async def daily_stats(self, campaign_ids: list[str], day_from: date, day_to: date) -> Any:
        # Reference: GET /api/client/statistics/daily (+ "/json", as its description says)
        reply = await self.t.request(
            "GET",
            "/api/client/statistics/daily/json",
            operation="daily statistics",
            params={"campaignIds": campaign_ids, "dateFrom": str(day_from), "dateTo": str(day_to)},
        )
        return json_body(reply)

    async def sku_stats(self, campaign_ids: list[str], day_from: date, day_to: date) -> Any:
        # Reference: POST /api/client/statistics/products/sku (does not consume the limits)
        reply = await self.t.request(
            "POST",
            "/api/client/statistics/products/sku",
            operation="product statistics",
            json_body={"campaignIds": campaign_ids, "dateFrom": str(day_from), "dateTo": str(day_to)},
        )
        return json_body(reply)

    async def create_report(self, campaign_ids: list[str], day_from: date, day_to: date) -> Any:
        # Reference: POST /api/client/statistics (+ "/json", as its description says); ≤ 10 campaigns
        reply = await self.t.request(
            "POST",
            "/api/client/statistics/json",
            operation="create report",
            json_body={
                "campaigns": campaign_ids,
                "dateFrom": str(day_from),
                "dateTo": str(day_to),
                "groupBy": "NO_GROUP_BY",
            },
        )
        return json_body(reply)

    async def report_state(self, report_id: str) -> Any:
        # Reference: GET /api/client/statistics/{UUID}
        reply = await self.t.request("GET", f"/api/client/statistics/{report_id}", operation="report state")
        return json_body(reply)

    async def download_report(self, report_id: str) -> httpx.Response:
        # Reference: GET /api/client/statistics/report?UUID= (CSV, ZIP of CSVs, or JSON)
        return await self.t.request(
            "GET",
            "/api/client/statistics/report",
            operation="download report",
            params={"UUID": report_id},
            expect_json=False,
        )


class OzonAdapter:
    """The `MarketplaceAdapter` of one Ozon Performance account."""

    marketplace = MARKETPLACE

    def __init__(
        self,
        ref: AccountRef,
        secret: dict[str, str],
        http: httpx.AsyncClient,
        pacing: Pacing,
        retry: RetryPolicy,
    ) -> None:
        client_id, client_secret = secret.get("client_id"), secret.get("client_secret")
        if not client_id or not client_secret:
            raise AuthError(
                MARKETPLACE,
                "configure account",
                f"account {ref.id} needs client_id and client_secret (Ozon seller settings → "
                "Performance API service account)",
            )
        self.ref = ref
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._pacing = pacing
        self._token: str | None = None
        self._token_expires = 0.0
        # Tokens handed out to this instance, kept only to scrub them from error texts.
        self._issued: list[str] = []
        self._token_lock = asyncio.Lock()
        self._local_report_lock = asyncio.Lock()
        # Seams for tests: the monotonic clock of the token and the sleep between report polls.
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        # The token call has no bearer and no 401 refresh; it is not paced (not in the limits table).
        self._token_transport = HttpTransport(MARKETPLACE, http, pacing, _no_auth, retry)
        transport = HttpTransport(
            MARKETPLACE, http, pacing, self._auth_headers, retry, on_unauthorized=self._drop_token
        )
        self.api = OzonClient(transport)

    # ---- token ---------------------------------------------------------------------------------

    async def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._access_token()}"}

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is None or self.clock() >= self._token_expires - TOKEN_REFRESH_MARGIN_S:
                self._token = await self._fetch_token()
            return self._token

    async def _fetch_token(self) -> str:
        # Reference: POST /api/client/token (tag "Token": client_credentials → Bearer, expires_in).
        # The body carries the secret: it goes through a transport that logs no bodies.
        reply = await self._token_transport.request(
            "POST",
            "/api/client/token",
            operation="get token",
            json_body={
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "grant_type": "client_credentials",
            },
        )
        body = json_body(reply)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TransientError(MARKETPLACE, "get token", "the token reply has no access_token")
        if not (token.isascii() and token.isprintable()) or " " in token:
            # It goes into an HTTP header: anything else is a broken reply, not a token.
            raise TransientError(MARKETPLACE, "get token", "the token reply's access_token is not a token")
        try:
            lifetime = float(parse_count(body.get("expires_in", OZON_QUOTAS.token_lifetime_s), "expires_in"))
        except BadValue:
            lifetime = float(OZON_QUOTAS.token_lifetime_s)
        self._token_expires = self.clock() + lifetime
        self._issued = [*self._issued[-1:], token]
        return token

    async def _drop_token(self) -> None:
        """The transport got a 401: forget the token so that the retry fetches a new one."""
        async with self._token_lock:
            self._token = None

    def _redacted(self, error: AdapterError) -> AdapterError:
        """Belt and braces: a marketplace message that echoes our token loses it."""
        leaked = [token for token in self._issued if token in str(error)]
        if not leaked:
            return error
        detail = error.detail
        for token in leaked:
            detail = detail.replace(token, "<token>")
        if isinstance(error, RateLimitedError):
            wait = error.retry_after
            return RateLimitedError(error.marketplace, error.operation, detail, error.status, wait)
        return type(error)(error.marketplace, error.operation, detail, error.status)

    async def _guard(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except AdapterError as error:
            clean = self._redacted(error)
            if clean is error:
                raise
            raise clean from None

    # ---- protocol --------------------------------------------------------------------------------

    async def ping(self) -> None:
        """A token and a one-campaign list: proves credentials, host and API."""
        await self._guard(self.api.campaigns(page=1, page_size=1))

    async def list_campaigns(self) -> list[Campaign]:
        raw = await self._guard(self._all_campaign_items())
        campaigns = parse_each("campaign", raw, parse_campaign)
        return unique("campaign", campaigns, lambda c: c.external_id)

    async def _all_campaign_items(self) -> list[Any]:
        items: list[Any] = []
        seen: set[str] = set()
        page = 1
        while True:
            body = await self.api.campaigns(page, CAMPAIGN_PAGE_SIZE)
            chunk = _list_field(body, "list", "campaign list")
            items.extend(chunk)
            if _last_page(chunk, CAMPAIGN_PAGE_SIZE, "id", seen):
                return items
            page += 1

    async def get_keywords(self, campaign_ids: Sequence[str]) -> list[Keyword]:
        """The SKUs of each pay-per-click product campaign (kind `sku`, external id = SKU, bid in
        kopecks). Other campaigns (pay-per-order, banners) have no CPC SKU bids — their `bid`s are
        in other units on other endpoints — and are skipped with a warning, as is a campaign the
        marketplace refuses to list (4xx)."""
        product_campaigns = await self._product_campaigns(_distinct(campaign_ids))
        per_campaign = await _bounded(
            [self._campaign_products(cid, skip_refused=True) for cid in product_campaigns]
        )
        return [k for keywords in per_campaign for k in keywords]

    async def _product_campaigns(self, campaign_ids: list[str]) -> list[str]:
        """The ids among `campaign_ids` whose `advObjectType` is SKU (one list call per 100)."""
        found: set[str] = set()
        for batch in chunks(campaign_ids, STATS_CAMPAIGNS_PER_CALL):
            body = await self._guard(self.api.campaigns_by_id(batch))
            campaigns = parse_each("campaign", _list_field(body, "list", "campaign list"), parse_campaign)
            found.update(c.external_id for c in campaigns if c.campaign_type == CampaignType.SKU)
        for campaign_id in campaign_ids:
            if campaign_id not in found:
                reject("campaign", campaign_id, "not a pay-per-click product campaign: no SKU bids to read")
        return [cid for cid in campaign_ids if cid in found]

    async def _campaign_products(self, campaign_id: str, *, skip_refused: bool = False) -> list[Keyword]:
        out: list[Keyword] = []
        seen: set[str] = set()
        page = 1
        while True:
            try:
                body = await self._guard(self.api.products(campaign_id, page, PRODUCT_PAGE_SIZE))
            except PermanentError as error:
                if not skip_refused:
                    raise
                reject("campaign", campaign_id, f"products not readable: {error}")
                return []
            raw = _list_field(body, "products", "product list")
            out.extend(parse_each("product", raw, product_parser(campaign_id)))
            if _last_page(raw, PRODUCT_PAGE_SIZE, "sku", seen):
                return unique("product", out, lambda k: k.external_id)
            page += 1

    async def get_campaign_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]:
        """Campaign counters of one Moscow day from the daily report (one call per 100 campaigns).
        Campaigns without activity that day have no row."""
        out: list[StatsSnapshot] = []
        for batch in chunks(_distinct(campaign_ids), STATS_CAMPAIGNS_PER_CALL):
            body = await self._guard(self.api.daily_stats(batch, day, day))
            out.extend(parse_each("daily row", _list_field(body, "rows", "daily rows"), daily_parser(day)))
        return unique("daily row", out, stats_key)

    async def get_keyword_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]:
        """Per-SKU counters of one Moscow day from POST /statistics/products/sku, which does not
        consume the API limits (one call per 100 campaigns)."""
        out: list[StatsSnapshot] = []
        for batch in chunks(_distinct(campaign_ids), STATS_CAMPAIGNS_PER_CALL):
            body = await self._guard(self.api.sku_stats(batch, day, day))
            out.extend(parse_each("sku row", _list_field(body, "rows", "sku rows"), sku_row_parser(day)))
        return unique("sku row", out, stats_key)

    async def get_report_stats(
        self, campaign_ids: Sequence[str], day_from: date, day_to: date
    ) -> list[StatsSnapshot]:
        """Totals over [day_from, day_to] per campaign ("Всего", keyword None) and per SKU, from the
        async report flow: ≤ 10 campaigns per report, one report running per account at a time,
        state polled with backoff until OK or ERROR. Snapshots are dated `day_to`."""
        ids = _distinct(campaign_ids)
        if (day_to - day_from).days + 1 > OZON_QUOTAS.report_max_days or day_to < day_from:
            raise PermanentError(
                MARKETPLACE,
                "create report",
                f"a report covers 1..{OZON_QUOTAS.report_max_days} days; got {day_from}..{day_to}",
            )
        out: list[StatsSnapshot] = []
        for batch in chunks(ids, OZON_QUOTAS.report_max_campaigns):
            out.extend(await self._guard(self._one_report(batch, day_from, day_to)))
        return out

    async def _one_report(self, campaign_ids: list[str], day_from: date, day_to: date) -> list[StatsSnapshot]:
        async with self._report_slot():
            created = await self.api.create_report(campaign_ids, day_from, day_to)
            report_id = created.get("UUID") if isinstance(created, dict) else None
            if not isinstance(report_id, str) or not report_id:
                raise TransientError(MARKETPLACE, "create report", "the reply has no report UUID")
            await self._wait_for_report(report_id)
            reply = await self.api.download_report(report_id)
        try:
            return parse_report(
                reply.content, reply.headers.get("content-type", ""), campaign_ids, day_from, day_to
            )
        except (ValueError, zipfile.BadZipFile, csv.Error) as error:  # BadValue is a ValueError
            raise TransientError(MARKETPLACE, "download report", f"unreadable report: {error}") from None

    async def _wait_for_report(self, report_id: str) -> None:
        waited, delay = 0.0, REPORT_POLL_FIRST_S
        while True:
            state = await self.api.report_state(report_id)
            status = state.get("state") if isinstance(state, dict) else None
            if status == "OK":
                return
            if status == "ERROR":
                reason = state.get("error") or "no reason given"
                raise PermanentError(MARKETPLACE, "report", f"report {report_id} failed: {reason}")
            if waited >= REPORT_TIMEOUT_S:
                raise TransientError(
                    MARKETPLACE, "report", f"report {report_id} not ready after {REPORT_TIMEOUT_S:.0f} s"
                )
            await self.sleep(delay)
            waited += delay
            delay = min(REPORT_POLL_MAX_S, delay * 2)

    def _report_slot(self) -> _ReportSlot:
        """One running report per account (spec tag "Limits"), across every worker when Redis is
        there, else within this process."""
        limiter = self._pacing.limiter
        semaphore = (
            RedisSemaphore(
                limiter.client,
                key=f"marketing:report_slot:{self._pacing.account_key}",
                capacity=OZON_QUOTAS.concurrent_reports_per_account,
                lease_seconds=REPORT_TIMEOUT_S + 60,
                poll_seconds=0.2,
            )
            if limiter is not None
            else None
        )
        return _ReportSlot(semaphore, self._local_report_lock)

    async def get_current_bids(self, keywords: Sequence[Keyword]) -> dict[tuple[str, str], int]:
        wanted = {(k.campaign_external_id, k.external_id) for k in keywords}
        campaigns = sorted({cid for cid, _ in wanted})
        per_campaign = await _bounded([self._campaign_products(cid) for cid in campaigns])
        return {
            (k.campaign_external_id, k.external_id): k.current_bid
            for products in per_campaign
            for k in products
            if (k.campaign_external_id, k.external_id) in wanted and k.current_bid is not None
        }

    async def set_bids(self, changes: Sequence[BidChange]) -> list[ItemResult]:
        """Absolute CPC bids, ≤ 500 SKUs per PUT per campaign; one result per change, in order.
        Ozon applies `bid` only under the "average cost per click" strategy (TARGET_BIDS)."""
        results: dict[int, ItemResult] = {}
        by_campaign: dict[str, list[tuple[int, BidChange]]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for index, change in enumerate(changes):
            problem = _bid_problem(change, seen)
            if problem:
                results[index] = ItemResult(change.key, False, problem, sent=False)
            else:
                seen.add(change.key)
                by_campaign[change.campaign_external_id].append((index, change))
        jobs = [
            self._put_bids(campaign_id, batch)
            for campaign_id, items in by_campaign.items()
            for batch in chunks(items, OZON_QUOTAS.products_per_campaign)
        ]
        for batch_results in await _bounded(jobs):
            results.update(batch_results)
        return [results[i] for i in range(len(changes))]

    async def _put_bids(self, campaign_id: str, items: list[tuple[int, BidChange]]) -> dict[int, ItemResult]:
        """One PUT; if Ozon refuses one entry (`bids[i]` in its message), that entry fails and the
        others are sent again — a 400 applies nothing, so resending them is safe. After
        MAX_REFUSED_PER_BATCH refusals the rest fail unsent, so a batch of bad bids cannot turn
        into hundreds of calls."""
        results: dict[int, ItemResult] = {}
        pending = list(items)
        refused = 0
        while pending:
            body = [
                {"sku": change.keyword_external_id, "bid": kopecks_to_micro(change.new_bid)}
                for _, change in pending
            ]
            try:
                await self._guard(self.api.update_bids(campaign_id, body))
            except PermanentError as error:
                bad = _refused_index(error, len(pending))
                refused += 1
                if bad is None or refused > MAX_REFUSED_PER_BATCH:
                    why = str(error) if bad is None else f"not sent: {refused - 1} entries refused; {error}"
                    results.update({i: ItemResult(c.key, False, why) for i, c in pending})
                    return results
                index, change = pending.pop(bad)
                results[index] = ItemResult(change.key, False, str(error))
                continue
            except AuthError:
                raise
            except TransientError as error:
                # Unknown outcome (may have been applied): the caller reads the bid back first.
                results.update({i: ItemResult(c.key, False, str(error)) for i, c in pending})
                return results
            results.update({i: ItemResult(c.key, True) for i, c in pending})
            return results
        return results

    async def pause_campaign(self, campaign_id: str) -> None:
        """Deactivate. Idempotent: if Ozon refuses because the campaign already does not serve
        (inactive, stopped for budget, finished, archived), that is success. A planned campaign or
        one in moderation would start by itself, so that refusal stands."""
        await self._switch(campaign_id, self.api.deactivate, done_states=NOT_SERVING_STATES)

    async def resume_campaign(self, campaign_id: str) -> None:
        """Activate; if Ozon refuses but the campaign is already running, that is success."""
        await self._switch(campaign_id, self.api.activate, done_states={CAMPAIGN_STATE_RUNNING})

    async def _switch(
        self, campaign_id: str, action: Callable[[str], Awaitable[None]], *, done_states: Set[str]
    ) -> None:
        try:
            await self._guard(action(campaign_id))
        except PermanentError as refused:
            state = await self._campaign_state(campaign_id)
            if state in done_states:
                return
            raise refused from None

    async def _campaign_state(self, campaign_id: str) -> str | None:
        body = await self._guard(self.api.campaigns_by_id([campaign_id]))
        for item in _list_field(body, "list", "campaign list"):
            if isinstance(item, Mapping) and str(item.get("id")) == str(campaign_id):
                state = item.get("state")
                return str(state) if state else None
        return None

    async def pause_keyword(self, keyword: Keyword) -> None:
        """Ozon has no per-SKU pause and refuses a bid below the category minimum, so the SKU is
        removed from the campaign (POST .../products/delete); deleting an absent SKU succeeds, so
        this is idempotent. Putting it back is POST .../products with the bid we stored."""
        await self._guard(self.api.delete_products(keyword.campaign_external_id, [keyword.external_id]))

    async def pause_keywords(self, keywords: Sequence[Keyword]) -> list[ItemResult]:
        """One products/delete per campaign for all of its SKUs to pause."""
        by_campaign: dict[str, list[str]] = defaultdict(list)
        for k in keywords:
            by_campaign[k.campaign_external_id].append(k.external_id)
        errors: dict[str, str | None] = {}
        for campaign_id, skus in by_campaign.items():
            try:
                await self._guard(self.api.delete_products(campaign_id, sorted(set(skus))))
                errors[campaign_id] = None
            except AuthError:
                raise
            except AdapterError as failure:
                errors[campaign_id] = str(failure)
        return [
            ItemResult(
                (k.campaign_external_id, k.external_id),
                errors[k.campaign_external_id] is None,
                errors[k.campaign_external_id],
            )
            for k in keywords
        ]

    async def resume_keywords(self, items: Sequence[BidChange]) -> list[ItemResult]:
        """Put removed SKUs back into their campaigns with the bids they had (one POST per
        campaign and 500 SKUs); a bid of 0 lets Ozon set its competitive bid."""
        by_campaign: dict[str, list[BidChange]] = defaultdict(list)
        for item in items:
            by_campaign[item.campaign_external_id].append(item)
        errors: dict[tuple[str, str], str | None] = {}
        for campaign_id, changes in by_campaign.items():
            for batch in chunks(changes, OZON_QUOTAS.products_per_campaign):
                body = [_added_product(c) for c in batch]
                try:
                    await self._guard(self.api.add_products(campaign_id, body))
                    errors.update({c.key: None for c in batch})
                except AuthError:
                    raise
                except AdapterError as failure:
                    errors.update({c.key: str(failure) for c in batch})
        return [ItemResult(item.key, errors[item.key] is None, errors[item.key]) for item in items]

    async def get_recommendations(self, keywords: Sequence[Keyword]) -> list[Recommendation]:
        """Ozon's competitive bid per SKU (≤ 200 SKUs per call) as the bid for the top position, with
        the SKU's minimum CPC (POST /min/sku). Ozon answers 0 for a SKU not in the campaign: no
        signal, so no recommendation."""
        by_campaign: dict[str, list[str]] = defaultdict(list)
        for k in keywords:
            if k.external_id not in by_campaign[k.campaign_external_id]:
                by_campaign[k.campaign_external_id].append(k.external_id)
        jobs = [
            self._competitive(cid, batch)
            for cid, skus in by_campaign.items()
            for batch in chunks(skus, OZON_QUOTAS.competitive_bids_max_skus)
        ]
        found = [r for batch in await _bounded(jobs) for r in batch]
        minimums = await self._min_bids(sorted({r.keyword_external_id for r in found}))
        return [replace(r, min_bid=minimums.get(r.keyword_external_id)) for r in found]

    async def _competitive(self, campaign_id: str, skus: list[str]) -> list[Recommendation]:
        body = await self._guard(self.api.competitive_bids(campaign_id, skus))
        pairs = unique(
            "competitive bid",
            parse_each("competitive bid", _list_field(body, "bids", "competitive bids"), parse_competitive),
            lambda p: p[0],
        )
        fetched = machine_now()
        asked = set(skus)
        return [
            Recommendation(
                campaign_external_id=campaign_id,
                keyword_external_id=sku,
                bids_by_position=(bid,),
                min_bid=None,
                source="marketplace_competitive",
                fetched_at=fetched,
            )
            for sku, bid in pairs
            if sku in asked and bid > 0
        ]

    async def get_min_bids(self, keywords: Sequence[Keyword]) -> dict[tuple[str, str], int]:
        """The minimum CPC per SKU in kopecks (POST /min/sku)."""
        minimums = await self._min_bids(sorted({k.external_id for k in keywords}))
        return {
            (k.campaign_external_id, k.external_id): minimums[k.external_id]
            for k in keywords
            if minimums.get(k.external_id)
        }

    async def _min_bids(self, skus: list[str]) -> dict[str, int]:
        """Minimum CPC per SKU in kopecks. An auxiliary signal: if Ozon refuses the call (4xx), the
        recommendations go out without minimums rather than not at all."""
        out: dict[str, int] = {}
        for batch in chunks(skus, MIN_BIDS_PER_CALL):
            try:
                body = await self._guard(self.api.min_bids(batch))
            except PermanentError as error:
                reject("min bids of SKUs", batch[:3], str(error))
                continue
            rows = parse_each("min bid", _list_field(body, "minBids", "min bids"), parse_min_bid)
            out.update(unique("min bid", rows, lambda p: p[0]))
        return out

    async def get_budget(self, campaign_id: str) -> int | None:
        """The campaign's `budget` in kopecks, else its `weeklyBudget`; None if neither is set."""
        body = await self._guard(self.api.campaigns_by_id([campaign_id]))
        for item in _list_field(body, "list", "campaign list"):
            if isinstance(item, Mapping) and str(item.get("id")) == str(campaign_id):
                try:
                    return campaign_budget(item)
                except BadValue as error:
                    reject("campaign", campaign_id, str(error))
                    return None
        raise PermanentError(MARKETPLACE, "get budget", f"campaign {campaign_id} not found")

    async def get_balance(self) -> int | None:
        """None: the Performance API spec has no account-balance endpoint (the balance is only in
        the seller's cabinet)."""
        return None

    async def aclose(self) -> None:
        await self._http.aclose()


class _ReportSlot:
    """`async with`: hold the account's one report slot (Redis lease, or a local lock)."""

    def __init__(self, semaphore: RedisSemaphore | None, local: asyncio.Lock) -> None:
        self._semaphore = semaphore
        self._local = local
        self._lease: str | None = None

    async def __aenter__(self) -> None:
        await self._local.acquire()
        if self._semaphore is None:
            return
        try:
            self._lease = await self._semaphore.acquire(timeout=REPORT_TIMEOUT_S)
        except PacingTimeout:
            self._local.release()
            raise TransientError(
                MARKETPLACE, "create report", "another report of this account is still running"
            ) from None
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._semaphore is not None and self._lease is not None:
                await self._semaphore.release(self._lease)
        finally:
            self._local.release()


async def _no_auth() -> dict[str, str]:
    return {}


def _list_field(body: Any, field: str, what: str) -> list[Any]:
    """The array under `field`; a reply without one is malformed (nothing to read)."""
    value = body.get(field) if isinstance(body, Mapping) else None
    if value is None and isinstance(body, Mapping):
        return []  # Ozon omits empty arrays
    if not isinstance(value, list):
        raise TransientError(MARKETPLACE, what, f"malformed reply: `{field}` is not an array")
    return value


def _last_page(chunk: list[Any], page_size: int, id_field: str, seen: set[str]) -> bool:
    """A short page ends the list; so does a full page with no new id (a server that ignores
    `page` would otherwise be read forever)."""
    ids = {str(item.get(id_field)) for item in chunk if isinstance(item, Mapping)}
    fresh = ids - seen
    seen.update(ids)
    return len(chunk) < page_size or not fresh


def _distinct(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(str(i) for i in ids))


def _bid_problem(change: BidChange, seen: set[tuple[str, str]]) -> str | None:
    if change.key in seen:
        return "duplicate bid change for this SKU in one batch"
    if not change.keyword_external_id.isdigit() or not change.campaign_external_id.isdigit():
        return "campaign id and SKU must be numeric"
    if isinstance(change.new_bid, bool) or not isinstance(change.new_bid, int) or change.new_bid <= 0:
        return f"bid must be a positive number of kopecks, got {change.new_bid!r}"
    return None


def _refused_index(error: AdapterError, size: int) -> int | None:
    match = _BAD_BID_INDEX.search(error.detail)
    if match is None:
        return None
    index = int(match.group(1))
    return index if index < size else None


async def _bounded(jobs: Sequence[Awaitable[T]], limit: int = PARALLEL_CAMPAIGNS) -> list[T]:
    """Run `jobs` with at most `limit` at once; results in order; the first error propagates."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(job) for job in jobs)))


__all__ = ["OzonAdapter", "OzonClient"]


def _added_product(change: BidChange) -> dict[str, str]:
    """One product of POST .../products; without a bid Ozon sets its competitive bid."""
    entry = {"sku": change.keyword_external_id}
    if change.new_bid:
        entry["bid"] = kopecks_to_micro(change.new_bid)
    return entry
