"""The limits table (app/services/marketing/adapters/limits.py) against the official specs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from app.core.marketplaces import Marketplace
from app.services.marketing.adapters.limits import (
    ANY_TOKEN,
    WB_LIMITS,
    YM_LIMITS,
    RateLimit,
    WbTokenType,
    YmTier,
    find_operation,
)
from tests.sandbox.specs import spec_file

_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
_WB_TYPES = {
    "Personal": WbTokenType.PERSONAL,
    "Service": WbTokenType.SERVICE,
    "Base with secret": WbTokenType.BASE_WITH_SECRET,
    "Base": WbTokenType.BASE,
}


def _seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) * _UNITS[unit]


def _count(text: str) -> int:
    match = re.match(r"(\d+) requests?$", text)
    assert match, f"unexpected count {text!r}"
    return int(match.group(1))


def _wb_spec_rows() -> dict[tuple[str, str], dict[str, RateLimit]]:
    spec = json.loads(spec_file("wildberries/promotion.json").read_text(encoding="utf-8"))
    rows: dict[tuple[str, str], dict[str, RateLimit]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "x-wb-rate-limits" not in op:
                continue
            by_type: dict[str, RateLimit] = {}
            for row in op["x-wb-rate-limits"]["limits"]:
                limit = RateLimit(_seconds(row["period"]), _count(row["limit"]), _count(row["burst"]))
                # The spec's "interval" column is derived (period / limit); it must agree.
                assert limit.interval_s == pytest.approx(_seconds(row["interval"])), (method, path)
                by_type[_WB_TYPES[row["type"]] if "type" in row else ANY_TOKEN] = limit
            rows[(method.upper(), path)] = by_type
    return rows


def test_wb_table_lists_exactly_the_operations_with_limits_in_the_spec() -> None:
    spec_rows = _wb_spec_rows()
    table = {(op.method, op.path) for op in WB_LIMITS}
    assert table == set(spec_rows)


@pytest.mark.parametrize("op", WB_LIMITS, ids=lambda op: f"{op.method} {op.path}")
def test_wb_limits_match_x_wb_rate_limits(op: Any) -> None:
    expected = _wb_spec_rows()[(op.method, op.path)]
    assert dict(op.limits) == expected


def test_wb_token_without_a_row_is_refused() -> None:
    op = find_operation(Marketplace.WB, "POST", "/api/advert/v1/normquery/bids")
    assert op is not None
    assert op.limit_for(WbTokenType.BASE) is None
    assert op.limit_for(WbTokenType.PERSONAL) == RateLimit(1.0, 2, 4)
    # Test tokens get the personal numbers.
    assert op.limit_for(WbTokenType.TEST) == RateLimit(1.0, 2, 4)


def test_fullstats_allows_three_per_minute_with_burst_one() -> None:
    op = find_operation(Marketplace.WB, "get", "/adv/v3/fullstats")
    assert op is not None
    limit = op.limit_for(WbTokenType.PERSONAL)
    assert limit == RateLimit(60.0, 3, 1)
    assert limit.interval_s == 20.0


_YM_PERIODS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}


def _ym_spec_limit(path: str, method: str) -> tuple[int, dict[str, RateLimit]]:
    root = spec_file("yandex-market/openapi/openapi.yaml")
    index = yaml.safe_load(root.read_text(encoding="utf-8"))
    ref = index["paths"][path]["$ref"]
    op = yaml.safe_load((root.parent / ref).read_text(encoding="utf-8"))[method.lower()]
    config = op["x-resource-limit-config"]
    limits = {}
    for tier in ("none", "medium"):
        row = config[tier]
        period = _YM_PERIODS[row["period"]] * row["period-duration"]
        limits[tier] = RateLimit(period, row["amount"], row["amount"])
    return op["x-resource-id"], limits


@pytest.mark.parametrize("op", YM_LIMITS, ids=lambda op: f"{op.method} {op.path}")
def test_ym_limits_match_x_resource_limit_config(op: Any) -> None:
    resource_id, expected = _ym_spec_limit(op.path, op.method)
    assert op.group == f"ym.resource_{resource_id}"
    assert dict(op.limits) == {YmTier(k): v for k, v in expected.items()}


def test_ozon_quotas_match_the_limits_tag() -> None:
    from app.services.marketing.adapters.limits import OZON_QUOTAS

    spec = json.loads(spec_file("ozon-performance/performance-openapi.json").read_text(encoding="utf-8"))
    text = next(t["description"] for t in spec["tags"] if t["name"] == "Limits")
    table = {
        name.strip(): int(value)
        for name, value in re.findall(r"^\|\s*(Лимит[^|]+?)\s*\|\s*(\d+)\s*\|", text, flags=re.M)
    }
    assert table == {
        "Лимит на количество дней в выгрузке": OZON_QUOTAS.report_max_days,
        "Лимит на количество кампаний в отчёте": OZON_QUOTAS.report_max_campaigns,
        "Лимит на количество одновременных выгрузок с аккаунта": OZON_QUOTAS.concurrent_reports_per_account,
        "Лимит на количество выгрузок за 24 часа с аккаунта": OZON_QUOTAS.exports_per_day_per_account,
        "Лимиты на количество одновременных выгрузок по организации": (
            OZON_QUOTAS.concurrent_reports_per_organisation
        ),
        "Лимит на количество выгрузок за 24 часа в рамках организации": (
            OZON_QUOTAS.exports_per_day_per_organisation
        ),
    }
    daily = re.search(r"запросов в сутки — ([\d ]+)\.", text)
    assert daily and int(daily.group(1).replace(" ", "")) == OZON_QUOTAS.requests_per_day
    per_campaign = re.search(r"активных кампаний × (\d+)", text)
    assert per_campaign and int(per_campaign.group(1)) == OZON_QUOTAS.exports_per_active_campaign_per_day


def test_lookup_matches_path_templates_and_rejects_unknown_paths() -> None:
    op = find_operation(Marketplace.YM, "PUT", "/v2/businesses/42/bids")
    assert op is not None and op.group == "ym.resource_165"
    assert find_operation(Marketplace.YM, "PUT", "/v2/businesses/42/bids/extra") is None
    assert find_operation(Marketplace.WB, "GET", "/adv/v2/fullstats") is None


def test_scaled_limit_multiplies_rate_and_keeps_burst() -> None:
    limit = RateLimit(60.0, 3, 1).scaled(10)
    assert (limit.limit, limit.burst, limit.interval_s) == (30, 1, 2.0)
