"""Inline-SVG charts for the HTML reports: bar charts (negative values go below the axis) and
line charts, as text with no script, font file or other external asset.

Reports are opened offline, attached to tickets and compared across runs, so a chart is a
pure function of its data: the same data gives the same bytes (coordinates are computed in
``Decimal`` and printed to 0.1 px, colours come from a fixed palette). Values are ``Decimal``
or ``int``, never float, so a chart of money shows exactly the amounts of the report.

Every chart is wrapped in ``<figure id="<chart_id>" class="chart">`` of a fixed pixel size:
tests and the page builder (:mod:`shared.formats.html_report`) locate it by id, and a
headless browser's screenshot of it can be checked at a known place. Each bar or point
carries ``data-label`` and ``data-value`` attributes and a ``<title>`` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from html import escape

Number = Decimal | int

#: series colours in order; bars below zero of a single-series chart use NEGATIVE_COLOUR
PALETTE: tuple[str, ...] = ("#2b6cb0", "#dd6b20", "#2f855a", "#805ad5", "#b7791f", "#319795")
NEGATIVE_COLOUR = "#c53030"
_AXIS_COLOUR = "#4a5568"
_GRID_COLOUR = "#e2e8f0"
_TEXT_COLOUR = "#1a202c"
_FONT = "font-family:sans-serif"

# plot margins inside the chart: room for the title, tick labels and axis labels
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 16, 40, 56
_CHAR_PX = 7  # rough width of one 11 px label character, to space out the x labels
_TENTH = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of values, one per category label; ``None`` leaves a gap."""

    name: str
    values: Sequence[Number | None]
    colour: str | None = None
    #: colour of this series' bars below zero (bar charts); default: the series colour, or
    #: NEGATIVE_COLOUR when the chart has a single series without colours of its own
    negative_colour: str | None = None


@dataclass(frozen=True, slots=True)
class Chart:
    """A rendered chart: its element id, its fixed size in CSS pixels, and its markup."""

    chart_id: str
    width: int
    height: int
    markup: str


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str = "",
    y_label: str = "",
    width: int = 720,
    height: int = 300,
) -> Chart:
    """Grouped bars per label; bars of negative values hang below the zero line."""
    scale, parts = _plot(chart_id, title, labels, series, width, height, x_label, y_label)
    if labels and series:
        slot = _slot(labels, width)
        group = slot * Decimal("0.8")
        bar_w = group / len(series)
        zero_y = scale.y(Decimal(0))
        for s_index, one in enumerate(series):
            up, down = _colours(one, s_index, len(series))
            for index, (label, value) in enumerate(zip(labels, one.values, strict=True)):
                if value is None:
                    continue
                amount = Decimal(value)
                x = _LEFT + slot * index + (slot - group) / 2 + bar_w * s_index
                y_value = scale.y(amount)
                top, bottom = min(y_value, zero_y), max(y_value, zero_y)
                fill = up if amount >= 0 else down
                parts.append(_datum(
                    "rect",
                    f'class="bar" x="{_px(x)}" y="{_px(top)}" width="{_px(bar_w)}"'
                    f' height="{_px(max(bottom - top, _TENTH) if amount else 0)}" fill="{fill}"',
                    one.name, label, amount,
                ))
    parts.extend(_legend(series, width))
    return _wrap(chart_id, title, width, height, parts)


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str = "",
    y_label: str = "",
    width: int = 720,
    height: int = 300,
) -> Chart:
    """One polyline per series over the labels, with a dot at each value."""
    scale, parts = _plot(chart_id, title, labels, series, width, height, x_label, y_label)
    if labels and series:
        slot = _slot(labels, width)
        for s_index, one in enumerate(series):
            colour, _ = _colours(one, s_index, len(series))
            points: list[str] = []
            dots: list[str] = []
            for index, (label, value) in enumerate(zip(labels, one.values, strict=True)):
                if value is None:
                    continue
                amount = Decimal(value)
                x, y = _LEFT + slot * index + slot / 2, scale.y(amount)
                points.append(f"{_px(x)},{_px(y)}")
                dots.append(_datum(
                    "circle",
                    f'class="point" cx="{_px(x)}" cy="{_px(y)}" r="3" fill="{colour}"',
                    one.name, label, amount,
                ))
            if points:
                parts.append(
                    f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2"'
                    f' data-series="{_e(one.name)}" points="{" ".join(points)}"/>'
                )
            parts.extend(dots)
    parts.extend(_legend(series, width))
    return _wrap(chart_id, title, width, height, parts)


