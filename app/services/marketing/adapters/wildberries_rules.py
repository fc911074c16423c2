"""Wildberries' bid rules (issue 9, Deliver 2; marketplace-apis.md §1 — WB-OAS, WB-OAS2).

- Campaign types 9 (unified or manual bid; type 8 was migrated into 9) take bids; the legacy types
  4–7 have no bid method in the current API.
- Unit: cpm campaigns bid kopecks per 1000 views, cpc campaigns kopecks per click
  (PATCH /api/advert/v1/bids `bid_kopecks`; cluster bids POST /api/advert/v1/normquery/bids
  `bidMinorUnits`).
- Search-cluster bids exist only in manual cpm campaigns ("Set cluster bids: manual + cpm only");
  the clusters of other campaigns are read for stats, never bid on. Item (nm) bids exist in both;
  their stats are the nm's counters of the full stats, which WB does not split by placement — so
  the cycle does not steer an nm bid in both placements of a manual campaign (its clusters it
  does; a manual change still sets it).
- Minimums are per nm and placement (POST /api/advert/v1/bids/min, kopecks); the defaults below
  are used only until that answer is known. Maximum 100 000 ₽ (reference §1.7).
- Step: `cpmStep` / `cpcStep` of GET /api/advert/v1/config — whole rubles for cpm.
- Bids are applied "once per 30 s" (§1.1): read back after 45 s.
- A campaign pauses and resumes (GET /adv/v0/pause, /adv/v0/start). A cluster pauses as a minus
  phrase of its nm (POST /adv/v0/normquery/set-minus), undone by setting the list without it; an
  nm cannot be paused alone.
- Orders reach the full stats within hours of the click; spend younger than 3 h is not judged
  against orders yet.
"""

from __future__ import annotations

from datetime import timedelta

from app.core.marketplaces import Marketplace
from app.core.money import BidUnit
from app.models.marketing import CampaignType, KeywordKind, PaymentType
from app.services.marketing.adapters.rules import BiddingRules, CampaignPause, PauseMode, UnitRules, register

BID_CAMPAIGN_TYPES = (CampaignType.MANUAL, CampaignType.UNIFIED)
PAYMENT_UNITS = {PaymentType.CPM: BidUnit.PER_MILLE, PaymentType.CPC: BidUnit.PER_CLICK}
MAX_BID = 10_000_000  # 100 000 ₽


class WildberriesRules(BiddingRules):
    def campaign_unit(self, campaign_type: str, payment_type: str | None) -> BidUnit | None:
        if campaign_type not in BID_CAMPAIGN_TYPES or payment_type is None:
            return None
        return PAYMENT_UNITS.get(PaymentType(payment_type)) if payment_type in PAYMENT_UNITS else None

    def campaign_not_biddable(self, campaign_type: str, payment_type: str | None) -> str:
        if campaign_type not in BID_CAMPAIGN_TYPES:
            return f"WB {campaign_type} campaigns (legacy types 4–7) have no bid method in the current API"
        return f"WB campaigns paying {payment_type!r} have no bid unit we know"

    def not_biddable(self, campaign_type: str, payment_type: str | None, kind: str) -> str | None:
        why = super().not_biddable(campaign_type, payment_type, kind)
        manual_cpm = campaign_type == CampaignType.MANUAL and payment_type == PaymentType.CPM
        if why is None and kind == KeywordKind.CLUSTER and not manual_cpm:
            return "WB sets search-cluster bids only in manual cpm campaigns"
        return why

    def not_steered(
        self, campaign_type: str, payment_type: str | None, kind: str, item_bids: int = 1
    ) -> str | None:
        why = self.not_biddable(campaign_type, payment_type, kind)
        if why is None and kind == KeywordKind.NM and item_bids > 1:
            # The full stats give one set of counters per nm, not per placement: with a bid in
            # each placement, neither bid has stats of its own to be steered by (a manual change
            # still sets it).
            return "WB reports no per-placement stats for an nm bid in both placements: not bid on"
        return why

    def keyword_pause(self, kind: str) -> PauseMode:
        return PauseMode.MINUS_PHRASE if kind == KeywordKind.CLUSTER else PauseMode.NONE


WILDBERRIES = register(
    WildberriesRules(
        marketplace=Marketplace.WB,
        units={
            # 150 ₽ is the search minimum WB quotes (reference §1.7); per-nm minimums replace it.
            BidUnit.PER_MILLE: UnitRules(default_min=15_000, max=MAX_BID, step=100, min_change=100),
            # WB publishes no general cpc minimum; 4 ₽ is the lowest the min-bid method answered.
            BidUnit.PER_CLICK: UnitRules(default_min=400, max=MAX_BID, step=10, min_change=100),
        },
        apply_delay=timedelta(seconds=45),
        reports_revenue=True,
        campaign_pause=CampaignPause.SWITCH,
        order_attribution_lag=timedelta(hours=3),
    )
)
