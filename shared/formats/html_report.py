"""A small builder for self-contained HTML report pages: escaped text, tables, sections and
inline-SVG charts (:mod:`shared.formats.svg_chart`), one file with no external asset, so a
report opens offline and can be attached to a ticket as it is.

Charts go to a panel at the top of the page with a fixed layout: the header has a fixed
height and each chart sits at an absolute position below it, one per row. So the page
coordinates of every chart are known before any browser draws it; each slot carries them in
``data-box="x,y,width,height"`` (CSS pixels from the page's top left corner), which is how a
screenshot test finds the chart regions to check. :meth:`HtmlReport.chart_boxes` returns the
same boxes in-process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from string import Template

from shared.formats.svg_chart import Chart

HEADER_HEIGHT = 72  # px: the title and subtitle band, clipped to this height
PAGE_PADDING = 16  # px: left margin of the page, and the gap between charts
_STYLE = Template("""
body{margin:0;font-family:sans-serif;color:#1a202c;background:#ffffff;font-size:14px}
header{height:${header}px;box-sizing:border-box;padding:10px ${pad}px;overflow:hidden;
 border-bottom:1px solid #e2e8f0}
header h1{margin:0;font-size:22px;line-height:30px;white-space:nowrap}
header p{margin:4px 0 0;color:#4a5568;white-space:nowrap}
.charts{position:relative}
.chart-slot{position:absolute;overflow:hidden}
main{padding:0 ${pad}px ${pad}px}
h2{font-size:18px;margin:24px 0 8px}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #cbd5e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:8px;overflow:auto}
""").substitute(header=HEADER_HEIGHT, pad=PAGE_PADDING)


@dataclass(frozen=True, slots=True)
class ChartBox:
    """Where a chart is drawn on the page, in CSS pixels from the top left corner."""

    chart_id: str
    x: int
    y: int
    width: int
    height: int


class HtmlReport:
    """Collects a page's parts in order and renders them once; every text is escaped."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self._title = title
        self._subtitle = subtitle
        self._charts: list[tuple[Chart, ChartBox]] = []
        self._body: list[str] = []

    def add_chart(self, chart: Chart) -> ChartBox:
        """Places a chart in the top panel, below the previous one; returns its page box."""
        if any(placed.chart_id == chart.chart_id for placed, _ in self._charts):
            raise ValueError(f"chart id {chart.chart_id!r} is used twice on one page")
        above = sum(placed.height + PAGE_PADDING for placed, _ in self._charts)
        y = HEADER_HEIGHT + PAGE_PADDING + above
        box = ChartBox(chart.chart_id, PAGE_PADDING, y, chart.width, chart.height)
        self._charts.append((chart, box))
        return box

    def chart_boxes(self) -> list[ChartBox]:
        return [box for _, box in self._charts]

    def section(self, heading: str) -> None:
        self._body.append(f"<h2>{_e(heading)}</h2>")

    def paragraph(self, text: str) -> None:
        self._body.append(f"<p>{_e(text)}</p>")

    def bullet_list(self, items: Iterable[str], *, ordered: bool = False) -> None:
        tag = "ol" if ordered else "ul"
        inner = "".join(f"<li>{_e(item)}</li>" for item in items)
        self._body.append(f"<{tag}>{inner}</{tag}>")

    def preformatted(self, text: str) -> None:
        self._body.append(f"<pre>{_e(text)}</pre>")

    def table(
        self,
        headers: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        numeric: Iterable[int] = (),
        table_id: str | None = None,
    ) -> None:
        """A table of text cells; columns listed in ``numeric`` are right-aligned."""
        right = set(numeric)
        head = "".join(f"<th>{_e(h)}</th>" for h in headers)
        lines = [f"<table{_id(table_id)}><thead><tr>{head}</tr></thead><tbody>"]
        for row in rows:
            if len(row) != len(headers):
                raise ValueError(f"table row has {len(row)} cells for {len(headers)} headers")
            cells = "".join(
                f'<td class="num">{_e(c)}</td>' if i in right else f"<td>{_e(c)}</td>"
                for i, c in enumerate(row)
            )
            lines.append(f"<tr>{cells}</tr>")
        lines.append("</tbody></table>")
        self._body.append("\n".join(lines))

    def render(self) -> str:
        slots = [
            f'<div class="chart-slot" data-chart="{_e(box.chart_id)}"'
            f' data-box="{box.x},{box.y},{box.width},{box.height}"'
            f' style="left:{box.x}px;top:{box.y - HEADER_HEIGHT}px;width:{box.width}px;'
            f'height:{box.height}px">\n{chart.markup}\n</div>'
            for chart, box in self._charts
        ]
        panel = (
            f'<div class="charts" style="height:{self._panel_height()}px">\n'
            + "\n".join(slots)
            + "\n</div>"
            if slots
            else ""
        )
        subtitle = f"<p>{_e(self._subtitle)}</p>" if self._subtitle else ""
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{_e(self._title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<header><h1>{_e(self._title)}</h1>{subtitle}</header>\n"
            f"{panel}\n<main>\n" + "\n".join(self._body) + "\n</main>\n</body>\n</html>\n"
        )

    def _panel_height(self) -> int:
        """Height of the chart panel: every chart with a gap above it and one at the end."""
        if not self._charts:
            return 0
        return sum(chart.height + PAGE_PADDING for chart, _ in self._charts) + PAGE_PADDING


def _id(table_id: str | None) -> str:
    return f' id="{_e(table_id)}"' if table_id else ""


def _e(text: str) -> str:
    return escape(text, quote=True)
