"""The one table of the marketplaces' official rate limits (DESIGN.md §3 "Rate limits are data").

Both the adapters' shared token buckets and the sandbox's buckets read this table; nobody retypes a
limit elsewhere. `tests/services/test_limits.py` parses the official specs and checks every row:

- Wildberries: per-operation `x-wb-rate-limits` in `specs/wildberries/promotion.json` (period, limit,
  interval = period / limit, burst; separate rows per token type). The bucket model and headers are in
  `specs/wildberries/api-information.json` ("Rate Limits").
- Yandex Market: per-operation `x-resource-limit-config` in `specs/yandex-market/openapi/paths/*.yaml`
  (tiers `none` / `medium`), plus the global "4 parallel requests" rule (HTTP 420).
- Ozon Performance: no per-method limits; the daily request quota and the statistics-export rules of
  the "Limits" tag in `specs/ozon-performance/performance-openapi.json`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from app.core.marketplaces import Marketplace


class WbTokenType(StrEnum):
    """WB token types (api-information.json "Token types"); each has its own limit budget."""

    PERSONAL = "personal"
    SERVICE = "service"
    BASE_WITH_SECRET = "base_with_secret"
    BASE = "base"
    # Test tokens (`t=true`) only work against WB's own sandbox host and carry no limit table of
    # their own; the personal numbers apply to them.
    TEST = "test"


class YmTier(StrEnum):
    """The two tiers of YM's `x-resource-limit-config`; the spec does not say who gets which."""

    NONE = "none"
    MEDIUM = "medium"


