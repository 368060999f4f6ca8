"""The HTML report page: escaping, tables, and the fixed chart layout screenshot tests rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.formats.html_report import HEADER_HEIGHT, PAGE_PADDING, HtmlReport
from shared.formats.svg_chart import NEGATIVE_COLOUR, PALETTE, Series, bar_chart, line_chart
from tests.support.browser import chart_boxes, count_colour, count_ink, screenshot, window_for


def _page() -> HtmlReport:
    page = HtmlReport("Report <1>", "a & b")
    page.add_chart(bar_chart("first", "First", ["a", "b"], [Series("n", [2, -1])], height=200))
    page.add_chart(line_chart("second", "Second", ["a", "b"], [Series("n", [1, 3])]))
    return page


def test_charts_are_stacked_at_known_page_positions() -> None:
    page = _page()
    first, second = page.chart_boxes()
    # the first chart starts one padding below the header, the second one padding below it
    assert (first.x, first.y, first.width, first.height) == (16, 72 + 16, 720, 200)
    assert (second.x, second.y) == (16, 72 + 16 + 200 + 16)
    assert HEADER_HEIGHT == 72 and PAGE_PADDING == 16
    # the rendered page carries the same boxes for a test that only has the file
    boxes = chart_boxes(page.render())
    assert boxes["first"].y == 88 and boxes["second"].y == 304


def test_text_and_cells_are_escaped_and_nothing_is_loaded_from_outside() -> None:
    page = HtmlReport("<t>")
    page.section("S & S")
    page.paragraph("<img src=x onerror=alert(1)>")
    page.table(["h<"], [["=1+2<"]], numeric=[0])
    html = page.render()
    assert "<img" not in html and "&lt;img src=x" in html
    assert '<td class="num">=1+2&lt;</td>' in html
    assert "<h2>S &amp; S</h2>" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html


def test_a_table_row_of_the_wrong_width_and_a_repeated_chart_id_are_errors() -> None:
    page = HtmlReport("t")
    with pytest.raises(ValueError, match="2 cells for 1 headers"):
        page.table(["a"], [["1", "2"]])
    page.add_chart(bar_chart("c", "c", ["a"], [Series("n", [1])]))
    with pytest.raises(ValueError, match="used twice"):
        page.add_chart(bar_chart("c", "c", ["a"], [Series("n", [1])]))


def test_headless_chromium_draws_the_charts_where_the_page_says(tmp_path: Path) -> None:
    # Given a page with a bar chart (2 up, -1 down) and a line chart
    html_file = tmp_path / "page.html"
    html_file.write_text(_page().render(), encoding="utf-8")
    boxes = chart_boxes(html_file.read_text(encoding="utf-8"))
    width, height = window_for(boxes)
    # When chromium renders it
    image = screenshot(html_file, tmp_path / "page.png", width=width, height=height)
    # Then the first chart shows both bar colours. Its scale is -1..2 with step 1 (span 3 / 5
    # = 0.6 → 1) over 200 - 96 = 104 px, so 34.67 px a unit; each bar is 80 % of a 316 px slot
    # (252.8 px): the blue bar 2 × 34.67 × 252.8 ≈ 17,530 px, the red one about 8,765 px
    first = boxes["first"]
    blue, red = count_colour(image, first, PALETTE[0]), count_colour(image, first, NEGATIVE_COLOUR)
    assert 16_500 < blue < 18_000
    assert 8_200 < red < 9_300
    # and the line chart region has ink (axes, text, the line), while the gap between the
    # header and the first chart is blank
    assert count_colour(image, boxes["second"], PALETTE[0]) > 300
    gap = type(first)("gap", 16, 73, 720, 14)
    assert count_ink(image, gap) == 0
