"""The /_sandbox/* control routes: accounts, effects, faults, clock — on every app."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.server import APP_NAMES, SandboxWorld
from tests.sandbox.conftest import accounts, advance, wb_headers

pytestmark = pytest.mark.anyio


def bid_body(world: SandboxWorld, bid: int = 90_000) -> dict[str, object]:
    account_id = accounts(world, Marketplace.WB)[0]["id"]
    campaign = next(
        c
        for c in world.sandbox.world.campaigns.values()
        if c.account_id == account_id and c.bid_type == "manual" and c.status == "9"
    )
    nm = next(iter(campaign.items))
    return {
        "bids": [
            {"advert_id": campaign.id, "nm_bids": [{"nm_id": nm, "bid_kopecks": bid, "placement": "search"}]}
        ]
    }


@pytest.mark.parametrize("name", APP_NAMES)
async def test_every_app_serves_the_control_routes(world: SandboxWorld, name: str) -> None:
    async with world.client(name) as client:
        listed = (await client.get("/_sandbox/accounts")).json()
        assert {a["marketplace"] for a in listed["accounts"]} == {"wildberries", "ozon", "yandex_market"}
        assert listed["watcher"]["api_key"]
        clock = (await client.get("/_sandbox/clock")).json()
        moved = (await client.post("/_sandbox/clock", json={"advance": 90})).json()
        assert moved["now"] > clock["now"]
        assert (await client.get("/_sandbox/effects")).json()["effects"] == []
        assert (await client.get("/_sandbox/faults")).json() == {"faults": []}


async def test_accounts_carry_working_credentials(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    listed = (await wb.get("/_sandbox/accounts", params={"marketplace": "wildberries"})).json()["accounts"]
    assert listed and all(a["marketplace"] == "wildberries" for a in listed)
    token = listed[0]["credentials"]["tokens"]["personal"]
    assert (await wb.get("/adv/v1/promotion/count", headers={"Authorization": token})).status_code == 200


async def test_clock_rejects_bad_requests(wb: httpx.AsyncClient) -> None:
    assert (await wb.post("/_sandbox/clock", json={"advance": -1})).status_code == 400
    assert (await wb.post("/_sandbox/clock", json={"advance": "soon"})).status_code == 400
    assert (await wb.post("/_sandbox/clock", json={"set": "2020-01-01T00:00:00+00:00"})).status_code == 400
    assert (await wb.post("/_sandbox/clock", json={"set": "2030-01-01T00:00:00"})).status_code == 400
    assert (await wb.post("/_sandbox/clock", content=b"{")).status_code == 400
    speed = await wb.post("/_sandbox/clock", json={"speed": 10})
    assert speed.status_code == 200 and speed.json()["speed"] == 10


async def test_effects_log_every_state_change_in_order(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    h = wb_headers(world)
    await wb.get("/adv/v1/balance", headers=h)  # a read is not an effect
    await wb.patch("/api/advert/v1/bids", json=bid_body(world, 90_000), headers=h)
    await wb.patch("/api/advert/v1/bids", json=bid_body(world, 1), headers=h)  # rejected: no effect
    await advance(wb, 1)
    await wb.patch("/api/advert/v1/bids", json=bid_body(world, 95_000), headers=h)
    log = (await wb.get("/_sandbox/effects")).json()
    assert [e["seq"] for e in log["effects"]] == [1, 2]
    assert [e["effect"]["bids"][0]["bid_kopecks"] for e in log["effects"]] == [90_000, 95_000]
    assert all(
        e["effect"]["action"] == "set_nm_bids" and e["marketplace"] == "wildberries" for e in log["effects"]
    )
    later = (await wb.get("/_sandbox/effects", params={"since": 1})).json()["effects"]
    assert [e["seq"] for e in later] == [2]
    assert (await wb.get("/_sandbox/effects", params={"since": "x"})).status_code == 400


async def test_error_fault_for_the_next_n_calls(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    fault = {"path": "/api/advert/v1/bids", "method": "PATCH", "kind": "error", "status": 503, "count": 2}
    assert (await wb.post("/_sandbox/faults", json=fault)).status_code == 201
    h = wb_headers(world)
    codes = [
        (await wb.patch("/api/advert/v1/bids", json=bid_body(world), headers=h)).status_code for _ in range(3)
    ]
    assert codes == [503, 503, 200]
    effects = (await wb.get("/_sandbox/effects")).json()["effects"]
    assert len(effects) == 1, "failed calls change nothing"


async def test_malformed_json_fault_still_applies_the_call(
    world: SandboxWorld, wb: httpx.AsyncClient
) -> None:
    await wb.post("/_sandbox/faults", json={"path": "/api/advert/v1/*", "kind": "malformed"})
    reply = await wb.patch("/api/advert/v1/bids", json=bid_body(world), headers=wb_headers(world))
    assert reply.status_code == 200
    with pytest.raises(ValueError):
        reply.json()
    effects = (await wb.get("/_sandbox/effects")).json()["effects"]
    assert effects[0]["fault"] == "malformed"


async def test_apply_then_timeout_applies_and_withholds_the_reply(
    world: SandboxWorld, wb: httpx.AsyncClient
) -> None:
    await wb.post(
        "/_sandbox/faults", json={"path": "/api/advert/v1/bids", "kind": "apply_then_timeout", "delay_s": 0.2}
    )
    reply = await wb.patch("/api/advert/v1/bids", json=bid_body(world), headers=wb_headers(world))
    assert reply.status_code == 504 and reply.content == b""
    effects = (await wb.get("/_sandbox/effects")).json()["effects"]
    assert len(effects) == 1 and effects[0]["fault"] == "apply_then_timeout"


async def test_timeout_fault_changes_nothing(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    await wb.post("/_sandbox/faults", json={"path": "/api/advert/v1/bids", "kind": "timeout", "delay_s": 5})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            wb.patch("/api/advert/v1/bids", json=bid_body(world), headers=wb_headers(world)), 0.2
        )
    assert (await wb.get("/_sandbox/effects")).json()["effects"] == []


async def test_slow_fault_delays_then_answers(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    await wb.post("/_sandbox/faults", json={"path": "/adv/v1/balance", "kind": "slow", "delay_s": 0.2})
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await wb.get("/adv/v1/balance", headers=wb_headers(world))
    assert reply.status_code == 200 and loop.time() - started >= 0.2


async def test_rate_faults_are_seeded_and_can_be_cleared(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    await wb.post("/_sandbox/faults", json={"path": "/adv/v1/promotion/count", "kind": "error", "rate": 0.5})
    h = wb_headers(world)
    codes = []
    for _ in range(20):
        await advance(wb, 1)
        codes.append((await wb.get("/adv/v1/promotion/count", headers=h)).status_code)
    assert 0 < codes.count(500) < 20
    cleared = (await wb.delete("/_sandbox/faults")).json()
    assert cleared == {"cleared": 1}
    await advance(wb, 1)
    assert (await wb.get("/adv/v1/promotion/count", headers=h)).status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        {"path": "/x", "kind": "explode"},
        {"path": "x", "kind": "error"},
        {"path": "/x", "kind": "error", "count": 0},
        {"path": "/x", "kind": "error", "rate": 2},
        {"path": "/x", "kind": "slow", "delay_s": -1},
        {"path": "/x", "kind": "error", "status": 42},
        "nonsense",
    ],
)
async def test_bad_fault_descriptions_are_refused(wb: httpx.AsyncClient, fault: object) -> None:
    reply = await wb.post("/_sandbox/faults", json=fault)
    assert reply.status_code == 400 and reply.json()["error"]


async def test_world_summary_and_fault_listing(world: SandboxWorld, ym: httpx.AsyncClient) -> None:
    summary = (await ym.get("/_sandbox/world")).json()
    assert summary["seed"] == 7 and summary["profile"]["name"] == "official"
    assert summary["campaigns"] == len(world.sandbox.world.campaigns)
    added = await ym.post(
        "/_sandbox/faults",
        json=[{"path": "/v2/*", "kind": "error"}, {"path": "/v2/x", "kind": "slow", "rate": 0.5}],
    )
    assert added.status_code == 201
    listed = (await ym.get("/_sandbox/faults")).json()["faults"]
    assert [(f["kind"], f["remaining"], f["rate"]) for f in listed] == [
        ("error", 1, None),
        ("slow", None, 0.5),
    ]
    assert (await ym.post("/_sandbox/faults", json={"clear": True})).json() == {"cleared": 2}
