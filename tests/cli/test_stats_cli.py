"""`adolf-marketing aggregate` and `adolf-marketing retention` as a user runs them (issue 15 item 4)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.clock import moscow_today, now_utc
from tests.cli.test_cli import assert_one_line_error, cli
from tests.services.marketing.stats_data import Counters, moscow_midnight, seed_campaigns, write_snapshot

TODAY = moscow_today(now_utc())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "2026-13-01", "--to", "2026-12-01"],
            "--from '2026-13-01' is not a date; write it as YYYY-MM-DD",
        ),
        (
            ["--from", "2026-11-10", "--to", "2026-11-01"],
            "--to 2026-11-01 is before --from 2026-11-10; swap them",
        ),
        (
            ["--from", str(TODAY), "--to", str(TODAY + timedelta(days=1))],
            f"is in the future; the last day to aggregate is today in Moscow, {TODAY}",
        ),
        (
            ["--from", "2010-01-01", "--to", "2020-12-31"],
            "4018 days asked, at most 3660 at once; split the range",
        ),
    ],
)
def test_aggregate_refuses_bad_ranges_in_one_line(args: list[str], message: str) -> None:
    assert_one_line_error(cli("aggregate", *args), message)


def test_aggregate_backfills_a_range_and_retention_shows_the_tables(clean_db: None) -> None:
    campaign = seed_campaigns(1).campaign_ids[0]
    days = [TODAY - timedelta(days=back) for back in (3, 2)]
    for day in days:
        write_snapshot(campaign, None, moscow_midnight(day) + timedelta(hours=9), Counters(views=5))
        write_snapshot(campaign, None, moscow_midnight(day) + timedelta(hours=21), Counters(views=9))

    result = cli("aggregate", "--from", str(days[0]), "--to", str(TODAY))

    assert result.returncode == 0, result.stderr
    assert f"aggregated {days[0]}..{TODAY}: 4 days, 2 daily rows" in result.stdout
    assert "aggregated" in result.stderr  # the progress bar
    again = cli("aggregate", "--from", str(days[0]), "--to", str(TODAY))
    assert "0 daily rows and 0 monthly rows written" in again.stdout

    report = cli("retention")
    assert report.returncode == 0, report.stderr
    [stats] = [line for line in report.stdout.splitlines() if "marketing_stats " in line]
    assert "30 days" in stats and " 4 " in stats and str(days[0]) in stats
    assert "not yet aggregated" not in stats  # (other tests may leave empty old partitions behind)
    for table in (
        "marketing_stats_daily",
        "marketing_stats_monthly",
        "marketing_bid_history",
        "marketing_alerts",
    ):
        assert table in report.stdout
    assert "next cleanup_old_stats:" in report.stdout
