"""The Watcher API: ADOLF's own competitor-bid service (no public spec; defined in
docs/watcher-api.md). The sandbox serves it from the same world the marketplace apps simulate, so
the competitors a strategy sees here are the ones it bids against there.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.sandbox.control import control_routes
from app.sandbox.faults import FaultMiddleware
from app.sandbox.http import BadJSON, JSONBody, parse_int, read_json
from app.sandbox.market import BLOCK_S, AuctionEntry
from app.sandbox.state import Sandbox
from app.sandbox.world import Cluster, Product

MARKETPLACES = ("wildberries", "ozon", "yandex_market")
MAX_BATCH = 100
# Units of `bid` per marketplace (docs/watcher-api.md "Units").
UNITS = {
    "wildberries": "kopecks_per_1000_views",
    "ozon": "kopecks_per_1000_views",
    "yandex_market": "percent_of_price_x100",
}


def error(status: int, code: str, message: str) -> JSONBody:
    return JSONBody({"error": {"code": code, "message": message}}, status)


class WatcherApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        # Keywords and SKUs never change in a world: index them once (bench worlds hold 10 000+).
        world = sandbox.world
        self._keywords: dict[tuple[str, str], Cluster] = {
            (c.marketplace.long_name, c.text): c for c in world.clusters.values() if c.placement == "search"
        }
        self._skus: dict[tuple[str, str], Product] = {}
        self._ours: dict[int, list[AuctionEntry]] = {}
        self._ours_block = -1
        for product in world.products.values():
            self._skus[(product.marketplace.long_name, str(product.id))] = product
            if product.shop_sku:
                self._skus[(product.marketplace.long_name, product.shop_sku)] = product

    def _auth(self, request: Request) -> JSONBody | None:
        key = request.headers.get("x-watcher-key", "")
        if not key:
            return error(401, "unauthorized", "X-Watcher-Key header is missing")
        if key != self.sb.watcher_key:
            return error(401, "unauthorized", "X-Watcher-Key is not valid")
        return None

    def _freshness(self, now: datetime) -> tuple[str, str]:
        """Competitor bids are observed once per block; the observation is fresh until the next."""
        block = math.floor(now.timestamp() / BLOCK_S)
        observed = datetime.fromtimestamp(block * BLOCK_S, UTC)
        fresh_until = datetime.fromtimestamp((block + 1) * BLOCK_S, UTC)
        return observed.isoformat(), fresh_until.isoformat()

    def _cluster(self, marketplace: str, keyword: str) -> Cluster | None:
        return self._keywords.get((marketplace, keyword))

    def _product(self, marketplace: str, sku: str) -> Product | None:
        return self._skus.get((marketplace, sku))

    def bids_for(
        self, marketplace: str, keyword: str | None, sku: str | None, now: datetime
    ) -> dict[str, Any]:
        base: dict[str, Any] = {
            "marketplace": marketplace,
            "keyword": keyword,
            "sku": sku,
            "unit": UNITS[marketplace],
        }
        clusters: list[Cluster] = []
        if keyword is not None:
            cluster = self._cluster(marketplace, keyword)
            if cluster is None:
                return {
                    **base,
                    "status": "no_data",
                    "reason": "keyword is not tracked",
                    "observed_at": None,
                    "competitors": [],
                }
            clusters = [cluster]
        else:
            product = self._product(marketplace, sku or "")
            if product is None:
                return {
                    **base,
                    "status": "no_data",
                    "reason": "sku is not tracked",
                    "observed_at": None,
                    "competitors": [],
                }
            clusters = [
                self.sb.world.clusters[c]
                for c in product.cluster_ids
                if self.sb.world.clusters[c].placement == "search"
            ]
        observed, fresh_until = self._freshness(now)
        competitors = []
        # The asked product's own entries (an SKU question): the only advertised products the
        # market model ranks against the competitors — the world's products do not compete with
        # each other, so listing them would show bidders that are not in the auction.
        ours = self._our_entries(now) if sku is not None else {}
        asked = None if sku is None else self._product(marketplace, sku)
        for cluster in clusters:
            entries: list[dict[str, Any]] = [
                {"keyword": cluster.text, "seller": seller, "bid": bid}
                for seller, bid in self.sb.market.competitor_quotes(cluster, now)
            ]
            entries += [
                self._our_entry_json(entry)
                for entry in ours.get(cluster.id, [])
                if asked is not None and entry.product.id == asked.id
            ]
            entries.sort(key=lambda e: -e["bid"])
            for position, entry in enumerate(entries, start=1):
                competitors.append({**entry, "position": position})
        return {
            **base,
            "status": "ok",
            "observed_at": observed,
            "fresh_until": fresh_until,
            "competitors": competitors,
        }

    def _our_entries(self, now: datetime) -> dict[int, list[AuctionEntry]]:
        """Per cluster, the entries of the world's own advertised products right now (the Watcher
        observes the whole auction, ours included), computed once per 30-minute observation."""
        block = math.floor(now.timestamp() / BLOCK_S)
        if self._ours_block != block:
            found: dict[int, list[AuctionEntry]] = {}
            day = self.sb.market.today()
            for campaign in self.sb.world.campaigns.values():
                if self.sb.market.is_serving(campaign, day):
                    for entry in self.sb.market.entries(campaign):
                        if entry.cluster.placement == "search":
                            found.setdefault(entry.cluster.id, []).append(entry)
            self._ours, self._ours_block = found, block
        return self._ours

    @staticmethod
    def _our_entry_json(entry: AuctionEntry) -> dict[str, Any]:
        """An advertised product's entry: its sku, and for a per-click bid the click-through rate
        its bid is ranked by (bid per 1000 views = bid per click × 1000 × ctr)."""
        out: dict[str, Any] = {
            "keyword": entry.cluster.text,
            "seller": f"seller-of-{entry.product.id}",
            "sku": entry.product.shop_sku or str(entry.product.id),
            "bid": int(entry.effective_bid),
        }
        if entry.campaign.payment_type.lower() == "cpc" and entry.charge_bid:
            out["ctr"] = round(entry.effective_bid / (entry.charge_bid * 1000), 6)
        return out

    def positions_for(self, marketplace: str, sku: str, now: datetime) -> dict[str, Any]:
        base: dict[str, Any] = {"marketplace": marketplace, "sku": sku}
        product = self._product(marketplace, sku)
        if product is None:
            return {
                **base,
                "status": "no_data",
                "reason": "sku is not tracked",
                "observed_at": None,
                "positions": [],
            }
        observed, fresh_until = self._freshness(now)
        positions = []
        for campaign in self.sb.world.campaigns.values():
            if product.id not in campaign.items or not self.sb.market.is_serving(
                campaign, self.sb.market.today()
            ):
                continue
            for entry in self.sb.market.entries(campaign):
                if entry.product.id != product.id or entry.cluster.placement != "search":
                    continue
                positions.append(self._position_json(entry, now))
        if not positions:
            return {
                **base,
                "status": "no_data",
                "reason": "the sku is not advertised now",
                "observed_at": observed,
                "positions": [],
            }
        return {
            **base,
            "status": "ok",
            "observed_at": observed,
            "fresh_until": fresh_until,
            "positions": positions,
        }

    def _position_json(self, entry: AuctionEntry, now: datetime) -> dict[str, Any]:
        return {
            "keyword": entry.cluster.text,
            "campaign_id": entry.campaign.id,
            "position": self.sb.market.position(entry, now),
            "competitors": len(entry.cluster.competitors),
        }

    # ---- routes ----------------------------------------------------------------------------------

    async def bids(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        q = request.query_params
        marketplace = q.get("marketplace", "")
        if marketplace not in MARKETPLACES:
            return error(400, "bad_request", f"marketplace must be one of {', '.join(MARKETPLACES)}")
        keyword, sku = q.get("keyword"), q.get("sku")
        if (keyword is None) == (sku is None):
            return error(400, "bad_request", "give exactly one of keyword or sku")
        return JSONBody(self.bids_for(marketplace, keyword, sku, self.sb.now()))

    async def bids_batch(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        try:
            body = await read_json(request)
        except BadJSON as exc:
            return error(400, "bad_request", exc.detail)
        if not isinstance(body, dict) or body.get("marketplace") not in MARKETPLACES:
            return error(400, "bad_request", f"marketplace must be one of {', '.join(MARKETPLACES)}")
        keywords, skus = body.get("keywords") or [], body.get("skus") or []
        if (
            not isinstance(keywords, list)
            or not isinstance(skus, list)
            or not all(isinstance(x, str) for x in [*keywords, *skus])
        ):
            return error(400, "bad_request", "keywords and skus must be arrays of strings")
        if not keywords and not skus:
            return error(400, "bad_request", "give keywords and/or skus")
        if len(keywords) + len(skus) > MAX_BATCH:
            return error(400, "bad_request", f"at most {MAX_BATCH} keywords and skus per request")
        now = self.sb.now()
        results = [self.bids_for(body["marketplace"], k, None, now) for k in keywords]
        results += [self.bids_for(body["marketplace"], None, s, now) for s in skus]
        return JSONBody({"results": results})

    async def positions(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        q = request.query_params
        marketplace = q.get("marketplace", "")
        if marketplace not in MARKETPLACES:
            return error(400, "bad_request", f"marketplace must be one of {', '.join(MARKETPLACES)}")
        sku = q.get("sku")
        if not sku:
            return error(400, "bad_request", "sku is required")
        if marketplace != "yandex_market" and parse_int(sku) is None:
            return error(400, "bad_request", "sku must be an integer on wildberries and ozon")
        return JSONBody(self.positions_for(marketplace, sku, self.sb.now()))

    async def health(self, request: Request) -> Response:
        return JSONBody({"status": "ok", "now": self.sb.now().isoformat()})


def create_watcher_app(sandbox: Sandbox) -> Starlette:
    api = WatcherApi(sandbox)
    routes = [
        Route("/v1/health", api.health, methods=["GET"]),
        Route("/v1/bids", api.bids, methods=["GET"]),
        Route("/v1/bids/batch", api.bids_batch, methods=["POST"]),
        Route("/v1/positions", api.positions, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return error(
            status,
            "not_found" if status == 404 else "method_not_allowed",
            "no such endpoint" if status == 404 else "method not allowed",
        )

    return Starlette(
        routes=[*routes, *control_routes(sandbox)],
        exception_handlers={404: not_found, 405: not_found},
        middleware=[Middleware(FaultMiddleware, injector=sandbox.faults, marketplace="watcher")],
    )
