"""generate_report against PostgreSQL: what the XLSX and CSV say about a brand with known numbers
(tests/support/report_world.py), read back with openpyxl and the csv module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.clock import moscow_day_start, moscow_today, now_utc
from app.core.config import reset_settings_cache
from app.core.database import session_scope
from app.services.marketing.reports import MAX_REPORT_DAYS, ReportError, ReportRequest, generate_report
from app.services.marketing.reports.data import OPEN_RECOMMENDATION_STATUSES
from app.services.marketing.reports.metrics import DRR_BASIS, INCOMPLETE_DAY
from tests.support.report_files import (
    BOM,
    chart_count,
    csv_rows,
    decimal_comma,
    header,
    table_rows,
    workbook,
)
from tests.support.report_world import ReportWorld, build_report_world

SHEETS = ["Сводка", "По дням", "Кампании", "Ключевые слова", "Ставки", "Рекомендации", "Данные"]
SELLER_COLUMNS = ["Показы", "Клики", "CTR", "CPC", "Расход", "Заказы", "Выручка", "ДРР", "CPO"]


@pytest.fixture
def reports_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "reports"
    monkeypatch.setenv("REPORTS_DIR", str(folder))
    reset_settings_cache()
    yield folder
    monkeypatch.undo()
    reset_settings_cache()


@pytest.fixture
def world(clean_db: None) -> ReportWorld:
    with session_scope() as session:
        return build_report_world(session, moscow_today())


def noon(world: ReportWorld) -> datetime:
    """Generation time: the middle of the world's today."""
    return moscow_day_start(world.today) + timedelta(hours=12)


def make(world: ReportWorld, file_format: str = "xlsx", **fields: Any) -> Path:
    request = ReportRequest(
        brand_id=fields.pop("brand_id", world.brand_id),
        date_from=fields.pop("date_from", world.date_from),
        date_to=fields.pop("date_to", world.today),
        file_format=file_format,
        **fields,
    )
    return generate_report(request, now=noon(world)).path


def rubles(kopecks: int) -> float:
    return kopecks / 100


def test_the_workbook_has_every_sheet_native_charts_and_seller_columns(
    world: ReportWorld, reports_dir: Path
) -> None:
    path = make(world)
    assert path.parent == reports_dir and path.suffix == ".xlsx"
    assert [p.name for p in reports_dir.iterdir()] == [path.name], "no temporary file left beside it"
    book = workbook(path)
    assert book.sheetnames == SHEETS
    assert chart_count(book) >= 3
    days = table_rows(book["По дням"], "Дата")
    headers = list(days[0])
    for name in SELLER_COLUMNS:
        assert any(h.startswith(name) for h in headers), f"{name} missing from {headers}"
    summary = [row[0] for row in book["Сводка"].iter_rows(values_only=True) if row[0]]
    assert DRR_BASIS in summary


def test_each_day_is_its_last_snapshot_and_today_is_marked_incomplete(
    world: ReportWorld, reports_dir: Path
) -> None:
    days = table_rows(workbook(make(world))["По дням"], "Дата")
    assert [row["Дата"].date() for row in days[:-1]] == world.days
    for row, day in zip(days, world.days, strict=False):
        finals = [world.campaign_counters[(key, day)] for key in ("wb_search", "wb_cpc", "ym")]
        # The evening snapshot, not morning + evening (counters are cumulative since midnight).
        assert row["Показы"] == sum(c.views for c in finals)
        assert header(row, "Расход") == pytest.approx(rubles(sum(c.spent for c in finals)))
        assert row["Заказы"] == sum(c.orders for c in finals)
        assert row["День"] == (INCOMPLETE_DAY if day == world.today else "полный")
    total = days[-1]
    assert total["День"] == "Итого"
    spent = sum(c.spent for (key, _), c in world.campaign_counters.items() if key != "other")
    assert header(total, "Расход") == pytest.approx(rubles(spent))


