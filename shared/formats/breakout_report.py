"""The breakout report as CSV (formula-safe) and as an HTML page with inline-SVG charts."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import IO

from shared.domain.breakout import BreakoutLine, totals_by_destination
from shared.formats.csv_safe import SafeCsvWriter
from shared.formats.html_report import HtmlReport
from shared.formats.svg_chart import Series, bar_chart, line_chart

COLUMNS = (
    "day", "destination", "attempts", "answered", "asr_pct", "acd_s", "billed_minutes", "cost",
)
MARGIN_COLUMNS = ("buy_cost", "margin", "margin_pct", "buy_unrated")
COST_CHART = "cost-by-destination"
DAILY_CHART = "minutes-by-day"


def _text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _cells(line: BreakoutLine, with_margin: bool) -> list[str]:
    cells = [
        line.day,
        line.destination,
        str(line.attempts),
        str(line.answered),
        _text(line.asr),
        _text(line.acd),
        str(line.minutes),
        str(line.cost),
    ]
    if with_margin:
        cells += [
            _text(line.buy_cost),
            _text(line.margin),
            _text(line.margin_pct),
            str(line.buy.unrated if line.buy else 0),
        ]
    return cells


def write_csv(lines: Sequence[BreakoutLine], stream: IO[str], currency: str = "") -> None:
    """One row per day and destination; margin columns when a buy card was given. Empty
    cells mean "undefined" (ASR without attempts, ACD without answered calls)."""
    with_margin = any(line.buy is not None for line in lines)
    writer = SafeCsvWriter(stream)
    header = [*COLUMNS, *(MARGIN_COLUMNS if with_margin else ())]
    if currency:
        header.append("currency")
    writer.writerow(header)
    for line in lines:
        writer.writerow([*_cells(line, with_margin), *([currency] if currency else [])])


def render_html(
    lines: Sequence[BreakoutLine], tenant: str, currency: str, subtitle: str = ""
) -> str:
    """A page with two charts (cost, and margin when known, per destination; billed minutes
    per day) and the tables per destination and per day."""
    with_margin = any(line.buy is not None for line in lines)
    report = HtmlReport(
        f"Breakout: {tenant}", subtitle or f"per destination and UTC day, amounts in {currency}"
    )
    totals = totals_by_destination(lines)
    names = [line.destination for line in totals]
    series = [Series("sell cost", [line.cost for line in totals])]
    if with_margin:
        series.append(Series("buy cost", [line.buy_cost or Decimal(0) for line in totals]))
        series.append(Series("margin", [line.margin or Decimal(0) for line in totals]))
    report.add_chart(
        bar_chart(
            COST_CHART,
            "Cost" + (" and margin" if with_margin else "") + " by destination",
            names,
            series,
            y_label=currency,
        )
    )
    days = sorted({line.day for line in lines})
    minutes = {day: Decimal(0) for day in days}
    for line in lines:
        minutes[line.day] += line.minutes
    report.add_chart(
        line_chart(
            DAILY_CHART,
            "Billed minutes by day",
            days,
            [Series("minutes", [minutes[day] for day in days])],
            y_label="minutes",
        )
    )
    header = [*COLUMNS, *(MARGIN_COLUMNS if with_margin else ())]
    numeric = range(2, len(header))
    report.section("By destination")
    report.table(
        header, [_cells(line, with_margin) for line in totals], numeric=numeric,
        table_id="by-destination",
    )
    report.section("By day and destination")
    report.table(
        header, [_cells(line, with_margin) for line in lines], numeric=numeric,
        table_id="by-day",
    )
    report.paragraph(
        "ASR = answered / attempts; ACD = billed seconds / answered; margin = sell − buy "
        "cost of the same calls (docs/reports.md)."
    )
    return report.render()
