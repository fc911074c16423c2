"""One JSON decode per reply (issue 16 item 1): the transport checks a 2xx body parses, and the
caller's `response.json()` gets that decoding rather than parsing the body again; a malformed body
is still a transient failure. HTTP clients share one SSL context per process."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.core.http import async_client, ssl_context
from app.services.marketing.adapters.base import TransientError
from app.services.marketing.adapters.http import HttpTransport, Pacing, RetryPolicy


async def no_auth() -> dict[str, str]:
    return {}


def transport(body: bytes) -> HttpTransport:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(reply), base_url="http://marketplace.test")
    return HttpTransport(
        "wb",
        client,
        Pacing(limiter=None, account_key="wb:1"),
        no_auth,
        RetryPolicy(max_attempts=2, backoff_base=0.0),
    )


@pytest.mark.anyio
async def test_a_reply_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    decodings: list[Any] = []
    loads = json.loads

    def counting(*args: Any, **kwargs: Any) -> Any:
        decodings.append(args[0])
        return loads(*args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    http = transport(b'{"adverts": [{"id": 1}, {"id": 2}]}')
    response = await http.request("GET", "/api/advert/v2/adverts", operation="list campaigns")
    assert response.json() == {"adverts": [{"id": 1}, {"id": 2}]}
    assert len(decodings) == 1
    await http.client.aclose()


@pytest.mark.anyio
async def test_a_malformed_body_is_still_a_transient_failure() -> None:
    http = transport(b'{"adverts": [')
    with pytest.raises(TransientError, match="malformed JSON"):
        await http.request("GET", "/api/advert/v2/adverts", operation="list campaigns")
    await http.client.aclose()


@pytest.mark.anyio
async def test_clients_share_the_process_ssl_context() -> None:
    assert ssl_context() is ssl_context()
    async with async_client(base_url="https://example.test") as one, async_client() as two:
        pools = [c._transport._pool for c in (one, two)]  # type: ignore[attr-defined]
        assert all(p._ssl_context is ssl_context() for p in pools)
