"""`billing advise` end to end on a CDR file: the hand-computed case of
tests/unit/domain/test_advisor.py, as text, JSON and an HTML page chromium draws."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.formats.advisor_report import MONTHS_CHART, SWEEP_CHART
from shared.formats.svg_chart import PALETTE
from tests.support.browser import chart_boxes, count_colour, screenshot, window_for
from tests.unit.cli.conftest import Billing

CARD = {
    "card": "adv",
    "currency": "USD",
    "rates": [
        {"prefix": "49", "destination": "Germany",
         "tiers": [{"price": "0.0120", "initial": 60, "increment": 60}]},
        {"prefix": "", "destination": "Local in", "direction": "in",
         "tiers": [{"price": "0.0060", "initial": 60, "increment": 60}]},
    ],
}
CDRS = (
    "call_id,direction,callee,start_time,answer_time,end_time,billsec\n"
    # outbound: o1 [10:00:00, 10:02:05), o2 [10:01:00, 10:03:00), o3 [10:02:05, 10:02:30)
    "o1,out,4930111,2026-03-02T10:00:00Z,2026-03-02T10:00:05Z,,120\n"
    "o2,out,4930222,2026-03-02T10:01:00Z,2026-03-02T10:01:10Z,,110\n"
    "o3,out,4930333,2026-03-02T10:02:05Z,,2026-03-02T10:02:30Z,0\n"
    # inbound: i1 [10:02:00, 10:04:02), i2 [10:05:00, 10:06:01)
    "i1,in,4930999000,2026-03-02T10:02:00Z,2026-03-02T10:02:02Z,,120\n"
    "i2,in,4930999000,2026-03-02T10:05:00Z,2026-03-02T10:05:01Z,,60\n"
)
PRICES = ["--outbound-price", "0.02", "--inbound-price", "0.01", "--two-way-price", "0.025"]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    card, cdrs = tmp_path / "adv.json", tmp_path / "traffic.csv"
    card.write_text(json.dumps(CARD))
    cdrs.write_text(CDRS)
    return card, cdrs


def test_advise_names_the_cheaper_model_and_the_difference(
    billing: Billing, files: tuple[Path, Path]
) -> None:
    card, cdrs = files
    run = billing("advise", "--card", card, "--cdrs", cdrs, *PRICES, "--json")
    assert run.code == 0, run.err
    advice = run.summary
    # rated: 0.0240 + 0.0240 + 0 + 0.0120 + 0.0060 = 0.0660 per minute; peaks out 2, in 1,
    # together 3 (touching o1/o3 do not overlap); dedicated 2 × 0.02 + 0.01 = 0.05 beats
    # two-way 3 × 0.025 = 0.075; per channel cheaper by 0.0660 − 0.05 = 0.0160
    assert (advice["per_minute"], advice["per_channel"]) == ("0.0660", "0.05")
    assert (advice["cheaper"], advice["difference"]) == ("per-channel", "0.0160")
    month = advice["months"][0]
    assert (month["peak_outbound"], month["peak_inbound"], month["peak_two_way"]) == (2, 1, 3)
    assert (month["channel_plan"], month["calls"]) == ("dedicated", 5)
    assert advice["break_even_channels"] == 2


def test_advise_text_with_a_minimum_and_html_charts(
    billing: Billing, files: tuple[Path, Path], tmp_path: Path
) -> None:
    card, cdrs = files
    page = tmp_path / "advice.html"
    run = billing("advise", "--card", card, "--cdrs", cdrs, *PRICES, "--minimum", "0.06",
                  "--html", page)
    assert run.code == 0, run.err
    # per minute max(0.0660, 0.06) = 0.0660; per channel max(0.05, 0.06) = 0.06
    assert run.out.splitlines()[0] == (
        "per minute 0.0660 USD, per channel 0.06 USD: "
        "per-channel is cheaper than per-minute by 0.0060 USD"
    )
    html = page.read_text(encoding="utf-8")
    boxes = chart_boxes(html)
    assert set(boxes) == {SWEEP_CHART, MONTHS_CHART}
    width, height = window_for(boxes)
    image = screenshot(page, tmp_path / "advice.png", width=width, height=height)
    # both lines of the sweep and both bars of the month are drawn
    assert count_colour(image, boxes[SWEEP_CHART], PALETTE[0]) > 100
    assert count_colour(image, boxes[SWEEP_CHART], PALETTE[1]) > 100
    assert count_colour(image, boxes[MONTHS_CHART], PALETTE[1]) > 500


def test_advise_needs_channel_prices(billing: Billing, files: tuple[Path, Path]) -> None:
    card, cdrs = files
    run = billing("advise", "--card", card, "--cdrs", cdrs, "--outbound-price", "1")
    assert run.code == 2
    assert run.err.strip() == (
        "billing: error: per-channel pricing needs a two-way channel price, or both an "
        "outbound and an inbound channel price"
    )
    run = billing("advise", "--card", card, "--cdrs", cdrs, "--two-way-price", "lots")
    assert (run.code, run.err.strip()) == (
        2, "billing: error: --two-way-price: 'lots' is not a decimal number"
    )
