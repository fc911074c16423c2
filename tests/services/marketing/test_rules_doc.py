"""docs/strategies.md §5 shows each marketplace's bid rules as the code has them
(app/services/marketing/adapters/*_rules.py): a changed rule fails here until the docs follow."""

from __future__ import annotations

from pathlib import Path

from app.core.marketplaces import Marketplace
from app.services.marketing.adapters.rules import rules_for

DOC = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"
CAMPAIGNS = {
    Marketplace.WB: {
        "kopecks_per_1000_views": "type 9, unified or manual, cpm",
        "kopecks_per_click": "type 9, unified or manual, cpc",
    },
    Marketplace.OZON: {
        "kopecks_per_1000_views": "product (SKU), CPM",
        "kopecks_per_click": "product (SKU), CPC",
    },
    Marketplace.YM: {"percent_of_price_x100": "sales boost"},
}


def unit_rows() -> list[str]:
    rows = []
    for marketplace, campaigns in CAMPAIGNS.items():
        rules = rules_for(marketplace)
        for unit, limits in rules.units.items():
            rows.append(
                f"| {marketplace.display_name} | {campaigns[unit.value]} | `{unit.value}` ({unit.label}) "
                f"| {unit.bid(limits.default_min)!s} | {unit.bid(limits.max)!s} "
                f"| {unit.bid(limits.step)!s} | {rules.min_change(unit)!s} |"
            )
    return rows


def behaviour_rows() -> list[str]:
    rows = []
    for marketplace in CAMPAIGNS:
        rules = rules_for(marketplace)
        delay = int(rules.apply_delay.total_seconds())
        lag = int(rules.order_attribution_lag.total_seconds() // 3600)
        rows.append(
            f"| {marketplace.display_name} | {delay} s | {'yes' if rules.reports_revenue else 'no'} "
            f"| `{rules.campaign_pause.value}` | {', '.join(f'`{rules.keyword_pause(k).value}` ({k})' for k in ('cluster', 'nm', 'sku') if k in KINDS[marketplace])} "
            f"| {lag} h |"
        )
    return rows


KINDS = {Marketplace.WB: ("cluster", "nm"), Marketplace.OZON: ("sku",), Marketplace.YM: ("sku",)}


def test_the_rules_tables_match_the_rules() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [row for row in unit_rows() + behaviour_rows() if row not in text]
    assert not missing, "docs/strategies.md §5 should have these rows:\n" + "\n".join(missing)
