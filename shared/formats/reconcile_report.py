"""The reconciliation report in three forms: Markdown for a ticket, HTML with charts for a
person, JSON for machines. All three are rendered from one :class:`Reconciliation`.

Differences read **ours − theirs** everywhere (a negative count: calls missing from ours).
Amounts are strings in the side's currency, durations exact seconds. Report files hold full
dialled numbers, like a rating receipt: the people reconciling need them to find a call on
the other side; nothing here is logged. Markdown and HTML list at most
:data:`MAX_LISTED_DIFFS` call differences; the JSON has them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from shared.domain.rating.receipt import Receipt
from shared.domain.reconcile import (
    CallDiff,
    DiffKind,
    Finding,
    PeriodRow,
    ReconCall,
    Reconciliation,
)
from shared.domain.reconcile.model import Side, seconds, utc_time
from shared.formats.html_report import HtmlReport
from shared.formats.svg_chart import Chart, Series, bar_chart, line_chart

MAX_LISTED_DIFFS = 100
#: chart element ids (tests and people locate the charts by them)
DAILY_CHART, HOURLY_CHART, HOURLY_CALLS_CHART = "daily-diff", "hourly-diff", "hourly-calls"
_KIND_TEXT = {
    DiffKind.MISSING: "missing from ours",
    DiffKind.EXTRA: "extra in ours",
    DiffKind.CONNECTION: "answered on one side",
    DiffKind.DURATION: "different duration",
    DiffKind.COST: "different cost",
}


# ---------------------------------------------------------------------------------- JSON


def to_json(result: Reconciliation) -> dict[str, Any]:
    """Everything in the report as JSON-ready values (amounts and seconds as strings)."""
    mine, other = result.largest_receipts
    return {
        "ours": _side_json(result.ours),
        "theirs": _side_json(result.theirs),
        "currency": result.currency,
        "settings": {
            "time_tolerance_s": str(seconds(result.settings.time_tolerance_ms)),
            "duration_tolerance_s": str(seconds(result.settings.duration_tolerance_ms)),
        },
        "offset_s": str(seconds(result.offset.ms)),
        "conclusion": result.conclusion,
        "findings": [_finding_json(finding) for finding in result.findings],
        "total": _row_json(result.total),
        "days": [_row_json(row) for row in result.days],
        "worst_day": result.worst_day,
        "worst_hour": result.worst_hour,
        "hours": [_row_json(row) for row in result.hours],
        "matched": result.matched,
        "counts": {str(kind): result.count(kind) for kind in DiffKind},
        "diffs": [_diff_json(diff) for diff in result.diffs],
        "largest": None
        if result.largest is None
        else {
            **_diff_json(result.largest),
            "receipt_ours": mine.as_dict() if mine else None,
            "receipt_theirs": other.as_dict() if other else None,
        },
    }


def _side_json(side: Side) -> dict[str, Any]:
    return {"label": side.label, "calls": len(side.calls), "skipped": dict(side.skipped)}


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "cause": finding.cause,
        "summary": finding.summary,
        "evidence": list(finding.evidence),
        "calls": finding.calls,
        "cost_impact": str(finding.cost_impact),
        "day": finding.day,
        "hour": finding.hour,
        "call_ids": list(finding.call_ids),
    }


def _row_json(row: PeriodRow) -> dict[str, Any]:
    def totals(which: Any) -> dict[str, Any]:
        return {
            "calls": which.calls,
            "connected": which.connected,
            "talk_s": str(seconds(which.talk_ms)),
            "billed_s": str(seconds(which.billed_ms)),
            "cost": str(which.cost),
        }

    return {
        "key": row.key,
        "ours": totals(row.ours),
        "theirs": totals(row.theirs),
        "diff": {
            "calls": row.calls_diff,
            "connected": row.connected_diff,
            "talk_s": str(seconds(row.talk_diff_ms)),
            "billed_s": str(seconds(row.billed_diff_ms)),
            "cost": str(row.cost_diff),
        },
    }


def _diff_json(diff: CallDiff) -> dict[str, Any]:
    return {
        "kind": str(diff.kind),
        "ours": _call_json(diff.ours),
        "theirs": _call_json(diff.theirs),
        "talk_diff_s": str(seconds(diff.talk_diff_ms)),
        "cost_diff": str(diff.cost_diff),
    }


def _call_json(call: ReconCall | None) -> dict[str, Any] | None:
    if call is None:
        return None
    return {
        "call_id": call.call_id,
        "time": utc_time(call.time_ms),
        "callee": call.callee,
        "connected": call.connected,
        "talk_s": str(seconds(call.talk_ms)),
        "billed_s": str(seconds(call.billed_ms)),
        "cost": str(call.cost),
        "prefix": call.prefix,
        "destination": call.destination,
        "line": call.line_no,
        "problem": call.problem or None,
    }


# ------------------------------------------------------------------------------ Markdown


def to_markdown(result: Reconciliation) -> str:
    out = [
        f"# Reconciliation: {_md(result.ours.label)} (ours) vs {_md(result.theirs.label)} (theirs)",
        "",
        f"**Conclusion:** {_md(result.conclusion)}",
        "",
        "Differences are ours − theirs; times are UTC; amounts in " + result.currency + ".",
        "",
        "## Findings",
        "",
    ]
    if not result.findings:
        out.append("No differences.")
    for number, finding in enumerate(result.findings, 1):
        out.append(
            f"{number}. **{_md(finding.summary)}** ({finding.cause}; {_calls(finding.calls)};"
            f" cost impact {finding.cost_impact})"
        )
        out += [f"   - {_md(line)}" for line in finding.evidence]
    out += ["", "## Totals", ""]
    out += _md_table(_TOTAL_HEADERS, [_total_cells(name, result.total) for name in _TOTAL_ROWS])
    out += ["", "## Daily totals (UTC)", ""]
    out += _md_table(_period_headers("day"), [_period_cells(row) for row in result.days])
    if result.worst_day is not None:
        hour = "" if result.worst_hour is None else f", worst hour {result.worst_hour:02d}:00"
        out += ["", f"## Worst day {result.worst_day} by hour (UTC){hour}", ""]
        out += _md_table(
            _period_headers("hour"), [_period_cells(row) for row in result.hours if row.differs]
        )
    out += ["", "## Call differences", ""]
    out.append(
        ", ".join(f"{_KIND_TEXT[kind]}: {result.count(kind)}" for kind in DiffKind)
        + f"; matched calls: {result.matched}"
    )
    out.append("")
    out += _md_table(_DIFF_HEADERS, [_diff_cells(diff) for diff in result.diffs[:MAX_LISTED_DIFFS]])
    if len(result.diffs) > MAX_LISTED_DIFFS:
        out.append(f"\n… and {len(result.diffs) - MAX_LISTED_DIFFS} more in report.json")
    out += ["", "## Largest difference", ""]
    out += _largest_lines(result, markdown=True)
    out += ["", "## Sources", ""]
    out += [f"- {_md(line)}" for line in _source_lines(result)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """Text safe inside Markdown: table pipes and emphasis markers escaped."""
    return "".join("\\" + ch if ch in "\\|*_`[]<>" else ch for ch in text)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return ["(none)"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------------------------- HTML


def to_html(result: Reconciliation) -> str:
    """The report page with three charts: cost difference per day, per hour of the worst
    day, and calls per hour of the worst day on each side."""
    page = HtmlReport(
        f"Reconciliation: {result.ours.label} vs {result.theirs.label}",
        f"Conclusion: {result.conclusion}",
    )
    page.add_chart(
        _cost_difference_chart(
            DAILY_CHART,
            f"Cost difference per day, ours − theirs ({result.currency})",
            result.days,
            "day (UTC)",
            result.currency,
        )
    )
    hours = [row.key for row in result.hours]
    day = result.worst_day or "-"
    page.add_chart(
        _cost_difference_chart(
            HOURLY_CHART,
            f"Cost difference per hour on {day}, ours − theirs ({result.currency})",
            result.hours,
            "hour (UTC)",
            result.currency,
        )
    )
    page.add_chart(
        line_chart(
            HOURLY_CALLS_CHART,
            f"Calls per hour on {day}",
            hours,
            [
                Series("ours", [row.ours.calls for row in result.hours]),
                Series("theirs", [row.theirs.calls for row in result.hours]),
            ],
            x_label="hour (UTC)",
            y_label="calls",
        )
    )
    page.section("Findings")
    if result.findings:
        for number, finding in enumerate(result.findings, 1):
            page.paragraph(
                f"{number}. {finding.summary} ({finding.cause}; {_calls(finding.calls)};"
                f" cost impact {finding.cost_impact} {result.currency})"
            )
            page.bullet_list(finding.evidence)
    else:
        page.paragraph("No differences.")
    page.section("Totals")
    page.table(
        _TOTAL_HEADERS,
        [_total_cells(name, result.total) for name in _TOTAL_ROWS],
        numeric=(1, 2, 3),
    )
    page.section("Daily totals (UTC)")
    page.table(
        _period_headers("day"),
        [_period_cells(row) for row in result.days],
        numeric=range(1, 8),
        table_id="days",
    )
    if result.worst_day is not None:
        page.section(f"Worst day {result.worst_day} by hour (UTC)")
        page.table(
            _period_headers("hour"),
            [_period_cells(row) for row in result.hours if row.differs],
            numeric=range(1, 8),
            table_id="hours",
        )
    page.section("Call differences")
    page.paragraph(
        ", ".join(f"{_KIND_TEXT[kind]}: {result.count(kind)}" for kind in DiffKind)
        + f"; matched calls: {result.matched}"
    )
    page.table(
        _DIFF_HEADERS,
        [_diff_cells(diff) for diff in result.diffs[:MAX_LISTED_DIFFS]],
        numeric=(4, 5, 6, 7, 8),
        table_id="diffs",
    )
    if len(result.diffs) > MAX_LISTED_DIFFS:
        page.paragraph(f"… and {len(result.diffs) - MAX_LISTED_DIFFS} more in report.json")
    page.section("Largest difference")
    lines = _largest_lines(result, markdown=False)
    page.paragraph(lines[0])
    for line in lines[1:]:
        page.preformatted(line)
    page.section("Sources")
    page.bullet_list(_source_lines(result))
    return page.render()


# ------------------------------------------------------------------------------- shared


_TOTAL_HEADERS = ("", "ours", "theirs", "ours − theirs")
_TOTAL_ROWS = ("calls", "connected", "talk s", "billed s", "cost")



def _cost_difference_chart(
    chart_id: str, title: str, rows: Sequence[PeriodRow], x_label: str, currency: str
) -> Chart:
    """Bars of ours − theirs per period row, in the currency."""
    return bar_chart(
        chart_id,
        title,
        [row.key for row in rows],
        [Series("cost difference", [row.cost_diff for row in rows])],
        x_label=x_label,
        y_label=currency,
    )

def _total_cells(name: str, row: PeriodRow) -> list[str]:
    ours, theirs = row.ours, row.theirs
    values: dict[str, tuple[int | Decimal, int | Decimal, int | Decimal]] = {
        "calls": (ours.calls, theirs.calls, row.calls_diff),
        "connected": (ours.connected, theirs.connected, row.connected_diff),
        "talk s": (seconds(ours.talk_ms), seconds(theirs.talk_ms), seconds(row.talk_diff_ms)),
        "billed s": (
            seconds(ours.billed_ms),
            seconds(theirs.billed_ms),
            seconds(row.billed_diff_ms),
        ),
        "cost": (ours.cost, theirs.cost, row.cost_diff),
    }
    mine, other, diff = values[name]
    return [name, str(mine), str(other), _signed(diff)]


def _period_headers(what: str) -> tuple[str, ...]:
    return (
        what,
        "calls ours",
        "calls theirs",
        "calls Δ",
        "connected Δ",
        "billed s Δ",
        "cost ours",
        "cost Δ",
    )


def _period_cells(row: PeriodRow) -> list[str]:
    return [
        row.key,
        str(row.ours.calls),
        str(row.theirs.calls),
        _signed(row.calls_diff),
        _signed(row.connected_diff),
        _signed(seconds(row.billed_diff_ms)),
        str(row.ours.cost),
        _signed(row.cost_diff),
    ]


_DIFF_HEADERS = (
    "kind",
    "time (UTC)",
    "call ours",
    "call theirs",
    "number",
    "talk s ours",
    "talk s theirs",
    "cost ours",
    "cost theirs",
)


def _diff_cells(diff: CallDiff) -> list[str]:
    call = diff.any_call
    return [
        _KIND_TEXT[diff.kind],
        utc_time(call.time_ms),
        diff.ours.call_id if diff.ours else "-",
        diff.theirs.call_id if diff.theirs else "-",
        call.callee,
        str(seconds(diff.ours.talk_ms)) if diff.ours else "-",
        str(seconds(diff.theirs.talk_ms)) if diff.theirs else "-",
        str(diff.ours.cost) if diff.ours else "-",
        str(diff.theirs.cost) if diff.theirs else "-",
    ]


def _largest_lines(result: Reconciliation, *, markdown: bool) -> list[str]:
    """A sentence on the call, then each side's receipt as a text block."""
    diff = result.largest
    if diff is None:
        return ["No call differs."]
    call = diff.any_call
    lines = [
        f"{_KIND_TEXT[diff.kind]}: call {call.call_id} to {call.callee} at"
        f" {utc_time(call.time_ms)}; talk ours − theirs {_signed(seconds(diff.talk_diff_ms))} s,"
        f" cost ours − theirs {_signed(diff.cost_diff)} {result.currency}"
    ]
    for side, receipt, present in (
        ("ours", result.largest_receipts[0], diff.ours),
        ("theirs", result.largest_receipts[1], diff.theirs),
    ):
        body = _receipt_text(receipt, present)
        lines.append(f"{side}:\n{body}")
    if markdown:
        return [lines[0], *(f"\n```\n{block}\n```" for block in lines[1:])]
    return lines


def _receipt_text(receipt: Receipt | None, call: ReconCall | None) -> str:
    if call is None:
        return "no such call on this side"
    if receipt is None:
        reason = f" ({call.problem})" if call.problem else ""
        return f"no receipt: cost {call.cost}{reason}"
    return "\n".join(receipt.lines())


def _source_lines(result: Reconciliation) -> list[str]:
    lines = []
    for role, side in (("ours", result.ours), ("theirs", result.theirs)):
        skipped = ", ".join(f"{reason}: {count}" for reason, count in side.skipped.items())
        lines.append(
            f"{role}: {side.label}, {len(side.calls)} voice calls"
            + (f"; skipped {skipped}" if skipped else "")
        )
    offset = result.offset
    lines.append(
        f"matching: start times within {seconds(result.settings.time_tolerance_ms)} s"
        f" after a detected offset of {_signed(seconds(offset.ms))} s; talk times within"
        f" {seconds(result.settings.duration_tolerance_ms)} s; numbers compared without"
        " +, exit or trunk prefixes"
    )
    return lines


def _calls(count: int) -> str:
    return f"{count} call{'' if count == 1 else 's'}"


def _signed(value: int | Decimal) -> str:
    return f"+{value}" if value > 0 else str(value)
