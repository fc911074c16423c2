"""Every reply the adapters read, fuzzed: they raise their typed error or skip the bad item — never
crash, never turn a bad value into a bid (issue 14 item 3).

For each adapter method of each marketplace, a clean call against the sandbox records the endpoints
it reads. Then, endpoint by endpoint, hypothesis replaces that endpoint's reply with a damaged one
(tests/fuzz/replies.py: schema-generated from the official OpenAPI document, mutated, missing a
field, truncated, an HTML error page, another status) while every other endpoint answers for real.
The call must either raise an `AdapterError` or return values every one of which is sane: integers
(bids, money, counters) in 0..2**63-1, floats finite, one result per item sent.

FUZZ_EXAMPLES sets the examples per endpoint (default 25, derandomized so CI is reproducible); with
it set the search is random: `FUZZ_EXAMPLES=2000 pytest tests/fuzz` is the thorough run.
FUZZ_REPORT=path writes the examples run per endpoint.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema_path import SchemaPath

from app.core.marketplaces import Marketplace
from app.models.base import MAX_BIGINT
from app.sandbox.ratelimit import Profile
from app.sandbox.server import SandboxWorld, create_sandbox
from app.services.marketing.adapters.base import (
    AdapterError,
    BidChange,
    ItemResult,
    Keyword,
    MarketplaceAdapter,
)
from app.services.marketing.adapters.http import Pacing, RetryPolicy
from app.services.marketing.adapters.ozon import OzonAdapter
from app.services.marketing.adapters.wildberries import WildberriesAdapter
from app.services.marketing.adapters.yandex_market import YandexMarketAdapter
from tests.fuzz.replies import Reply, damaged
from tests.sandbox import contract
from tests.sandbox.specs import specs_dir
from tests.services.adapters.conftest import sandbox_account

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
RANDOM = "FUZZ_EXAMPLES" in os.environ
RUN_COUNTS: Counter[str] = Counter()

ADAPTERS: dict[str, type[Any]] = {"wb": WildberriesAdapter, "ozon": OzonAdapter, "ym": YandexMarketAdapter}
APP_OF = {m.value: m.long_name for m in Marketplace}
CONTRACTS = {"wb": contract.wildberries, "ozon": contract.ozon, "ym": contract.yandex_market}
SPEC_FILES = {"wb": "wildberries", "ozon": "ozon-performance", "ym": "yandex-market"}

Endpoint = tuple[str, str]  # (METHOD, path with its ids as "*")
ID_SEGMENT = re.compile(r"\d+|.*-\d+.*")  # 10170000, boost-11-00000010 (not v2)


def endpoint_of(request: httpx.Request) -> Endpoint:
    """Requests to one endpoint for other ids (a campaign, a new report) are the same endpoint."""
    path = "/".join("*" if ID_SEGMENT.fullmatch(part) else part for part in request.url.path.split("/"))
    return request.method, path


@dataclasses.dataclass
class Scene:
    """Clean inputs for every method: read once from the sandbox with an undamaged adapter."""

    campaigns: list[str]
    keywords: list[Keyword]
    changes: list[BidChange]
    day: date


Call = Callable[[MarketplaceAdapter, Scene], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "ping": lambda a, s: a.ping(),
    "list_campaigns": lambda a, s: a.list_campaigns(),
    "get_keywords": lambda a, s: a.get_keywords(s.campaigns),
    "get_campaign_stats": lambda a, s: a.get_campaign_stats(s.campaigns, s.day),
    "get_keyword_stats": lambda a, s: a.get_keyword_stats(s.campaigns, s.day),
    "get_current_bids": lambda a, s: a.get_current_bids(s.keywords),
    "set_bids": lambda a, s: a.set_bids(s.changes),
    "get_recommendations": lambda a, s: a.get_recommendations(s.keywords),
    "get_min_bids": lambda a, s: a.get_min_bids(s.keywords),
    "get_budget": lambda a, s: a.get_budget(s.campaigns[0]),
    "get_balance": lambda a, s: a.get_balance(),
    "pause_campaign": lambda a, s: a.pause_campaign(s.campaigns[0]),
    "resume_campaign": lambda a, s: a.resume_campaign(s.campaigns[0]),
    "pause_keywords": lambda a, s: a.pause_keywords(s.keywords[:2]),
    "resume_keywords": lambda a, s: a.resume_keywords(s.changes[:2]),
}


# --- the world, the adapters, the damaging transport --------------------------------------------


@lru_cache(maxsize=1)
def world() -> SandboxWorld:
    # Limits are not under test: a huge factor refills every bucket at once.
    return create_sandbox(seed=17, speed=1, profile=Profile("fuzz", 1e6))


class Damaging(httpx.AsyncBaseTransport):
    """The sandbox's own replies, except `endpoint`'s, which is `reply`; records what was read."""

    def __init__(self, inner: httpx.AsyncBaseTransport, endpoint: Endpoint | None, reply: Reply | None):
        self.inner, self.endpoint, self.reply = inner, endpoint, reply
        self.seen: dict[Endpoint, tuple[int, Any]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = endpoint_of(request)
        if key == self.endpoint and self.reply is not None:
            headers = {"content-type": self.reply.content_type}
            return httpx.Response(
                self.reply.status, content=self.reply.content, headers=headers, request=request
            )
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        if key not in self.seen:
            self.seen[key] = (response.status_code, _json_or_none(content))
        return httpx.Response(
            response.status_code, content=content, headers=response.headers, request=request
        )


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:  # a CSV report, a file: damaged as a whole
        return None


def adapter(marketplace: str, transport: Damaging) -> MarketplaceAdapter:
    ref, secret = sandbox_account(world(), marketplace)
    client = httpx.AsyncClient(transport=transport, base_url=f"http://{APP_OF[marketplace]}.sandbox")
    made: MarketplaceAdapter = ADAPTERS[marketplace](
        ref, secret, client, Pacing(limiter=None, account_key=f"{marketplace}:{ref.id}"), RetryPolicy(1)
    )
    if hasattr(made, "sleep"):  # report polls move the sandbox's clock instead of waiting
        made.sleep = advancing_sleep  # type: ignore[attr-defined]
    return made


async def advancing_sleep(seconds: float) -> None:
    world().sandbox.clock.advance(seconds)


async def call(marketplace: str, method: str, endpoint: Endpoint | None, reply: Reply | None) -> Any:
    transport = Damaging(httpx.ASGITransport(app=world().app(APP_OF[marketplace])), endpoint, reply)
    made = adapter(marketplace, transport)
    try:
        result = await CALLS[method](made, await scene(marketplace))
    finally:
        await made.aclose()
    return result, transport.seen


_SCENES: dict[str, Scene] = {}


async def scene(marketplace: str) -> Scene:
    if marketplace not in _SCENES:
        made = adapter(
            marketplace, Damaging(httpx.ASGITransport(app=world().app(APP_OF[marketplace])), None, None)
        )
        campaigns = [c.external_id for c in await made.list_campaigns() if c.status == "active"][:3]
        keywords = [k for k in await made.get_keywords(campaigns) if k.current_bid][:4]
        changes = [
            BidChange(k.campaign_external_id, k.external_id, k.current_bid or 0, k.product_id, k.keyword)
            for k in keywords
        ]
        await made.aclose()
        _SCENES[marketplace] = Scene(campaigns, keywords, changes, world().sandbox.market.today())
    return _SCENES[marketplace]


# --- what a sane result is ----------------------------------------------------------------------


def insane(value: Any, where: str = "result") -> str | None:
    """Why `value` could not safely become a bid, a stats row or a budget; None when it can."""
    if value is None or isinstance(value, bool | str | date | datetime):
        return None
    if isinstance(value, int):
        return None if 0 <= value <= MAX_BIGINT else f"{where} = {value} (outside 0..2**63-1)"
    if isinstance(value, float | Decimal):
        return None if math.isfinite(value) and value >= 0 else f"{where} = {value}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            if f.name != "raw" and (why := insane(getattr(value, f.name), f"{where}.{f.name}")):
                return why
        return None
    if isinstance(value, dict):
        items = list(value.items())
        return next((w for k, v in items if (w := insane(k, where) or insane(v, f"{where}[{k!r}]"))), None)
    if isinstance(value, list | tuple | set | frozenset):
        return next((w for i, v in enumerate(value) if (w := insane(v, f"{where}[{i}]"))), None)
    return f"{where} is a {type(value).__name__}"


def check_result(method: str, result: Any, sent: Scene) -> None:
    assert (why := insane(result)) is None, why
    items = {
        "set_bids": sent.changes,
        "resume_keywords": sent.changes[:2],
        "pause_keywords": sent.keywords[:2],
    }
    if method in items:
        expected = {
            (i.campaign_external_id, getattr(i, "keyword_external_id", None) or i.external_id)
            for i in items[method]
        }  # type: ignore[union-attr]
        assert all(isinstance(r, ItemResult) for r in result)
        assert {r.key for r in result} == expected, "one result per item sent, no other"


# --- schemas of the official documents ---------------------------------------------------------


@cache
def templates(marketplace: str) -> list[tuple[str, re.Pattern[str], str]]:
    name = {"wb": "wildberries", "ozon": "ozon", "ym": "yandex_market"}[marketplace]
    out = []
    for method, template in contract.operations(name):
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        out.append((method, pattern, template))
    return out


def _has(node: SchemaPath, key: str) -> bool:
    return key in set(node.keys())


def reply_schema(marketplace: str, endpoint: Endpoint, status: int) -> SchemaPath | None:
    """The official schema of `endpoint`'s JSON reply for `status`, or None when it states none."""
    if not (specs_dir() / SPEC_FILES[marketplace]).exists():
        return None
    method, path = endpoint
    concrete = path.replace("*", "1")
    matches = [t for m, pattern, t in templates(marketplace) if m == method and pattern.match(concrete)]
    if not matches:
        return None
    operation = CONTRACTS[marketplace]().openapi.spec / "paths" / min(matches, key=len) / method.lower()
    responses = operation / "responses"
    for code in (str(status), "default"):
        if _has(responses, code) and _has(responses / code, "content"):
            content = responses / code / "content"
            for media in list(content.keys()):
                if "json" in media and _has(content / media, "schema"):
                    return content / media / "schema"
    return None


