"""`billing breakout`: ASR, ACD, minutes, cost and margin of a small set of calls, by hand;
offline from a CDR file and on the local stack; CSV and an HTML page chromium draws."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from shared.cli.main import main
from shared.formats.breakout_report import COST_CHART, DAILY_CHART
from shared.formats.svg_chart import PALETTE
from shared.local.stack import LocalStack
from tests.integration.stack_helpers import (
    add_prepaid_tenant,
    last_json,
    rate_dropped_file,
    state_dir_for,
)
from tests.support.browser import chart_boxes, count_colour, count_ink, screenshot, window_for


def _card(name: str, germany: dict[str, Any], uk: dict[str, Any]) -> dict[str, Any]:
    return {
        "card": name,
        "currency": "USD",
        "rates": [
            {"prefix": "49", "destination": "Germany", "tiers": [germany]},
            {"prefix": "44", "destination": "United Kingdom", "tiers": [uk]},
        ],
    }


SELL = _card(
    "bo-sell",
    {"price": "0.0120", "initial": 60, "increment": 6},
    {"price": "0.0300", "initial": 60, "increment": 60},
)
BUY = _card(
    "bo-buy",
    {"price": "0.0060", "initial": 1, "increment": 1},
    {"price": "0.0200", "initial": 60, "increment": 60},
)
CDRS = (
    "call_id,callee,start_time,answer_time,billsec\n"
    # Germany, 2 Mar: 75 s sells 78 s × 0.012/60 = 0.0156, buys 75 s × 0.006/60 = 0.0075
    "a1,4930111,2026-03-02T10:00:00Z,2026-03-02T10:00:05Z,75\n"
    # 30 s sells the 60 s minimum = 0.0120, buys 30 s = 0.0030
    "a2,4930222,2026-03-02T11:00:00Z,2026-03-02T11:00:05Z,30\n"
    "a3,4930333,2026-03-02T12:00:00Z,,0\n"
    # UK, 2 Mar: 90 s → 120 s: sells 0.0600, buys 0.0400
    "a4,442071234567,2026-03-02T13:00:00Z,2026-03-02T13:00:05Z,90\n"
    # Germany, 3 Mar: 121 s sells 126 s × 0.012/60 = 0.0252, buys 121 s = 0.0121
    "b1,4930444,2026-03-03T10:00:00Z,2026-03-03T10:00:05Z,121\n"
    "b2,442071234568,2026-03-03T11:00:00Z,,0\n"
)
# day, destination, attempts, answered, ASR %, ACD s, minutes, cost, buy, margin, margin %
EXPECTED = [
    # 2 of 3 answered = 66.67 %; 78 + 60 = 138 s / 2 = 69.0 s, 2.300 min;
    # 0.0156 + 0.0120 = 0.0276 sell, 0.0075 + 0.0030 = 0.0105 buy, margin 0.0171 = 61.96 %
    ["2026-03-02", "Germany", "3", "2", "66.67", "69.0", "2.300", "0.0276", "0.0105",
     "0.0171", "61.96", "0", "USD"],
    # 0.0200 / 0.0600 = 33.33 %
    ["2026-03-02", "United Kingdom", "1", "1", "100.00", "120.0", "2.000", "0.0600", "0.0400",
     "0.0200", "33.33", "0", "USD"],
    # 0.0131 / 0.0252 = 51.98 %
    ["2026-03-03", "Germany", "1", "1", "100.00", "126.0", "2.100", "0.0252", "0.0121",
     "0.0131", "51.98", "0", "USD"],
    # nothing answered: no ACD, no margin % (nothing sold)
    ["2026-03-03", "United Kingdom", "1", "0", "0.00", "", "0.000", "0", "0", "0", "", "0",
     "USD"],
]


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    sell, buy, cdrs = tmp_path / "bo-sell.json", tmp_path / "bo-buy.json", tmp_path / "bo.csv"
    sell.write_text(json.dumps(SELL))
    buy.write_text(json.dumps(BUY))
    cdrs.write_text(CDRS)
    return sell, buy, cdrs


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_offline_breakout_with_margin_matches_the_hand_computation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sell, buy, cdrs = _files(tmp_path)
    out = tmp_path / "breakout.csv"
    assert main(["breakout", "--cdrs", str(cdrs), "--card", str(sell), "--buy-card", str(buy),
                 "--csv", str(out), "--json"]) == 0
    header, *rows = _csv_rows(out)
    assert header == [
        "day", "destination", "attempts", "answered", "asr_pct", "acd_s", "billed_minutes",
        "cost", "buy_cost", "margin", "margin_pct", "buy_unrated", "currency",
    ]
    assert rows == EXPECTED
    printed = last_json(capsys)
    assert printed[0]["margin"] == "0.0171" and printed[3]["acd"] is None


def test_offline_breakout_without_a_buy_card_has_no_margin_columns(tmp_path: Path) -> None:
    sell, _buy, cdrs = _files(tmp_path)
    out = tmp_path / "breakout.csv"
    assert main(["breakout", "--cdrs", str(cdrs), "--card", str(sell), "--csv", str(out),
                 "--from", "2026-03-03"]) == 0
    header, *rows = _csv_rows(out)
    assert header[-2:] == ["cost", "currency"]
    assert [row[:2] for row in rows] == [["2026-03-03", "Germany"],
                                         ["2026-03-03", "United Kingdom"]]


def test_breakout_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sell, _buy, _cdrs = _files(tmp_path)
    assert main(["breakout", "--card", str(sell)]) == 2
    assert capsys.readouterr().err.strip() == (
        "billing: error: offline breakout needs both --cdrs and --card"
    )


@pytest.mark.parametrize(("days", "message"), [
    # offline, --from/--to were compared as text: an impossible date, another spelling or a
    # range the wrong way round printed an empty or wrong report and exit 0
    (["--from", "2026-02-30"], "--from: '2026-02-30' is not a date (expected YYYY-MM-DD)"),
    (["--to", "03/03/2026"], "--to: '03/03/2026' is not a date (expected YYYY-MM-DD)"),
    (["--from", "2026-03-03", "--to", "2026-03-02"], "--to 2026-03-02 is before --from 2026-03-03"),
])
def test_offline_breakout_bad_days_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], days: list[str], message: str
) -> None:
    sell, _buy, cdrs = _files(tmp_path)
    assert main(["breakout", "--cdrs", str(cdrs), "--card", str(sell), *days]) == 2
    assert capsys.readouterr().err.strip() == f"billing: error: {message}"


def test_offline_breakout_reads_a_day_in_iso_basic_form_as_that_day(tmp_path: Path) -> None:
    # 20260303 is 2026-03-03 (ISO 8601 basic form): as text it sorted after every day
    sell, _buy, cdrs = _files(tmp_path)
    out = tmp_path / "breakout.csv"
    assert main(["breakout", "--cdrs", str(cdrs), "--card", str(sell), "--csv", str(out),
                 "--from", "20260303"]) == 0
    _header, *rows = _csv_rows(out)
    assert [row[:2] for row in rows] == [["2026-03-03", "Germany"],
                                         ["2026-03-03", "United Kingdom"]]


@pytest.mark.integration
def test_local_breakout_with_margin_csv_and_html_charts(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    flags = ["--state-dir", str(state_dir)]
    sell, buy, cdrs = _files(tmp_path)
    # Given the calls rated on the local stack with the sell card
    add_prepaid_tenant(state_dir, sell, tenant="bo-t", card="bo-sell", currency="USD",
                       credit="10.00")
    rate_dropped_file(local_stack, state_dir, "bo-t", cdrs)
    capsys.readouterr()
    # When the breakout is asked with the buy card, as CSV and HTML
    out, page = tmp_path / "local.csv", tmp_path / "local.html"
    assert main(["breakout", "--tenant", "bo-t", "--buy-card", str(buy), "--csv", str(out),
                 "--html", str(page), *flags]) == 0
    # Then the figures are the hand-computed ones, from the stored breakouts and calls
    assert _csv_rows(out)[1:] == EXPECTED
    text = capsys.readouterr().out
    assert "66.67" in text and "61.96" in text
    # and chromium draws both charts where the page says they are
    html = page.read_text(encoding="utf-8")
    boxes = chart_boxes(html)
    assert set(boxes) == {COST_CHART, DAILY_CHART}
    width, height = window_for(boxes)
    image = screenshot(page, tmp_path / "local.png", width=width, height=height)
    assert count_colour(image, boxes[COST_CHART], PALETTE[0]) > 500  # sell-cost bars
    assert count_colour(image, boxes[COST_CHART], PALETTE[2]) > 200  # margin bars
    assert count_colour(image, boxes[DAILY_CHART], PALETTE[0]) > 100  # the minutes line
    assert count_ink(image, boxes[DAILY_CHART]) > 1000
