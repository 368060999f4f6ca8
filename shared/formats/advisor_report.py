"""The billing-model advice as text, JSON-ready values and an HTML page with charts."""

from __future__ import annotations

from typing import Any

from shared.domain.advisor import Advice, ChannelPrices, MonthAdvice
from shared.formats.html_report import HtmlReport
from shared.formats.svg_chart import Series, bar_chart, line_chart

SWEEP_CHART = "cost-by-channels"
MONTHS_CHART = "cost-by-month"


def _money(value: Any) -> str:
    return "-" if value is None else str(value)


def verdict(advice: Advice) -> str:
    if advice.cheaper == "equal":
        return f"both models cost {advice.per_minute} {advice.currency}"
    other = "per-channel" if advice.cheaper == "per-minute" else "per-minute"
    return (
        f"{advice.cheaper} is cheaper than {other} by {advice.difference} {advice.currency}"
    )


def _plan(month: MonthAdvice) -> str:
    plan = month.plan
    if plan.kind == "two-way":
        return f"{plan.two_way} two-way"
    return f"{plan.outbound} outbound + {plan.inbound} inbound"


def text_lines(advice: Advice, prices: ChannelPrices, skipped: dict[str, int]) -> list[str]:
    lines = [
        f"per minute {advice.per_minute} {advice.currency}, per channel {advice.per_channel} "
        f"{advice.currency}: {verdict(advice)}",
        f"minimum charge {prices.minimum} × {prices.servers} server(s) a month",
    ]
    for month in advice.months:
        peaks = month.peaks
        lines.append(
            f"  {month.month}: {month.calls} calls; peak channels out {peaks.outbound}, "
            f"in {peaks.inbound}, two-way {peaks.two_way}; per minute {month.per_minute} "
            f"(rated {month.per_minute_usage}); per channel {month.per_channel} "
            f"({_plan(month)} = {month.plan.cost})"
        )
    if advice.break_even_channels is not None:
        lines.append(
            f"break-even: up to {advice.break_even_channels} channel(s) a month cost no more "
            "than per minute"
        )
    if skipped:
        lines.append(
            "left out: " + ", ".join(f"{why} {count}" for why, count in sorted(skipped.items()))
        )
    return lines


def as_dict(advice: Advice, prices: ChannelPrices, skipped: dict[str, int]) -> dict[str, Any]:
    """JSON-ready; amounts as strings."""
    return {
        "currency": advice.currency,
        "per_minute": str(advice.per_minute),
        "per_channel": str(advice.per_channel),
        "cheaper": advice.cheaper,
        "difference": str(advice.difference),
        "break_even_channels": advice.break_even_channels,
        "prices": {
            "outbound": _money(prices.outbound),
            "inbound": _money(prices.inbound),
            "two_way": _money(prices.two_way),
            "minimum": str(prices.minimum),
            "servers": prices.servers,
        },
        "months": [
            {
                "month": m.month,
                "calls": m.calls,
                "peak_outbound": m.peaks.outbound,
                "peak_inbound": m.peaks.inbound,
                "peak_two_way": m.peaks.two_way,
                "per_minute_rated": str(m.per_minute_usage),
                "per_minute": str(m.per_minute),
                "channel_plan": m.plan.kind,
                "channels_outbound": m.plan.outbound,
                "channels_inbound": m.plan.inbound,
                "channels_two_way": m.plan.two_way,
                "channel_cost": str(m.plan.cost),
                "per_channel": str(m.per_channel),
            }
            for m in advice.months
        ],
        "sweep": [
            {
                "channels": p.channels,
                "per_minute": str(p.per_minute),
                "per_channel": str(p.per_channel),
                "enough": p.enough,
            }
            for p in advice.sweep
        ],
        "skipped": dict(sorted(skipped.items())),
    }


def render_html(advice: Advice, prices: ChannelPrices, skipped: dict[str, int]) -> str:
    report = HtmlReport("Billing-model advice", verdict(advice))
    labels = [str(p.channels) for p in advice.sweep]
    report.add_chart(
        line_chart(
            SWEEP_CHART,
            "Cost of the period against provisioned channels",
            labels,
            [
                Series("per minute", [p.per_minute for p in advice.sweep]),
                Series("per channel", [p.per_channel for p in advice.sweep]),
            ],
            x_label="channels",
            y_label=advice.currency,
        )
    )
    report.add_chart(
        bar_chart(
            MONTHS_CHART,
            "Cost by month",
            [m.month for m in advice.months],
            [
                Series("per minute", [m.per_minute for m in advice.months]),
                Series("per channel", [m.per_channel for m in advice.months]),
            ],
            y_label=advice.currency,
        )
    )
    report.section("Verdict")
    report.bullet_list(text_lines(advice, prices, skipped))
    report.section("By month")
    report.table(
        ["month", "calls", "peak out", "peak in", "peak two-way", "per minute", "channel plan",
         "per channel"],
        [
            [m.month, str(m.calls), str(m.peaks.outbound), str(m.peaks.inbound),
             str(m.peaks.two_way), str(m.per_minute), _plan(m), str(m.per_channel)]
            for m in advice.months
        ],
        numeric=[1, 2, 3, 4, 5, 7],
        table_id="months",
    )
    report.paragraph(
        "A channel is held from a call's start to its end; a call ending when another starts "
        "does not overlap it. Each month costs at least the per-server minimum under either "
        "model (docs/reports.md)."
    )
    return report.render()
