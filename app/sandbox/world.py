"""The sandbox's seeded world: brands, accounts with credentials, products, search clusters,
competitors and campaigns on the three marketplaces.

Everything is generated from one `random.Random(seed)`, so the same seed and size always give the
same world (issue 3, "Same seed → same world"). Money is integer kopecks inside (DESIGN.md §3 "Money
is integer kopecks"); each marketplace app converts at its boundary. YM bids are kept in the API's
own unit (percent of price × 100) because they are a rate, not an amount.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from app.core.marketplaces import Marketplace
from app.services.marketing.adapters.limits import WbTokenType, YmTier

Placement = Literal["search", "recommendations"]

# WB token "s" bit of the Promotion category (api-information.json, "Token categories": the token
# payload's `s` is a bit mask; Promotion is bit 6).
WB_PROMOTION_SCOPE_BIT = 1 << 6


@dataclass(frozen=True, slots=True)
class WorldSize:
    """How big a world to generate; `bench` is the size the benchmarks need (issue 3)."""

    brands: int = 2
    wb_accounts: int = 2
    wb_campaigns: int = 16
    wb_nms_per_campaign: int = 3
    wb_clusters: int = 60
    clusters_per_nm: int = 6
    ozon_accounts: int = 1
    ozon_campaigns: int = 13
    ozon_skus_per_campaign: int = 4
    ym_accounts: int = 1
    ym_skus: int = 20
    competitors_per_cluster: int = 8

    @classmethod
    def preset(cls, name: str) -> WorldSize:
        presets = {
            "small": cls(),
            "demo": cls(
                brands=3,
                wb_accounts=2,
                wb_campaigns=20,
                wb_nms_per_campaign=5,
                wb_clusters=400,
                clusters_per_nm=10,
                ozon_campaigns=20,
                ozon_skus_per_campaign=10,
                ym_skus=200,
            ),
            # 300 WB campaigns with 10,000 clusters, 100 Ozon campaigns, 5,000 YM SKUs.
            "bench": cls(
                brands=5,
                wb_accounts=3,
                wb_campaigns=300,
                wb_nms_per_campaign=5,
                wb_clusters=10_000,
                clusters_per_nm=20,
                ozon_accounts=2,
                ozon_campaigns=100,
                ozon_skus_per_campaign=20,
                ym_accounts=2,
                ym_skus=5_000,
            ),
        }
        try:
            return presets[name]
        except KeyError:
            raise ValueError(f"unknown world size {name!r}; choose one of {', '.join(presets)}") from None


@dataclass(slots=True)
class Brand:
    id: int
    name: str


@dataclass(slots=True)
class Account:
    id: int
    marketplace: Marketplace
    brand_id: int
    name: str
    # WB: token type -> token; plus "no_promotion", a personal token without the Promotion category.
    wb_tokens: dict[str, str] = field(default_factory=dict)
    wb_balance_kopecks: int = 0
    wb_bonus_kopecks: int = 0
    ozon_client_id: str = ""
    ozon_client_secret: str = ""
    ym_api_key: str = ""
    ym_business_id: int = 0
    ym_campaign_ids: list[int] = field(default_factory=list)
    ym_tier: YmTier = YmTier.NONE

    def credentials(self) -> dict[str, object]:
        if self.marketplace == Marketplace.WB:
            return {"tokens": dict(self.wb_tokens)}
        if self.marketplace == Marketplace.OZON:
            return {"client_id": self.ozon_client_id, "client_secret": self.ozon_client_secret}
        return {
            "api_key": self.ym_api_key,
            "business_id": self.ym_business_id,
            "campaign_ids": list(self.ym_campaign_ids),
        }


@dataclass(slots=True)
class Product:
    id: int  # WB nm_id / Ozon sku / YM internal id
    marketplace: Marketplace
    account_id: int
    title: str
    subject_id: int
    subject_name: str
    price_kopecks: int
    quality: float  # relative click-through multiplier of the product card
    shop_sku: str = ""  # YM offer SKU (a string in the YM API)
    cluster_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Competitor:
    seller: str
    base_bid: int  # WB/Ozon: effective CPM in kopecks; YM: percent of price × 100
    amplitude: float  # relative swing of the daily cycle
    period_s: float
    phase: float


@dataclass(slots=True)
class Cluster:
    """A search query (WB "normQuery") or a recommendation shelf; one auction each."""

    id: int
    marketplace: Marketplace
    text: str
    placement: Placement
    views_per_hour: float  # demand of the whole query at peak hour
    competitors: list[Competitor]


@dataclass(slots=True)
class CampaignItem:
    product_id: int
    # Current, effective bids by placement key: WB "search"/"recommendations"/"combined" (kopecks),
    # Ozon "cpc"/"cpm" (kopecks) or "cpo" (percent × 100), YM "boost" (percent of price × 100).
    bids: dict[str, int] = field(default_factory=dict)
    # WB manual CPM clusters: cluster id -> bid (kopecks per 1000 views).
    cluster_bids: dict[int, int] = field(default_factory=dict)
    minus_phrases: list[str] = field(default_factory=list)
    target_cir: float | None = None
    top_position: int | None = None


@dataclass(slots=True)
class Campaign:
    id: int
    marketplace: Marketplace
    account_id: int
    name: str
    # WB: 4..9 type, "unified"/"manual", "cpm"/"cpc". Ozon: advObjectType, "CPC"/"CPM"/"CPO".
    kind: str
    bid_type: str
    payment_type: str
    status: str  # WB: str(int) status code; Ozon: CAMPAIGN_STATE_*; YM: "ACTIVE"
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    deleted_at: datetime | None = None
    placements: dict[str, bool] = field(default_factory=lambda: {"search": True, "recommendations": False})
    # Remaining campaign budget in kopecks (WB campaign budget; Ozon total budget, 0 = no limit).
    budget_kopecks: int = 0
    daily_budget_kopecks: int = 0  # 0 = no daily limit
    weekly_budget_kopecks: int = 0
    ozon_placement: str = "PLACEMENT_SEARCH_AND_CATEGORY"
    ozon_strategy: str = "TARGET_BIDS"
    from_date: str = ""
    to_date: str = ""
    items: dict[int, CampaignItem] = field(default_factory=dict)
    spent_total: float = 0.0  # kopecks, float accumulator of the auction model

    @property
    def wb_status(self) -> int:
        return int(self.status)


@dataclass(slots=True)
class World:
    seed: int
    size: WorldSize
    start: datetime
    brands: list[Brand]
    accounts: dict[int, Account]
    products: dict[int, Product]
    clusters: dict[int, Cluster]
    campaigns: dict[int, Campaign]

    def accounts_of(self, marketplace: Marketplace) -> list[Account]:
        return [a for a in self.accounts.values() if a.marketplace == marketplace]

    def campaigns_of(self, account_id: int) -> list[Campaign]:
        return [c for c in self.campaigns.values() if c.account_id == account_id]

    def ym_products_by_sku(self, account_id: int) -> dict[str, Product]:
        return {
            p.shop_sku: p
            for p in self.products.values()
            if p.account_id == account_id and p.marketplace == Marketplace.YM
        }


_WORDS = [
    "платье",
    "футболка",
    "кроссовки",
    "куртка",
    "рюкзак",
    "чехол",
    "наушники",
    "кружка",
    "подушка",
    "плед",
    "лампа",
    "сумка",
    "шапка",
    "джинсы",
    "носки",
    "свитер",
    "кеды",
    "ботинки",
    "термос",
    "коврик",
    "зонт",
    "часы",
    "браслет",
    "ремень",
    "перчатки",
]
_ADJECTIVES = [
    "женское",
    "мужское",
    "детское",
    "зимнее",
    "летнее",
    "кожаное",
    "хлопковое",
    "большое",
    "маленькое",
    "белое",
    "черное",
    "красное",
    "синее",
    "теплое",
    "легкое",
]
_SUBJECTS = [(100 + i, w) for i, w in enumerate(_WORDS)]
_SELLERS = [f"seller-{i:03d}" for i in range(200)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_wb_token(rng: random.Random, seller_id: str, token_type: WbTokenType, scopes: int) -> str:
    """A JWT-shaped token like WB's (api-information.json "Token types"); `acc` and `for` encode the
    type: 1 Base, 2 Test, 3 Personal, 4 Service. The sandbox recognises tokens by lookup, the payload
    only has to look real to clients that decode it."""
    acc = {
        WbTokenType.BASE: 1,
        WbTokenType.BASE_WITH_SECRET: 1,
        WbTokenType.TEST: 2,
        WbTokenType.PERSONAL: 3,
        WbTokenType.SERVICE: 4,
    }[token_type]
    payload = {
        "acc": acc,
        "ent": 1,
        "exp": 1_900_000_000,
        "for": "asid:" + str(rng.randrange(10**6)) if token_type == WbTokenType.SERVICE else "self",
        "id": f"{rng.getrandbits(128):032x}",
        "oid": rng.randrange(10**6, 10**7),
        "s": scopes,
        "sid": seller_id,
        "t": token_type == WbTokenType.TEST,
        "uid": rng.randrange(10**7, 10**8),
    }
    header = _b64(json.dumps({"alg": "ES256", "kid": "20250101v1", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = _b64(hashlib.sha256(f"{header}.{body}.{rng.random()}".encode()).digest() * 2)
    return f"{header}.{body}.{signature}"


def _competitors(rng: random.Random, count: int, center: int, low: int, high: int) -> list[Competitor]:
    out = []
    for seller in rng.sample(_SELLERS, count):
        bid = int(max(low, min(high, rng.lognormvariate(0, 0.45) * center)))
        out.append(
            Competitor(
                seller=seller,
                base_bid=bid,
                amplitude=rng.uniform(0.05, 0.3),
                period_s=rng.choice([6, 8, 12, 24]) * 3600.0,
                phase=rng.uniform(0, 6.283),
            )
        )
    return out


def build_world(seed: int = 1, size: WorldSize | None = None, start: datetime | None = None) -> World:
    """Generate the world of `seed`; identical inputs give an identical world."""
    from app.sandbox.clock import DEFAULT_START

    size = size or WorldSize()
    start = start or DEFAULT_START
    rng = random.Random(seed)
    brands = [Brand(i + 1, name) for i, name in enumerate(["Аврора", "Бриз", "Вектор", "Гамма", "Дельта"])]
    brands = brands[: max(1, min(size.brands, len(brands)))]
    accounts: dict[int, Account] = {}
    products: dict[int, Product] = {}
    clusters: dict[int, Cluster] = {}
    campaigns: dict[int, Campaign] = {}
    next_account = iter(range(1, 10**6))

    def new_cluster(
        mp: Marketplace, text: str, placement: Placement, center: int, low: int, high: int
    ) -> int:
        cid = (len(clusters) + 1) + {Marketplace.WB: 0, Marketplace.OZON: 10**6, Marketplace.YM: 2 * 10**6}[
            mp
        ]
        clusters[cid] = Cluster(
            id=cid,
            marketplace=mp,
            text=text,
            placement=placement,
            views_per_hour=rng.lognormvariate(4.8, 0.9),
            competitors=_competitors(rng, size.competitors_per_cluster, center, low, high),
        )
        return cid

    def query_text(i: int) -> str:
        return f"{rng.choice(_WORDS)} {rng.choice(_ADJECTIVES)} {i}"

    # ---- Wildberries ------------------------------------------------------------------------------
    # Effective CPMs of WB search run from the minimum bid (~150 ₽) to a few thousand rubles.
    wb_search = [
        new_cluster(Marketplace.WB, query_text(i), "search", 40_000, 15_000, 300_000)
        for i in range(size.wb_clusters)
    ]
    wb_accounts = []
    for i in range(size.wb_accounts):
        acc = Account(next(next_account), Marketplace.WB, brands[i % len(brands)].id, f"WB кабинет {i + 1}")
        seller = f"{rng.getrandbits(64):016x}"
        promo = WB_PROMOTION_SCOPE_BIT | 0b10
        for token_type in (WbTokenType.PERSONAL, WbTokenType.SERVICE, WbTokenType.BASE, WbTokenType.TEST):
            acc.wb_tokens[token_type.value] = make_wb_token(rng, seller, token_type, promo)
        acc.wb_tokens["no_promotion"] = make_wb_token(rng, seller, WbTokenType.PERSONAL, 0b10)
        acc.wb_balance_kopecks = rng.randrange(50_000, 500_000) * 100
        acc.wb_bonus_kopecks = rng.randrange(0, 5_000) * 100
        accounts[acc.id] = acc
        wb_accounts.append(acc)
    # (type, bid_type, payment, status): mostly active type-9 campaigns, and every other combination
    # the API can return, so clients meet them all (reference §1.3).
    wb_kinds: list[tuple[int, str, str, int]] = [
        (9, "manual", "cpm", 9),
        (9, "unified", "cpm", 9),
        (9, "manual", "cpc", 9),
        (9, "manual", "cpm", 11),
        (9, "unified", "cpm", 4),
        (9, "manual", "cpm", 9),
        (9, "unified", "cpc", 9),
        (9, "manual", "cpm", 7),
        (8, "unified", "cpm", 7),
        (6, "manual", "cpm", 7),
        (9, "manual", "cpm", 8),
        (9, "manual", "cpm", 9),
        # Legacy types 4/5/7 (catalog, card, home) only exist finished; one campaign is being
        # deleted (status -1) and vanishes a few minutes into the world.
        (4, "manual", "cpm", 7),
        (5, "manual", "cpm", 7),
        (7, "manual", "cpm", 7),
        (9, "manual", "cpm", -1),
    ]
    next_nm = 150_000_000 + rng.randrange(10**6)
    for n in range(size.wb_campaigns):
        acc = wb_accounts[n % len(wb_accounts)]
        kind, bid_type, payment, status = wb_kinds[n % len(wb_kinds)]
        cid = 20_000_000 + seed % 1000 * 10_000 + n
        created = start - timedelta(days=rng.randrange(5, 200), minutes=rng.randrange(1440))
        camp = Campaign(
            id=cid,
            marketplace=Marketplace.WB,
            account_id=acc.id,
            name=f"{rng.choice(_WORDS).capitalize()} — кампания {n + 1}",
            kind=str(kind),
            bid_type=bid_type,
            payment_type=payment,
            status=str(status),
            created_at=created,
            updated_at=created + timedelta(hours=rng.randrange(1, 48)),
            started_at=created + timedelta(hours=1) if status in (7, 9, 11) else None,
            deleted_at=start + timedelta(minutes=3) if status == -1 else None,
            placements={"search": True, "recommendations": bid_type == "unified" or n % 3 == 0},
            budget_kopecks=rng.randrange(20_000, 300_000) * 100 if status in (4, 9, 11) else 0,
        )
        for _ in range(size.wb_nms_per_campaign):
            subject_id, subject = rng.choice(_SUBJECTS)
            nm = next_nm
            next_nm += rng.randrange(1, 5000)
            product = Product(
                id=nm,
                marketplace=Marketplace.WB,
                account_id=acc.id,
                title=f"{subject.capitalize()} {rng.choice(_ADJECTIVES)}",
                subject_id=subject_id,
                subject_name=subject,
                price_kopecks=rng.randrange(300, 15_000) * 100,
                quality=rng.uniform(0.7, 1.3),
                cluster_ids=rng.sample(wb_search, min(size.clusters_per_nm, len(wb_search))),
            )
            rec = new_cluster(
                Marketplace.WB,
                f"рекомендации: {subject}",
                "recommendations",
                30_000,
                10_000,
                200_000,
            )
            product.cluster_ids.append(rec)
            products[nm] = product
            item = CampaignItem(nm)
            # Kopecks per click (cpc) or per 1000 views (cpm).
            base = rng.randrange(400, 3000) if payment == "cpc" else rng.randrange(250, 900) * 100
            if bid_type == "unified":
                item.bids["combined"] = base
            else:
                item.bids["search"] = base
                item.bids["recommendations"] = max(base // 2, 100)
            camp.items[nm] = item
        campaigns[cid] = camp

    # ---- Ozon -------------------------------------------------------------------------------------
    oz_clusters = [
        new_cluster(Marketplace.OZON, query_text(i), "search", 25_000, 8_000, 200_000)
        for i in range(max(20, size.ozon_campaigns * 3))
    ]
    oz_accounts = []
    for i in range(size.ozon_accounts):
        acc = Account(
            next(next_account), Marketplace.OZON, brands[i % len(brands)].id, f"Ozon кабинет {i + 1}"
        )
        acc.ozon_client_id = (
            f"{rng.randrange(10**7, 10**8)}-{rng.getrandbits(40):010x}@advertising.performance.ozon.ru"
        )
        acc.ozon_client_secret = _b64(rng.getrandbits(256).to_bytes(32, "big"))
        accounts[acc.id] = acc
        oz_accounts.append(acc)
    oz_kinds: list[tuple[str, str, str]] = [
        ("SKU", "CPC", "CAMPAIGN_STATE_RUNNING"),
        ("SKU", "CPC", "CAMPAIGN_STATE_RUNNING"),
        ("SKU", "CPC", "CAMPAIGN_STATE_INACTIVE"),
        ("SKU", "CPM", "CAMPAIGN_STATE_RUNNING"),
        ("SEARCH_PROMO", "CPO", "CAMPAIGN_STATE_RUNNING"),
        ("SKU", "CPC", "CAMPAIGN_STATE_STOPPED"),
        ("BANNER", "CPM", "CAMPAIGN_STATE_ARCHIVED"),
        ("SKU", "CPC", "CAMPAIGN_STATE_PLANNED"),
        ("SKU", "CPC", "CAMPAIGN_STATE_FINISHED"),
        ("SKU", "CPC", "CAMPAIGN_STATE_MODERATION_IN_PROGRESS"),
        ("SKU", "CPC", "CAMPAIGN_STATE_RUNNING"),
        ("VIDEO_BANNER", "CPM", "CAMPAIGN_STATE_MODERATION_DRAFT"),
        ("SKU", "CPC", "CAMPAIGN_STATE_MODERATION_FAILED"),
    ]
    next_sku = 1_400_000_000 + rng.randrange(10**6)
    for n in range(size.ozon_campaigns):
        acc = oz_accounts[n % len(oz_accounts)]
        adv_type, payment, state = oz_kinds[n % len(oz_kinds)]
        cid = 10_000_000 + seed % 1000 * 10_000 + n
        created = start - timedelta(days=rng.randrange(5, 200))
        camp = Campaign(
            id=cid,
            marketplace=Marketplace.OZON,
            account_id=acc.id,
            name=f"Ozon {rng.choice(_WORDS)} {n + 1}",
            kind=adv_type,
            bid_type="manual",
            payment_type=payment,
            status=state,
            created_at=created,
            updated_at=created + timedelta(hours=2),
            started_at=created + timedelta(hours=3),
            budget_kopecks=0 if n % 4 == 0 else rng.randrange(5_000, 100_000) * 100,
            daily_budget_kopecks=rng.randrange(500, 5_000) * 100 if n % 3 == 0 else 0,
            ozon_placement="PLACEMENT_TOP_PROMOTION" if n % 5 == 1 else "PLACEMENT_SEARCH_AND_CATEGORY",
            from_date=(created.date()).isoformat(),
        )
        for _ in range(size.ozon_skus_per_campaign if adv_type in ("SKU", "SEARCH_PROMO") else 0):
            subject_id, subject = rng.choice(_SUBJECTS)
            sku = next_sku
            next_sku += rng.randrange(1, 10_000)
            products[sku] = Product(
                id=sku,
                marketplace=Marketplace.OZON,
                account_id=acc.id,
                title=f"{subject.capitalize()} {rng.choice(_ADJECTIVES)}",
                subject_id=subject_id,
                subject_name=subject,
                price_kopecks=rng.randrange(300, 15_000) * 100,
                quality=rng.uniform(0.7, 1.3),
                cluster_ids=rng.sample(oz_clusters, min(3, len(oz_clusters))),
            )
            item = CampaignItem(sku)
            if payment == "CPC":
                item.bids["cpc"] = rng.randrange(800, 4000)  # kopecks per click
            elif payment == "CPM":
                item.bids["cpm"] = rng.randrange(150, 600) * 100
            else:
                item.bids["cpo"] = rng.randrange(300, 1500)  # percent of price × 100
            camp.items[sku] = item
        campaigns[cid] = camp

    # ---- Yandex Market ----------------------------------------------------------------------------
    ym_clusters = [
        new_cluster(Marketplace.YM, query_text(i), "search", 400, 50, 3000)
        for i in range(max(20, size.ym_skus // 10))
    ]
    for i in range(size.ym_accounts):
        acc = Account(
            next(next_account),
            Marketplace.YM,
            brands[i % len(brands)].id,
            f"Маркет кабинет {i + 1}",
        )
        acc.ym_api_key = (
            "ACMA:" + _b64(rng.getrandbits(256).to_bytes(32, "big")) + ":" + f"{rng.getrandbits(32):08x}"
        )
        acc.ym_business_id = 5_000_000 + seed % 1000 * 100 + i
        acc.ym_campaign_ids = [40_000_000 + seed % 1000 * 1000 + i * 10 + k for k in range(2)]
        accounts[acc.id] = acc
        # The API campaign of the business (created by the first PUT bids); the seeded world has
        # one already, holding a third of the catalogue.
        camp = Campaign(
            id=acc.ym_business_id,
            marketplace=Marketplace.YM,
            account_id=acc.id,
            name="Буст продаж (API)",
            kind="BOOST",
            bid_type="api",
            payment_type="CPO",
            status="ACTIVE",
            created_at=start - timedelta(days=30),
            updated_at=start - timedelta(days=1),
            started_at=start - timedelta(days=30),
        )
        for k in range(size.ym_skus):
            subject_id, subject = rng.choice(_SUBJECTS)
            pid = 3_000_000_000 + acc.id * 100_000 + k
            products[pid] = Product(
                id=pid,
                marketplace=Marketplace.YM,
                account_id=acc.id,
                title=f"{subject.capitalize()} {rng.choice(_ADJECTIVES)}",
                subject_id=subject_id,
                subject_name=subject,
                price_kopecks=rng.randrange(300, 15_000) * 100,
                quality=rng.uniform(0.7, 1.3),
                shop_sku=f"SKU-{acc.id:02d}-{k:05d}",
                cluster_ids=rng.sample(ym_clusters, min(2, len(ym_clusters))),
            )
            if k % 3 == 0:
                camp.items[pid] = CampaignItem(pid, bids={"boost": rng.randrange(100, 1500)})
        campaigns[camp.id] = camp

    return World(seed, size, start, brands, accounts, products, clusters, campaigns)
