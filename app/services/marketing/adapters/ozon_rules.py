"""Ozon's bid rules (issue 9, Deliver 2; marketplace-apis.md §2 — OZ-OAS).

- Product campaigns (`advObjectType` SKU) take per-SKU bids: kopecks per click for CPC campaigns,
  per 1000 views for CPM campaigns (PUT /api/client/campaign/{id}/products, micro-ruble strings
  converted at the adapter). Pay-per-order (SEARCH_PROMO) bids are a percent of the price and
  their only bid method is deprecated since 2025-02-26: the cycle does not bid there. Banners have
  no bids.
- Minimums: CPC per SKU from POST /api/client/min/sku (8–11 ₽ by category in the seller help);
  CPM 100 ₽ and the maxima from GET /api/client/limits/list.
- Step: Ozon rounds micro-rubles to kopecks.
- Bids apply at once: read back after 15 s.
- A campaign pauses and resumes (deactivate / activate). Ozon has no per-SKU pause: a SKU is
  removed from the campaign and put back, with its bid, to undo it.
- Ozon keeps attributing orders to clicks for days; spend younger than 24 h is not judged
  against orders yet.
"""

from __future__ import annotations

from datetime import timedelta

from app.core.marketplaces import Marketplace
from app.core.money import BidUnit
from app.models.marketing import CampaignType, PaymentType
from app.services.marketing.adapters.rules import BiddingRules, CampaignPause, PauseMode, UnitRules, register

PAYMENT_UNITS = {PaymentType.CPC: BidUnit.PER_CLICK, PaymentType.CPM: BidUnit.PER_MILLE}


class OzonRules(BiddingRules):
    def campaign_unit(self, campaign_type: str, payment_type: str | None) -> BidUnit | None:
        if campaign_type != CampaignType.SKU or payment_type not in PAYMENT_UNITS:
            return None
        return PAYMENT_UNITS[PaymentType(payment_type)]

    def campaign_not_biddable(self, campaign_type: str, payment_type: str | None) -> str:
        if campaign_type == CampaignType.SEARCH_PROMO:
            return "Ozon pay-per-order bids have only a deprecated method (since 2025-02-26): not bid on"
        if campaign_type != CampaignType.SKU:
            return f"Ozon {campaign_type} campaigns have no per-item bids"
        return f"Ozon product campaigns paying {payment_type!r} have no bid unit we know"

    def keyword_pause(self, kind: str) -> PauseMode:
        return PauseMode.REMOVE_ITEM


OZON = register(
    OzonRules(
        marketplace=Marketplace.OZON,
        units={
            BidUnit.PER_CLICK: UnitRules(default_min=800, max=100_000, step=1, min_change=100),
            BidUnit.PER_MILLE: UnitRules(default_min=10_000, max=1_000_000, step=1, min_change=100),
        },
        apply_delay=timedelta(seconds=15),
        reports_revenue=True,
        campaign_pause=CampaignPause.SWITCH,
        order_attribution_lag=timedelta(hours=24),
    )
)