# --- the tests ----------------------------------------------------------------------------------

TARGETS = [(m, name) for m in ADAPTERS for name in CALLS]


def clean_run(marketplace: str, method: str) -> dict[Endpoint, tuple[int, Any]]:
    try:
        _, seen = asyncio.run(call(marketplace, method, None, None))
    except AdapterError as error:
        pytest.skip(f"{marketplace}.{method} does not work on clean sandbox data here: {error}")
    return seen


@pytest.mark.parametrize(("marketplace", "method"), TARGETS, ids=[f"{m}-{n}" for m, n in TARGETS])
def test_damaged_replies_raise_typed_errors_or_skip_items(marketplace: str, method: str) -> None:
    seen = clean_run(marketplace, method)
    if not seen:
        pytest.skip(f"{marketplace}.{method} reads no reply: the marketplace has no such endpoint")
    for endpoint, (status, body) in sorted(seen.items()):
        fuzz_endpoint(
            marketplace, method, endpoint, damaged(status, body, reply_schema(marketplace, endpoint, status))
        )


def fuzz_endpoint(
    marketplace: str, method: str, endpoint: Endpoint, replies: st.SearchStrategy[Reply]
) -> None:
    label = f"{marketplace}.{method} ← {endpoint[0]} {endpoint[1]}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(reply=replies)
    def one(reply: Reply) -> None:
        RUN_COUNTS[label] += 1
        try:
            result, _ = asyncio.run(call(marketplace, method, endpoint, reply))
        except AdapterError:
            return  # the typed error: the caller retries, records or alerts
        except Exception as error:
            raise AssertionError(f"{label}: {reply.kind} reply crashed the adapter: {error!r}") from error
        check_result(method, result, _SCENES[marketplace])

    one()
    if report := os.environ.get("FUZZ_REPORT"):
        with Path(report).open("a", encoding="utf-8") as out:
            out.write(f"{RUN_COUNTS[label]}\t{label}\n")
