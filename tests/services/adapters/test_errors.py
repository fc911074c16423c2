"""The adapters' errors keep their type and fields across processes (issue 17 item 11): pickled from
a pool child to the worker (the dead letter) and rebuilt from the JSON result backend (the CLI)."""

from __future__ import annotations

import pickle

import pytest

from app.core.celery_config import celery_app
from app.services.marketing.adapters.base import (
    AdapterError,
    AuthError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

ERRORS = [
    AuthError("wb", "list campaigns", "token rejected", 401),
    PermanentError("ozon", "set bids", "bids[0].bid: 5 is outside 8..1000"),
    TransientError("ym", "get bids", "timed out", None),
    RateLimitedError("wb", "set bids", "too many requests", 429, 2.5),
]


def fields(error: AdapterError) -> dict[str, object]:
    return {"type": type(error), "str": str(error), **vars(error)}


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_pickles_with_its_type_and_fields(error: AdapterError) -> None:
    assert fields(pickle.loads(pickle.dumps(error))) == fields(error)


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_json_result_backend_rebuilds_it(error: AdapterError) -> None:
    backend = celery_app.backend
    assert backend.serializer == "json"
    assert fields(backend.exception_to_python(backend.prepare_exception(error))) == fields(error)


def test_message_is_one_line_naming_marketplace_operation_and_status() -> None:
    assert str(ERRORS[0]) == "wb list campaigns (HTTP 401): token rejected"
    assert str(ERRORS[2]) == "ym get bids: timed out"
