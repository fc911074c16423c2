"""Validate sandbox replies against the marketplaces' own OpenAPI documents with openapi-core.

The documents are read from ADOLF_SPECS_DIR (tests skip when they are absent). Two repairs are
made in memory, never on disk, because the captured documents are not valid OpenAPI there:

- WB's snapshot was captured from the rendered docs with a depth limit, so deep schema nodes are
  the string "[MaxDepth]". Such a node becomes an unconstrained schema (`{}`) and truncated
  keywords (`properties`, `required`, `enum`, `oneOf`, `examples`...) are dropped: everything the
  snapshot does state is still enforced.
- Ozon's document has `enum: null` and boolean `required` on properties (an OpenAPI 2 habit); those
  keywords are dropped.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.sandbox.specs import spec_file, specs_dir

TRUNCATED = "[MaxDepth]"
WB_HOST = "https://advert-api.wildberries.ru"


def repair(node: Any, *, in_properties: bool = False) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if value == TRUNCATED:
                if in_properties or key in ("items", "schema", "additionalProperties"):
                    out[key] = {}
                continue
            if key in ("example", "examples"):
                continue
            if key == "enum" and value is None:
                continue
            if key == "required" and isinstance(value, bool):
                continue
            out[key] = repair(value, in_properties=key == "properties" and not in_properties)
        return out
    if isinstance(node, list):
        return [{} if item == TRUNCATED else repair(item) for item in node]
    return node


class Contract:
    def __init__(self, openapi: OpenAPI, host_url: str) -> None:
        self.openapi = openapi
        self.host_url = host_url

    def check(self, reply: httpx.Response, *, path_pattern: str | None = None) -> None:
        """Raise if `reply` (status, media type, body, headers) does not match the spec."""
        request = reply.request
        url = urlsplit(str(request.url))
        content_type = reply.headers.get("content-type", "application/json").split(";")[0].strip()
        mock_request = MockRequest(
            self.host_url,
            request.method.lower(),
            url.path,
            path_pattern=path_pattern,
            args=dict(parse_qsl(url.query)),
            data=request.content or None,
        )
        mock_response = MockResponse(
            reply.content, reply.status_code, headers=dict(reply.headers), content_type=content_type
        )
        self.openapi.validate_response(mock_request, mock_response)


def _config() -> Any:
    from openapi_core import Config

    # WB gateway errors are application/problem+json (JSON) and Ozon reports are text/csv (text);
    # openapi-core must be told how to read both.
    return Config(
        spec_validator_cls=None,
        extra_media_type_deserializers={"application/problem+json": json.loads, "text/csv": _text},
    )


def _text(raw: bytes | str, **parameters: str) -> str:
    return raw if isinstance(raw, str) else raw.decode(parameters.get("charset", "utf-8"))


@lru_cache(maxsize=1)
def _wb() -> OpenAPI:
    data = repair(json.loads(spec_file("wildberries/promotion.json").read_text(encoding="utf-8")))
    # The snapshot declares no servers; WB's production host (reference §1.1) stands in.
    data.setdefault("servers", [{"url": WB_HOST}])
    return OpenAPI.from_dict(data, config=_config())


@lru_cache(maxsize=1)
def _ozon() -> OpenAPI:
    data = json.loads(spec_file("ozon-performance/performance-openapi.json").read_text(encoding="utf-8"))
    return OpenAPI.from_dict(repair(data), config=_config())


@lru_cache(maxsize=1)
def _ym() -> OpenAPI:
    # The split YAML is loaded from its root file; relative $refs resolve against the file's URI.
    return OpenAPI.from_file_path(str(spec_file("yandex-market/openapi/openapi.yaml")), config=_config())


def wildberries() -> Contract:
    return Contract(_wb(), WB_HOST)


def ozon() -> Contract:
    return Contract(_ozon(), "https://api-performance.ozon.ru:443")


def yandex_market() -> Contract:
    return Contract(_ym(), "https://api.partner.market.yandex.ru")


@lru_cache(maxsize=3)
def operations(marketplace: str) -> frozenset[tuple[str, str]]:
    """(METHOD, path template) of every operation in a marketplace's spec."""
    methods = ("get", "put", "post", "delete", "patch")
    if marketplace == "yandex_market":
        import yaml

        root = spec_file("yandex-market/openapi/openapi.yaml")
        index = yaml.safe_load(root.read_text(encoding="utf-8"))["paths"]
        out = set()
        for path, item in index.items():
            item = (
                yaml.safe_load((root.parent / item["$ref"]).read_text(encoding="utf-8"))
                if "$ref" in item
                else item
            )
            out |= {(m.upper(), path) for m in item if m in methods}
        return frozenset(out)
    name = {"wildberries": "wildberries/promotion.json", "ozon": "ozon-performance/performance-openapi.json"}[
        marketplace
    ]
    paths = json.loads(spec_file(name).read_text(encoding="utf-8"))["paths"]
    return frozenset((m.upper(), path) for path, item in paths.items() for m in item if m in methods)


_FILES = {
    "wildberries": "wildberries/promotion.json",
    "ozon": "ozon-performance/performance-openapi.json",
    "yandex_market": "yandex-market/openapi/openapi.yaml",
}


def validate(marketplace: str, reply: httpx.Response, *, path_pattern: str | None = None) -> None:
    """Validate `reply` when the spec is present; behaviour tests call this so that they still test
    behaviour without the specs. The contract tests proper (test_contract_coverage.py and the
    `test_contract_check_*` tests) use the strict factories above and skip instead."""
    if not (specs_dir() / _FILES[marketplace]).exists():
        return
    {"wildberries": wildberries, "ozon": ozon, "yandex_market": yandex_market}[marketplace]().check(
        reply, path_pattern=path_pattern
    )
