"""Yandex Market Partner API adapter: the "sales boost" (буст продаж) bids (issue 4 item 2).

Model. YM's API manages exactly one campaign per business — the one `PUT /v2/businesses/{id}/bids`
creates ("Запрос всегда работает с одной и той же созданной через API кампанией";
specs/yandex-market/openapi/paths/v2_businesses_businessId_bids.yaml). It is our one internal
campaign of the account: external_id = business_id, type `boost`, payment `cpo`. Its keywords are
SKUs (kind `sku`, external_id = shop SKU) with a bid set through the API.

Units: YM bids stay in their native unit, hundredths of a percent of the item price (see
yandex_market_parsing.py — the API never returns a price to convert with). Money YM reports as
money (the boost report's `bidFee`, rubles) becomes kopecks.

Limits: every call goes through the shared transport (token buckets of limits.py for the account's
tier) and a Redis semaphore of YM_PARALLEL_REQUESTS slots per business, so all workers together
never have more than 4 requests in flight (limits page: the fifth gets HTTP 420).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from app.core.clock import now_utc
from app.services.marketing.adapters import limits
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
    TransientError,
)
from app.services.marketing.adapters.http import HttpTransport, Pacing, RetryPolicy, extract_message
from app.services.marketing.adapters.pacing import RedisSemaphore
from app.services.marketing.adapters.yandex_market_parsing import (
    MIN_BID,
    REMOVE_BID,
    STATUS_ACTIVE_BIDS,
    STATUS_NO_BIDS,
    BadValue,
    ReportRow,
    check_bid,
    check_sku,
    map_campaign_type,
    map_payment_type,
    map_status,
    parse_bid_items,
    parse_recommendations,
    parse_report_rows,
    report_records,
)

if TYPE_CHECKING:
    from app.services.marketing.adapters import AccountRef

logger = logging.getLogger(__name__)

MARKETPLACE = "ym"
# Batch sizes. Reference: components/schemas/PutSkuBidsRequest.yaml (bids ≤ 1500),
# GetBidsInfoRequest.yaml (skus ≤ 500) and parameters/PageLimit500Truncate.yaml (limit ≤ 500),
# GetBidsRecommendationsRequest.yaml (skus ≤ 1500).
PUT_BIDS_BATCH = 1500
INFO_SKUS_BATCH = 500
INFO_PAGE_LIMIT = 500
RECOMMENDATIONS_BATCH = 1500
# A 400 that names bad items (`bids[3]...`) fails those items and resends the rest, at most this
# many times per batch (each resend costs one call of the 500/min budget).
BAD_ITEM_ROUNDS = 3
# Boost report polling (GET /v2/reports/info/{reportId}): start at the server's estimate, double,
# never more than a minute apart, give up after ten minutes.
REPORT_FIRST_POLL_S = (1.0, 60.0)
REPORT_MAX_POLL_S = 60.0
REPORT_MAX_WAIT_S = 600.0
# A report read for one day serves the campaign and then the keyword stats of the same collection
# (collect_stats asks for both in a row); the generate call is limited to 1 per 2 minutes.
REPORT_REUSE_S = 60.0
# A semaphore lease outlives the longest possible request by this margin (a killed worker's slot
# frees itself after the lease).
LEASE_MARGIN_S = 5.0
MAX_PAGES = 10_000

T = TypeVar("T")

CAMPAIGN_SWITCH_UNSUPPORTED = (
    "Yandex Market's API has no switch for the boost campaign (putBidsForBusiness: it can be turned "
    "off only in the seller cabinet); turn it off there, or pause its SKUs one by one (bid 0)"
)
BAD_ITEM = re.compile(r"bids\[(\d+)\]")


def _business_id(settings: Mapping[str, Any]) -> str:
    value = str(settings.get("business_id", "")).strip()
    if not value.isdigit():
        raise PermanentError(
            MARKETPLACE,
            "configure account",
            f"settings.business_id must be the business (cabinet) id, digits only "
            f"(adolf-marketing accounts add --setting business_id=123); got {value!r}",
        )
    return value


def _tier(settings: Mapping[str, Any]) -> str:
    tier = str(settings.get("ym_tier", limits.YmTier.NONE))
    if tier not in tuple(limits.YmTier):
        raise PermanentError(
            MARKETPLACE,
            "configure account",
            f"settings.ym_tier must be one of {', '.join(limits.YmTier)}; got {tier!r}",
        )
    return tier


def _lease_seconds(timeout: httpx.Timeout) -> float:
    """The longest one request can hold a parallel slot: every phase's timeout, plus a margin."""
    phases = [t for t in (timeout.connect, timeout.write, timeout.read, timeout.pool) if t is not None]
    return (sum(phases) if phases else 60.0) + LEASE_MARGIN_S


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _no_auth() -> dict[str, str]:
    # Report file links are pre-signed and may point at another host: never send the Api-Key there.
    return {}


