"""Bad input (wrong types, out-of-range values, oversized batches, unknown ids) gets each
marketplace's own error format and a documented status — never a 5xx or a traceback.

Hypothesis starts from a valid request and replaces one part of it with arbitrary JSON; every reply
is also validated against the official schema of its endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.marketplaces import Marketplace
from app.sandbox.ratelimit import Profile
from app.sandbox.server import SandboxWorld, create_sandbox
from tests.fuzz.replies import node_paths, replaced
from tests.sandbox import contract
from tests.sandbox.conftest import accounts

# Limits are not under test here: a huge factor refills every bucket at once.
WORLD = create_sandbox(seed=13, speed=1, profile=Profile("fuzz", 1e6))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, template: Any) -> Any:
    path = draw(st.sampled_from(list(node_paths(template))))
    return replaced(template, path, draw(json_values))


def wb_setup(world: SandboxWorld) -> tuple[dict[str, str], dict[str, Any]]:
    account = accounts(world, Marketplace.WB)[0]
    campaign = next(
        c
        for c in world.sandbox.world.campaigns.values()
        if c.account_id == account["id"]
        and c.bid_type == "manual"
        and c.payment_type == "cpm"
        and c.status == "9"
    )
    nm = next(iter(campaign.items))
    phrase = world.sandbox.world.clusters[world.sandbox.world.products[nm].cluster_ids[0]].text
    return {"Authorization": account["credentials"]["tokens"]["personal"]}, {
        "advert": campaign.id,
        "nm": nm,
        "phrase": phrase,
    }


WB_HEADERS, WB = wb_setup(WORLD)
WB_CASES: list[tuple[str, str, Any]] = [
    (
        "PATCH",
        "/api/advert/v1/bids",
        {
            "bids": [
                {
                    "advert_id": WB["advert"],
                    "nm_bids": [{"nm_id": WB["nm"], "bid_kopecks": 60_000, "placement": "search"}],
                }
            ]
        },
    ),
    (
        "POST",
        "/api/advert/v1/bids/min",
        {
            "advert_id": WB["advert"],
            "nm_ids": [WB["nm"]],
            "payment_type": "cpm",
            "placement_types": ["search"],
        },
    ),
    (
        "POST",
        "/adv/v0/normquery/stats",
        {"from": "2026-11-29", "to": "2026-11-30", "items": [{"advert_id": WB["advert"], "nm_id": WB["nm"]}]},
    ),
    (
        "POST",
        "/adv/v1/normquery/stats",
        {"from": "2026-11-29", "to": "2026-11-30", "items": [{"advertId": WB["advert"], "nmId": WB["nm"]}]},
    ),
    ("POST", "/adv/v0/normquery/list", {"items": [{"advertId": WB["advert"], "nmId": WB["nm"]}]}),
    ("POST", "/adv/v0/normquery/get-bids", {"items": [{"advert_id": WB["advert"], "nm_id": WB["nm"]}]}),
    (
        "POST",
        "/adv/v0/normquery/bids",
        {"bids": [{"advert_id": WB["advert"], "nm_id": WB["nm"], "norm_query": WB["phrase"], "bid": 700}]},
    ),
    (
        "DELETE",
        "/adv/v0/normquery/bids",
        {"bids": [{"advert_id": WB["advert"], "nm_id": WB["nm"], "norm_query": WB["phrase"]}]},
    ),
    (
        "POST",
        "/api/advert/v1/normquery/bids",
        {
            "bids": [
                {
                    "advertId": WB["advert"],
                    "nmId": WB["nm"],
                    "normQuery": WB["phrase"],
                    "bidMinorUnits": 70_000,
                }
            ]
        },
    ),
    ("POST", "/adv/v0/normquery/get-minus", {"items": [{"advert_id": WB["advert"], "nm_id": WB["nm"]}]}),
    (
        "POST",
        "/adv/v0/normquery/set-minus",
        {"advert_id": WB["advert"], "nm_id": WB["nm"], "norm_queries": ["x"]},
    ),
    ("POST", "/adv/v0/rename", {"advertId": WB["advert"], "name": "n"}),
]
WB_QUERIES: list[tuple[str, dict[str, str]]] = [
    ("/api/advert/v2/adverts", {"ids": str(WB["advert"]), "statuses": "9", "payment_type": "cpm"}),
    ("/adv/v3/fullstats", {"ids": str(WB["advert"]), "beginDate": "2026-11-29", "endDate": "2026-11-30"}),
    ("/adv/v0/pause", {"id": str(WB["advert"])}),
    ("/adv/v1/budget", {"id": str(WB["advert"])}),
    ("/api/advert/v0/bids/recommendations", {"advertId": str(WB["advert"]), "nmId": str(WB["nm"])}),
]


def call(method: str, app: str, path: str, **kwargs: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        async with WORLD.client(app) as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(run())


def assert_wb_error(reply: httpx.Response) -> None:
    assert reply.status_code < 500, reply.text
    contract.validate("wildberries", reply)
    if reply.status_code >= 400:
        if reply.headers["content-type"].startswith("text/plain"):
            assert reply.text
        else:
            body = reply.json()
            assert {"detail", "error", "title"} & set(body), body


fuzz = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize(("method", "path", "template"), WB_CASES, ids=[f"{m} {p}" for m, p, _ in WB_CASES])
@fuzz
@given(data=st.data())
def test_wb_bodies(method: str, path: str, template: Any, data: st.DataObject) -> None:
    body = data.draw(mutated(template))
    assert_wb_error(call(method, "wildberries", path, json=body, headers=WB_HEADERS))


@pytest.mark.parametrize(("path", "template"), WB_QUERIES, ids=[p for p, _ in WB_QUERIES])
@fuzz
@given(data=st.data())
def test_wb_queries(path: str, template: dict[str, str], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(template)))
    params = {**template, key: data.draw(st.text(max_size=30))}
    assert_wb_error(call("GET", "wildberries", path, params=params, headers=WB_HEADERS))


def test_wb_not_json_at_all() -> None:
    for method, path, _ in WB_CASES:
        assert_wb_error(call(method, "wildberries", path, content=b"{not json", headers=WB_HEADERS))


# ---- Ozon -----------------------------------------------------------------------------------------


def ozon_setup() -> tuple[dict[str, str], dict[str, Any]]:
    creds = accounts(WORLD, Marketplace.OZON)[0]["credentials"]
    token = call(
        "POST", "ozon", "/api/client/token", json={**creds, "grant_type": "client_credentials"}
    ).json()["access_token"]
    campaign = next(
        c
        for c in WORLD.sandbox.world.campaigns.values()
        if c.marketplace == Marketplace.OZON and c.kind == "SKU" and c.payment_type == "CPC"
    )
    return {"Authorization": f"Bearer {token}"}, {"campaign": campaign.id, "sku": next(iter(campaign.items))}


OZ_HEADERS, OZ = ozon_setup()
OZ_CASES: list[tuple[str, str, Any]] = [
    (
        "PUT",
        f"/api/client/campaign/{OZ['campaign']}/products",
        {"bids": [{"sku": str(OZ["sku"]), "bid": "20000000"}]},
    ),
    ("POST", f"/api/client/campaign/{OZ['campaign']}/products", {"bids": [{"sku": str(OZ["sku"])}]}),
    ("POST", f"/api/client/campaign/{OZ['campaign']}/products/delete", {"sku": ["1"]}),
    ("PATCH", f"/api/client/campaign/{OZ['campaign']}", {"weeklyBudget": "1000000000"}),
    (
        "POST",
        "/api/client/statistics/products/sku",
        {"campaignIds": [str(OZ["campaign"])], "dateFrom": "2026-11-29", "dateTo": "2026-11-30"},
    ),
    ("POST", "/api/client/min/sku", {"sku": [str(OZ["sku"])], "paymentType": "CPC"}),
    (
        "POST",
        "/api/client/token",
        {"client_id": "a", "client_secret": "b", "grant_type": "client_credentials"},
    ),
]


@pytest.mark.parametrize(("method", "path", "template"), OZ_CASES, ids=[f"{m} {p}" for m, p, _ in OZ_CASES])
@fuzz
@given(data=st.data())
def test_ozon_bodies(method: str, path: str, template: Any, data: st.DataObject) -> None:
    body = data.draw(mutated(template))
    reply = call(method, "ozon", path, json=body, headers=OZ_HEADERS)
    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400:
        assert isinstance(reply.json()["error"], str)
    if path != "/api/client/token":  # the token method is not in the Performance API document
        contract.validate("ozon", reply)


@fuzz
@given(
    query=st.dictionaries(
        st.sampled_from(["page", "pageSize", "state", "campaignIds", "skus"]),
        st.text(max_size=12),
        max_size=3,
    )
)
def test_ozon_queries(query: dict[str, str]) -> None:
    for path in (
        "/api/client/campaign",
        f"/api/client/campaign/{OZ['campaign']}/products/bids/competitive",
        f"/api/client/campaign/{OZ['campaign']}/v2/products",
    ):
        reply = call("GET", "ozon", path, params=query, headers=OZ_HEADERS)
        assert reply.status_code < 500, reply.text
        if reply.status_code >= 400:
            assert isinstance(reply.json()["error"], str)


# ---- Yandex Market --------------------------------------------------------------------------------

YM_ACCOUNT = accounts(WORLD, Marketplace.YM)[0]["credentials"]
YM_HEADERS = {"Api-Key": YM_ACCOUNT["api_key"]}
YM_BIZ = YM_ACCOUNT["business_id"]
YM_CASES: list[tuple[str, str, str, Any]] = [
    (
        "PUT",
        f"/v2/businesses/{YM_BIZ}/bids",
        "/v2/businesses/{businessId}/bids",
        {"bids": [{"sku": "SKU-1", "bid": 500}]},
    ),
    (
        "POST",
        f"/v2/businesses/{YM_BIZ}/bids/info",
        "/v2/businesses/{businessId}/bids/info",
        {"skus": ["SKU-1"]},
    ),
    (
        "POST",
        f"/v2/businesses/{YM_BIZ}/bids/recommendations",
        "/v2/businesses/{businessId}/bids/recommendations",
        {"skus": ["SKU-1"]},
    ),
]


@pytest.mark.parametrize(("method", "path", "pattern", "template"), YM_CASES, ids=[c[2] for c in YM_CASES])
@fuzz
@given(data=st.data())
def test_ym_bodies(method: str, path: str, pattern: str, template: Any, data: st.DataObject) -> None:
    body = data.draw(mutated(template))
    reply = call(method, "yandex_market", path, json=body, headers=YM_HEADERS)
    assert reply.status_code < 500, reply.text
    contract.validate("yandex_market", reply, path_pattern=pattern)
    if reply.status_code >= 400:
        data_ = reply.json()
        assert data_["status"] == "ERROR" and data_["errors"][0]["code"]


@pytest.mark.parametrize(
    "check",
    [
        lambda: call("GET", "watcher", "/v1/bids", params={"marketplace": "x"}),
        lambda: call("GET", "wildberries", "/adv/v0/start", params={"id": "-1"}, headers=WB_HEADERS),
        lambda: call(
            "POST", "yandex_market", f"/v2/businesses/{YM_BIZ}/bids/info", content=b"[", headers=YM_HEADERS
        ),
        lambda: call("POST", "ozon", "/api/client/statistics", content=b"nope", headers=OZ_HEADERS),
    ],
)
def test_unparseable_requests_are_client_errors(check: Callable[[], httpx.Response]) -> None:
    reply = check()
    assert 400 <= reply.status_code < 500
