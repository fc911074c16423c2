"""The bid cycle writes in batches of whole campaigns (issue 16 item 1): the time budget is checked
before each, and a campaign is never split, so the adapters' own batches stay as full as they were."""

from __future__ import annotations

from app.core.money import PerMille
from app.services.marketing.bid_apply import PlannedBid
from app.services.marketing.bid_cycle.execution import write_batches


def bids(campaign_sizes: list[int]) -> list[PlannedBid]:
    out = []
    for campaign, size in enumerate(campaign_sizes, start=1):
        for k in range(size):
            out.append(
                PlannedBid(
                    campaign,
                    campaign * 1000 + k,
                    (str(campaign), str(k)),
                    None,
                    PerMille(100),
                    "bid_cycle",
                    None,
                    "test",
                )
            )
    return out


def sizes(batches: list[list[PlannedBid]]) -> list[list[int]]:
    return [sorted({b.campaign_id for b in batch}) for batch in batches]


def test_campaigns_are_kept_whole_and_a_batch_closes_once_it_is_full() -> None:
    planned = bids([3, 3, 3, 10, 1])
    batches = list(write_batches(planned, 5))
    assert sizes(batches) == [[1, 2], [3, 4], [5]]
    assert [b for batch in batches for b in batch] == planned


def test_one_campaign_larger_than_a_batch_is_a_batch_of_its_own() -> None:
    assert sizes(list(write_batches(bids([12]), 5))) == [[1]]
    assert list(write_batches([], 5)) == []