@dataclass(frozen=True, slots=True)
class _Scale:
    """Maps values to y pixels over a range widened to round tick steps (1, 2 or 5 × 10ⁿ)."""

    low: Decimal
    high: Decimal
    step: Decimal
    height: int

    @classmethod
    def fit(cls, values: Sequence[Decimal], height: int) -> _Scale:
        low = min([Decimal(0), *values])
        high = max([Decimal(0), *values])
        if low == high:
            return cls(Decimal(0), Decimal(1), Decimal("0.2"), height)
        step = _nice_step((high - low) / 5)
        low = (low / step).to_integral_value(ROUND_FLOOR) * step
        high = (high / step).to_integral_value(ROUND_CEILING) * step
        return cls(low, high, step, height)

    def y(self, value: Decimal) -> Decimal:
        plot_h = Decimal(self.height - _TOP - _BOTTOM)
        return _TOP + (self.high - value) / (self.high - self.low) * plot_h

    def ticks(self) -> list[Decimal]:
        count = int((self.high - self.low) / self.step)
        return [self.low + self.step * i for i in range(count + 1)]


def _nice_step(raw: Decimal) -> Decimal:
    """The smallest of 1, 2, 5 × 10ⁿ that is at least ``raw`` (so about five ticks)."""
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10  # pragma: no cover - the loop always returns


def _plot(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    width: int,
    height: int,
    x_label: str,
    y_label: str,
) -> tuple[_Scale, list[str]]:
    """What every chart starts with, once its input is checked: the y scale its values fit
    and the frame drawn on it."""
    _check(chart_id, labels, series, width, height)
    scale = _Scale.fit(_values(series), height)
    return scale, _frame(title, labels, scale, width, height, x_label, y_label)


def _slot(labels: Sequence[str], width: int) -> Decimal:
    """The width of each label's column of the plot (there is at least one label)."""
    return Decimal(width - _LEFT - _RIGHT) / len(labels)


def _datum(tag: str, attributes: str, series: str, label: str, amount: Decimal) -> str:
    """One drawn value: the element with the ``data-*`` attributes tests and readers find it
    by, and its ``<title>`` tooltip."""
    value = _e(_number(amount))
    return (
        f'<{tag} {attributes} data-series="{_e(series)}" data-label="{_e(label)}"'
        f' data-value="{value}"><title>{_e(label)}: {value}</title></{tag}>'
    )