class YandexMarketAdapter:
    """One YM business (cabinet) of one account; see the module docstring for the model."""

    marketplace = MARKETPLACE

    def __init__(
        self,
        ref: AccountRef,
        secret: dict[str, str],
        http: httpx.AsyncClient,
        pacing: Pacing,
        retry: RetryPolicy,
    ) -> None:
        api_key = (secret.get("api_key") or "").strip()
        if not api_key:
            raise AuthError(
                MARKETPLACE,
                "configure account",
                "the account's credentials have no api_key; add the account again with its Api-Key "
                "(adolf-marketing accounts add)",
            )
        self.ref = ref
        self.business_id = _business_id(ref.settings)
        self._api_key = api_key
        self._http = http
        pacing.limit_key = _tier(ref.settings)
        if pacing.limiter is not None:
            pacing.parallel = RedisSemaphore(
                pacing.limiter.client,
                f"marketing:ym:parallel:{self.business_id}",
                capacity=limits.YM_PARALLEL_REQUESTS,
                lease_seconds=_lease_seconds(http.timeout),
            )
        self._api = HttpTransport(MARKETPLACE, http, pacing, self._auth_headers, retry)
        self._files = HttpTransport(
            MARKETPLACE, http, Pacing(limiter=None, account_key=pacing.account_key), _no_auth, retry
        )
        # Waiting between report polls; tests replace it to move the sandbox's clock instead.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._report_lock = asyncio.Lock()
        self._reports: dict[date, tuple[float, list[ReportRow]]] = {}

    async def _auth_headers(self) -> dict[str, str]:
        return {"Api-Key": self._api_key}

    # --- the API: one method per endpoint ----------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        """Send, then unwrap the `{status, result}` envelope (components/schemas/ApiResponse.yaml)."""
        response = await self._api.request(
            method, path, operation=operation, params=params, json_body=json_body
        )
        body = response.json() if response.content else {}
        if not isinstance(body, Mapping):
            raise TransientError(
                MARKETPLACE, operation, "malformed reply: not a JSON object", response.status_code
            )
        if body.get("status", "OK") != "OK":
            message = extract_message(body) or f"status {body.get('status')!r}"
            raise PermanentError(MARKETPLACE, operation, message, response.status_code)
        return body.get("result")

    async def _put_bids(self, bids: list[dict[str, Any]]) -> None:
        # Reference: specs/yandex-market/openapi/paths/v2_businesses_businessId_bids.yaml (PUT)
        await self._call(
            "PUT", f"/v2/businesses/{self.business_id}/bids", "set bids", json_body={"bids": bids}
        )

    async def _bids_info(
        self, *, skus: Sequence[str] | None = None, limit: int | None = None, page_token: str | None = None
    ) -> Mapping[str, Any]:
        # Reference: specs/yandex-market/openapi/paths/v2_businesses_businessId_bids_info.yaml
        params: dict[str, Any] = {}
        if limit is not None:
            params["limit"] = limit
        if page_token:
            params["pageToken"] = page_token
        body = {"skus": list(skus)} if skus else None
        result = await self._call(
            "POST", f"/v2/businesses/{self.business_id}/bids/info", "read bids", params=params, json_body=body
        )
        return _result_object(result, "read bids")

    async def _bids_recommendations(self, skus: Sequence[str]) -> Mapping[str, Any]:
        # Reference: specs/yandex-market/openapi/paths/v2_businesses_businessId_bids_recommendations.yaml
        result = await self._call(
            "POST",
            f"/v2/businesses/{self.business_id}/bids/recommendations",
            "read recommended bids",
            json_body={"skus": list(skus)},
        )
        return _result_object(result, "read recommended bids")

    async def _generate_boost_report(self, day_from: date, day_to: date) -> Mapping[str, Any]:
        # Reference: specs/yandex-market/openapi/paths/v2_reports_boost-consolidated_generate.yaml
        # format=JSON: "a ZIP archive with JSON files" (ReportFormatType.yaml), machine-readable.
        result = await self._call(
            "POST",
            "/v2/reports/boost-consolidated/generate",
            "generate boost report",
            params={"format": "JSON"},
            json_body={
                "businessId": int(self.business_id),
                "dateFrom": day_from.isoformat(),
                "dateTo": day_to.isoformat(),
            },
        )
        return _result_object(result, "generate boost report")

    async def _report_info(self, report_id: str) -> Mapping[str, Any]:
        # Reference: specs/yandex-market/openapi/paths/v2_reports_info_reportId.yaml
        result = await self._call("GET", f"/v2/reports/info/{report_id}", "read report status")
        return _result_object(result, "read report status")

    async def _download_report(self, url: str) -> bytes:
        # Reference: components/schemas/ReportInfoDTO.yaml `file` — a link valid for 60 minutes.
        response = await self._files.request("GET", url, operation="download boost report", expect_json=False)
        return response.content

    # --- protocol ----------------------------------------------------------------------------------

    async def ping(self) -> None:
        """One one-item page of bids/info: proves the key, the business and the network."""
        await self._bids_info(limit=1)

    async def list_campaigns(self) -> list[Campaign]:
        """The business's one API boost campaign. YM exposes no campaign status, so the status is
        derived: `active` while at least one SKU has an API bid, `draft` when none has (the API
        campaign then promotes nothing). A campaign switched off in the cabinet cannot be seen."""
        page = await self._bids_info(limit=1)
        has_bids = bool(_parse_bids(page, "list campaigns"))
        marketplace_status = STATUS_ACTIVE_BIDS if has_bids else STATUS_NO_BIDS
        return [
            Campaign(
                external_id=self.business_id,
                name=f"Буст продаж (API), бизнес {self.business_id}",
                campaign_type=map_campaign_type("BOOST"),
                status=map_status(marketplace_status),
                marketplace_status=marketplace_status,
                payment_type=map_payment_type("CPO"),
                daily_budget=None,
                raw={
                    "business_id": self.business_id,
                    "campaign_ids": list(self.ref.settings.get("campaign_ids") or []),
                },
            )
        ]

    async def get_keywords(self, campaign_ids: Sequence[str]) -> list[Keyword]:
        """Every SKU with an API bid, paged 500 at a time; `current_bid` is in hundredths of a
        percent of the price (YM's own unit), not kopecks."""
        if not self._wants_business(campaign_ids, "get keywords"):
            return []
        bids: dict[str, int] = {}
        token: str | None = None
        seen_tokens: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await self._bids_info(limit=INFO_PAGE_LIMIT, page_token=token)
            for sku, bid in _parse_bids(page, "read bids").items():
                if sku in bids:
                    logger.warning("ym: rejected bid item %s: sku repeated on a later page", sku)
                    continue
                bids[sku] = bid
            token = _next_page_token(page)
            if token is None or token in seen_tokens:
                break
            seen_tokens.add(token)
        return [self._keyword(sku, bid) for sku, bid in bids.items()]

    def _keyword(self, sku: str, bid: int) -> Keyword:
        return Keyword(
            campaign_external_id=self.business_id,
            external_id=sku,
            keyword=sku,
            kind="sku",
            product_id=sku,
            current_bid=bid,
            status="active",
        )

    async def get_current_bids(self, keywords: Sequence[Keyword]) -> dict[tuple[str, str], int]:
        """The API bids of these SKUs (hundredths of a percent), 500 SKUs per call. A SKU YM does
        not return has no bid: it is reported as 0, which is also what 0 means to the API. A bid set
        in the last few minutes may not show yet (YM applies changes "within several minutes"); a
        resent absolute bid is harmless."""
        skus = self._own_skus((k.campaign_external_id, k.external_id) for k in keywords)
        current: dict[tuple[str, str], int] = {}
        for chunk in _chunks(skus, INFO_SKUS_BATCH):
            found = _parse_bids(await self._bids_info(skus=chunk), "read bids")
            for sku in chunk:
                current[(self.business_id, sku)] = found.get(sku, REMOVE_BID)
        return current

    async def set_bids(self, changes: Sequence[BidChange]) -> list[ItemResult]:
        """Absolute bids in hundredths of a percent (0 removes the SKU), 1500 per call; one result
        per change, in order. Items we can tell are wrong are refused before sending; a 400 naming
        items fails those and resends the rest; any other failure of a call fails its items (an
        AuthError is raised: no item of this account can succeed). `ok` means YM accepted the bid;
        it applies it "within several minutes" and ignores SKUs not in the catalogue."""
        results: dict[int, ItemResult] = {}
        valid: list[tuple[int, BidChange]] = []
        counts: dict[tuple[str, str], int] = {}
        for change in changes:
            counts[change.key] = counts.get(change.key, 0) + 1
        for index, change in enumerate(changes):
            problem = self._bid_problem(change, counts[change.key])
            if problem:
                logger.warning("ym: refused bid change %s: %s", change.key, problem)
                results[index] = ItemResult(change.key, False, problem, sent=False)
            else:
                valid.append((index, change))
        for chunk in _chunks(valid, PUT_BIDS_BATCH):
            results.update(await self._put_chunk(list(chunk)))
        return [results[i] for i in range(len(changes))]

    def _bid_problem(self, change: BidChange, occurrences: int) -> str | None:
        if change.campaign_external_id != self.business_id:
            return f"campaign {change.campaign_external_id} is not this account's business {self.business_id}"
        if occurrences > 1:
            return f"sku {change.keyword_external_id} appears {occurrences} times in one batch"
        try:
            check_sku(change.keyword_external_id)
            check_bid(change.new_bid)
        except BadValue as error:
            return str(error)
        return None

    async def _put_chunk(self, chunk: list[tuple[int, BidChange]]) -> dict[int, ItemResult]:
        results: dict[int, ItemResult] = {}
        pending = chunk
        for _ in range(BAD_ITEM_ROUNDS):
            body = [{"sku": c.keyword_external_id, "bid": c.new_bid} for _, c in pending]
            try:
                await self._put_bids(body)
            except AuthError:
                raise
            except PermanentError as error:
                named = {int(i) for i in BAD_ITEM.findall(error.detail) if int(i) < len(pending)}
                if not named or len(named) == len(pending):
                    results.update(_failed(pending, str(error)))
                    return results
                results.update(_failed([p for i, p in enumerate(pending) if i in named], str(error)))
                pending = [p for i, p in enumerate(pending) if i not in named]
                continue
            except AdapterError as error:
                results.update(_failed(pending, str(error)))
                return results
            results.update({i: ItemResult(c.key, True) for i, c in pending})
            return results
        results.update(_failed(pending, f"ym set bids: gave up after {BAD_ITEM_ROUNDS} rejected rounds"))
        return results

    async def pause_campaign(self, campaign_id: str) -> None:
        """Not supported by YM's API: raises PermanentError saying so (see CAMPAIGN_SWITCH_UNSUPPORTED).

        Emulating it by setting every SKU to 0 and restoring later was rejected: bids/info shows a
        change only "within several minutes", so a pause right after a resume would snapshot an
        empty campaign and the later resume would not restore it — money would keep moving while
        we believed the campaign paused. An explicit refusal reaches a person through the budget
        alert ("Could not pause") instead."""
        raise PermanentError(MARKETPLACE, "pause campaign", CAMPAIGN_SWITCH_UNSUPPORTED)

    async def resume_campaign(self, campaign_id: str) -> None:
        """Not supported by YM's API (see pause_campaign); raises PermanentError."""
        raise PermanentError(MARKETPLACE, "resume campaign", CAMPAIGN_SWITCH_UNSUPPORTED)

    async def pause_keyword(self, keyword: Keyword) -> None:
        """Bid 0 removes the SKU from the boost campaign (SkuBidItemDTO / putBidsForBusiness);
        idempotent: removing a removed SKU is accepted."""
        change = BidChange(keyword.campaign_external_id, keyword.external_id, REMOVE_BID, keyword.product_id)
        (result,) = await self.set_bids([change])
        if not result.ok:
            raise PermanentError(MARKETPLACE, "pause keyword", result.error or "refused")

    async def pause_keywords(self, keywords: Sequence[Keyword]) -> list[ItemResult]:
        """Bid 0 for every SKU, in the same 1500-SKU batches as any bid change."""
        return await self.set_bids(
            [BidChange(k.campaign_external_id, k.external_id, REMOVE_BID, k.product_id) for k in keywords]
        )

    async def resume_keywords(self, items: Sequence[BidChange]) -> list[ItemResult]:
        """Set the remembered bids again (a SKU out of boost has bid 0); one without a remembered
        bid gets the minimum."""
        return await self.set_bids([replace(item, new_bid=item.new_bid or MIN_BID) for item in items])

    async def get_min_bids(self, keywords: Sequence[Keyword]) -> dict[tuple[str, str], int]:
        """YM's documented minimum for every SKU (50 = 0.5 % of the price; 0 would remove it)."""
        return {(k.campaign_external_id, k.external_id): MIN_BID for k in keywords}

    async def get_recommendations(self, keywords: Sequence[Keyword]) -> list[Recommendation]:
        """YM's recommended bids (hundredths of a percent), 1500 SKUs per call; index 0 is the bid
        for the largest share of shows; `min_bid` is the API minimum, 50 (0.5 %)."""
        skus = self._own_skus((k.campaign_external_id, k.external_id) for k in keywords)
        fetched_at = now_utc()
        out: list[Recommendation] = []
        for chunk in _chunks(skus, RECOMMENDATIONS_BATCH):
            result = await self._bids_recommendations(chunk)
            try:
                parsed = parse_recommendations(result.get("recommendations"))
            except BadValue as error:
                raise TransientError(
                    MARKETPLACE, "read recommended bids", f"malformed reply: {error}"
                ) from None
            wanted = set(chunk)
            for item in parsed:
                if item.sku not in wanted:
                    logger.warning("ym: rejected recommendation for %s: a SKU we did not ask for", item.sku)
                    continue
                out.append(
                    Recommendation(
                        campaign_external_id=self.business_id,
                        keyword_external_id=item.sku,
                        bids_by_position=item.bids_by_position,
                        min_bid=MIN_BID,
                        source="marketplace_recommendation",
                        fetched_at=fetched_at,
                        positions=item.positions,
                    )
                )
        return out

    async def get_campaign_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]:
        """The day's boost totals from the boost report (views = shows, spent = bidFee in kopecks).
        YM's report has no add-to-cart and no revenue: both are 0. The report covers every boost
        campaign of the business, cabinet ones included (generateBoostConsolidatedReport)."""
        if not self._wants_business(campaign_ids, "get campaign stats"):
            return []
        rows = await self._day_rows(day)
        return [
            StatsSnapshot(
                campaign_external_id=self.business_id,
                keyword_external_id=None,
                stat_date=day,
                views=sum(r.shows for r in rows),
                clicks=sum(r.clicks for r in rows),
                add_to_cart=0,
                orders=sum(r.orders for r in rows),
                spent=sum(r.spent for r in rows),
                revenue=0,
                raw={"source": "boost-consolidated", "skus": len(rows)},
            )
        ]

    async def get_keyword_stats(self, campaign_ids: Sequence[str], day: date) -> list[StatsSnapshot]:
        """One snapshot per SKU with boost activity that day (same report as the campaign stats)."""
        if not self._wants_business(campaign_ids, "get keyword stats"):
            return []
        return [
            StatsSnapshot(
                campaign_external_id=self.business_id,
                keyword_external_id=row.sku,
                stat_date=day,
                views=row.shows,
                clicks=row.clicks,
                add_to_cart=0,
                orders=row.orders,
                spent=row.spent,
                revenue=0,
                raw=dict(row.raw),
            )
            for row in await self._day_rows(day)
        ]

    async def get_budget(self, campaign_id: str) -> int | None:
        """None: YM's boost campaign has no budget in the API (it is paid per order, as a share
        of the price); there is no endpoint that returns one."""
        return None

    async def get_balance(self) -> int | None:
        """None: the Partner API exposes no advertising balance for the boost."""
        return None

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- helpers -----------------------------------------------------------------------------------

    def _wants_business(self, campaign_ids: Sequence[str], operation: str) -> bool:
        others = [c for c in campaign_ids if str(c) != self.business_id]
        if others:
            logger.warning(
                "ym %s: skipped campaign ids %s: the only YM campaign of this account is business %s",
                operation,
                ", ".join(map(str, others[:10])),
                self.business_id,
            )
        return len(others) < len(campaign_ids)

    def _own_skus(self, keys: Iterable[tuple[str, str]]) -> list[str]:
        """The distinct, well-formed SKUs of this business (one bad SKU would fail a whole call)."""
        skus: dict[str, None] = {}
        for campaign, sku in keys:
            if campaign != self.business_id:
                logger.warning(
                    "ym: skipped sku %s of campaign %s: not business %s", sku, campaign, self.business_id
                )
                continue
            try:
                skus[check_sku(sku)] = None
            except BadValue as error:
                logger.warning("ym: skipped a keyword of business %s: %s", self.business_id, error)
        return list(skus)

    async def _day_rows(self, day: date) -> list[ReportRow]:
        async with self._report_lock:
            cached = self._reports.get(day)
            if cached is not None and time.monotonic() - cached[0] < REPORT_REUSE_S:
                return cached[1]
            rows = [r for r in await self._boost_report(day) if r.day == day]
            self._reports[day] = (time.monotonic(), rows)
            return rows

    async def _boost_report(self, day: date) -> list[ReportRow]:
        """Generate the boost report for one day, poll it with backoff until DONE or FAILED
        (getReportInfo), download the file and parse it."""
        started = await self._generate_boost_report(day, day)
        report_id = started.get("reportId")
        if not isinstance(report_id, str) or not REPORT_ID.fullmatch(report_id):
            raise TransientError(MARKETPLACE, "generate boost report", "malformed reply: no usable reportId")
        delay = _first_poll_delay(started.get("estimatedGenerationTime"))
        waited = 0.0
        while True:
            await self.sleep(delay)
            waited += delay
            info = await self._report_info(report_id)
            status, sub_status = info.get("status"), info.get("subStatus")
            if status == "DONE":
                return await self._done_report(report_id, info)
            if status == "FAILED":
                error = PermanentError if sub_status == "TOO_LARGE" else TransientError
                raise error(
                    MARKETPLACE,
                    "read boost report",
                    f"report {report_id} failed ({sub_status or 'no reason given'})",
                )
            if status not in ("PENDING", "PROCESSING"):
                raise TransientError(MARKETPLACE, "read report status", f"malformed reply: status {status!r}")
            if waited >= REPORT_MAX_WAIT_S:
                raise TransientError(
                    MARKETPLACE,
                    "read boost report",
                    f"report {report_id} still {status} after {waited:.0f} s",
                )
            delay = min(REPORT_MAX_POLL_S, delay * 2)

    async def _done_report(self, report_id: str, info: Mapping[str, Any]) -> list[ReportRow]:
        link = info.get("file")
        if info.get("subStatus") == "NO_DATA" and not link:
            return []
        if not isinstance(link, str) or not link.startswith(("https://", "http://")) or not _printable(link):
            raise TransientError(
                MARKETPLACE, "read boost report", f"report {report_id} is DONE without a file link"
            )
        content = await self._download_report(link)
        try:
            return parse_report_rows(report_records(content))
        except BadValue as error:
            raise TransientError(
                MARKETPLACE, "read boost report", f"malformed report file: {error}"
            ) from None


