"""Yandex Market's bid rules (issue 9, Deliver 2; marketplace-apis.md §3 — YM-OAS).

- The business-wide "sales boost" campaign of PUT /v2/businesses/{businessId}/bids takes one bid
  per SKU, in hundredths of a percent of the item's price (500 = 5 %), 50..9999; 0 removes the SKU
  from boost. YM never reports the price, so bids, limits and targets of YM campaigns stay in
  this unit; a CPO or DRR target is a share of the price too.
- Boost is paid per order, as that share of the order's price: the DRR of boosted sales *is* the
  bid. The boost report gives no revenue, so DRR rules have no data on YM.
- Step 1 (0.01 %); a change below 0.10 percentage points is not sent (the spec's 1 ₽ step has no
  meaning in percent; 0.1 % of a 1 000 ₽ item is 1 ₽).
- Changes apply "within several minutes": read back after 180 s.
- The API has no campaign switch: pausing a YM campaign sets every SKU's bid to 0 (remembering
  it) and resuming sets the remembered bids again. A SKU pauses the same way on its own.
- No spend without an order, so no attribution lag.
"""

from __future__ import annotations

from datetime import timedelta

from app.core.marketplaces import Marketplace
from app.core.money import BidUnit
from app.models.marketing import CampaignType
from app.services.marketing.adapters.rules import BiddingRules, CampaignPause, PauseMode, UnitRules, register

# components/schemas/Bid.yaml (0..9999) and SkuBidItemDTO.yaml ("от 50 до 9999"); 0 removes the SKU.
MIN_BID, MAX_BID = 50, 9999


class YandexMarketRules(BiddingRules):
    def campaign_unit(self, campaign_type: str, payment_type: str | None) -> BidUnit | None:
        return BidUnit.PRICE_SHARE if campaign_type == CampaignType.BOOST else None

    def campaign_not_biddable(self, campaign_type: str, payment_type: str | None) -> str:
        return f"YM {campaign_type} campaigns are not managed through the bids API"

    def keyword_pause(self, kind: str) -> PauseMode:
        return PauseMode.ZERO_BID


YANDEX_MARKET = register(
    YandexMarketRules(
        marketplace=Marketplace.YM,
        units={BidUnit.PRICE_SHARE: UnitRules(default_min=MIN_BID, max=MAX_BID, step=1, min_change=10)},
        apply_delay=timedelta(seconds=180),
        reports_revenue=False,
        campaign_pause=CampaignPause.ITEMS,
        order_attribution_lag=timedelta(0),
        charges_per_order=True,
    )
)
