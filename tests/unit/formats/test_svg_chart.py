"""Inline-SVG charts: scale, bars above and below zero, lines, escaping and determinism."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from shared.formats.svg_chart import NEGATIVE_COLOUR, PALETTE, Series, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _bars(markup: str) -> list[ET.Element]:
    return [el for el in _parse(markup).iter(f"{SVG}rect") if el.get("class") == "bar"]


def test_bar_chart_places_positive_bars_above_and_negative_below_the_zero_line() -> None:
    # Given values 1.5, -2.25 and 0 in a 720×300 chart
    chart = bar_chart(
        "daily",
        "Daily",
        ["d1", "d2", "d3"],
        [Series("cost", [Decimal("1.5"), Decimal("-2.25"), 0])],
    )
    # Then the axis runs from -3 to 2 in steps of 1 (span 3.75 / 5 = 0.75 → step 1), so the
    # plot area (300 - 40 top - 56 bottom = 204 px) has 40.8 px per unit and zero at
    # y = 40 + 2 × 40.8 = 121.6
    figure = _parse(chart.markup)
    assert figure.tag == "figure" and figure.get("id") == "daily"
    assert figure.get("class") == "chart"
    ticks = [el.text for el in figure.iter(f"{SVG}text") if el.get("class") == "tick"]
    assert ticks == ["-3", "-2", "-1", "0", "1", "2"]
    up, down, zero = _bars(chart.markup)
    assert up.get("y") == "60.4" and up.get("height") == "61.2"  # 121.6 - 1.5 × 40.8
    assert up.get("fill") == PALETTE[0]
    assert down.get("y") == "121.6" and down.get("height") == "91.8"  # 2.25 × 40.8
    assert down.get("fill") == NEGATIVE_COLOUR
    assert zero.get("height") == "0"
    # each slot is (720 - 72 - 16) / 3 = 210.67 px wide; the bar is 80 % of it: 168.5 px
    assert up.get("width") == "168.5"
    assert [b.get("data-value") for b in (up, down, zero)] == ["1.5", "-2.25", "0"]


def test_grouped_bars_take_one_colour_per_series_with_a_legend() -> None:
    chart = bar_chart(
        "g", "Grouped", ["a", "b"], [Series("ours", [1, 2]), Series("theirs", [2, -1])]
    )
    fills = [b.get("fill") for b in _bars(chart.markup)]
    assert fills == [PALETTE[0], PALETTE[0], PALETTE[1], PALETTE[1]]
    legend = [
        el.text for el in _parse(chart.markup).iter(f"{SVG}text") if el.get("class") == "legend"
    ]
    assert legend == ["ours", "theirs"]


def test_line_chart_draws_one_polyline_per_series_and_skips_gaps() -> None:
    chart = line_chart("hourly", "Hourly", ["00", "01", "02"], [Series("calls", [0, None, 10])])
    figure = _parse(chart.markup)
    (line,) = list(figure.iter(f"{SVG}polyline"))
    # scale 0..10 step 2; slot (632 / 3) → x at 72 + 105.33 = 177.3 and 72 + 526.67 = 598.7;
    # y of 0 is 40 + 204 = 244, y of 10 is 40
    assert line.get("points") == "177.3,244 598.7,40"
    assert len(list(figure.iter(f"{SVG}circle"))) == 2


def test_text_is_escaped_and_output_is_deterministic() -> None:
    def draw() -> str:
        return bar_chart(
            "x", 'A <b>&"title"', ["<script>"], [Series("s&s", [Decimal("0.1")])]
        ).markup

    markup = draw()
    assert "<script>" not in markup and "<b>" not in markup
    assert "&lt;script&gt;" in markup and "&amp;" in markup
    assert draw() == markup
    _parse(markup)  # well-formed XML


def test_an_empty_chart_says_no_data() -> None:
    chart = bar_chart("e", "Empty", [], [])
    texts = [el.text for el in _parse(chart.markup).iter(f"{SVG}text")]
    assert "no data" in texts


def test_many_labels_are_thinned_so_they_do_not_overlap() -> None:
    # 31 day labels of 10 characters: 78 px each at 7 px a character plus 8, slots 20.4 px
    labels = [f"2026-03-{d:02d}" for d in range(1, 32)]
    chart = bar_chart("m", "Month", labels, [Series("n", [1] * 31)])
    shown = [
        el.text for el in _parse(chart.markup).iter(f"{SVG}text") if el.get("class") == "x-tick"
    ]
    # every ceil(78 / 20.39) = 4th label: days 1, 5, 9, … 29
    assert shown == [f"2026-03-{d:02d}" for d in range(1, 32, 4)]


@pytest.mark.parametrize(
    ("chart_id", "labels", "values", "message"),
    [
        ("two words", ["a"], [1], "one word"),
        ("ok", ["a", "b"], [1], "1 values for 2 labels"),
    ],
)
def test_a_chart_that_cannot_be_drawn_says_why(
    chart_id: str, labels: list[str], values: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        bar_chart(chart_id, "t", labels, [Series("s", values)])