# Key used for limits that the spec lists without a token type (they apply to every token).
ANY_TOKEN = "*"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: `limit` requests per `period_s`, at most `burst` at once."""

    period_s: float
    limit: int
    burst: int

    @property
    def interval_s(self) -> float:
        """Time to earn one request back (WB calls it "Interval")."""
        return self.period_s / self.limit

    def scaled(self, factor: float) -> RateLimit:
        """The same bucket with `factor` times the rate (fast profiles); the burst stays."""
        return RateLimit(self.period_s, max(1, round(self.limit * factor)), self.burst)


@dataclass(frozen=True, slots=True)
class OperationLimit:
    """The limits of one API operation.

    `group` names the bucket: operations that share one limit (WB's promo calendar category) share a
    group; everything else has a group of its own. `limits` maps a WB token type / YM tier /
    ANY_TOKEN to the bucket parameters.
    """

    marketplace: Marketplace
    method: str
    path: str
    group: str
    limits: tuple[tuple[str, RateLimit], ...]

    def limit_for(self, key: str) -> RateLimit | None:
        """The limit for a token type (WB) or tier (YM); None = that token may not call it."""
        if key == WbTokenType.TEST:
            key = WbTokenType.PERSONAL
        for k, limit in self.limits:
            if k in (key, ANY_TOKEN):
                return limit
        return None


_Triple = tuple[float, int, int]


def _rl(t: _Triple) -> RateLimit:
    return RateLimit(float(t[0]), t[1], t[2])


def _group_name(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")


def _wb(
    method: str,
    path: str,
    *,
    personal: _Triple | None = None,
    base: _Triple | None = None,
    base_with_secret: bool | None = True,
    every: _Triple | None = None,
    group: str | None = None,
) -> OperationLimit:
    """One WB row. Personal and Service tokens always share numbers in the spec; "Base with secret"
    has the personal numbers unless the spec omits it (`None`: such tokens are refused)."""
    limits: list[tuple[str, RateLimit]] = []
    if every is not None:
        limits.append((ANY_TOKEN, _rl(every)))
    if personal is not None:
        limits.append((WbTokenType.PERSONAL, _rl(personal)))
        limits.append((WbTokenType.SERVICE, _rl(personal)))
        if base_with_secret is True:
            limits.append((WbTokenType.BASE_WITH_SECRET, _rl(personal)))
    if base is not None:
        limits.append((WbTokenType.BASE, _rl(base)))
    return OperationLimit(Marketplace.WB, method, path, "wb." + (group or _group_name(path)), tuple(limits))


# Reference: specs/wildberries/promotion.json, `x-wb-rate-limits` of every operation (snapshot
# 2026-08-19). Triples are (period seconds, limit, burst).
WB_LIMITS: tuple[OperationLimit, ...] = (
    _wb("PATCH", "/adv/v0/auction/nms", personal=(1, 1, 1), base=(3600, 2, 1)),
    _wb("PUT", "/adv/v0/auction/placements", personal=(1, 1, 1), base=(3600, 2, 1)),
    _wb("GET", "/adv/v0/delete", personal=(1, 5, 5), base=(3600, 5, 1)),
    _wb("DELETE", "/adv/v0/normquery/bids", personal=(1, 5, 10), base=(3600, 5, 1)),
    _wb("POST", "/adv/v0/normquery/bids", personal=(1, 2, 4), base=(3600, 5, 1)),
    _wb("POST", "/adv/v0/normquery/get-bids", personal=(1, 5, 10), base=(3600, 5, 1)),
    _wb("POST", "/adv/v0/normquery/get-minus", personal=(1, 5, 10), base=(3600, 5, 1)),
    _wb("POST", "/adv/v0/normquery/list", personal=(1, 5, 10), base=(3600, 5, 1)),
    _wb("POST", "/adv/v0/normquery/set-minus", personal=(1, 5, 10), base=(3600, 5, 1)),
    _wb("POST", "/adv/v0/normquery/stats", personal=(60, 10, 20), base=(3600, 5, 1)),
    _wb("GET", "/adv/v0/pause", personal=(1, 5, 5), base=(3600, 5, 1)),
    _wb("POST", "/adv/v0/rename", personal=(1, 5, 5), base=(3600, 2, 1)),
    _wb("GET", "/adv/v0/start", personal=(1, 5, 5), base=(3600, 5, 1)),
    _wb("GET", "/adv/v0/stop", personal=(1, 5, 5), base=(3600, 5, 1)),
    _wb("GET", "/adv/v1/advert", personal=(1, 10, 10), base=(3600, 5, 1)),
    _wb("GET", "/adv/v1/adverts", personal=(1, 10, 10), base=(3600, 1, 1)),
    _wb("GET", "/adv/v1/balance", personal=(1, 1, 5), base=(3600, 2, 1)),
    _wb("GET", "/adv/v1/budget", personal=(1, 4, 4), base=(3600, 4, 1)),
    _wb("POST", "/adv/v1/budget/deposit", personal=(1, 1, 5), base=(3600, 5, 1)),
    _wb("GET", "/adv/v1/count", personal=(1, 10, 10), base=(3600, 1, 1)),
    _wb("POST", "/adv/v1/normquery/stats", personal=(60, 10, 20), base=(3600, 2, 1)),
    _wb("GET", "/adv/v1/payments", personal=(1, 1, 5), base=(3600, 1, 1)),
    _wb("GET", "/adv/v1/promotion/count", personal=(1, 5, 5), base=(3600, 4, 1)),
    _wb("POST", "/adv/v1/stats", personal=(1, 10, 10), base=(3600, 1, 1)),
    _wb("GET", "/adv/v1/supplier/subjects", personal=(12, 1, 5), base=(3600, 2, 1)),
    _wb("GET", "/adv/v1/upd", personal=(1, 1, 5), base=(3600, 1, 1)),
    _wb("POST", "/adv/v2/seacat/save-ad", personal=(60, 5, 5), base=(3600, 5, 1)),
    _wb("POST", "/adv/v2/supplier/nms", personal=(60, 5, 5), base=(3600, 2, 1)),
    _wb("GET", "/adv/v3/fullstats", personal=(60, 3, 1), base=(3600, 1, 1)),
    _wb("GET", "/api/advert/v0/bids/recommendations", personal=(60, 5, 5), base=(3600, 20, 1)),
    _wb("PATCH", "/api/advert/v1/bids", personal=(1, 5, 5), base=(3600, 2, 1)),
    _wb("POST", "/api/advert/v1/bids/min", personal=(60, 20, 5), base=(3600, 5, 1)),
    _wb("GET", "/api/advert/v1/config", every=(60, 1, 10)),
    _wb("POST", "/api/advert/v1/normquery/bids", personal=(1, 2, 4), base_with_secret=None, base=None),
    _wb("GET", "/api/advert/v2/adverts", personal=(1, 5, 5), base=(3600, 1, 1)),
    # "Request limit per one seller account for all methods in the Promo Calendar category": one bucket.
    _wb("GET", "/api/v1/calendar/promotions", personal=(6, 10, 5), base=(3600, 1, 1), group="promo_calendar"),
    _wb(
        "GET",
        "/api/v1/calendar/promotions/details",
        personal=(6, 10, 5),
        base=(3600, 1, 1),
        group="promo_calendar",
    ),
    _wb("GET", "/api/v1/calendar/promotions/nomenclatures", every=(6, 10, 5), group="promo_calendar"),
    _wb(
        "POST",
        "/api/v1/calendar/promotions/upload",
        personal=(6, 10, 5),
        base=(3600, 1, 1),
        group="promo_calendar",
    ),
)


def _ym(method: str, path: str, resource_id: int, none: _Triple, medium: _Triple) -> OperationLimit:
    """One YM row; a resource limit is a window of `amount` requests per period (burst = amount)."""
    return OperationLimit(
        Marketplace.YM,
        method,
        path,
        f"ym.resource_{resource_id}",
        ((YmTier.NONE, _rl(none)), (YmTier.MEDIUM, _rl(medium))),
    )


# Reference: specs/yandex-market/openapi/paths/<file>.yaml, `x-resource-limit-config` and
# `x-resource-id` of each operation the system uses. Triples are (period seconds, amount, amount).
YM_LIMITS: tuple[OperationLimit, ...] = (
    _ym("PUT", "/v2/businesses/{businessId}/bids", 165, (60, 500, 500), (60, 1000, 1000)),
    _ym("PUT", "/v2/campaigns/{campaignId}/bids", 166, (60, 1000, 1000), (60, 1000, 1000)),
    _ym("POST", "/v2/businesses/{businessId}/bids/info", 184, (60, 500, 500), (60, 1000, 1000)),
    _ym("POST", "/v2/businesses/{businessId}/bids/recommendations", 187, (60, 500, 500), (60, 1000, 1000)),
    _ym("POST", "/v2/reports/boost-consolidated/generate", 217, (120, 1, 1), (60, 1, 1)),
    _ym("GET", "/v2/reports/info/{reportId}", 188, (60, 100, 100), (60, 100, 100)),
    _ym("POST", "/v2/campaigns/{campaignId}/stats/orders", 124, (3600, 10000, 10000), (3600, 10000, 10000)),
)

# Reference: yandex.ru/dev/market/partner-api/doc/ru/concepts/limits — "no more than 4 parallel
# requests per campaignId / businessId"; the fifth gets HTTP 420.
YM_PARALLEL_REQUESTS = 4


@dataclass(frozen=True, slots=True)
class OzonQuotas:
    """Ozon Performance quotas; reference: performance-openapi.json, tag "Limits"."""

    requests_per_day: int = 100_000
    report_max_campaigns: int = 10
    report_max_days: int = 62
    concurrent_reports_per_account: int = 1
    concurrent_reports_per_organisation: int = 5
    exports_per_day_per_account: int = 2000
    exports_per_day_per_organisation: int = 2000
    exports_per_active_campaign_per_day: int = 240
    # Batch sizes of the product methods (same spec, operation descriptions).
    products_per_campaign: int = 500
    competitive_bids_max_skus: int = 200
    # Token lifetime of POST /api/client/token (`expires_in`).
    token_lifetime_s: int = 1800

    def scaled(self, factor: float) -> OzonQuotas:
        """Fast profiles multiply the request and export quotas; batch sizes are not limits."""
        return OzonQuotas(
            requests_per_day=max(1, round(self.requests_per_day * factor)),
            exports_per_day_per_account=max(1, round(self.exports_per_day_per_account * factor)),
            exports_per_day_per_organisation=max(1, round(self.exports_per_day_per_organisation * factor)),
            exports_per_active_campaign_per_day=max(
                1, round(self.exports_per_active_campaign_per_day * factor)
            ),
        )


OZON_QUOTAS = OzonQuotas()

# Operations that "do not consume the Performance API limits" (their descriptions in the Ozon spec).
OZON_FREE_OPERATIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/client/statistics/campaign/product"),
        ("GET", "/api/client/statistics/campaign/product/json"),
        ("POST", "/api/client/statistics/products/sku"),
    }
)

ALL_LIMITS: tuple[OperationLimit, ...] = WB_LIMITS + YM_LIMITS


def _template_regex(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")


@lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[OperationLimit, re.Pattern[str]], ...]:
    return tuple((op, _template_regex(op.path)) for op in ALL_LIMITS)


def find_operation(marketplace: Marketplace | str, method: str, path: str) -> OperationLimit | None:
    """The limit row of a concrete request (`/v2/businesses/7/bids` matches `{businessId}`)."""
    method = method.upper()
    for op, pattern in _compiled():
        if op.marketplace == marketplace and op.method == method and pattern.match(path):
            return op
    return None


def operations(marketplace: Marketplace | str) -> tuple[OperationLimit, ...]:
    return tuple(op for op in ALL_LIMITS if op.marketplace == marketplace)
