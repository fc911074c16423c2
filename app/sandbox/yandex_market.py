"""Yandex Market Partner API — the "sales boost" bids — as a Starlette app.

Reference: specs/yandex-market/openapi/paths/v2_businesses_businessId_bids*.yaml,
v2_campaigns_campaignId_bids.yaml, v2_reports_boost-consolidated_generate.yaml,
v2_reports_info_reportId.yaml; limits page (reference §3.3). `bid` is percent of the item price
× 100 (integer; 50..9999, 0 removes the SKU). Every answer uses the `{status, result | errors}`
envelope and carries `X-RateLimit-Resource-*`; 4 parallel requests per business and exhausted
resource limits give HTTP 420.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.core.marketplaces import Marketplace
from app.sandbox.clock import MOSCOW
from app.sandbox.control import control_routes
from app.sandbox.faults import FaultMiddleware, current_fault
from app.sandbox.http import BadJSON, JSONBody, is_int, parse_int, read_json
from app.sandbox.market import CLICKS, ORDERS, REVENUE, SPEND, VIEWS
from app.sandbox.ratelimit import until_header
from app.sandbox.state import YM_BID_DELAY_S, ReportJob, Sandbox
from app.sandbox.world import Account, Campaign, CampaignItem, Product
from app.services.marketing.adapters.limits import YM_PARALLEL_REQUESTS, YmTier, find_operation

log = logging.getLogger(__name__)

MAX_PUT_BIDS = 1500
MAX_INFO_SKUS = 500
DEFAULT_INFO_LIMIT = 250
MAX_RECOMMENDATION_SKUS = 1500
DEFAULT_ORDERS_LIMIT, MAX_ORDERS_LIMIT = 100, 200
MIN_BID, MAX_BID = 50, 9999
# Boost reports: PENDING for a moment, then PROCESSING (virtual seconds).
REPORT_PENDING_S = 5
REPORT_PROCESSING_S = 30


class YmError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def envelope_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONBody:
    return JSONBody({"status": "ERROR", "errors": [{"code": code, "message": message}]}, status, headers)


@dataclass(slots=True)
class YmCall:
    request: Request
    account: Account
    now: datetime
    campaign: Campaign  # the business's API boost campaign


Handler = Callable[[YmCall], Awaitable[Response]]


class YandexMarketApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    def endpoint(
        self, method: str, path: str, handler: Handler, scope: str
    ) -> Callable[[Request], Awaitable[Response]]:
        operation = find_operation(Marketplace.YM, method, path)
        if operation is None:
            raise RuntimeError(f"no limit row for YM {method} {path}; add it to limits.py")

        async def run(request: Request) -> Response:
            key = request.headers.get("api-key", "").strip()
            if not key:
                return envelope_error(401, "UNAUTHORIZED", "Api-Key header is missing")
            account = self.sb.ym_keys.get(key)
            if account is None:
                return envelope_error(401, "UNAUTHORIZED", "Api-Key is invalid")
            business = self._business_of(request, account, scope)
            if business is None:
                return envelope_error(403, "FORBIDDEN", f"the Api-Key has no access to this {scope}")
            gate = (account.ym_business_id, "parallel")
            if not self.sb.ym_parallel.enter(gate, YM_PARALLEL_REQUESTS):
                return envelope_error(
                    420,
                    "LIMIT_EXCEEDED",
                    f"Hit rate limit of {YM_PARALLEL_REQUESTS} parallel requests "
                    f"for businessId {account.ym_business_id}",
                )
            try:
                await asyncio.sleep(self.sb.settings.ym_service_time_s)
                now = self.sb.now()
                tier = account.ym_tier if isinstance(account.ym_tier, YmTier) else YmTier.NONE
                limit = operation.limit_for(tier)
                assert limit is not None  # every YM row has both tiers
                decision = self.sb.ym_windows.take(
                    (account.ym_business_id, operation.group), self.sb.profile.apply(limit), now
                )
                headers = {
                    "X-RateLimit-Resource-Limit": str(decision.limit),
                    "X-RateLimit-Resource-Remaining": str(decision.remaining),
                    "X-RateLimit-Resource-Until": until_header(decision.until),
                }
                if not decision.allowed:
                    return envelope_error(
                        420,
                        "LIMIT_EXCEEDED",
                        f"Hit resource limit for {operation.method} {operation.path}",
                        headers,
                    )
                campaign = self.sb.world.campaigns[account.ym_business_id]
                try:
                    response = await handler(YmCall(request, account, now, campaign))
                except YmError as exc:
                    response = envelope_error(exc.status, exc.code, exc.message)
                except BadJSON as exc:
                    response = envelope_error(400, "BAD_REQUEST", exc.detail)
                except Exception:
                    log.exception("YM sandbox handler failed: %s %s", method, path)
                    response = envelope_error(500, "INTERNAL_ERROR", "internal error")
                response.headers.update(headers)
                return response
            finally:
                self.sb.ym_parallel.leave(gate)

        return run

    def _business_of(self, request: Request, account: Account, scope: str) -> int | None:
        """The business the URL names, if this key may use it (the key is bound to one business)."""
        params = request.path_params
        if scope == "business":
            business = parse_int(params.get("businessId"))
            return business if business == account.ym_business_id else None
        if scope == "campaign":
            campaign = parse_int(params.get("campaignId"))
            return account.ym_business_id if campaign in account.ym_campaign_ids else None
        return account.ym_business_id

    def record(self, call: YmCall, effect: dict[str, Any]) -> None:
        self.sb.record(
            Marketplace.YM,
            call.account.id,
            call.request.method,
            call.request.url.path,
            200,
            effect,
        )

    # ---- bids ------------------------------------------------------------------------------------

    async def put_bids(self, call: YmCall) -> Response:
        # Reference: PUT /v2/businesses/{businessId}/bids and /v2/campaigns/{campaignId}/bids —
        # 1..1500 items; bid 0 or 50..9999; 0 removes the SKU; unknown SKUs are ignored; the
        # change is visible after "up to several minutes" (the sandbox: YM_BID_DELAY_S).
        body = await read_json(call.request)
        bids = body.get("bids") if isinstance(body, dict) else None
        if not isinstance(bids, list) or not 1 <= len(bids) <= MAX_PUT_BIDS:
            raise YmError(400, "BAD_REQUEST", f"bids: from 1 to {MAX_PUT_BIDS} items are required")
        catalogue = self.sb.world.ym_products_by_sku(call.account.id)
        parsed: list[tuple[str, int]] = []
        for i, entry in enumerate(bids):
            if not isinstance(entry, dict):
                raise YmError(400, "BAD_REQUEST", f"bids[{i}] must be an object")
            sku, bid = entry.get("sku"), entry.get("bid")
            if not isinstance(sku, str) or not sku.strip() or len(sku) > 255:
                raise YmError(400, "BAD_REQUEST", f"bids[{i}].sku must be a string of 1..255 characters")
            if not is_int(bid) or not (bid == 0 or MIN_BID <= bid <= MAX_BID):
                raise YmError(
                    400, "BAD_REQUEST", f"bids[{i}].bid must be 0 (remove) or from {MIN_BID} to {MAX_BID}"
                )
            parsed.append((sku.strip(), bid))
        effective = call.now + timedelta(seconds=YM_BID_DELAY_S)
        applied, ignored = [], []
        for sku, bid in parsed:
            product = catalogue.get(sku)
            if product is None:
                ignored.append(sku)
                continue
            self.sb.market.schedule(effective, _boost_setter(call.campaign, product, bid, effective))
            applied.append({"sku": sku, "bid": bid})
        # The PUT also (re)enables the API campaign and its price strategy.
        call.campaign.status = "ACTIVE"
        self.record(
            call,
            {
                "action": "set_bids",
                "effective_at": effective.isoformat(),
                "bids": applied,
                "ignored_skus": ignored,
            },
        )
        return JSONBody({"status": "OK"})

    async def bids_info(self, call: YmCall) -> Response:
        # Reference: POST /v2/businesses/{businessId}/bids/info — with `skus` (≤ 500) one page; else
        # every SKU with a bid, paged by `limit` (≤ 500, default 250) and `pageToken`.
        body = await read_json(call.request, required=False)
        skus = body.get("skus") if isinstance(body, dict) else None
        if body is not None and not isinstance(body, dict):
            raise YmError(400, "BAD_REQUEST", "request body must be an object")
        q = call.request.query_params
        limit = parse_int(q.get("limit")) if q.get("limit") is not None else DEFAULT_INFO_LIMIT
        if limit is None or not 1 <= limit <= MAX_INFO_SKUS:
            raise YmError(400, "BAD_REQUEST", f"limit must be from 1 to {MAX_INFO_SKUS}")
        by_id = {p.id: p for p in self.sb.world.products.values() if p.account_id == call.account.id}
        current = sorted(
            (
                (by_id[i.product_id].shop_sku, i.bids["boost"])
                for i in call.campaign.items.values()
                if i.bids.get("boost")
            ),
        )
        if skus is not None:
            if (
                not isinstance(skus, list)
                or not 1 <= len(skus) <= MAX_INFO_SKUS
                or not all(isinstance(s, str) for s in skus)
            ):
                raise YmError(400, "BAD_REQUEST", f"skus: from 1 to {MAX_INFO_SKUS} strings")
            if len(set(skus)) != len(skus):
                raise YmError(400, "BAD_REQUEST", "skus must be unique")
            wanted = set(skus)
            return JSONBody(
                {
                    "status": "OK",
                    "result": {"bids": [{"sku": s, "bid": b} for s, b in current if s in wanted]},
                }
            )
        start = 0
        token = q.get("pageToken") or q.get("page_token")
        if token:
            decoded = _decode_token(token)
            if decoded is None:
                raise YmError(400, "BAD_REQUEST", "pageToken is invalid")
            start = decoded
        page = current[start : start + limit]
        result: dict[str, Any] = {"bids": [{"sku": s, "bid": b} for s, b in page]}
        if start + limit < len(current):
            result["paging"] = {"nextPageToken": _encode_token(start + limit)}
        return JSONBody({"status": "OK", "result": result})

    async def recommendations(self, call: YmCall) -> Response:
        # Reference: POST /v2/businesses/{businessId}/bids/recommendations — ≤ 1500 SKUs; the bid
        # that gets the most shows and the shows share at lower bids.
        body = await read_json(call.request)
        skus = body.get("skus") if isinstance(body, dict) else None
        if (
            not isinstance(skus, list)
            or not 1 <= len(skus) <= MAX_RECOMMENDATION_SKUS
            or not all(isinstance(s, str) for s in skus)
        ):
            raise YmError(400, "BAD_REQUEST", f"skus: from 1 to {MAX_RECOMMENDATION_SKUS} strings")
        if len(set(skus)) != len(skus):
            raise YmError(400, "BAD_REQUEST", "skus must be unique")
        catalogue = self.sb.world.ym_products_by_sku(call.account.id)
        out = []
        for sku in skus:
            product = catalogue.get(sku)
            if product is None:
                continue
            out.append(self._recommendation(product, call.now))
        return JSONBody({"status": "OK", "result": {"recommendations": out}})

    def _recommendation(self, product: Product, now: datetime) -> dict[str, Any]:
        bids = sorted(
            b
            for cid in product.cluster_ids
            for b in self.sb.market.competitor_bids(self.sb.world.clusters[cid], now)
        )
        top = min(MAX_BID, max(MIN_BID, (bids[-1] + 10) if bids else MIN_BID))
        levels = []
        for share in (100, 70, 40, 10):
            # The bid that beats (share %) of the competitors gets roughly that share of shows.
            idx = max(0, min(len(bids) - 1, int(len(bids) * share / 100) - 1)) if bids else 0
            bid = min(MAX_BID, max(MIN_BID, (bids[idx] + 10) if bids else MIN_BID))
            levels.append({"bid": bid, "showPercent": share})
        return {"sku": product.shop_sku, "bid": top, "bidRecommendations": levels}

    # ---- boost spend -----------------------------------------------------------------------------

    async def orders_stats(self, call: YmCall) -> Response:
        # Reference: POST /v2/campaigns/{campaignId}/stats/orders — the orders of a store with, per
        # item, `bidFee` (the boost bid that applied, percent × 100) and the AUCTION_PROMOTION
        # commission in rubles: the only place the API reports boost spend. The sandbox books the
        # boost campaign's orders on the business's first store; one order per whole simulated order.
        body = await read_json(call.request)
        if not isinstance(body, dict):
            raise YmError(400, "BAD_REQUEST", "request body must be an object")
        try:
            start = date.fromisoformat(str(body.get("dateFrom") or body.get("updateFrom")))
            end = date.fromisoformat(str(body.get("dateTo") or body.get("updateTo")))
        except ValueError:
            raise YmError(
                400, "BAD_REQUEST", "give dateFrom/dateTo (or updateFrom/updateTo) as YYYY-MM-DD"
            ) from None
        if end < start:
            raise YmError(400, "BAD_REQUEST", "dateTo is before dateFrom")
        wanted = body.get("orders")
        if wanted is not None and (not isinstance(wanted, list) or not all(is_int(o) for o in wanted)):
            raise YmError(400, "BAD_REQUEST", "orders must be an array of order ids")
        statuses = body.get("statuses")
        if statuses is not None and (
            not isinstance(statuses, list) or not all(isinstance(x, str) for x in statuses)
        ):
            raise YmError(400, "BAD_REQUEST", "statuses must be an array of order statuses")
        q = call.request.query_params
        limit = parse_int(q.get("limit")) if q.get("limit") is not None else DEFAULT_ORDERS_LIMIT
        if limit is None or not 1 <= limit <= MAX_ORDERS_LIMIT:
            raise YmError(400, "BAD_REQUEST", f"limit must be from 1 to {MAX_ORDERS_LIMIT}")
        offset = 0
        token = q.get("pageToken") or q.get("page_token")
        if token:
            decoded = _decode_token(token)
            if decoded is None:
                raise YmError(400, "BAD_REQUEST", "pageToken is invalid")
            offset = decoded
        store = parse_int(call.request.path_params["campaignId"])
        orders = [] if store != call.account.ym_campaign_ids[0] else self._orders(call, start, end)
        if wanted is not None:
            orders = [o for o in orders if o["id"] in set(wanted)]
        if statuses is not None:
            orders = [o for o in orders if o["status"] in statuses]
        page = orders[offset : offset + limit]
        result: dict[str, Any] = {"orders": page}
        if offset + limit < len(orders):
            result["paging"] = {"nextPageToken": _encode_token(offset + limit)}
        return JSONBody({"status": "OK", "result": result})

    def _orders(self, call: YmCall, start: date, end: date) -> list[dict[str, Any]]:
        market = self.sb.market
        today = market.today()
        out = []
        for day in market.days(start, end):
            for product_id, values in sorted(market.totals_by_product(call.campaign.id, day).items()):
                count = int(values[ORDERS])
                if count <= 0:
                    continue
                product = self.sb.world.products[product_id]
                # The effective boost fee of the day: spend / order value, in percent × 100.
                fee = round(values[SPEND] / values[REVENUE] * 10_000) if values[REVENUE] else 0
                price = product.price_kopecks / 100
                for k in range(count):
                    order_id = int(f"{day:%y%m%d}{product_id % 10**6:06d}{k:04d}")
                    out.append(
                        {
                            "id": order_id,
                            "creationDate": day.isoformat(),
                            "statusUpdateDate": _ym_time(
                                datetime.combine(day, datetime.min.time(), MOSCOW) + timedelta(hours=12)
                            ),
                            "status": "DELIVERY" if day >= today else "DELIVERED",
                            "paymentType": "PREPAID",
                            "fake": False,
                            "items": [
                                {
                                    "offerName": product.title,
                                    "shopSku": product.shop_sku,
                                    "count": 1,
                                    "prices": [{"type": "BUYER", "costPerItem": price, "total": price}],
                                    "bidFee": min(MAX_BID, fee),
                                }
                            ],
                            "payments": [],
                            "commissions": [
                                {"type": "AUCTION_PROMOTION", "actual": round(price * fee / 10_000, 2)}
                            ],
                            "currency": "RUR",
                        }
                    )
        return out

    # ---- reports ---------------------------------------------------------------------------------

    async def generate_report(self, call: YmCall) -> Response:
        # Reference: POST /v2/reports/boost-consolidated/generate {businessId, dateFrom, dateTo}.
        body = await read_json(call.request)
        if not isinstance(body, dict):
            raise YmError(400, "BAD_REQUEST", "request body must be an object")
        if body.get("businessId") != call.account.ym_business_id:
            raise YmError(403, "FORBIDDEN", "the Api-Key has no access to this businessId")
        try:
            start = date.fromisoformat(str(body.get("dateFrom")))
            end = date.fromisoformat(str(body.get("dateTo")))
        except ValueError:
            raise YmError(400, "BAD_REQUEST", "dateFrom and dateTo must be YYYY-MM-DD") from None
        if end < start:
            raise YmError(400, "BAD_REQUEST", "dateTo is before dateFrom")
        report_id = f"boost-{self.sb.seed:x}-{self.sb.next_id():08x}"
        has_data = any(self.sb.market.day_rows(call.campaign.id, d) for d in self.sb.market.days(start, end))
        # The fast profile compresses the report service's times like its rate limits.
        pace = self.sb.profile.factor
        started = call.now + timedelta(seconds=REPORT_PENDING_S / pace)
        self.sb.reports[report_id] = ReportJob(
            id=report_id,
            marketplace=Marketplace.YM,
            account_id=call.account.id,
            created_at=call.now,
            started_at=started,
            done_at=started + timedelta(seconds=REPORT_PROCESSING_S / pace),
            request={"dateFrom": start.isoformat(), "dateTo": end.isoformat(), "hasData": has_data},
            kind="BOOST",
            campaign_ids=[call.campaign.id],
            # The `report_error` fault (docs/sandbox.md) makes this report end FAILED.
            failed=current_fault.get() == "report_error",
        )
        self.record(call, {"action": "generate_report", "report_id": report_id})
        return JSONBody(
            {
                "status": "OK",
                "result": {
                    "reportId": report_id,
                    "estimatedGenerationTime": int(
                        (REPORT_PENDING_S + REPORT_PROCESSING_S) * 1000 / self.sb.profile.factor
                    ),
                },
            }
        )

    async def report_info(self, call: YmCall) -> Response:
        # Reference: GET /v2/reports/info/{reportId} — PENDING → PROCESSING → DONE (or FAILED),
        # `file` once DONE; subStatus NO_DATA when the period had no boost activity.
        job = self.sb.reports.get(call.request.path_params["reportId"])
        if job is None or job.marketplace != Marketplace.YM or job.account_id != call.account.id:
            raise YmError(404, "NOT_FOUND", "report not found")
        state = job.state(call.now)
        status = {"NOT_STARTED": "PENDING", "IN_PROGRESS": "PROCESSING", "OK": "DONE", "ERROR": "FAILED"}[
            state
        ]
        result: dict[str, Any] = {
            "status": status,
            "generationRequestedAt": _ym_time(job.created_at),
            "estimatedGenerationTime": max(0, int((job.done_at - call.now).total_seconds() * 1000)),
        }
        if status == "DONE":
            result["generationFinishedAt"] = _ym_time(job.done_at)
            if job.request.get("hasData"):
                result["file"] = f"{str(call.request.base_url).rstrip('/')}/_sandbox/files/{job.id}"
            else:
                result["subStatus"] = "NO_DATA"
        return JSONBody({"status": "OK", "result": result})

    async def report_file(self, request: Request) -> Response:
        """The generated boost report (JSON lines of SKU, day, shows, clicks, orders and fee)."""
        job = self.sb.reports.get(request.path_params["reportId"])
        if job is None or job.marketplace != Marketplace.YM or job.state(self.sb.now()) != "OK":
            return envelope_error(404, "NOT_FOUND", "report file not found")
        campaign = self.sb.world.campaigns[job.campaign_ids[0]]
        rows = []
        for day in self.sb.market.days(
            date.fromisoformat(job.request["dateFrom"]), date.fromisoformat(job.request["dateTo"])
        ):
            for product_id, v in sorted(self.sb.market.totals_by_product(campaign.id, day).items()):
                if v[VIEWS] > 0:
                    rows.append(
                        {
                            "sku": self.sb.world.products[product_id].shop_sku,
                            "date": day.isoformat(),
                            "shows": int(v[VIEWS]),
                            "clicks": int(v[CLICKS]),
                            "orders": int(v[ORDERS]),
                            "bidFee": round(int(v[SPEND]) / 100, 2),
                        }
                    )
        return Response(
            "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), media_type="application/x-ndjson"
        )


def _boost_setter(campaign: Campaign, product: Product, bid: int, at: datetime) -> Callable[[], None]:
    def apply() -> None:
        if bid == 0:
            campaign.items.pop(product.id, None)
        else:
            campaign.items.setdefault(product.id, CampaignItem(product.id)).bids["boost"] = bid
        campaign.updated_at = at

    return apply


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _decode_token(token: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    offset = data.get("offset") if isinstance(data, dict) else None
    return offset if is_int(offset) and offset >= 0 else None


def _ym_time(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).isoformat(timespec="seconds")


def create_yandex_market_app(sandbox: Sandbox) -> Starlette:
    api = YandexMarketApi(sandbox)

    def ep(method: str, path: str, handler: Handler, scope: str) -> Route:
        return Route(path, api.endpoint(method, path, handler, scope), methods=[method])

    routes = [
        ep("PUT", "/v2/businesses/{businessId}/bids", api.put_bids, "business"),
        ep("PUT", "/v2/campaigns/{campaignId}/bids", api.put_bids, "campaign"),
        ep("POST", "/v2/businesses/{businessId}/bids/info", api.bids_info, "business"),
        ep("POST", "/v2/businesses/{businessId}/bids/recommendations", api.recommendations, "business"),
        ep("POST", "/v2/campaigns/{campaignId}/stats/orders", api.orders_stats, "campaign"),
        ep("POST", "/v2/reports/boost-consolidated/generate", api.generate_report, "token"),
        ep("GET", "/v2/reports/info/{reportId}", api.report_info, "token"),
        Route("/_sandbox/files/{reportId}", api.report_file, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return envelope_error(
            status,
            "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED",
            "resource not found" if status == 404 else "method not allowed",
        )

    return Starlette(
        routes=[*routes, *control_routes(sandbox)],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[
            Middleware(FaultMiddleware, injector=sandbox.faults, marketplace=Marketplace.YM.long_name)
        ],
    )
