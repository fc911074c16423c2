"""Small HTTP helpers shared by the sandbox apps."""

from __future__ import annotations

import json
from typing import Any, TypeGuard

from starlette.requests import Request
from starlette.responses import Response


class JSONBody(Response):
    """JSON with non-ASCII kept readable (the marketplaces answer UTF-8 Russian text)."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
        super().__init__(body, status_code, headers, media_type or self.media_type)


class BadJSON(Exception):
    """The request body is not the JSON the endpoint needs; `detail` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def read_json(request: Request, *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BadJSON("request body is empty; send a JSON document")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadJSON(f"request body is not valid JSON: {exc}") from None


def is_int(value: Any) -> TypeGuard[int]:
    """A JSON integer (bool is not one, although Python says it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if not text or not text.isascii() or not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        return None
    return int(text)


def parse_id_list(text: str | None) -> list[int] | None:
    """ "1,2,3" → [1, 2, 3]; None when any element is not an integer."""
    if text is None:
        return None
    parts = [p for p in text.split(",") if p.strip()]
    out = []
    for part in parts:
        value = parse_int(part)
        if value is None:
            return None
        out.append(value)
    return out


def rubles(kopecks: float) -> float:
    """WB statistics report money as floats in rubles (reference §1.5)."""
    return round(kopecks / 100.0, 2)


def micro_rubles(kopecks: int) -> str:
    """Ozon money: strings in millionths of a ruble (1 000 000 = 1 ₽), rounded to kopecks (§2.3)."""
    return str(int(kopecks) * 10_000)
