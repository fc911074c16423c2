"""Validate the requests our adapters send against the official request schemas (issue 4
"Done when": "the adapters' requests validate against the official request schemas")."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
from openapi_core.testing import MockRequest

from tests.sandbox import contract

CONTRACTS = {"wb": contract.wildberries, "ozon": contract.ozon, "ym": contract.yandex_market}


def check_requests(marketplace: str, requests: list[httpx.Request]) -> int:
    """Raise on the first request the spec does not allow; returns how many were checked.

    `/_sandbox/*` control calls are ours, not the marketplace's, and are skipped.
    """
    spec = CONTRACTS[marketplace]()
    checked = 0
    for request in requests:
        url = urlsplit(str(request.url))
        if url.path.startswith("/_sandbox/"):
            continue
        mock = MockRequest(
            spec.host_url,
            request.method.lower(),
            url.path,
            args=dict(parse_qsl(url.query)),
            data=request.content or None,
            headers=dict(request.headers),
            content_type=request.headers.get("content-type", "application/json").split(";")[0],
        )
        spec.openapi.validate_request(mock)
        checked += 1
    return checked
