"""Ozon Performance API 2.0 as a Starlette app.

Reference: specs/ozon-performance/performance-openapi.json and reference/marketplace-apis.md §2.
Money at this boundary: `budget`, `dailyBudget`, `weeklyBudget` and CPC `bid` are strings in
millionths of a ruble (1 000 000 = 1 ₽, rounded to kopecks); `/limits/list` and `/min/sku` give
rubles as doubles; statistics give rubles. Every error body is `{"error": "<text>"}` (the spec's
`default` response).
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
import zipfile
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
from app.sandbox.clock import MOSCOW, moscow_date
from app.sandbox.control import control_routes
from app.sandbox.faults import FaultMiddleware, current_fault
from app.sandbox.http import BadJSON, JSONBody, is_int, micro_rubles, parse_int
from app.sandbox.market import ATBS, BASE_CTR, CLICKS, ORDERS, REVENUE, SLOTS, SPEND, VIEWS
from app.sandbox.state import OzonToken, ReportJob, Sandbox
from app.sandbox.world import Account, Campaign, CampaignItem, Product
from app.services.marketing.adapters.limits import OZON_FREE_OPERATIONS

log = logging.getLogger(__name__)

# CPC bid bounds in kopecks: the seller help quotes minimums of 8–11 ₽ by category (reference §2.4);
# the maximum is the sandbox's `/limits/list` answer.
MIN_CPC_KOPECKS = 800
MAX_CPC_KOPECKS = 100_000
MIN_CPM_KOPECKS = 10_000
# A report waits this long in NOT_STARTED, then takes this long per campaign in IN_PROGRESS
# (virtual seconds; the real generation time is undocumented).
REPORT_QUEUE_S = 5
REPORT_PER_CAMPAIGN_S = 10
DEFAULT_PAGE_SIZE = 100
# States an owner can switch a campaign between (activate / deactivate).
ACTIVATABLE = ("CAMPAIGN_STATE_INACTIVE", "CAMPAIGN_STATE_STOPPED", "CAMPAIGN_STATE_PLANNED")


class OzonError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class OzonCall:
    request: Request
    account: Account
    now: datetime


Handler = Callable[[OzonCall], Awaitable[Response]]


def _micro_to_kopecks(value: Any, field: str) -> int:
    """Parse a micro-ruble string (uint64 as a string; numbers accepted) into kopecks."""
    if (is_int(value) and value >= 0) or (isinstance(value, str) and value.isascii() and value.isdigit()):
        micro = int(value)
    else:
        raise OzonError(400, f"{field}: expected a non-negative integer string in millionths of a ruble")
    return (micro + 5_000) // 10_000  # "rounded to kopecks"


def _sku(value: Any, field: str) -> int:
    if is_int(value) and value > 0:
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    raise OzonError(400, f"{field}: expected a SKU (positive integer as a string)")


class OzonApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    # ---- pipeline --------------------------------------------------------------------------------

    def endpoint(self, handler: Handler, *, free: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return JSONBody({"error": "missing Authorization: Bearer <access_token> header"}, 401)
            now = self.sb.now()
            found = self.sb.ozon_tokens.get(token.strip())
            if found is None:
                return JSONBody({"error": "invalid access token"}, 401)
            if found.expires_at <= now:
                return JSONBody(
                    {"error": "access token expired; request a new one at /api/client/token"}, 401
                )
            account = self.sb.world.accounts[found.account_id]
            quota = self.sb.profile.ozon_quotas().requests_per_day
            if not free and not self.sb.ozon_daily.take(account.id, moscow_date(now), quota):
                return JSONBody({"error": f"daily request limit of {quota} exceeded"}, 429)
            try:
                return await handler(OzonCall(request, account, now))
            except OzonError as exc:
                return JSONBody({"error": exc.message}, exc.status)
            except BadJSON as exc:
                return JSONBody({"error": exc.detail}, 400)
            except Exception:
                log.exception("Ozon sandbox handler failed: %s", request.url.path)
                return JSONBody({"error": "internal error"}, 500)

        return run

    def record(self, call: OzonCall, effect: dict[str, Any], status: int = 200) -> None:
        self.sb.record(
            Marketplace.OZON, call.account.id, call.request.method, call.request.url.path, status, effect
        )

    async def token(self, request: Request) -> Response:
        # Reference: POST /api/client/token (client_credentials) → Bearer, expires_in 1800 s.
        try:
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                data: Any = dict(await request.form())
            else:
                from app.sandbox.http import read_json

                data = await read_json(request)
        except BadJSON as exc:
            return JSONBody({"error": exc.detail}, 400)
        if not isinstance(data, dict):
            return JSONBody({"error": "send client_id, client_secret and grant_type"}, 400)
        if data.get("grant_type") != "client_credentials":
            return JSONBody({"error": "grant_type must be client_credentials"}, 400)
        account = self.sb.ozon_clients.get(str(data.get("client_id", "")))
        if account is None or data.get("client_secret") != account.ozon_client_secret:
            return JSONBody({"error": "invalid client_id or client_secret"}, 401)
        now = self.sb.now()
        lifetime = self.sb.profile.ozon_quotas().token_lifetime_s
        token = f"oz.{self.sb.seed:x}.{self.sb.next_id():012x}.{account.id:x}"
        self.sb.ozon_tokens[token] = OzonToken(account.id, now + timedelta(seconds=lifetime))
        return JSONBody({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

    # ---- campaigns -------------------------------------------------------------------------------

    def own(self, call: OzonCall, raw_id: str) -> Campaign:
        campaign_id = parse_int(raw_id)
        campaign = self.sb.world.campaigns.get(campaign_id) if campaign_id is not None else None
        if (
            campaign is None
            or campaign.marketplace != Marketplace.OZON
            or campaign.account_id != call.account.id
        ):
            raise OzonError(404, f"campaign {raw_id} not found")
        return campaign

    def campaign_json(self, c: Campaign) -> dict[str, Any]:
        return {
            "id": str(c.id),
            "paymentType": c.payment_type,
            "title": c.name,
            "state": c.status,
            "advObjectType": c.kind,
            "fromDate": c.from_date,
            "toDate": c.to_date,
            "autostopStatus": "AUTOSTOP_STATUS_NONE",
            "isAutocreated": False,
            "budget": micro_rubles(c.budget_kopecks),
            "dailyBudget": micro_rubles(c.daily_budget_kopecks),
            "weeklyBudget": micro_rubles(c.weekly_budget_kopecks),
            "placement": c.ozon_placement,
            # Both enums of the spec (campaign list and activate answers) contain these two.
            "productAutopilotStrategy": "TOP_PROMOTION"
            if c.ozon_placement == "PLACEMENT_TOP_PROMOTION"
            else "MAX_CLICKS",
            "autopilot": {"categoryId": "0", "skuAddMode": "PRODUCT_CAMPAIGN_SKU_ADD_MODE_MANUAL"},
            "createdAt": _ozon_time(c.created_at),
            "updatedAt": _ozon_time(c.updated_at),
            "productCampaignMode": "PRODUCT_CAMPAIGN_MODE_MANUAL",
        }

    async def campaigns(self, call: OzonCall) -> Response:
        # Reference: GET /api/client/campaign — campaignIds, advObjectType, state, page (1-based),
        # pageSize.
        q = call.request.query_params
        ids: set[int] | None = None
        raw_ids = q.getlist("campaignIds")
        if raw_ids:
            ids = set()
            for raw in ",".join(raw_ids).split(","):
                if raw.strip():
                    value = parse_int(raw)
                    if value is None:
                        raise OzonError(400, f"campaignIds: {raw!r} is not a campaign id")
                    ids.add(value)
        page, size = parse_int(q.get("page")), parse_int(q.get("pageSize"))
        if q.get("page") is not None and (page is None or page < 1):
            raise OzonError(400, "page starts at 1")
        if q.get("pageSize") is not None and (size is None or size < 1):
            raise OzonError(400, "pageSize must be a positive integer")
        rows = [
            c
            for c in self.sb.world.campaigns_of(call.account.id)
            if (ids is None or c.id in ids)
            and (q.get("advObjectType") in (None, c.kind))
            and (q.get("state") in (None, c.status))
        ]
        rows.sort(key=lambda c: c.id)
        if page is not None or size is not None:
            per = size or DEFAULT_PAGE_SIZE
            first = ((page or 1) - 1) * per
            rows = rows[first : first + per]
        return JSONBody({"list": [self.campaign_json(c) for c in rows]})

    async def activate(self, call: OzonCall) -> Response:
        campaign = self.own(call, call.request.path_params["campaignId"])
        if campaign.status == "CAMPAIGN_STATE_RUNNING":
            return JSONBody(self.campaign_json(campaign))
        if campaign.status not in ACTIVATABLE:
            raise OzonError(400, f"campaign in state {campaign.status} cannot be activated")
        if (
            campaign.status == "CAMPAIGN_STATE_STOPPED"
            and self.sb.market.available_budget(campaign, moscow_date(call.now)) <= 0
        ):
            raise OzonError(400, "campaign budget is exhausted; raise the budget first")
        return self._switch(call, campaign, "CAMPAIGN_STATE_RUNNING", "activate")

    async def deactivate(self, call: OzonCall) -> Response:
        campaign = self.own(call, call.request.path_params["campaignId"])
        if campaign.status == "CAMPAIGN_STATE_INACTIVE":
            return JSONBody(self.campaign_json(campaign))
        if campaign.status != "CAMPAIGN_STATE_RUNNING":
            raise OzonError(400, f"campaign in state {campaign.status} cannot be deactivated")
        return self._switch(call, campaign, "CAMPAIGN_STATE_INACTIVE", "deactivate")

    def _switch(self, call: OzonCall, campaign: Campaign, state: str, action: str) -> Response:
        before = campaign.status
        campaign.status = state
        campaign.updated_at = call.now
        self.record(
            call, {"action": action, "campaign_id": campaign.id, "state_before": before, "state_after": state}
        )
        return JSONBody(self.campaign_json(campaign))

    async def patch_campaign(self, call: OzonCall) -> Response:
        # Reference: PATCH /api/client/campaign/{campaignId} — budgets in micro-rubles, dates.
        campaign = self.own(call, call.request.path_params["campaignId"])
        body = await _json_object(call.request)
        changes: dict[str, Any] = {}
        for field, attr in (
            ("budget", "budget_kopecks"),
            ("dailyBudget", "daily_budget_kopecks"),
            ("weeklyBudget", "weekly_budget_kopecks"),
        ):
            if field in body:
                changes[attr] = _micro_to_kopecks(body[field], field)
        for field, attr in (("fromDate", "from_date"), ("toDate", "to_date")):
            if field in body:
                try:
                    changes[attr] = date.fromisoformat(str(body[field])).isoformat() if body[field] else ""
                except ValueError:
                    raise OzonError(400, f"{field} must be YYYY-MM-DD") from None
        for attr, value in changes.items():
            setattr(campaign, attr, value)
        campaign.updated_at = call.now
        self.record(call, {"action": "patch_campaign", "campaign_id": campaign.id, "changes": changes})
        return JSONBody({"campaignId": str(campaign.id)})

    # ---- products and bids -----------------------------------------------------------------------

    def min_bid(self, campaign: Campaign, product: Product) -> int:
        if campaign.payment_type == "CPM":
            return MIN_CPM_KOPECKS
        return MIN_CPC_KOPECKS + (product.subject_id % 4) * 100

    def _bid_key(self, campaign: Campaign) -> str:
        return {"CPC": "cpc", "CPM": "cpm"}.get(campaign.payment_type, "cpo")

    def product_json(self, campaign: Campaign, item: CampaignItem) -> dict[str, Any]:
        product = self.sb.world.products[item.product_id]
        out: dict[str, Any] = {
            "sku": str(product.id),
            "bid": micro_rubles(item.bids.get(self._bid_key(campaign), 0)),
            "title": product.title,
        }
        if item.target_cir is not None:
            out["targetCir"] = item.target_cir
        if item.top_position is not None:
            out["topPosition"] = str(item.top_position)
        return out

    async def products(self, call: OzonCall) -> Response:
        campaign = self.own(call, call.request.path_params["campaignId"])
        if campaign.kind != "SKU":
            raise OzonError(
                400,
                f"campaign {campaign.id} is {campaign.kind}; its products are listed by "
                "/api/client/campaign/search_promo/v2/products",
            )
        q = call.request.query_params
        page, size = parse_int(q.get("page")), parse_int(q.get("pageSize"))
        if q.get("page") is not None and (page is None or page < 1):
            raise OzonError(400, "page starts at 1")
        if q.get("pageSize") is not None and (size is None or size < 1):
            raise OzonError(400, "pageSize must be a positive integer")
        items = sorted(campaign.items.values(), key=lambda i: i.product_id)
        per = size or DEFAULT_PAGE_SIZE
        first = ((page or 1) - 1) * per
        return JSONBody({"products": [self.product_json(campaign, i) for i in items[first : first + per]]})

    def _parse_bids(
        self, campaign: Campaign, body: dict[str, Any], *, adding: bool
    ) -> list[tuple[int, int | None, dict[str, Any]]]:
        if campaign.kind != "SKU":
            raise OzonError(400, f"campaign of type {campaign.kind} has no product bids")
        bids = body.get("bids")
        if not isinstance(bids, list) or not bids:
            raise OzonError(400, "bids: a non-empty array is required")
        quotas = self.sb.profile.ozon_quotas()
        if len(bids) > quotas.products_per_campaign:
            raise OzonError(400, f"bids: no more than {quotas.products_per_campaign} products in a campaign")
        out = []
        for i, entry in enumerate(bids):
            if not isinstance(entry, dict):
                raise OzonError(400, f"bids[{i}] must be an object")
            sku = _sku(entry.get("sku"), f"bids[{i}].sku")
            product = self.sb.world.products.get(sku)
            if (
                product is None
                or product.account_id != campaign.account_id
                or product.marketplace != Marketplace.OZON
            ):
                raise OzonError(400, f"bids[{i}].sku: product {sku} not found in the seller's catalogue")
            if not adding and sku not in campaign.items:
                raise OzonError(400, f"bids[{i}].sku: product {sku} is not in campaign {campaign.id}")
            bid = None
            if "bid" in entry:
                bid = _micro_to_kopecks(entry["bid"], f"bids[{i}].bid")
                low = self.min_bid(campaign, product)
                high = MAX_CPC_KOPECKS if campaign.payment_type == "CPC" else MAX_CPC_KOPECKS * 10
                if not low <= bid <= high:
                    raise OzonError(
                        400,
                        f"bids[{i}].bid: {micro_rubles(bid)} is outside "
                        f"{micro_rubles(low)}..{micro_rubles(high)}",
                    )
            extra: dict[str, Any] = {}
            if "targetCir" in entry:
                cir = entry["targetCir"]
                if not isinstance(cir, int | float) or isinstance(cir, bool) or not 10 <= cir <= 100:
                    raise OzonError(400, f"bids[{i}].targetCir must be between 10 and 100")
                extra["target_cir"] = float(cir)
            if "topPosition" in entry:
                extra["top_position"] = _sku(entry["topPosition"], f"bids[{i}].topPosition")
            out.append((sku, bid, extra))
        if adding and len(set(campaign.items) | {sku for sku, _, _ in out}) > quotas.products_per_campaign:
            raise OzonError(400, f"no more than {quotas.products_per_campaign} products in a campaign")
        return out

    async def add_products(self, call: OzonCall) -> Response:
        # Reference: POST .../products — adds products; without `bid` the competitive bid is set.
        return await self._put_products(call, adding=True)

    async def update_products(self, call: OzonCall) -> Response:
        # Reference: PUT .../products — changes bids of products already in the campaign.
        return await self._put_products(call, adding=False)

    async def _put_products(self, call: OzonCall, *, adding: bool) -> Response:
        campaign = self.own(call, call.request.path_params["campaignId"])
        parsed = self._parse_bids(campaign, await _json_object(call.request), adding=adding)
        key = self._bid_key(campaign)
        applied = []
        for sku, bid, extra in parsed:
            item = campaign.items.get(sku)
            if item is None:
                item = campaign.items[sku] = CampaignItem(sku)
            if bid is None and key not in item.bids:
                bid = self.competitive_bid(campaign, self.sb.world.products[sku], call.now)
            if bid is not None:
                item.bids[key] = bid
            for attr, value in extra.items():
                setattr(item, attr, value)
            applied.append({"sku": sku, "bid_kopecks": item.bids.get(key), **extra})
        campaign.updated_at = call.now
        self.record(
            call,
            {"action": "add_products" if adding else "set_bids", "campaign_id": campaign.id, "bids": applied},
        )
        return Response(status_code=200)

    async def search_promo_products(self, call: OzonCall) -> Response:
        # Reference: POST /api/client/campaign/search_promo/v2/products {page (from 1), pageSize} —
        # the pay-per-order products of the account: `bid` is a percent of the price (double),
        # `bidPrice` that percent in rubles; views of this and the previous week.
        body = await _json_object(call.request)
        page, size = body.get("page", 1), body.get("pageSize", DEFAULT_PAGE_SIZE)
        if not is_int(page) or page < 1:
            raise OzonError(400, "page starts at 1")
        if not is_int(size) or not 1 <= size <= 1000:
            raise OzonError(400, "pageSize must be from 1 to 1000")
        items = sorted(
            (
                (campaign, item)
                for campaign in self.sb.world.campaigns_of(call.account.id)
                if campaign.kind == "SEARCH_PROMO"
                for item in campaign.items.values()
            ),
            key=lambda pair: pair[1].product_id,
        )
        today = moscow_date(call.now)
        out = []
        for campaign, item in items[(page - 1) * size : page * size]:
            product = self.sb.world.products[item.product_id]
            percent = item.bids.get("cpo", 0) / 100
            weeks = []
            for first in (today - timedelta(days=6), today - timedelta(days=13)):
                weeks.append(
                    sum(
                        int(self.sb.market.totals(campaign.id, day, product.id)[VIEWS])
                        for day in self.sb.market.days(first, first + timedelta(days=6))
                    )
                )
            out.append(
                {
                    "sku": str(product.id),
                    "title": product.title,
                    "price": _dot_rub(product.price_kopecks),
                    "bid": percent,
                    "bidPrice": _dot_rub(round(product.price_kopecks * percent / 100)),
                    "searchPromoStatus": campaign.status == "CAMPAIGN_STATE_RUNNING",
                    "isSearchPromoAvailable": True,
                    "views": {"thisWeek": str(weeks[0]), "previousWeek": str(weeks[1])},
                }
            )
        return JSONBody({"products": out, "total": str(len(items))})

    async def delete_products(self, call: OzonCall) -> Response:
        campaign = self.own(call, call.request.path_params["campaignId"])
        body = await _json_object(call.request)
        skus = body.get("sku")
        if not isinstance(skus, list) or not skus:
            raise OzonError(400, "sku: a non-empty array is required")
        removed = []
        for i, raw in enumerate(skus):
            sku = _sku(raw, f"sku[{i}]")
            if campaign.items.pop(sku, None) is not None:
                removed.append(sku)
        self.record(call, {"action": "delete_products", "campaign_id": campaign.id, "skus": removed})
        return Response(status_code=200)

    def competitive_bid(self, campaign: Campaign, product: Product, now: datetime) -> int:
        """The bid that ranks a product in the middle of its competitors (median), in kopecks."""
        bids = sorted(
            b
            for cid in product.cluster_ids
            for b in self.sb.market.competitor_bids(self.sb.world.clusters[cid], now)
        )
        median = bids[len(bids) // 2] if bids else MIN_CPC_KOPECKS * 1000
        if campaign.payment_type == "CPM":
            return max(MIN_CPM_KOPECKS, median)
        return max(self.min_bid(campaign, product), int(median / (BASE_CTR * product.quality * 1000)))

    async def competitive(self, call: OzonCall) -> Response:
        # Reference: GET .../products/bids/competitive?skus= (≤ 200); bid 0 if not in the campaign.
        campaign = self.own(call, call.request.path_params["campaignId"])
        raw = [s for part in call.request.query_params.getlist("skus") for s in part.split(",") if s.strip()]
        limit = self.sb.profile.ozon_quotas().competitive_bids_max_skus
        if not raw:
            raise OzonError(400, "skus: at least one SKU is required")
        if len(raw) > limit:
            raise OzonError(400, f"skus: no more than {limit} SKUs per request")
        out = []
        for i, value in enumerate(raw):
            sku = _sku(value, f"skus[{i}]")
            product = self.sb.world.products.get(sku)
            bid = (
                self.competitive_bid(campaign, product, call.now) if sku in campaign.items and product else 0
            )
            out.append({"sku": str(sku), "bid": micro_rubles(bid)})
        return JSONBody({"campaignId": str(campaign.id), "bids": out})

    async def limits(self, call: OzonCall) -> Response:
        # Reference: GET /api/client/limits/list — min/max bids in rubles (doubles).
        return JSONBody(
            {
                "limits": [
                    {
                        "objectType": "SKU",
                        "paymentMethod": "CPC",
                        "placement": "CAMPAIGN_PLACEMENT_SEARCH_AND_CATEGORY",
                        "minBid": MIN_CPC_KOPECKS / 100,
                        "maxBid": MAX_CPC_KOPECKS / 100,
                        "categories": [],
                    },
                    {
                        "objectType": "SKU",
                        "paymentMethod": "CPM",
                        "placement": "CAMPAIGN_PLACEMENT_SEARCH_AND_CATEGORY",
                        "minBid": MIN_CPM_KOPECKS / 100,
                        "maxBid": MAX_CPC_KOPECKS * 10 / 100,
                        "categories": [],
                    },
                ]
            }
        )

    async def min_sku(self, call: OzonCall) -> Response:
        body = await _json_object(call.request)
        skus = body.get("sku")
        if not isinstance(skus, list) or not skus:
            raise OzonError(400, "sku: a non-empty array is required")
        payment = body.get("paymentType", "CPC")
        if payment not in ("CPO", "CPC", "CPC_TOP"):
            raise OzonError(400, "paymentType must be CPO, CPC or CPC_TOP")
        out = []
        for i, raw in enumerate(skus):
            sku = _sku(raw, f"sku[{i}]")
            product = self.sb.world.products.get(sku)
            if product is None or product.account_id != call.account.id:
                raise OzonError(400, f"sku[{i}]: product {sku} not found")
            kopecks = MIN_CPC_KOPECKS + (product.subject_id % 4) * 100
            value = kopecks / 100 * (1.5 if payment == "CPC_TOP" else 1.0) if payment != "CPO" else 3.0
            out.append({"sku": str(sku), "bid": value})
        return JSONBody({"minBids": out})

    # ---- statistics ------------------------------------------------------------------------------

    def _stats_period(self, data: dict[str, Any], now: datetime) -> tuple[date, date]:
        try:
            if data.get("dateFrom") or data.get("dateTo"):
                start = date.fromisoformat(str(data.get("dateFrom")))
                end = date.fromisoformat(str(data.get("dateTo")))
            elif data.get("from") or data.get("to"):
                start = moscow_date(datetime.fromisoformat(str(data.get("from")).replace("Z", "+00:00")))
                end = moscow_date(datetime.fromisoformat(str(data.get("to")).replace("Z", "+00:00")))
            else:
                end = moscow_date(now)
                start = end - timedelta(days=6)
        except ValueError:
            raise OzonError(400, "dates: use dateFrom/dateTo as YYYY-MM-DD or from/to as RFC 3339") from None
        if end < start:
            raise OzonError(400, "the period ends before it starts")
        return start, end

    async def statistics(self, call: OzonCall) -> Response:
        # Reference: POST /api/client/statistics[/json] → {UUID}; limits of the "Limits" tag:
        # ≤ 10 campaigns, ≤ 62 days, one export at a time per account, exports per day
        # ≤ min(2000, active campaigns × 240), counted per campaign.
        body = await _json_object(call.request)
        raw = body.get("campaigns")
        if not isinstance(raw, list) or not raw:
            raise OzonError(400, "campaigns: a non-empty array of campaign ids is required")
        quotas = self.sb.profile.ozon_quotas()
        if len(raw) > quotas.report_max_campaigns:
            raise OzonError(400, f"no more than {quotas.report_max_campaigns} campaigns per report")
        ids = [self.own(call, str(v)).id for v in raw]
        start, end = self._stats_period(body, call.now)
        if (end - start).days + 1 > quotas.report_max_days:
            raise OzonError(400, f"no more than {quotas.report_max_days} days per report")
        group_by = body.get("groupBy", "NO_GROUP_BY")
        if group_by not in ("NO_GROUP_BY", "DATE", "START_OF_WEEK", "START_OF_MONTH"):
            raise OzonError(400, "groupBy must be NO_GROUP_BY, DATE, START_OF_WEEK or START_OF_MONTH")
        mine = [
            r
            for r in self.sb.reports.values()
            if r.marketplace == Marketplace.OZON and r.account_id == call.account.id
        ]
        running = [r for r in mine if r.state(call.now) in ("NOT_STARTED", "IN_PROGRESS")]
        if len(running) >= quotas.concurrent_reports_per_account:
            raise OzonError(
                429,
                f"only {quotas.concurrent_reports_per_account} report may be generated at a time; "
                f"wait for {running[0].id}",
            )
        since = call.now - timedelta(hours=24)
        exported = sum(len(r.campaign_ids) for r in mine if r.created_at > since)
        active = sum(
            1 for c in self.sb.world.campaigns_of(call.account.id) if c.status == "CAMPAIGN_STATE_RUNNING"
        )
        allowed = min(
            quotas.exports_per_day_per_account, max(1, active) * quotas.exports_per_active_campaign_per_day
        )
        if exported + len(ids) > allowed:
            raise OzonError(429, f"statistics export limit reached: {allowed} campaign exports per 24 hours")
        report_id = str(uuid.UUID(int=(self.sb.seed << 64) | self.sb.next_id()))
        # The fast profile compresses the report service's times like its rate limits.
        pace = self.sb.profile.factor
        started = call.now + timedelta(seconds=REPORT_QUEUE_S / pace)
        job = ReportJob(
            id=report_id,
            marketplace=Marketplace.OZON,
            account_id=call.account.id,
            created_at=call.now,
            started_at=started,
            done_at=started + timedelta(seconds=REPORT_PER_CAMPAIGN_S * len(ids) / pace),
            request={
                "campaigns": [str(i) for i in ids],
                "dateFrom": start.isoformat(),
                "dateTo": end.isoformat(),
                "groupBy": group_by,
                "format": "json" if call.request.url.path.endswith("/json") else "csv",
            },
            campaign_ids=ids,
            # The `report_error` fault (docs/sandbox.md) makes this report end in state ERROR.
            failed=current_fault.get() == "report_error",
        )
        self.sb.reports[report_id] = job
        self.record(call, {"action": "create_report", "uuid": report_id, "campaigns": ids})
        return JSONBody({"UUID": report_id, "vendor": False})

    def _job(self, call: OzonCall, report_id: str | None) -> ReportJob:
        job = self.sb.reports.get(report_id or "")
        if job is None or job.marketplace != Marketplace.OZON or job.account_id != call.account.id:
            raise OzonError(404, f"report {report_id} not found")
        return job

    async def report_state(self, call: OzonCall) -> Response:
        job = self._job(call, call.request.path_params["UUID"])
        state = job.state(call.now)
        request = {k: v for k, v in job.request.items() if k != "format"}
        body: dict[str, Any] = {
            "UUID": job.id,
            "state": state,
            "createdAt": _ozon_time(job.created_at),
            "updatedAt": _ozon_time(min(call.now, job.done_at) if state != "NOT_STARTED" else job.created_at),
            "request": request,
            "kind": job.kind,
        }
        if state == "OK":
            body["link"] = f"/api/client/statistics/report?UUID={job.id}"
        elif state == "ERROR":
            body["error"] = "report generation failed; order it again"
        return JSONBody(body)

    async def report(self, call: OzonCall) -> Response:
        # Reference: GET /api/client/statistics/report?UUID= — CSV for one campaign, a ZIP of
        # `<campaign id>.csv` files for several; 404 on an unknown UUID.
        job = self._job(call, call.request.query_params.get("UUID"))
        if job.state(call.now) != "OK":
            raise OzonError(404, f"report {job.id} is not ready; poll /api/client/statistics/{job.id}")
        start = date.fromisoformat(job.request["dateFrom"])
        end = date.fromisoformat(job.request["dateTo"])
        if job.request.get("format") == "json":
            # Reports ordered at /statistics/json: one JSON document keyed by campaign id (layout of
            # public clients; the spec does not describe it).
            report = {
                str(cid): self._campaign_json(self.sb.world.campaigns[cid], start, end)
                for cid in job.campaign_ids
            }
            return JSONBody(report)
        files = {
            f"{cid}.csv": self._campaign_csv(self.sb.world.campaigns[cid], start, end)
            for cid in job.campaign_ids
        }
        if len(files) == 1:
            return Response(next(iter(files.values())).encode("utf-8"), media_type="text/csv; charset=UTF-8")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                archive.writestr(name, text)
        return Response(buffer.getvalue(), media_type="application/zip")

    def _per_product(self, campaign: Campaign, start: date, end: date) -> dict[int, list[float]]:
        """Period counters per product, floored to whole units and kopecks so that report totals
        are exactly the sums of their rows."""
        per_product: dict[int, list[float]] = {pid: [0.0] * SLOTS for pid in campaign.items}
        for day in self.sb.market.days(start, end):
            for pid, day_values in self.sb.market.totals_by_product(campaign.id, day).items():
                acc = per_product.setdefault(pid, [0.0] * SLOTS)
                for k, v in enumerate(day_values):
                    acc[k] += v
        return {pid: [float(int(v)) for v in values] for pid, values in sorted(per_product.items())}

    def _campaign_json(self, campaign: Campaign, start: date, end: date) -> dict[str, Any]:
        def row(values: list[float]) -> dict[str, str]:
            views, clicks, spend = int(values[VIEWS]), int(values[CLICKS]), int(values[SPEND])
            return {
                "views": str(views),
                "clicks": str(clicks),
                "ctr": f"{clicks / views * 100:.2f}".replace(".", ",") if views else "0,00",
                "moneySpent": _rub(spend),
                "avgBid": _rub(spend // clicks) if clicks else "0,00",
                "orders": str(int(values[ORDERS])),
                "ordersMoney": _rub(int(values[REVENUE])),
            }

        rows = []
        total = [0.0] * SLOTS
        for product_id, values in self._per_product(campaign, start, end).items():
            for k, v in enumerate(values):
                total[k] += v
            product = self.sb.world.products[product_id]
            rows.append(
                {
                    "sku": str(product_id),
                    "title": product.title,
                    "price": _rub(product.price_kopecks),
                    **row(values),
                }
            )
        return {"title": campaign.name, "report": {"rows": rows, "totals": row(total)}}

    def _campaign_csv(self, campaign: Campaign, start: date, end: date) -> str:
        """The report layout of the spec's example: a title line, a header, SKU rows and a total."""
        out = io.StringIO()
        out.write(
            f"; Кампания по продвижению товаров № {campaign.id}, период {start:%d.%m.%Y}-{end:%d.%m.%Y}\n"
        )
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(
            ["sku", "Название товара", "Цена товара, ₽", "Показы", "Клики", "CTR (%)", "В корзину",
             "Ср. цена клика, ₽", "Ср. цена 1000 показов, ₽", "Расход, ₽, с НДС", "Заказы", "Выручка, ₽",
             "Заказы модели", "Выручка с заказов модели, ₽", "ДРР, %", "Дата добавления"]
        )  # fmt: skip
        total = [0.0] * SLOTS
        for product_id, values in self._per_product(campaign, start, end).items():
            for k, v in enumerate(values):
                total[k] += v
            product = self.sb.world.products[product_id]
            writer.writerow(
                [
                    product_id,
                    product.title,
                    _rub(product.price_kopecks),
                    *_csv_metrics(values),
                    campaign.from_date,
                ]
            )
        writer.writerow(["Всего", "", "", *_csv_metrics(total), ""])
        return out.getvalue()

    async def daily(self, call: OzonCall) -> Response:
        # Reference: GET /api/client/statistics/daily (CSV) and .../daily/json: per campaign per day
        # id, title, date, views, clicks, spend ₽, orders, order value ₽; default last 7 days.
        q = call.request.query_params
        start, end = self._stats_period({"dateFrom": q.get("dateFrom"), "dateTo": q.get("dateTo")}, call.now)
        raw = [s for part in q.getlist("campaignIds") for s in part.split(",") if s.strip()]
        campaigns = (
            [self.own(call, s) for s in raw]
            if raw
            else sorted(self.sb.world.campaigns_of(call.account.id), key=lambda c: c.id)
        )
        rows = []
        for campaign in campaigns:
            for day in self.sb.market.days(start, end):
                v = self.sb.market.totals(campaign.id, day)
                if v[VIEWS] <= 0:
                    continue
                rows.append(
                    {
                        "id": str(campaign.id),
                        "title": campaign.name,
                        "date": day.isoformat(),
                        "views": str(int(v[VIEWS])),
                        "clicks": str(int(v[CLICKS])),
                        "moneySpent": _rub(int(v[SPEND])),
                        "orders": str(int(v[ORDERS])),
                        "ordersMoney": _rub(int(v[REVENUE])),
                    }
                )
        if call.request.url.path.endswith("/json"):
            return JSONBody({"rows": rows})
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(["ID", "Название", "Дата", "Показы", "Клики", "Расход, ₽", "Заказы, шт", "Заказы, ₽"])
        for r in rows:
            writer.writerow(
                [
                    r["id"],
                    r["title"],
                    r["date"],
                    r["views"],
                    r["clicks"],
                    r["moneySpent"],
                    r["orders"],
                    r["ordersMoney"],
                ]
            )
        return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=UTF-8")

    def _campaigns_and_period(self, call: OzonCall) -> tuple[list[Campaign], date, date]:
        q = call.request.query_params
        start, end = self._stats_period(
            {
                "dateFrom": q.get("dateFrom"),
                "dateTo": q.get("dateTo"),
                "from": q.get("from"),
                "to": q.get("to"),
            },
            call.now,
        )
        raw = [s for part in q.getlist("campaignIds") for s in part.split(",") if s.strip()]
        if raw:
            return [self.own(call, s) for s in raw], start, end
        return sorted(self.sb.world.campaigns_of(call.account.id), key=lambda c: c.id), start, end

    def _csv(self, header: list[str], rows: list[dict[str, Any]]) -> Response:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(list(row.values()))
        return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=UTF-8")

    async def campaign_product(self, call: OzonCall) -> Response:
        # Reference: GET /api/client/statistics/campaign/product (CSV; `/json` for JSON) — totals
        # per campaign for the period, with CTR, average click price and DRR; free of limits. The
        # spec lists the columns in prose only; the sandbox's JSON keys follow the daily report's.
        campaigns, start, end = self._campaigns_and_period(call)
        rows = []
        for campaign in campaigns:
            v = [0.0] * SLOTS
            for day in self.sb.market.days(start, end):
                for k, x in enumerate(self.sb.market.totals(campaign.id, day)):
                    v[k] += x
            views, clicks, spend, revenue = int(v[VIEWS]), int(v[CLICKS]), int(v[SPEND]), int(v[REVENUE])
            rows.append(
                {
                    "id": str(campaign.id),
                    "title": campaign.name,
                    "objectType": campaign.kind,
                    "status": campaign.status,
                    "placement": campaign.ozon_placement,
                    "weeklyBudget": _rub(campaign.weekly_budget_kopecks),
                    "budget": _rub(campaign.budget_kopecks),
                    "moneySpent": _rub(spend),
                    "views": str(views),
                    "clicks": str(clicks),
                    "ctr": f"{clicks / views * 100:.2f}".replace(".", ",") if views else "0,00",
                    "clickPrice": _rub(spend // clicks) if clicks else "0,00",
                    "orders": str(int(v[ORDERS])),
                    "ordersMoney": _rub(revenue),
                    "drr": f"{spend / revenue * 100:.2f}".replace(".", ",") if revenue else "0,00",
                    "toCart": str(int(v[ATBS])),
                }
            )
        if call.request.url.path.endswith("/json"):
            return JSONBody({"rows": rows})
        header = ["ID", "Название", "Тип", "Статус", "Место размещения", "Недельный бюджет, ₽", "Бюджет, ₽",
                  "Расход, ₽", "Показы", "Клики", "CTR, %", "Ср. цена клика, ₽", "Заказы, шт", "Заказы, ₽",
                  "ДРР, %", "В корзину"]  # fmt: skip
        return self._csv(header, rows)

    async def expense(self, call: OzonCall) -> Response:
        # Reference: GET /api/client/statistics/expense (CSV; `/json` for JSON) — spend per campaign
        # and day: total, from the account, from bonuses. The sandbox has no bonus spend.
        campaigns, start, end = self._campaigns_and_period(call)
        rows = []
        for campaign in campaigns:
            for day in self.sb.market.days(start, end):
                spend = int(self.sb.market.totals(campaign.id, day)[SPEND])
                if spend <= 0:
                    continue
                rows.append(
                    {
                        "id": str(campaign.id),
                        "title": campaign.name,
                        "date": day.isoformat(),
                        "moneySpent": _rub(spend),
                        "bonusSpent": "0,00",
                        "prepaymentSpent": _rub(spend),
                    }
                )
        if call.request.url.path.endswith("/json"):
            return JSONBody({"rows": rows})
        return self._csv(
            ["ID", "Название", "Дата", "Расход, ₽", "Расход бонусов, ₽", "Расход с предоплаты, ₽"], rows
        )

    async def products_sku(self, call: OzonCall) -> Response:
        # Reference: POST /api/client/statistics/products/sku — rows per campaign, SKU and day with
        # numbers as strings (ctr and drr are doubles); does not consume the limits.
        body = await _json_object(call.request)
        raw = body.get("campaignIds")
        if not isinstance(raw, list) or not raw:
            raise OzonError(400, "campaignIds: a non-empty array is required")
        campaigns = [self.own(call, str(v)) for v in raw]
        start, end = self._stats_period(
            {"dateFrom": body.get("dateFrom"), "dateTo": body.get("dateTo")}, call.now
        )
        rows = []
        for campaign in campaigns:
            for day in self.sb.market.days(start, end):
                for product_id, v in sorted(self.sb.market.totals_by_product(campaign.id, day).items()):
                    if v[VIEWS] <= 0:
                        continue
                    views, clicks, spend, revenue = (
                        int(v[VIEWS]),
                        int(v[CLICKS]),
                        int(v[SPEND]),
                        int(v[REVENUE]),
                    )
                    price = self.sb.world.products[product_id].price_kopecks
                    rows.append(
                        {
                            "campaignId": str(campaign.id),
                            "sku": str(product_id),
                            "date": day.isoformat(),
                            "views": str(views),
                            "clicks": str(clicks),
                            "ctr": round(clicks / views * 100, 2) if views else 0.0,
                            "avgCpc": _dot_rub(spend // clicks if clicks else 0),
                            "expense": _dot_rub(spend),
                            "orders": str(int(v[ORDERS])),
                            "sales": _dot_rub(revenue),
                            "modelOrders": "0",
                            "modelSales": "0.00",
                            "toCart": str(int(v[ATBS])),
                            "drr": round(spend / revenue * 100, 2) if revenue else 0.0,
                            "price": _dot_rub(price),
                        }
                    )
        return JSONBody({"rows": rows})


async def _json_object(request: Request) -> dict[str, Any]:
    from app.sandbox.http import read_json

    data = await read_json(request)
    if not isinstance(data, dict):
        raise OzonError(400, "request body must be a JSON object")
    return data


def _ozon_time(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).isoformat(timespec="seconds")


def _rub(kopecks: int) -> str:
    """Ozon CSV money: rubles with a decimal comma (the spec's report example)."""
    return f"{kopecks // 100},{kopecks % 100:02d}"


def _dot_rub(kopecks: int) -> str:
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def _csv_metrics(v: list[float]) -> list[Any]:
    views, clicks, spend = int(v[VIEWS]), int(v[CLICKS]), int(v[SPEND])
    revenue = int(v[REVENUE])
    return [
        views,
        clicks,
        f"{clicks / views * 100:.2f}".replace(".", ",") if views else "0,00",
        int(v[ATBS]),
        _rub(spend // clicks) if clicks else "0,00",
        _rub(spend * 1000 // views) if views else "0,00",
        _rub(spend),
        int(v[ORDERS]),
        _rub(revenue),
        0,
        "0,00",
        f"{spend / revenue * 100:.2f}".replace(".", ",") if revenue else "0,00",
    ]


def create_ozon_app(sandbox: Sandbox) -> Starlette:
    api = OzonApi(sandbox)
    free = {path for _method, path in OZON_FREE_OPERATIONS}

    def ep(method: str, path: str, handler: Handler) -> Route:
        return Route(path, api.endpoint(handler, free=path in free), methods=[method])

    c = "/api/client/campaign/{campaignId}"
    routes = [
        Route("/api/client/token", api.token, methods=["POST"]),
        ep("GET", "/api/client/campaign", api.campaigns),
        ep("POST", c + "/activate", api.activate),
        ep("POST", c + "/deactivate", api.deactivate),
        Route(c, api.endpoint(api.patch_campaign), methods=["PATCH"]),
        ep("GET", c + "/v2/products", api.products),
        ep("POST", "/api/client/campaign/search_promo/v2/products", api.search_promo_products),
        Route(
            c + "/products",
            _by_method({"POST": api.endpoint(api.add_products), "PUT": api.endpoint(api.update_products)}),
            methods=["POST", "PUT"],
        ),
        ep("POST", c + "/products/delete", api.delete_products),
        ep("GET", c + "/products/bids/competitive", api.competitive),
        ep("GET", "/api/client/limits/list", api.limits),
        ep("POST", "/api/client/min/sku", api.min_sku),
        ep("POST", "/api/client/statistics", api.statistics),
        ep("POST", "/api/client/statistics/json", api.statistics),
        ep("GET", "/api/client/statistics/report", api.report),
        ep("GET", "/api/client/statistics/daily", api.daily),
        ep("GET", "/api/client/statistics/daily/json", api.daily),
        ep("GET", "/api/client/statistics/campaign/product", api.campaign_product),
        ep("GET", "/api/client/statistics/campaign/product/json", api.campaign_product),
        ep("GET", "/api/client/statistics/expense", api.expense),
        ep("GET", "/api/client/statistics/expense/json", api.expense),
        ep("POST", "/api/client/statistics/products/sku", api.products_sku),
        ep("GET", "/api/client/statistics/{UUID}", api.report_state),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return JSONBody({"error": "not found" if status == 404 else "method not allowed"}, status)

    return Starlette(
        routes=[*routes, *control_routes(sandbox)],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[
            Middleware(FaultMiddleware, injector=sandbox.faults, marketplace=Marketplace.OZON.long_name)
        ],
    )


def _by_method(
    handlers: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        return await handlers[request.method](request)

    return run
