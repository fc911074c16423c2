"""Hostile marketplace replies for the adapters' fuzz tests (issue 14 item 3).

A reply is damaged in one of these ways, each a hypothesis strategy:

- **schema**: a body generated from the official OpenAPI schema of the endpoint's reply — valid by
  the marketplace's own contract, random in every value (ids, numbers, enum members, lengths);
- **mutated**: the sandbox's real body with one node replaced by a hostile value (NaN, infinities,
  huge and negative numbers, money as text the way Ozon sends it, unknown enum strings, wrong types);
- **dropped**: the real body with one object key removed (a missing field);
- **truncated**: the real body's JSON cut short;
- **html**: an HTML error page, as a gateway or a CDN sends it, with a 2xx, 4xx or 5xx status;
- **status**: the real body with another status code.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from jsonschema_path import SchemaPath

HOSTILE_SCALARS: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    10**30,
    -(10**30),
    2**63,
    -1,
    -0.5,
    -100_000_000,
    0,
    1e308,
    "",
    "NaN",
    "-12.50",
    "12,50",
    "1e309",
    "100000000000000000000000000",
    "UNKNOWN_STATE",
    None,
    True,
    [],
    {},
    [None],
    {"": None},
]

hostile_values = st.sampled_from(HOSTILE_SCALARS) | st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)

# What a user might type where a value goes: numbers beyond BIGINT, NaN, JSON fragments, dates that
# are no dates, words the commands know, `k=v` pairs gone wrong, empty and multi-line text.
HOSTILE_WORDS: list[str] = [
    "",
    "0",
    "-1",
    "1.5",
    "NaN",
    "inf",
    "Infinity",
    "1e309",
    str(2**63),
    str(10**30),
    "null",
    "true",
    "[]",
    "{}",
    "[1, 2",
    '{"a": ',
    "2026-13-45",
    "2026-02-30",
    "yesterday",
    "a\nb",
    "\x00",
    "wb",
    "ozon",
    "ym",
    "manual",
    "rollback",
    "fixed",
    "target_drr",
    "15100",
    "k=v",
    "=",
    "max_bid=-5",
    "target_drr_pct=NaN",
]
hostile_words = st.sampled_from(HOSTILE_WORDS) | st.text(max_size=12) | st.integers(-(2**70), 2**70).map(str)

ERROR_STATUSES = [200, 201, 204, 400, 401, 403, 404, 409, 413, 420, 422, 429, 500, 502, 503, 504]
HTML_PAGES = [
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    "</center><hr><center>nginx</center></body></html>",
    "<!DOCTYPE html><html><body><h1>Service Temporarily Unavailable</h1></body></html>",
    "<html><body>Доступ запрещён</body></html>",
    "",
]


@dataclass(frozen=True)
class Reply:
    """What the damaged endpoint answers: status, raw body, content type, and how it was made."""

    status: int
    content: bytes
    content_type: str
    kind: str


def node_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from node_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from node_paths(item, (*prefix, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


def dropped(value: Any, path: tuple[Any, ...]) -> Any:
    """`value` without the object key at `path` (path must end at a dict key)."""
    out = copy.deepcopy(value)
    target = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


def dumps(body: Any) -> bytes:
    # allow_nan: NaN and Infinity go out as the bare tokens a careless server writes.
    return json.dumps(body, ensure_ascii=False, allow_nan=True).encode()


@st.composite
def damaged(draw: st.DrawFn, real_status: int, real_body: Any, schema: SchemaPath | None) -> Reply:
    """One damaged reply for an endpoint whose clean reply was `real_status` / `real_body`."""
    kinds = ["mutated", "truncated", "html", "status"]
    key_paths = [p for p in node_paths(real_body) if p and isinstance(p[-1], str)]
    if key_paths:
        kinds.append("dropped")
    if schema is not None:
        kinds.append("schema")
    kind = draw(st.sampled_from(kinds))
    json_type = "application/json"
    if kind == "schema":
        assert schema is not None
        return Reply(real_status, dumps(draw(from_schema(schema))), json_type, kind)
    if kind == "mutated":
        path = draw(st.sampled_from(list(node_paths(real_body))))
        return Reply(real_status, dumps(replaced(real_body, path, draw(hostile_values))), json_type, kind)
    if kind == "dropped":
        return Reply(
            real_status, dumps(dropped(real_body, draw(st.sampled_from(key_paths)))), json_type, kind
        )
    if kind == "truncated":
        text = dumps(real_body)
        cut = draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))
        return Reply(real_status, text[:cut], json_type, kind)
    if kind == "html":
        page = draw(st.sampled_from(HTML_PAGES)).encode()
        return Reply(draw(st.sampled_from(ERROR_STATUSES)), page, "text/html; charset=utf-8", kind)
    return Reply(draw(st.sampled_from(ERROR_STATUSES)), dumps(real_body), json_type, kind)


# --- values from an OpenAPI schema -------------------------------------------------------------

MAX_DEPTH = 7


def from_schema(node: SchemaPath, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values valid by an OpenAPI 3 schema object (refs resolved by jsonschema-path). Deep or
    unconstrained nodes give any JSON; formats the adapters read (date, date-time) stay well-formed."""
    keys = set(node.keys())
    if depth > MAX_DEPTH:
        return st.none()
    strategy = _typed(node, keys, depth)
    if _get(node, keys, "nullable", False) is True:
        strategy = strategy | st.none()
    return strategy


