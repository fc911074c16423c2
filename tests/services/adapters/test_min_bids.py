"""`get_min_bids`: the marketplace's minimum bid per item, in its bid unit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.adapters.test_ozon import contract_requests
from tests.support.request_contract import check_requests

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("marketplace", ["wb", "ozon", "ym"])
async def test_minimum_bids_of_the_account_keywords(
    make_adapter: Any, sent_requests: list, marketplace: str
) -> None:
    adapter = make_adapter(marketplace)
    try:
        campaigns = [c for c in await adapter.list_campaigns() if c.status == "active"]
        keywords = await adapter.get_keywords([c.external_id for c in campaigns])
        assert keywords
        minimums = await adapter.get_min_bids(keywords)
    finally:
        await adapter.aclose()
    assert minimums, f"no {marketplace} minimum bids"
    assert set(minimums) <= {(k.campaign_external_id, k.external_id) for k in keywords}
    assert all(isinstance(v, int) and v > 0 for v in minimums.values())
    if marketplace == "ym":
        assert set(minimums.values()) == {50}  # 0.5 % of the price, YM's documented minimum
    # (Ozon's token call and its /json twins are checked the way its own tests do.)
    requests = contract_requests(sent_requests) if marketplace == "ozon" else sent_requests
    assert check_requests(marketplace, requests) >= 1