def test_drr_compares_spend_with_ad_revenue_of_wb_and_ozon_only(
    world: ReportWorld, reports_dir: Path
) -> None:
    book = workbook(make(world))
    day = world.days[0]
    wb = [world.campaign_counters[(key, day)] for key in ("wb_search", "wb_cpc")]
    first = table_rows(book["По дням"], "Дата")[0]
    expected = round(sum(c.spent for c in wb) * 100 / sum(c.revenue for c in wb), 2)
    assert header(first, "ДРР") == pytest.approx(expected)
    campaigns = {row["Кампания"]: row for row in table_rows(book["Кампании"], "№")}
    assert header(campaigns["Маркет — буст"], "ДРР") is None, "YM reports no revenue: no DRR"
    assert header(campaigns["Маркет — буст"], "Расход") > 0


def test_campaigns_are_ranked_by_spend_and_other_brands_stay_out(
    world: ReportWorld, reports_dir: Path
) -> None:
    rows = table_rows(workbook(make(world))["Кампании"], "№")
    assert [row["Кампания"] for row in rows] == ["Платья — поиск", "Маркет — буст", "Товар 123456 — CPC"]
    assert [row["№"] for row in rows] == [1, 2, 3]
    assert sum(row["Доля расхода, %"] for row in rows) == pytest.approx(100, abs=0.02)
    top = rows[0]
    finals = [world.campaign_counters[("wb_search", day)] for day in world.days]
    assert top["Клики"] == sum(c.clicks for c in finals)
    assert header(top, "CTR") == pytest.approx(
        round(sum(c.clicks for c in finals) * 100 / sum(c.views for c in finals), 2)
    )
    assert header(top, "CPC") == pytest.approx(
        rubles(round(sum(c.spent for c in finals) / sum(c.clicks for c in finals)))
    )
    assert header(top, "CPO") == pytest.approx(
        rubles(round(sum(c.spent for c in finals) / sum(c.orders for c in finals)))
    )


def test_top_keywords_by_spend_and_by_orders(world: ReportWorld, reports_dir: Path) -> None:
    sheet = workbook(make(world))["Ключевые слова"]
    rows = list(sheet.iter_rows(values_only=True))
    header_rows = [i for i, row in enumerate(rows) if row[0] == "№"]
    assert len(header_rows) == 2
    by_spend = table_rows(sheet, "№", header_rows[0])
    by_orders = table_rows(sheet, "№", header_rows[1])

    def period(word: str, field: str) -> int:
        return sum(getattr(world.keyword_counters[(word, day)], field) for day in world.days)

    words = list({w for w, _ in world.keyword_counters})
    assert [r["Ключ / товар"] for r in by_spend] == sorted(words, key=lambda w: -period(w, "spent"))
    assert [header(r, "Расход") for r in by_spend] == pytest.approx(
        [rubles(period(r["Ключ / товар"], "spent")) for r in by_spend]
    )
    assert [r["Заказы"] for r in by_orders] == sorted((period(w, "orders") for w in words), reverse=True)


def test_bid_changes_show_rubles_and_ym_percent_with_their_reasons(
    world: ReportWorld, reports_dir: Path
) -> None:
    rows = table_rows(workbook(make(world))["Ставки"], "Время (МСК)")
    assert [r["Причина"] for r in rows] == ["поднять вручную", "позиция 5 → цель 3"], (
        "period and brand only, newest first"
    )
    ym, wb = rows
    assert (ym["Было"], ym["Стало"], ym["Единица ставки"], ym["Источник"]) == (
        5.0,
        6.5,
        "% от цены",
        "вручную",
    )
    assert (wb["Было"], wb["Стало"], wb["Единица ставки"]) == (200.0, 220.0, "₽/1000 показов")
    assert wb["Изменение, %"] == pytest.approx(10.0)
    assert wb["Стратегия"] == "целевая позиция"


def test_only_open_recommendations_are_listed_high_priority_first(
    world: ReportWorld, reports_dir: Path
) -> None:
    assert set(OPEN_RECOMMENDATION_STATUSES) == {"pending"}
    rows = table_rows(workbook(make(world))["Рекомендации"], "Создана (МСК)")
    assert [(r["Рекомендация"], r["Приоритет"]) for r in rows] == [
        ("Снизить ставку «платье летнее»", "высокий"),
        ("Проверить товар 123456", "средний"),
    ]
    assert rows[0]["Ключ / товар"] == "платье летнее" and rows[0]["Ожидаемый эффект"] == "−350 ₽ в день"


