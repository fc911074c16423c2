"""Wildberries Promotion API ("Маркетинг и продвижение") as a Starlette app.

Reference: specs/wildberries/promotion.json (paths, payloads, status codes), specs/wildberries/
api-information.json (tokens, 401/429 problem+json, `X-Ratelimit-*` headers) and the digest
reference/marketplace-apis.md §1. Units at this boundary: the new bid methods speak kopecks, the v0
cluster bids and all statistics speak rubles; inside, the world keeps integer kopecks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.core.marketplaces import Marketplace
from app.sandbox.clock import MOSCOW, moscow_date
from app.sandbox.control import control_routes
from app.sandbox.faults import FaultMiddleware
from app.sandbox.http import BadJSON, JSONBody, is_int, parse_id_list, parse_int, read_json, rubles
from app.sandbox.market import ATBS, BASE_CTR, CLICKS, ORDERS, POS_VIEWS, REVENUE, SHKS, SPEND, VIEWS
from app.sandbox.ratelimit import seconds_header
from app.sandbox.state import WB_BID_TICK_S, WB_DELETE_DELAY_S, Sandbox
from app.sandbox.world import Account, Campaign, CampaignItem, Product
from app.services.marketing.adapters.limits import find_operation

log = logging.getLogger(__name__)

ORIGIN = "camp-api-public-cache"
MAX_ADVERTS = 50  # ids of GET /api/advert/v2/adverts and GET /adv/v3/fullstats
MAX_NM_BIDS = 50  # PATCH /api/advert/v1/bids: ≤ 50 campaigns × 50 items
MAX_NORMQUERY_ITEMS = 100
MAX_MINUS_PHRASES = 1000
MAX_MIN_BID_NMS = 100
MAX_STATS_DAYS = 31
# Bid bounds in kopecks. Minimums per placement follow the min-bid example of the spec digest
# (combined 155 ₽, search/recommendation 250 ₽ are quoted; the sandbox uses 155/150/125 ₽ so that
# the seeded bids start above them); the maximum is the documented 100 000 ₽ (reference §1.7).
MIN_CPM_KOPECKS = {"combined": 15_500, "search": 15_000, "recommendations": 12_500}
MIN_CPC_KOPECKS = 400
MAX_BID_KOPECKS = 10_000_000
# GET /api/advert/v1/config values (minor units).
CPM_STEP_KOPECKS = 100
CPC_STEP_KOPECKS = 10
CONFIG = {
    "currency": "RUB",
    "currencyCode": 643,
    "cpmStep": CPM_STEP_KOPECKS,
    "cpcStep": CPC_STEP_KOPECKS,
    "minTopUp": 100_000,
    "minDailyLimit": 50_000,
}
MIN_DEPOSIT_RUB = 1000
# A campaign needs this much budget to start (the old /adv/v0/config `budget_min`, reference §1.7).
MIN_START_BUDGET_KOPECKS = 100_000
NOT_DELETED = "2100-01-01T00:00:00+03:00"
DEPOSIT_STEP_RUB = 50
# Full-stats app split (appType 1 = site, 32 = Android, 64 = iOS), deterministic weights.
APP_SHARES = ((1, 0.25), (32, 0.45), (64, 0.30))
# Paths that WB removed (reference §1.8); the sandbox answers 404 so that an adapter using one fails.
REMOVED_PATHS = (
    "/adv/v2/fullstats",
    "/adv/v1/promotion/adverts",
    "/adv/v0/auction/adverts",
    "/adv/v0/auction/bids",
    "/adv/v0/config",
    "/adv/v0/bids/min",
    "/adv/v0/bids",
    "/adv/v0/cpm",
    "/adv/v1/search/set-plus",
    "/adv/v1/search/set-excluded",
    "/adv/v1/auto/set-excluded",
    "/adv/v1/auto/getnmtoadd",
    "/adv/v1/auto/updatenm",
    "/adv/v2/auto/stat-words",
    "/adv/v1/stat/words",
    "/adv/v0/stats/keywords",
)


class WbError(Exception):
    """Raised by a handler to answer an error in one of WB's formats."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(slots=True)
class WbCall:
    request: Request
    account: Account
    token_type: str
    now: datetime


Handler = Callable[[WbCall], Awaitable[Response]]


class WildberriesApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    # ---- error formats (reference §1.9) ----------------------------------------------------------

    def problem(
        self, status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None
    ) -> JSONBody:
        """Gateway errors (401/403/429): application/problem+json."""
        body = {
            "title": title,
            "detail": detail,
            "code": code,
            "requestId": self.sb.request_id(),
            "origin": "s2s-api-auth-adv",
            "status": status,
            "statusText": {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}.get(status, ""),
            "timestamp": self.sb.clock.now().isoformat().replace("+00:00", "Z"),
        }
        return JSONBody(body, status, headers, media_type="application/problem+json")

    def invalid(self, detail: str, errors: list[dict[str, str]] | None = None, status: int = 400) -> WbError:
        """Campaign-service errors; the batch variant adds `errors[{detail, field}]` and `type`."""
        body: dict[str, Any] = {
            "detail": detail,
            "origin": ORIGIN,
            "request_id": self.sb.request_id(),
            "status": status,
            "title": "invalid payload",
        }
        if errors:
            body["errors"] = errors
            body["type"] = "Bad Request"
        return WbError(JSONBody(body, status))

    @staticmethod
    def legacy(detail: str, status: int = 400) -> WbError:
        return WbError(JSONBody({"error": detail}, status))

    @staticmethod
    def text(detail: str, status: int) -> WbError:
        return WbError(PlainTextResponse(detail, status))

    # ---- the common pipeline: auth → rate limit → handler ----------------------------------------

    def endpoint(self, method: str, path: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        operation = find_operation(Marketplace.WB, method, path)
        if operation is None:
            raise RuntimeError(f"no rate-limit row for WB {method} {path}; add it to limits.py")

        async def run(request: Request) -> Response:
            token = request.headers.get("authorization", "").strip()
            if token.lower().startswith("bearer "):
                token = token[7:].strip()
            if not token:
                return self.problem(401, "unauthorized", "empty Authorization header", "401")
            found = self.sb.wb_tokens.get(token)
            if found is None:
                return self.problem(401, "unauthorized", "token is malformed or unknown", "401")
            account, token_type = found
            if token_type == "no_promotion":
                return self.problem(401, "unauthorized", "token scope not allowed", "401")
            limit = operation.limit_for(token_type)
            if limit is None:
                return self.problem(403, "forbidden", "base token is not allowed", "403")
            now = self.sb.now()
            bucket_key = (account.id, token_type, operation.group)
            decision = self.sb.wb_buckets.take(bucket_key, self.sb.profile.apply(limit), now.timestamp())
            if not decision.allowed:
                return self.problem(
                    429,
                    "too many requests",
                    f"limited by {operation.group}",
                    operation.group,
                    {
                        "X-Ratelimit-Retry": seconds_header(decision.retry_after_s),
                        "X-Ratelimit-Reset": seconds_header(decision.reset_after_s),
                        "X-Ratelimit-Limit": str(decision.limit.burst),
                    },
                )
            call = WbCall(request, account, token_type, now)
            try:
                response = await handler(call)
            except WbError as exc:
                response = exc.response
            except BadJSON as exc:
                response = self.invalid(exc.detail).response
            except Exception:
                # A sandbox bug must still look like WB to the client (and never leak a traceback).
                log.exception("WB sandbox handler failed: %s %s", method, path)
                response = self.invalid("internal error", status=500).response
            if 400 <= response.status_code < 500 and self.sb.settings.wb_client_error_cost > 1:
                # Optional WB rule (api-information.json, documented for some categories): a client
                # error costs more than one request.
                extra = self.sb.settings.wb_client_error_cost - 1
                self.sb.wb_buckets.charge(bucket_key, now.timestamp(), extra)
            response.headers["X-Ratelimit-Remaining"] = str(decision.remaining)
            return response

        return run

    def record(self, call: WbCall, status: int, effect: dict[str, Any]) -> None:
        self.sb.record(
            Marketplace.WB,
            call.account.id,
            call.request.method,
            call.request.url.path,
            status,
            effect,
        )

    # ---- lookups ---------------------------------------------------------------------------------

    def own_campaign(self, call: WbCall, campaign_id: Any) -> Campaign | None:
        if not is_int(campaign_id):
            return None
        campaign = self.sb.world.campaigns.get(campaign_id)
        if (
            campaign is None
            or campaign.marketplace != Marketplace.WB
            or campaign.account_id != call.account.id
        ):
            return None
        if campaign.status == "-1" and campaign.deleted_at and campaign.deleted_at <= call.now:
            return None
        return campaign

    def visible_campaigns(self, call: WbCall) -> list[Campaign]:
        out = []
        for campaign in self.sb.world.campaigns_of(call.account.id):
            if campaign.status == "-1" and campaign.deleted_at and campaign.deleted_at <= call.now:
                continue
            out.append(campaign)
        return out

    def product(self, nm_id: int) -> Product:
        return self.sb.world.products[nm_id]

    @staticmethod
    def min_bid(payment_type: str, placement: str, product: Product) -> int:
        if payment_type == "cpc":
            return MIN_CPC_KOPECKS
        # Categories differ a little (the old config had a per-category cpm_min).
        return MIN_CPM_KOPECKS[placement] + (product.subject_id % 5) * 100

    # ---- campaigns -------------------------------------------------------------------------------

    async def promotion_count(self, call: WbCall) -> Response:
        # Reference: promotion.json GET /adv/v1/promotion/count.
        groups: dict[tuple[int, int], list[Campaign]] = {}
        campaigns = self.visible_campaigns(call)
        for campaign in campaigns:
            groups.setdefault((int(campaign.kind), campaign.wb_status), []).append(campaign)
        adverts = [
            {
                "type": kind,
                "status": status,
                "count": len(items),
                "advert_list": [
                    {"advertId": c.id, "changeTime": _wb_time(c.updated_at)}
                    for c in sorted(items, key=lambda c: c.id)
                ],
            }
            for (kind, status), items in sorted(groups.items())
        ]
        return JSONBody({"adverts": adverts, "all": len(campaigns)})

    async def adverts(self, call: WbCall) -> Response:
        # Reference: promotion.json GET /api/advert/v2/adverts (ids ≤ 50, statuses, payment_type).
        q = call.request.query_params
        ids = parse_id_list(q.get("ids"))
        if q.get("ids") is not None and (ids is None or not ids):
            raise self.invalid("invalid ids value")
        if ids is not None and len(ids) > MAX_ADVERTS:
            raise self.invalid(f"ids: maximum {MAX_ADVERTS} campaigns per request")
        statuses = parse_id_list(q.get("statuses"))
        if q.get("statuses") is not None and (
            statuses is None or any(s not in (-1, 4, 7, 8, 9, 11) for s in statuses)
        ):
            raise self.invalid("invalid statuses value")
        payment = q.get("payment_type")
        if payment is not None and payment not in ("cpm", "cpc"):
            raise self.invalid("invalid payment_type value")
        out = []
        for campaign in self.visible_campaigns(call):
            if ids is not None and campaign.id not in ids:
                continue
            if statuses and campaign.wb_status not in statuses:
                continue
            if payment and campaign.payment_type != payment:
                continue
            out.append(self.advert_json(campaign))
        return JSONBody({"adverts": out})

    def advert_json(self, campaign: Campaign) -> dict[str, Any]:
        nm_settings = []
        for item in campaign.items.values():
            product = self.product(item.product_id)
            combined = item.bids.get("combined")
            nm_settings.append(
                {
                    "bids_kopecks": {
                        "search": item.bids.get("search", combined or 0),
                        "recommendations": item.bids.get("recommendations", combined or 0),
                    },
                    "nm_id": product.id,
                    "subject": {"id": product.subject_id, "name": product.subject_name},
                }
            )
        return {
            "bid_type": campaign.bid_type,
            "currency": "RUB",
            "id": campaign.id,
            "nm_settings": nm_settings,
            # The spec snapshot truncates the properties of `restrictions` ("[MaxDepth]"); the key is
            # required, so the sandbox sends it without properties it could not source.
            "restrictions": {},
            "settings": {
                "name": campaign.name,
                "payment_type": campaign.payment_type,
                "placements": {
                    "search": bool(campaign.placements.get("search")),
                    "recommendations": bool(campaign.placements.get("recommendations")),
                },
            },
            "status": campaign.wb_status,
            "timestamps": {
                "created": _wb_time(campaign.created_at),
                "updated": _wb_time(campaign.updated_at),
                "started": _wb_time(campaign.started_at) if campaign.started_at else None,
                # WB marks "not deleted" with a far-future date rather than null (the field is
                # not nullable in the spec).
                "deleted": _wb_time(campaign.deleted_at) if campaign.deleted_at else NOT_DELETED,
            },
        }

    def _status_target(self, call: WbCall) -> Campaign:
        campaign_id = parse_int(call.request.query_params.get("id"))
        campaign = self.own_campaign(call, campaign_id) if campaign_id is not None else None
        if campaign is None:
            raise self.legacy("Invalid Advert: invalid advert")
        return campaign

    def _set_status(self, call: WbCall, campaign: Campaign, status: str, action: str) -> Response:
        before = campaign.status
        campaign.status = status
        campaign.updated_at = call.now
        if status == "9":
            campaign.started_at = call.now
        self.record(
            call,
            200,
            {
                "action": action,
                "advert_id": campaign.id,
                "status_before": int(before),
                "status_after": int(status),
            },
        )
        return Response(status_code=200)

    async def start(self, call: WbCall) -> Response:
        # Reference: GET /adv/v0/start — from 4 (ready) or 11 (paused); needs budget.
        campaign = self._status_target(call)
        if campaign.status not in ("4", "11"):
            raise self.text("Статус кампании не изменен", 422)
        if campaign.budget_kopecks < MIN_START_BUDGET_KOPECKS:
            raise self.legacy("AdvertChangeStatus: Low Budget: not enough budget")
        return self._set_status(call, campaign, "9", "start")

    async def pause(self, call: WbCall) -> Response:
        campaign = self._status_target(call)
        if campaign.status != "9":
            raise self.text("Статус кампании не изменен", 422)
        return self._set_status(call, campaign, "11", "pause")

    async def stop(self, call: WbCall) -> Response:
        campaign = self._status_target(call)
        if campaign.status not in ("4", "9", "11"):
            raise self.text("Статус кампании не изменен", 422)
        return self._set_status(call, campaign, "7", "stop")

    async def delete(self, call: WbCall) -> Response:
        # Only campaigns in status 4 can be deleted; they stay in -1 for a few minutes, then vanish.
        campaign = self._status_target(call)
        if campaign.status != "4":
            raise self.legacy("AdvertDelete: only campaigns in status 4 (ready) can be deleted")
        campaign.deleted_at = call.now + timedelta(seconds=WB_DELETE_DELAY_S)
        return self._set_status(call, campaign, "-1", "delete")

    async def rename(self, call: WbCall) -> Response:
        # Reference: POST /adv/v0/rename — its errors are text/plain.
        try:
            body = await read_json(call.request)
        except BadJSON as exc:
            raise self.text(exc.detail, 400) from None
        if not isinstance(body, dict):
            raise self.text("invalid request body", 400)
        campaign = self.own_campaign(call, body.get("advertId"))
        name = body.get("name")
        if campaign is None:
            raise self.text("кампания не принадлежит продавцу", 400)
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise self.text("name must be a non-empty string of at most 100 characters", 400)
        campaign.name = name
        campaign.updated_at = call.now
        self.record(call, 200, {"action": "rename", "advert_id": campaign.id, "name": name})
        return Response(status_code=200)

    # ---- nm bids ---------------------------------------------------------------------------------

    async def patch_bids(self, call: WbCall) -> Response:
        # Reference: PATCH /api/advert/v1/bids — ≤ 50 campaigns × ≤ 50 nm bids, kopecks; placements:
        # `combined` for unified campaigns, `search` / `recommendations` for manual ones; campaigns in
        # status 4, 9 or 11; applied on WB's 30-second tick (the last change in a tick wins).
        body = await read_json(call.request)
        bids = body.get("bids") if isinstance(body, dict) else None
        if not isinstance(bids, list) or not bids:
            raise self.invalid("bids: a non-empty array is required")
        if len(bids) > MAX_NM_BIDS:
            raise self.invalid(f"bids: maximum {MAX_NM_BIDS} campaigns per request")
        errors: list[dict[str, str]] = []
        changes: list[tuple[Campaign, CampaignItem, str, int]] = []
        for i, entry in enumerate(bids):
            where = f".bids[{i}]"
            if not isinstance(entry, dict):
                errors.append({"detail": "must be an object", "field": where})
                continue
            campaign = self.own_campaign(call, entry.get("advert_id"))
            if campaign is None:
                errors.append(
                    {
                        "detail": "campaign not found or does not belong to the seller",
                        "field": where + ".advert_id",
                    }
                )
                continue
            if campaign.status not in ("4", "9", "11"):
                errors.append(
                    {"detail": f"invalid advert status: {campaign.wb_status}", "field": where + ".advert_id"}
                )
                continue
            nm_bids = entry.get("nm_bids")
            if not isinstance(nm_bids, list) or not nm_bids:
                errors.append(
                    {"detail": "nm_bids: a non-empty array is required", "field": where + ".nm_bids"}
                )
                continue
            if len(nm_bids) > MAX_NM_BIDS:
                errors.append({"detail": f"maximum {MAX_NM_BIDS} items", "field": where + ".nm_bids"})
                continue
            for j, nm_bid in enumerate(nm_bids):
                at = f"{where}.nm_bids[{j}]"
                if not isinstance(nm_bid, dict):
                    errors.append({"detail": "must be an object", "field": at})
                    continue
                nm_id, bid, placement = (
                    nm_bid.get("nm_id"),
                    nm_bid.get("bid_kopecks"),
                    nm_bid.get("placement"),
                )
                if not is_int(nm_id) or nm_id not in campaign.items:
                    errors.append({"detail": "some nms are not belong to advert", "field": at + ".nm_id"})
                    continue
                allowed = ("combined",) if campaign.bid_type == "unified" else ("search", "recommendations")
                if not isinstance(placement, str) or placement not in allowed:
                    errors.append(
                        {
                            "detail": f"invalid placement value: {placement!r}; "
                            f"allowed: {', '.join(allowed)}",
                            "field": at + ".placement",
                        }
                    )
                    continue
                if not is_int(bid) or bid <= 0:
                    errors.append(
                        {"detail": "bid_kopecks must be a positive integer", "field": at + ".bid_kopecks"}
                    )
                    continue
                low = self.min_bid(campaign.payment_type, placement, self.product(nm_id))
                if not low <= bid <= MAX_BID_KOPECKS:
                    errors.append(
                        {
                            "detail": f"wrong bid value: {bid}; min: {low} max: {MAX_BID_KOPECKS}",
                            "field": at + ".bid_kopecks",
                        }
                    )
                    continue
                changes.append((campaign, campaign.items[nm_id], placement, bid))
        if errors:
            raise self.invalid(errors[0]["detail"], errors)
        effective = _next_tick(call.now, WB_BID_TICK_S)
        for campaign, item, placement, bid in changes:
            self.sb.market.schedule(effective, _setter(item.bids, placement, bid, campaign, effective))
        echo = [{"advert_id": b["advert_id"], "nm_bids": [dict(x) for x in b["nm_bids"]]} for b in bids]
        self.record(
            call,
            200,
            {
                "action": "set_nm_bids",
                "effective_at": effective.isoformat(),
                "bids": [
                    {"advert_id": c.id, "nm_id": it.product_id, "placement": p, "bid_kopecks": b}
                    for c, it, p, b in changes
                ],
            },
        )
        return JSONBody({"bids": echo, "currency": "RUB"})

    async def min_bids(self, call: WbCall) -> Response:
        # Reference: POST /api/advert/v1/bids/min — advert_id, nm_ids ≤ 100, payment_type,
        # placement_types (combined / search / recommendation); values in kopecks.
        body = await read_json(call.request)
        if not isinstance(body, dict):
            raise self.invalid("request body must be an object")
        campaign = self.own_campaign(call, body.get("advert_id"))
        if campaign is None:
            raise self.invalid("advert_id: campaign not found")
        nm_ids = body.get("nm_ids")
        if not isinstance(nm_ids, list) or not nm_ids or not all(is_int(n) for n in nm_ids):
            raise self.invalid("nm_ids: a non-empty array of integers is required")
        if len(nm_ids) > MAX_MIN_BID_NMS:
            raise self.invalid(f"nm_ids: maximum {MAX_MIN_BID_NMS} items")
        payment = body.get("payment_type")
        if payment not in ("cpm", "cpc"):
            raise self.invalid("invalid payment_type value")
        placements = body.get("placement_types")
        names = {"combined": "combined", "search": "search", "recommendation": "recommendations"}
        if (
            not isinstance(placements, list)
            or not placements
            or any(not isinstance(p, str) or p not in names for p in placements)
        ):
            raise self.invalid("placement_types: use combined, search and/or recommendation")
        unknown = [n for n in nm_ids if n not in campaign.items]
        if unknown:
            raise self.invalid("some nms are not belong to advert")
        out = [
            {
                "nm_id": nm,
                "bids": [
                    {"type": p, "value": self.min_bid(payment, names[p], self.product(nm))}
                    for p in placements
                ],
            }
            for nm in nm_ids
        ]
        return JSONBody({"bids": out})

    async def recommendations(self, call: WbCall) -> Response:
        # Reference: GET /api/advert/v0/bids/recommendations?advertId=&nmId= — what a bid must be to
        # reach the top; derived from the competitors' current bids.
        q = call.request.query_params
        campaign = self.own_campaign(call, parse_int(q.get("advertId")))
        nm_id = parse_int(q.get("nmId"))
        if campaign is None or nm_id is None or nm_id not in campaign.items:
            raise self.text("invalid advertId or nmId", 400)
        return JSONBody(self.recommendation_body(campaign, nm_id, call.now))

    def recommendation_body(self, campaign: Campaign, nm_id: int, now: datetime) -> dict[str, Any]:
        """The recommended-bids answer for one (campaign, nm) at `now` (also read by the backtest)."""
        product = self.product(nm_id)
        clusters = [self.sb.world.clusters[c] for c in product.cluster_ids]
        search = [c for c in clusters if c.placement == "search"]
        to_cpc = BASE_CTR * product.quality * 1000

        def level(bids: list[int], place: int) -> int:
            """Bid that beats all but `place - 1` competitors (one step above the next one)."""
            if len(bids) < place:
                return bids[0] if bids else MIN_CPM_KOPECKS["search"]
            return bids[-place] + CPM_STEP_KOPECKS

        if campaign.payment_type == "cpc":
            all_bids = sorted(b for c in search for b in self.sb.market.competitor_bids(c, now))
            levels = {
                "range1To2": {"bidKopecks": max(MIN_CPC_KOPECKS, int(level(all_bids, 2) / to_cpc))},
                "range3To10": {"bidKopecks": max(MIN_CPC_KOPECKS, int(level(all_bids, 10) / to_cpc))},
                "range11To34": {"bidKopecks": max(MIN_CPC_KOPECKS, int(level(all_bids, 34) / to_cpc))},
            }
            return {"advertId": campaign.id, "nmId": nm_id, "paymentType": "cpc", "levels": [levels]}
        norm_queries = []
        tops = []
        for cluster in search:
            bids = self.sb.market.competitor_bids(cluster, now)
            tops.append(bids)
            low = self.min_bid(campaign.payment_type, "search", product)
            norm_queries.append(
                {
                    "normQuery": cluster.text,
                    "reachMin": {"bidKopecks": max(low, level(bids, 6)), "bidKopecksMin": low},
                    "reachMedium": {"bidKopecks": max(low, level(bids, 3)), "bidKopecksMin": low},
                    "reachMax": {"bidKopecks": max(low, level(bids, 1)), "bidKopecksMin": low},
                }
            )
        merged = sorted(b for bids in tops for b in bids)
        median = merged[len(merged) // 2] if merged else MIN_CPM_KOPECKS["search"]
        base = {
            "competitiveBid": {"bidKopecks": median},
            "leadersBid": {"bidKopecks": level(merged, 1)},
            "top2": {"bidKopecks": level(merged, 2)},
        }
        return {
            "advertId": campaign.id,
            "nmId": nm_id,
            "paymentType": "cpm",
            "base": base,
            "normQueries": norm_queries,
        }

    async def config(self, call: WbCall) -> Response:
        return JSONBody(dict(CONFIG))

    # ---- finance ---------------------------------------------------------------------------------

    async def balance(self, call: WbCall) -> Response:
        # Reference: GET /adv/v1/balance — rubles.
        acc = call.account
        return JSONBody(
            {
                "balance": acc.wb_balance_kopecks // 100,
                "net": acc.wb_balance_kopecks // 100,
                "bonus": acc.wb_bonus_kopecks // 100,
                "cashbacks": [],
                "currency": "RUB",
            }
        )

    async def budget(self, call: WbCall) -> Response:
        # Reference: GET /adv/v1/budget?id= — `total` in rubles; `cash` and `netting` are always 0.
        campaign = self.own_campaign(call, parse_int(call.request.query_params.get("id")))
        if campaign is None:
            raise self.text("кампания не принадлежит продавцу", 400)
        return JSONBody({"cash": 0, "netting": 0, "total": campaign.budget_kopecks // 100, "currency": "RUB"})

    async def deposit(self, call: WbCall) -> Response:
        # Reference: POST /adv/v1/budget/deposit?id= — sum in rubles (≥ 1000, multiple of 50);
        # type 0 = account, 1 = balance, 3 = bonuses; `return: true` answers the new total.
        campaign = self.own_campaign(call, parse_int(call.request.query_params.get("id")))
        if campaign is None:
            raise self.invalid("campaign not found or does not belong to the seller")
        body = await read_json(call.request)
        if not isinstance(body, dict):
            raise self.invalid("request body must be an object")
        amount, source = body.get("sum"), body.get("type", 1)
        if not is_int(amount) or amount < MIN_DEPOSIT_RUB:
            raise self.invalid(f"минимальная сумма пополнения {MIN_DEPOSIT_RUB} ₽")
        if amount % DEPOSIT_STEP_RUB:
            raise self.invalid(f"сумма пополнения должна быть кратна {DEPOSIT_STEP_RUB} ₽")
        if source not in (0, 1, 3):
            raise self.invalid("type must be 0 (account), 1 (balance) or 3 (bonuses)")
        kopecks = amount * 100
        acc = call.account
        if source == 3:
            if acc.wb_bonus_kopecks < kopecks:
                raise self.invalid("недостаточно бонусов")
            acc.wb_bonus_kopecks -= kopecks
        else:
            if acc.wb_balance_kopecks < kopecks:
                raise self.invalid("недостаточно средств на балансе")
            acc.wb_balance_kopecks -= kopecks
        campaign.budget_kopecks += kopecks
        self.record(
            call,
            200,
            {
                "action": "deposit",
                "advert_id": campaign.id,
                "sum_kopecks": kopecks,
                "budget_kopecks": campaign.budget_kopecks,
            },
        )
        if body.get("return") is True:
            return JSONBody({"total": campaign.budget_kopecks // 100, "currency": "RUB"})
        return Response(status_code=200)

    # ---- statistics ------------------------------------------------------------------------------

    def _period(self, begin: Any, end: Any) -> tuple[date, date]:
        try:
            start = date.fromisoformat(str(begin))
            finish = date.fromisoformat(str(end))
        except ValueError:
            raise self.invalid("dates must be YYYY-MM-DD") from None
        if finish < start:
            raise self.invalid("the end of the period is before its beginning")
        if (finish - start).days + 1 > MAX_STATS_DAYS:
            raise self.invalid(f"the period must not be longer than {MAX_STATS_DAYS} days")
        return start, finish

    async def spend_history(self, call: WbCall) -> Response:
        # Reference: GET /adv/v1/upd?from=&to= — the write-offs of ad spend, 1..31 days. The snapshot
        # truncates the item schema; the fields are WB's (updNum, updTime, updSum in rubles, advertId,
        # campName, advertType, paymentType, advertStatus). The sandbox writes spend off once per
        # campaign and Moscow day (today: so far), rounded down to whole rubles.
        q = call.request.query_params
        if q.get("from") is None or q.get("to") is None:
            raise self.text("from and to are required (YYYY-MM-DD)", 400)
        try:
            start, finish = self._period(q.get("from"), q.get("to"))
        except WbError:
            raise self.text(f"the period must be valid dates, at most {MAX_STATS_DAYS} days", 400) from None
        today = moscow_date(call.now)
        out = []
        for day in self.sb.market.days(start, finish):
            for campaign in sorted(self.visible_campaigns(call), key=lambda c: c.id):
                spend = sum(v[SPEND] for v in self.sb.market.day_rows(campaign.id, day).values())
                if spend < 100:
                    continue
                moment = call.now if day == today else datetime.combine(day, datetime.max.time(), MOSCOW)
                out.append(
                    {
                        "updNum": 0,
                        "updTime": _wb_time(moment),
                        "updSum": int(spend // 100),
                        "advertId": campaign.id,
                        "campName": campaign.name,
                        "advertType": int(campaign.kind),
                        "paymentType": "Баланс",
                        "advertStatus": campaign.wb_status,
                    }
                )
        return JSONBody(out)

    async def fullstats(self, call: WbCall) -> Response:
        # Reference: GET /adv/v3/fullstats — ≤ 50 ids, ≤ 31 days, campaigns in status 7/9/11;
        # days → apps → nms whose totals add up; money as rubles (floats).
        q = call.request.query_params
        ids = parse_id_list(q.get("ids"))
        if not ids:
            raise self.invalid("invalid ids")
        if len(ids) > MAX_ADVERTS:
            raise self.invalid(f"invalid ids: maximum {MAX_ADVERTS}")
        if q.get("beginDate") is None or q.get("endDate") is None:
            raise self.invalid("beginDate and endDate are required")
        start, finish = self._period(q.get("beginDate"), q.get("endDate"))
        out = []
        for campaign_id in dict.fromkeys(ids):
            campaign = self.own_campaign(call, campaign_id)
            if campaign is None or campaign.status not in ("7", "9", "11"):
                continue
            out.append(self._campaign_stats(campaign, start, finish))
        if not out:
            raise self.invalid("invalid ids")
        return JSONBody(out)

    def _campaign_stats(self, campaign: Campaign, start: date, finish: date) -> dict[str, Any]:
        days_json = []
        booster = []
        totals = _Ints()
        market = self.sb.market
        for day in market.days(start, finish):
            rows = market.day_rows(campaign.id, day)
            if not rows:
                continue
            per_nm: dict[int, list[float]] = {}
            for (nm, _cluster), values in rows.items():
                acc = per_nm.setdefault(nm, [0.0] * len(values))
                for k, v in enumerate(values):
                    acc[k] += v
            apps: dict[int, dict[int, _Ints]] = {app: {} for app, _ in APP_SHARES}
            day_total = _Ints()
            for nm, values in sorted(per_nm.items()):
                whole = _Ints.from_counters(values)
                if values[VIEWS] > 0:
                    booster.append(
                        {
                            "date": day.isoformat(),
                            "nm": nm,
                            "avg_position": max(1, round(values[POS_VIEWS] / values[VIEWS])),
                        }
                    )
                for app, part in zip(
                    (a for a, _ in APP_SHARES), whole.split([s for _, s in APP_SHARES]), strict=True
                ):
                    apps[app][nm] = part
            apps_json = []
            for app, nms in apps.items():
                app_total = _Ints()
                nms_json = []
                for nm, part in nms.items():
                    app_total.add(part)
                    nms_json.append({"nmId": nm, "name": self.product(nm).title, **part.metrics()})
                day_total.add(app_total)
                apps_json.append({"appType": app, **app_total.metrics(), "nms": nms_json})
            totals.add(day_total)
            days_json.append({"date": _wb_day(day), **day_total.metrics(), "apps": apps_json})
        return {
            "advertId": campaign.id,
            **totals.metrics(),
            "currency": "RUB",
            "days": days_json,
            "boosterStats": booster,
        }

    def _pairs(self, call: WbCall, items: Any, advert_key: str, nm_key: str) -> list[tuple[Campaign, int]]:
        if not isinstance(items, list) or not items:
            raise self.invalid("items: a non-empty array is required")
        if len(items) > MAX_NORMQUERY_ITEMS:
            raise self.invalid(f"items: maximum {MAX_NORMQUERY_ITEMS}")
        pairs = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not is_int(item.get(advert_key)) or not is_int(item.get(nm_key)):
                raise self.invalid(f"items[{i}]: {advert_key} and {nm_key} must be integers")
            campaign = self.own_campaign(call, item[advert_key])
            if campaign is None:
                raise self.invalid(f"items[{i}]: campaign {item[advert_key]} not found")
            if item[nm_key] not in campaign.items:
                raise self.invalid(f"items[{i}]: nm {item[nm_key]} is not in campaign {campaign.id}")
            pairs.append((campaign, item[nm_key]))
        return pairs

    def _search_clusters(self, nm: int) -> list[int]:
        clusters = self.sb.world.clusters
        return [c for c in self.product(nm).cluster_ids if clusters[c].placement == "search"]

    def _cluster_rows(
        self, campaign: Campaign, nm: int, start: date, finish: date
    ) -> dict[tuple[date, int], list[float]]:
        out = {}
        search = set(self._search_clusters(nm))
        for day in self.sb.market.days(start, finish):
            for (pid, cid), values in self.sb.market.day_rows(campaign.id, day).items():
                if pid == nm and cid in search and values[VIEWS] > 0:
                    out[(day, cid)] = values
        return out

    async def normquery_stats_v0(self, call: WbCall) -> Response:
        # Reference: POST /adv/v0/normquery/stats — cpm campaigns only; totals over the period.
        body = await read_json(call.request)
        if not isinstance(body, dict):
            raise self.invalid("request body must be an object")
        start, finish = self._period(body.get("from"), body.get("to"))
        pairs = self._pairs(call, body.get("items"), "advert_id", "nm_id")
        stats = []
        for campaign, nm in pairs:
            if campaign.payment_type != "cpm":
                raise self.invalid("invalid payment_type value")
            sums: dict[int, list[float]] = {}
            for (_day, cid), values in self._cluster_rows(campaign, nm, start, finish).items():
                acc = sums.setdefault(cid, [0.0] * len(values))
                for k, v in enumerate(values):
                    acc[k] += v
            rows = []
            for cid, values in sorted(sums.items()):
                m = _cluster_metrics(values, cpm=True)
                rows.append(
                    {
                        "norm_query": self.sb.world.clusters[cid].text,
                        "views": m["views"],
                        "clicks": m["clicks"],
                        "ctr": m["ctr"],
                        "cpc": m["cpc"],
                        "cpm": m["cpm"],
                        "atbs": m["atbs"],
                        "orders": m["orders"],
                        "shks": m["shks"],
                        "spend": m["spend"],
                        "avg_pos": m["avgPos"],
                        "currency": "RUB",
                    }
                )
            stats.append({"advert_id": campaign.id, "nm_id": nm, "stats": rows})
        return JSONBody({"stats": stats})

    async def normquery_stats_v1(self, call: WbCall) -> Response:
        # Reference: POST /adv/v1/normquery/stats — cpm and cpc, by day; views/ctr/cpm null for cpc.
        body = await read_json(call.request)
        if not isinstance(body, dict):
            raise self.invalid("request body must be an object")
        start, finish = self._period(body.get("from"), body.get("to"))
        pairs = self._pairs(call, body.get("items"), "advertId", "nmId")
        items = []
        for campaign, nm in pairs:
            daily = []
            for (day, cid), values in sorted(self._cluster_rows(campaign, nm, start, finish).items()):
                m = _cluster_metrics(values, cpm=campaign.payment_type == "cpm")
                daily.append(
                    {"date": day.isoformat(), "stat": {"normQuery": self.sb.world.clusters[cid].text, **m}}
                )
            items.append({"advertId": campaign.id, "nmId": nm, "dailyStats": daily})
        return JSONBody({"items": items})

    async def normquery_list(self, call: WbCall) -> Response:
        # Reference: POST /adv/v0/normquery/list — clusters with ≥ 100 views (over the last 30 days
        # here) are listed; minus phrases are `excluded`.
        body = await read_json(call.request)
        pairs = self._pairs(call, body.get("items") if isinstance(body, dict) else None, "advertId", "nmId")
        today = moscow_date(call.now)
        out = []
        for campaign, nm in pairs:
            item = campaign.items[nm]
            views: dict[int, float] = {}
            for (_day, cid), values in self._cluster_rows(
                campaign, nm, today - timedelta(days=29), today
            ).items():
                views[cid] = views.get(cid, 0.0) + values[VIEWS]
            clusters = self.sb.world.clusters
            active = [
                clusters[c].text
                for c in self._search_clusters(nm)
                if views.get(c, 0) >= 100 and clusters[c].text not in item.minus_phrases
            ]
            out.append(
                {
                    "advertId": campaign.id,
                    "nmId": nm,
                    "normQueries": {"active": active, "archived": [], "excluded": list(item.minus_phrases)},
                }
            )
        return JSONBody({"items": out})

    async def normquery_get_bids(self, call: WbCall) -> Response:
        # Reference: POST /adv/v0/normquery/get-bids — the cluster bids that were set.
        body = await read_json(call.request)
        pairs = self._pairs(call, body.get("items") if isinstance(body, dict) else None, "advert_id", "nm_id")
        out = []
        for campaign, nm in pairs:
            for cid, bid in sorted(campaign.items[nm].cluster_bids.items()):
                out.append(
                    {
                        "advert_id": campaign.id,
                        "nm_id": nm,
                        "norm_query": self.sb.world.clusters[cid].text,
                        "bid": bid // 100,
                        "bid_kopecks": bid,
                        "currency": "RUB",
                    }
                )
        return JSONBody({"bids": out})

    def _cluster_target(self, campaign: Campaign, nm: int, text: Any) -> int | None:
        if not isinstance(text, str):
            return None
        for cid in self._search_clusters(nm):
            if self.sb.world.clusters[cid].text == text:
                return cid
        return None

    async def normquery_set_bids_v0(self, call: WbCall) -> Response:
        # Reference: POST /adv/v0/normquery/bids — ≤ 100; manual CPM campaigns only; `bid` in rubles
        # per 1000 views.
        body = await read_json(call.request)
        bids = body.get("bids") if isinstance(body, dict) else None
        if not isinstance(bids, list) or not bids:
            raise self.invalid("bids: a non-empty array is required")
        if len(bids) > MAX_NORMQUERY_ITEMS:
            raise self.invalid(f"bids: maximum {MAX_NORMQUERY_ITEMS}")
        changes = []
        for i, entry in enumerate(bids):
            campaign, nm, cid = self._cluster_entry(call, entry, i, "advert_id", "nm_id", "norm_query")
            bid = entry.get("bid")
            if not is_int(bid) or bid <= 0:
                raise self.invalid(f"bids[{i}].bid must be a positive integer (rubles)")
            kopecks = bid * 100
            low = self.min_bid(campaign.payment_type, "search", self.product(nm))
            if not low <= kopecks <= MAX_BID_KOPECKS:
                raise self.invalid(
                    f"wrong bid value: {bid}; min: {math.ceil(low / 100)} max: {MAX_BID_KOPECKS // 100}"
                )
            changes.append((campaign, nm, cid, kopecks))
        self._schedule_cluster_bids(call, changes)
        return Response(status_code=200)

    def _cluster_entry(
        self, call: WbCall, entry: Any, i: int, ak: str, nk: str, qk: str
    ) -> tuple[Campaign, int, int]:
        if not isinstance(entry, dict) or not is_int(entry.get(ak)) or not is_int(entry.get(nk)):
            raise self.invalid(f"bids[{i}]: {ak} and {nk} must be integers")
        campaign = self.own_campaign(call, entry[ak])
        if campaign is None or entry[nk] not in campaign.items:
            raise self.invalid(f"bids[{i}]: campaign {entry[ak]} with nm {entry[nk]} not found")
        if campaign.payment_type != "cpm" or campaign.bid_type != "manual":
            raise self.invalid("invalid payment_type value")
        cid = self._cluster_target(campaign, entry[nk], entry.get(qk))
        if cid is None:
            raise self.invalid(f"bids[{i}].{qk}: unknown search cluster for this nm")
        return campaign, entry[nk], cid

    def _schedule_cluster_bids(
        self, call: WbCall, changes: Sequence[tuple[Campaign, int, int, int | None]]
    ) -> None:
        effective = _next_tick(call.now, WB_BID_TICK_S)
        for campaign, nm, cid, bid in changes:
            self.sb.market.schedule(
                effective, _setter(campaign.items[nm].cluster_bids, cid, bid, campaign, effective)
            )
        clusters = self.sb.world.clusters
        self.record(
            call,
            200,
            {
                "action": "set_cluster_bids" if call.request.method == "POST" else "delete_cluster_bids",
                "effective_at": effective.isoformat(),
                "bids": [
                    {"advert_id": c.id, "nm_id": nm, "norm_query": clusters[cid].text, "bid_kopecks": b}
                    for c, nm, cid, b in changes
                ],
            },
        )

    async def normquery_delete_bids(self, call: WbCall) -> Response:
        body = await read_json(call.request)
        bids = body.get("bids") if isinstance(body, dict) else None
        if not isinstance(bids, list) or not bids:
            raise self.invalid("bids: a non-empty array is required")
        if len(bids) > MAX_NORMQUERY_ITEMS:
            raise self.invalid(f"bids: maximum {MAX_NORMQUERY_ITEMS}")
        changes: list[tuple[Campaign, int, int, int | None]] = []
        for i, entry in enumerate(bids):
            campaign, nm, cid = self._cluster_entry(call, entry, i, "advert_id", "nm_id", "norm_query")
            changes.append((campaign, nm, cid, None))
        self._schedule_cluster_bids(call, changes)
        return Response(status_code=200)

    async def normquery_set_bids_v1(self, call: WbCall) -> Response:
        # Reference: POST /api/advert/v1/normquery/bids — kopecks (`bidMinorUnits`), multiples of
        # cpmStep; per-item outcome in `success[]` / `failed[{reason}]`.
        body = await read_json(call.request)
        bids = body.get("bids") if isinstance(body, dict) else None
        if not isinstance(bids, list) or not bids:
            raise self.invalid("bids: a non-empty array is required")
        if len(bids) > MAX_NORMQUERY_ITEMS:
            raise self.invalid(f"bids: maximum {MAX_NORMQUERY_ITEMS}")
        success, failed = [], []
        changes: list[tuple[Campaign, int, int, int | None]] = []
        for i, entry in enumerate(bids):
            if (
                not isinstance(entry, dict)
                or not is_int(entry.get("advertId"))
                or not is_int(entry.get("nmId"))
                or not isinstance(entry.get("normQuery"), str)
            ):
                raise self.invalid(
                    f"bids[{i}]: advertId, nmId (integers) and normQuery (string) are required"
                )
            key = {"advertId": entry["advertId"], "nmId": entry["nmId"], "normQuery": entry["normQuery"]}
            try:
                campaign, nm, cid = self._cluster_entry(call, entry, i, "advertId", "nmId", "normQuery")
            except WbError:
                failed.append(
                    {**key, "reason": "advert, nm or normQuery not found, or the campaign is not manual CPM"}
                )
                continue
            bid = entry.get("bidMinorUnits")
            low = self.min_bid(campaign.payment_type, "search", self.product(nm))
            if not is_int(bid) or not low <= bid <= MAX_BID_KOPECKS or bid % CPM_STEP_KOPECKS:
                failed.append(
                    {
                        **key,
                        "reason": f"bidMinorUnits must be a multiple of {CPM_STEP_KOPECKS} "
                        f"between {low} and {MAX_BID_KOPECKS}",
                    }
                )
                continue
            changes.append((campaign, nm, cid, bid))
            success.append({**key, "currency": "RUB"})
        if changes:
            self._schedule_cluster_bids(call, changes)
        return JSONBody({"success": success, "failed": failed})

    async def get_minus(self, call: WbCall) -> Response:
        body = await read_json(call.request)
        pairs = self._pairs(call, body.get("items") if isinstance(body, dict) else None, "advert_id", "nm_id")
        return JSONBody(
            {
                "items": [
                    {"advert_id": c.id, "nm_id": nm, "norm_queries": list(c.items[nm].minus_phrases)}
                    for c, nm in pairs
                ]
            }
        )

    async def set_minus(self, call: WbCall) -> Response:
        # Reference: POST /adv/v0/normquery/set-minus — one (advert, nm); replaces the whole list;
        # an empty array clears it; ≤ 1000 phrases.
        body = await read_json(call.request)
        if not isinstance(body, dict):
            raise self.invalid("request body must be an object")
        ((campaign, nm),) = self._pairs(call, [body], "advert_id", "nm_id")
        phrases = body.get("norm_queries")
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise self.invalid("norm_queries must be an array of strings")
        if len(phrases) > MAX_MINUS_PHRASES:
            raise self.invalid(f"norm_queries: maximum {MAX_MINUS_PHRASES}")
        campaign.items[nm].minus_phrases = list(dict.fromkeys(phrases))
        self.record(
            call,
            200,
            {"action": "set_minus", "advert_id": campaign.id, "nm_id": nm, "norm_queries": list(phrases)},
        )
        return Response(status_code=200)


class _Ints:
    """Integer counters of one statistics node; money in kopecks. Children are added exactly, so
    every level of the full-stats tree sums to its parent."""

    __slots__ = ("atbs", "canceled", "clicks", "orders", "revenue", "shks", "spend", "views")

    def __init__(self) -> None:
        self.views = self.clicks = self.atbs = self.orders = self.shks = self.canceled = 0
        self.revenue = self.spend = 0

    @classmethod
    def from_counters(cls, values: list[float]) -> _Ints:
        out = cls()
        out.views = int(values[VIEWS])
        out.clicks = min(out.views, int(values[CLICKS]))
        out.atbs = int(values[ATBS])
        out.orders = int(values[ORDERS])
        out.shks = max(out.orders, int(values[SHKS])) if out.orders else int(values[SHKS])
        out.canceled = out.orders // 20
        out.revenue = int(values[REVENUE])
        out.spend = int(values[SPEND])
        return out

    def add(self, other: _Ints) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def split(self, shares: list[float]) -> list[_Ints]:
        """Divide every counter by `shares` with largest remainders, so the parts sum exactly."""
        parts = [_Ints() for _ in shares]
        for name in self.__slots__:
            total = getattr(self, name)
            raw = [total * s for s in shares]
            base = [int(r) for r in raw]
            rest = total - sum(base)
            for k in sorted(range(len(shares)), key=lambda k: raw[k] - base[k], reverse=True)[:rest]:
                base[k] += 1
            for part, value in zip(parts, base, strict=True):
                setattr(part, name, value)
        return parts

    def metrics(self) -> dict[str, Any]:
        return {
            "views": self.views,
            "clicks": self.clicks,
            "ctr": round(self.clicks / self.views * 100, 2) if self.views else 0.0,
            "cpc": round(self.spend / 100 / self.clicks, 2) if self.clicks else 0.0,
            "sum": rubles(self.spend),
            "atbs": self.atbs,
            "orders": self.orders,
            "cr": round(self.orders / self.clicks * 100, 2) if self.clicks else 0.0,
            "shks": self.shks,
            "sum_price": rubles(self.revenue),
            "canceled": self.canceled,
        }


def _cluster_metrics(values: list[float], *, cpm: bool) -> dict[str, Any]:
    views, clicks, spend = int(values[VIEWS]), int(values[CLICKS]), int(values[SPEND])
    return {
        "views": views if cpm else None,
        "clicks": clicks,
        "ctr": (round(clicks / views * 100, 2) if views else 0.0) if cpm else None,
        "cpc": round(spend / 100 / clicks, 2) if clicks else 0.0,
        "cpm": (round(spend / 100 / views * 1000, 2) if views else 0.0) if cpm else None,
        "atbs": int(values[ATBS]),
        "orders": int(values[ORDERS]),
        "shks": int(values[SHKS]),
        "spend": rubles(spend),
        "avgPos": round(values[POS_VIEWS] / values[VIEWS], 1) if values[VIEWS] else 0.0,
    }


def _setter(
    target: dict[Any, int], key: Any, value: int | None, campaign: Campaign, at: datetime
) -> Callable[[], None]:
    def apply() -> None:
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
        campaign.updated_at = at

    return apply


def _next_tick(now: datetime, tick_s: int) -> datetime:
    """The next apply tick strictly after `now` (WB applies bid changes once per 30 s)."""
    return datetime.fromtimestamp((math.floor(now.timestamp() / tick_s) + 1) * tick_s, UTC)


def _wb_time(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).isoformat(timespec="seconds")


def _wb_day(day: date) -> str:
    return datetime.combine(day, datetime.min.time(), MOSCOW).isoformat()


def create_wildberries_app(sandbox: Sandbox) -> Starlette:
    api = WildberriesApi(sandbox)
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/adv/v1/promotion/count", api.promotion_count),
        ("GET", "/api/advert/v2/adverts", api.adverts),
        ("GET", "/adv/v0/start", api.start),
        ("GET", "/adv/v0/pause", api.pause),
        ("GET", "/adv/v0/stop", api.stop),
        ("GET", "/adv/v0/delete", api.delete),
        ("POST", "/adv/v0/rename", api.rename),
        ("PATCH", "/api/advert/v1/bids", api.patch_bids),
        ("POST", "/api/advert/v1/bids/min", api.min_bids),
        ("GET", "/api/advert/v0/bids/recommendations", api.recommendations),
        ("GET", "/api/advert/v1/config", api.config),
        ("GET", "/adv/v1/upd", api.spend_history),
        ("GET", "/adv/v1/balance", api.balance),
        ("GET", "/adv/v1/budget", api.budget),
        ("POST", "/adv/v1/budget/deposit", api.deposit),
        ("GET", "/adv/v3/fullstats", api.fullstats),
        ("POST", "/adv/v0/normquery/stats", api.normquery_stats_v0),
        ("POST", "/adv/v1/normquery/stats", api.normquery_stats_v1),
        ("POST", "/adv/v0/normquery/list", api.normquery_list),
        ("POST", "/adv/v0/normquery/get-bids", api.normquery_get_bids),
        ("POST", "/adv/v0/normquery/bids", api.normquery_set_bids_v0),
        ("DELETE", "/adv/v0/normquery/bids", api.normquery_delete_bids),
        ("POST", "/api/advert/v1/normquery/bids", api.normquery_set_bids_v1),
        ("POST", "/adv/v0/normquery/get-minus", api.get_minus),
        ("POST", "/adv/v0/normquery/set-minus", api.set_minus),
    ]
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for method, path, handler in table:
        by_path.setdefault(path, {})[method] = api.endpoint(method, path, handler)
    routes = [Route(path, _dispatch(methods), methods=list(methods)) for path, methods in by_path.items()]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return PlainTextResponse("404 page not found" if status == 404 else "405 method not allowed", status)

    return Starlette(
        routes=[*routes, *control_routes(sandbox)],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[
            Middleware(FaultMiddleware, injector=sandbox.faults, marketplace=Marketplace.WB.long_name)
        ],
    )


def _dispatch(
    methods: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        return await methods[request.method](request)

    return run