# A report id goes into a URL path (getReportInfo): the characters ids are made of, nothing else.
REPORT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def _first_poll_delay(estimate: Any) -> float:
    """The server's estimate (ms) bounded to REPORT_FIRST_POLL_S; the lower bound without one."""
    low, high = REPORT_FIRST_POLL_S
    if isinstance(estimate, bool) or not isinstance(estimate, int | float):
        return low
    seconds = estimate / 1000 if abs(estimate) < 1e12 else high
    return min(high, max(low, seconds)) if math.isfinite(seconds) else low


def _printable(link: str) -> bool:
    return link.isascii() and link.isprintable() and " " not in link


def _result_object(result: Any, operation: str) -> Mapping[str, Any]:
    if not isinstance(result, Mapping):
        raise TransientError(MARKETPLACE, operation, "malformed reply: `result` is not an object")
    return result


def _parse_bids(result: Mapping[str, Any], operation: str) -> dict[str, int]:
    try:
        return parse_bid_items(result.get("bids"))
    except BadValue as error:
        raise TransientError(MARKETPLACE, operation, f"malformed reply: {error}") from None


def _next_page_token(result: Mapping[str, Any]) -> str | None:
    paging = result.get("paging")
    token = paging.get("nextPageToken") if isinstance(paging, Mapping) else None
    return token if isinstance(token, str) and token else None


def _failed(items: Sequence[tuple[int, BidChange]], error: str) -> dict[int, ItemResult]:
    return {i: ItemResult(c.key, False, error) for i, c in items}