def test_csv_opens_in_russian_excel(world: ReportWorld, reports_dir: Path) -> None:
    path = make(world, "csv")
    raw, rows = csv_rows(path)
    assert raw.startswith(BOM)
    assert raw[len(BOM) :].decode("utf-8").splitlines()[0].count(";") >= 10
    assert len(rows) == 3 * len(world.days), "one row per (day, campaign) of the brand"
    today = [r for r in rows if r["Дата"] == f"{world.today:%d.%m.%Y}"]
    assert {r["День"] for r in today} == {INCOMPLETE_DAY}
    search = next(r for r in today if r["Кампания"] == "Платья — поиск")
    final = world.campaign_counters[("wb_search", world.today)]
    assert decimal_comma(header(search, "Расход")) == rubles(final.spent)
    assert header(search, "Расход") == f"{final.spent // 100},{final.spent % 100:02d}"
    assert decimal_comma(header(search, "CTR")) == round(final.clicks * 100 / final.views, 2)
    ym = next(r for r in today if r["Маркетплейс"] == "Яндекс Маркет")
    assert header(ym, "ДРР") == ""


def test_an_account_or_a_campaign_narrows_the_report(world: ReportWorld, reports_dir: Path) -> None:
    ym_only = table_rows(workbook(make(world, account_id=world.ym_account_id))["Кампании"], "№")
    assert [r["Кампания"] for r in ym_only] == ["Маркет — буст"]
    one = workbook(make(world, campaign_id=world.campaigns["wb_cpc"]))
    assert [r["Кампания"] for r in table_rows(one["Кампании"], "№")] == ["Товар 123456 — CPC"]
    assert table_rows(one["Ставки"], "Время (МСК)") == []
    assert [r["Рекомендация"] for r in table_rows(one["Рекомендации"], "Создана (МСК)")] == [
        "Проверить товар 123456"
    ]


def test_a_past_period_has_no_incomplete_day_and_days_without_data_say_so(
    world: ReportWorld, reports_dir: Path
) -> None:
    yesterday = world.today - timedelta(days=1)
    days = table_rows(
        workbook(make(world, date_from=world.date_from - timedelta(days=2), date_to=yesterday))["По дням"],
        "Дата",
    )
    assert [r["День"] for r in days] == ["нет данных", "нет данных", "полный", "полный", "полный", "Итого"]
    assert days[0]["Показы"] == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"date_to": "tomorrow"}, "is after today"),
        ({"date_from": "today", "date_to": "yesterday"}, "is after --to"),
        ({"date_from": "too early"}, f"at most {MAX_REPORT_DAYS} days"),
        ({"brand_id": 999_999}, "no brand with id 999999"),
        ({"account_id": "other account"}, "has no account"),
        ({"campaign_id": "other campaign"}, "has no campaign"),
        ({"file_format": "pdf"}, "unknown format 'pdf'; use one of xlsx, csv"),
    ],
)
def test_a_bad_request_is_refused_with_one_line_and_writes_nothing(
    world: ReportWorld, reports_dir: Path, fields: dict[str, Any], message: str
) -> None:
    named = {
        "tomorrow": world.today + timedelta(days=1),
        "today": world.today,
        "yesterday": world.today - timedelta(days=1),
        "too early": world.today - timedelta(days=MAX_REPORT_DAYS),
        "other account": world.wb_account_id + 1000,
        "other campaign": world.campaigns["other"],
    }
    arguments = {
        key: named.get(value, value) if isinstance(value, str) else value for key, value in fields.items()
    }
    file_format = arguments.pop("file_format", "xlsx")
    with pytest.raises(ReportError, match=message) as refused:
        make(world, file_format, **arguments)
    assert "\n" not in str(refused.value)
    assert not reports_dir.exists() or not any(reports_dir.iterdir())


def test_now_defaults_to_the_system_clock(world: ReportWorld, reports_dir: Path) -> None:
    request = ReportRequest(world.brand_id, world.today, world.today, file_format="csv")
    made = generate_report(request)
    assert made.incomplete_day == moscow_today(now_utc())
    assert made.size_bytes == made.path.stat().st_size > len(BOM)