def _frame(
    title: str,
    labels: Sequence[str],
    scale: _Scale,
    width: int,
    height: int,
    x_label: str,
    y_label: str,
) -> list[str]:
    """Background, title, y grid with tick labels, zero axis, x labels and axis titles."""
    right, bottom = width - _RIGHT, height - _BOTTOM
    parts = [
        f'<rect class="background" x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text class="chart-title" x="{width // 2}" y="22" text-anchor="middle"'
        f' style="{_FONT};font-size:15px;font-weight:bold" fill="{_TEXT_COLOUR}">'
        f"{_e(title)}</text>",
    ]
    for tick in scale.ticks():
        y = _px(scale.y(tick))
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y}" x2="{right}" y2="{y}"'
            f' stroke="{_GRID_COLOUR}" stroke-width="1"/>'
        )
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y}" text-anchor="end"'
            f' dominant-baseline="middle" style="{_FONT};font-size:11px"'
            f' fill="{_TEXT_COLOUR}">{_e(_number(tick))}</text>'
        )
    zero = _px(scale.y(Decimal(0)))
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{zero}" x2="{right}" y2="{zero}"'
        f' stroke="{_AXIS_COLOUR}" stroke-width="1"/>'
    )
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}"'
        f' stroke="{_AXIS_COLOUR}" stroke-width="1"/>'
    )
    if labels:
        slot = _slot(labels, width)
        longest = max(len(label) for label in labels)
        every = max(1, math.ceil((longest * _CHAR_PX + 8) / slot))
        for index, label in enumerate(labels):
            if index % every:
                continue
            x = _px(_LEFT + slot * index + slot / 2)
            parts.append(
                f'<text class="x-tick" x="{x}" y="{bottom + 16}" text-anchor="middle"'
                f' style="{_FONT};font-size:11px" fill="{_TEXT_COLOUR}">{_e(label)}</text>'
            )
    else:
        parts.append(
            f'<text class="empty" x="{width // 2}" y="{height // 2}" text-anchor="middle"'
            f' style="{_FONT};font-size:13px" fill="{_AXIS_COLOUR}">no data</text>'
        )
    if x_label:
        parts.append(
            f'<text class="x-label" x="{(_LEFT + right) // 2}" y="{height - 10}"'
            f' text-anchor="middle" style="{_FONT};font-size:12px" fill="{_TEXT_COLOUR}">'
            f"{_e(x_label)}</text>"
        )
    if y_label:
        middle = (_TOP + bottom) // 2
        parts.append(
            f'<text class="y-label" x="14" y="{middle}" text-anchor="middle"'
            f' transform="rotate(-90 14 {middle})" style="{_FONT};font-size:12px"'
            f' fill="{_TEXT_COLOUR}">{_e(y_label)}</text>'
        )
    return parts


def _legend(series: Sequence[Series], width: int) -> list[str]:
    """A key in the top right corner, only when there is more than one series."""
    if len(series) < 2:
        return []
    parts: list[str] = []
    x = width - _RIGHT - 120
    for index, one in enumerate(series):
        colour, _ = _colours(one, index, len(series))
        y = _TOP + 4 + 16 * index
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text class="legend" x="{x + 14}" y="{y + 9}" style="{_FONT};font-size:11px"'
            f' fill="{_TEXT_COLOUR}">{_e(one.name)}</text>'
        )
    return parts


def _wrap(chart_id: str, title: str, width: int, height: int, parts: list[str]) -> Chart:
    body = "\n".join(parts)
    markup = (
        f'<figure id="{_e(chart_id)}" class="chart" style="width:{width}px;height:{height}px;'
        f'margin:0">\n<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">\n'
        f"<title>{_e(title)}</title>\n{body}\n</svg>\n</figure>"
    )
    return Chart(chart_id, width, height, markup)


def _check(
    chart_id: str, labels: Sequence[str], series: Sequence[Series], width: int, height: int
) -> None:
    """Programming errors, not user input: a chart that cannot be drawn as asked."""
    if not chart_id or any(c.isspace() for c in chart_id):
        raise ValueError(f"chart id must be one word, got {chart_id!r}")
    if width <= _LEFT + _RIGHT + 10 or height <= _TOP + _BOTTOM + 10:
        raise ValueError(f"chart {chart_id} of {width}×{height} px has no room to plot")
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(
                f"chart {chart_id}: series {one.name!r} has {len(one.values)} values"
                f" for {len(labels)} labels"
            )


def _values(series: Sequence[Series]) -> list[Decimal]:
    return [Decimal(v) for one in series for v in one.values if v is not None]


def _colours(one: Series, index: int, count: int) -> tuple[str, str]:
    colour = one.colour or PALETTE[index % len(PALETTE)]
    if one.negative_colour:
        return colour, one.negative_colour
    if count == 1 and one.colour is None:
        return colour, NEGATIVE_COLOUR
    return colour, colour


def _px(value: Decimal | int) -> str:
    """A coordinate to 0.1 px, without a trailing ``.0``: short and the same on every run."""
    rounded = Decimal(value).quantize(_TENTH, ROUND_HALF_EVEN)
    text = f"{rounded:f}"
    return text[:-2] if text.endswith(".0") else text


def _number(value: Decimal) -> str:
    """A value as plain text: no exponent, no trailing zeros after the point."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _e(text: str) -> str:
    return escape(text, quote=True)