def _typed(node: SchemaPath, keys: set[str], depth: int) -> st.SearchStrategy[Any]:
    if values := _get(node, keys, "enum", None):
        return st.sampled_from(list(values))
    if "allOf" in keys:
        parts = [from_schema(part, depth + 1) for part in _children(node / "allOf")]
        return st.tuples(*parts).map(_merged)
    for combinator in ("oneOf", "anyOf"):
        if combinator in keys:
            return st.one_of(*(from_schema(part, depth + 1) for part in _children(node / combinator)))
    kind = _get(node, keys, "type", "")
    if kind == "object" or "properties" in keys:
        return _object(node, keys, depth)
    if kind == "array":
        items = from_schema(node / "items", depth + 1) if "items" in keys else st.none()
        return st.lists(items, max_size=3)
    if kind == "integer":
        low, high = _bound(node, keys, "minimum", -(2**63)), _bound(node, keys, "maximum", 2**63)
        return st.integers(min_value=low, max_value=max(low, high))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**40), 2**40)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return _string(node, keys)
    return hostile_values


def _get(node: SchemaPath, keys: set[str], key: str, default: Any) -> Any:
    return (node / key).read_value() if key in keys else default


def _children(node: SchemaPath) -> list[SchemaPath]:
    return [node / index for index in range(len(node.read_value()))]


def _merged(parts: tuple[Any, ...]) -> Any:
    dicts = [p for p in parts if isinstance(p, dict)]
    if len(dicts) != len(parts):
        return parts[-1]
    out: dict[str, Any] = {}
    for part in dicts:
        out.update(part)
    return out


def _object(node: SchemaPath, keys: set[str], depth: int) -> st.SearchStrategy[Any]:
    properties = node / "properties" if "properties" in keys else None
    names = list(properties.keys()) if properties is not None else []
    required = set(_get(node, keys, "required", None) or [])
    fixed = {n: from_schema(properties / n, depth + 1) for n in names if n in required and properties}
    optional = {n: from_schema(properties / n, depth + 1) for n in names if n not in required and properties}
    return st.fixed_dictionaries(fixed, optional=optional)


def _bound(node: SchemaPath, keys: set[str], key: str, default: int) -> int:
    value = _get(node, keys, key, None)
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else default


def _string(node: SchemaPath, keys: set[str]) -> st.SearchStrategy[Any]:
    fmt = _get(node, keys, "format", "")
    if fmt == "date":
        return st.dates().map(lambda d: d.isoformat())
    if fmt == "date-time":
        return st.datetimes().map(lambda d: d.isoformat() + "Z")
    if fmt == "uuid":
        return st.uuids().map(str)
    return st.text(max_size=12) | st.from_regex(re.compile(r"-?\d{1,12}(\.\d{1,4})?"), fullmatch=True)
