"""billing reconcile end to end: pairs of CDR files with one known injected difference each,
and the report must name the day, the hour, the calls and the cause.

The calls come from tests/support/reconcile_data.py (fixed seed); expected values are
derived here from the generated calls and the card prices, not from the report.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.formats.reconcile_report import DAILY_CHART, HOURLY_CALLS_CHART, HOURLY_CHART
from shared.formats.svg_chart import NEGATIVE_COLOUR, PALETTE
from tests.support.browser import chart_boxes, count_colour, count_ink, screenshot, window_for
from tests.support.reconcile_data import (
    Call,
    card,
    make_calls,
    write_asterisk,
    write_freeswitch,
    write_native,
)
from tests.unit.cli.conftest import Billing

CALLS = make_calls()
ANSWERED = [call for call in CALLS if call.talk_s]
#: the card's price per minute by prefix, restated by hand for the expected costs
PER_MINUTE = {"44": "0.0100", "49": "0.0200", "33": "0.0150", "1": "0.0060"}


def _in_hour(call: Call, day: str, hour: int) -> bool:
    return call.start.strftime("%Y-%m-%d") == day and call.start.hour == hour


def _report(billing: Billing, tmp_path: Path, ours: Path, theirs: Path, *extra: str) -> Any:
    out = tmp_path / "out"
    run = billing(
        "reconcile",
        "--ours",
        ours,
        "--theirs",
        theirs,
        "--card",
        card(tmp_path / "card.json"),
        "--out-dir",
        out,
        *extra,
    )
    assert run.code == 0, run.err
    assert run.err == ""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert run.out.splitlines()[0] == f"conclusion: {report['conclusion']}"
    return report


def test_calls_missing_in_one_hour_are_narrowed_to_that_day_and_hour(
    billing: Billing, tmp_path: Path
) -> None:
    # Given their Asterisk file has every call and ours lacks those of 2026-03-04 14:00-15:00
    dropped = [c for c in CALLS if _in_hour(c, "2026-03-04", 14)]
    assert len(dropped) >= 3  # the seed puts several calls in that hour
    ours = write_native(tmp_path / "ours.csv", [c for c in CALLS if c not in dropped])
    theirs = write_asterisk(tmp_path / "theirs.csv", CALLS)
    # When reconciled
    report = _report(billing, tmp_path, ours, theirs)
    # Then the worst day and hour are the ones we emptied, and the conclusion says so
    assert report["worst_day"] == "2026-03-04"
    assert report["worst_hour"] == 14
    assert report["conclusion"] == (
        f"{len(dropped)} calls missing from ours between 14:00 and 15:00 UTC on 2026-03-04"
    )
    (finding,) = report["findings"]
    assert finding["cause"] == "missing_calls"
    assert (finding["day"], finding["hour"]) == ("2026-03-04", 14)
    # the missing calls are exactly the dropped ones (their side names them by uniqueid, so
    # compare numbers and times), and nothing else differs
    missing = [d["theirs"] for d in report["diffs"]]
    assert {d["kind"] for d in report["diffs"]} == {"missing"}
    assert sorted(m["callee"] for m in missing) == sorted("00" + c.callee for c in dropped)
    # cost impact by hand: each answered dropped call at its destination's per-minute price
    expected = -sum((c.cost(PER_MINUTE[c.prefix]) for c in dropped), Decimal(0))
    assert Decimal(finding["cost_impact"]) == expected
    day = next(row for row in report["days"] if row["key"] == "2026-03-04")
    assert day["diff"]["calls"] == -len(dropped)
    assert Decimal(day["diff"]["cost"]) == expected


def test_durations_shifted_by_a_constant_are_named_as_such(
    billing: Billing, tmp_path: Path
) -> None:
    # Given their file bills every answered call 2 s longer (billsec vs duration, rounding)
    ours = write_native(tmp_path / "ours.csv", CALLS)
    theirs = write_asterisk(tmp_path / "theirs.csv", CALLS, talk_delta_s=2)
    report = _report(billing, tmp_path, ours, theirs)
    n = len(ANSWERED)
    assert report["conclusion"] == (
        f"durations differ by a constant +2 s (theirs − ours) on {n} of {n} connected calls:"
        " rounding, or billsec vs duration"
    )
    assert report["counts"]["duration"] == n
    assert report["counts"]["missing"] == report["counts"]["extra"] == 0
    # every call costs 2 s more on their side: Σ over answered calls of the cost difference
    longer = sum(
        (
            Call(c.call_id, c.callee, c.start, c.ring_s, c.talk_s + 2).cost(PER_MINUTE[c.prefix])
            - c.cost(PER_MINUTE[c.prefix])
            for c in ANSWERED
        ),
        Decimal(0),
    )
    assert Decimal(report["total"]["diff"]["cost"]) == -longer
    assert report["total"]["diff"]["talk_s"] == str(-2 * n)


def test_sub_second_talk_in_a_freeswitch_file_is_a_constant_rounding_difference(
    billing: Billing, tmp_path: Path
) -> None:
    # Given their FreeSWITCH file logs billmsec 400 ms above our whole-second billsec
    ours = write_native(tmp_path / "ours.csv", CALLS)
    theirs = write_freeswitch(tmp_path / "theirs.csv", CALLS, extra_ms=400)
    report = _report(billing, tmp_path, ours, theirs)
    # Then every answered call differs by +0.4 s, and per-second billing (increment 1 s)
    # bills each of theirs one second more: 0.4 s rounds up to a whole increment
    n = len(ANSWERED)
    assert report["conclusion"] == (
        f"durations differ by a constant +0.4 s (theirs − ours) on {n} of {n} connected"
        " calls: rounding, or billsec vs duration"
    )
    assert Decimal(report["total"]["diff"]["talk_s"]) == Decimal("-0.4") * n
    assert Decimal(report["total"]["diff"]["billed_s"]) == -n


def test_a_rate_change_on_one_destination_is_found_with_both_receipts(
    billing: Billing, tmp_path: Path
) -> None:
    # Given the carrier prices the UK (44) at 0.0120 a minute where our card says 0.0100
    ours = write_native(tmp_path / "ours.csv", CALLS)
    theirs = write_asterisk(tmp_path / "theirs.csv", CALLS)
    theirs_card = card(tmp_path / "carrier.json", name="carrier", changes={"44": "0.0120"})
    report = _report(billing, tmp_path, ours, theirs, "--theirs-card", str(theirs_card))
    uk = [c for c in ANSWERED if c.prefix == "44"]
    assert report["conclusion"] == (
        f"destination 44 (United Kingdom) rated at 0.0100 by ours vs 0.0120 by theirs per"
        f" minute on {len(uk)} calls: rate change"
    )
    assert {d["ours"]["call_id"] for d in report["diffs"]} == {c.call_id for c in uk}
    # the largest difference is the longest UK call; both receipts show their price
    longest = max(uk, key=lambda c: c.talk_s)
    largest = report["largest"]
    assert largest["ours"]["call_id"] == longest.call_id
    assert Decimal(largest["cost_diff"]) == longest.cost("0.0100") - longest.cost("0.0120")
    assert largest["receipt_ours"]["parts"][0]["price"] == "0.0100"
    assert largest["receipt_theirs"]["parts"][0]["price"] == "0.0120"
    assert largest["receipt_theirs"]["card"] == "carrier"
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Largest difference" in markdown and "0.0120/60 s" in markdown


def test_a_file_written_in_local_time_is_a_time_zone_shift(
    billing: Billing, tmp_path: Path
) -> None:
    # Given their switch wrote Paris wall-clock times (UTC+1 in March) read as UTC
    ours = write_native(tmp_path / "ours.csv", CALLS)
    theirs = write_asterisk(tmp_path / "theirs.csv", CALLS, zone="Europe/Paris")
    report = _report(billing, tmp_path, ours, theirs)
    # Then the shift is the one finding, and with it every call matches
    assert report["conclusion"] == "time-zone shift of +1 h: their times are 1 h later than ours"
    assert [f["cause"] for f in report["findings"]] == ["time_shift"]
    assert report["offset_s"] == "3600"
    assert report["matched"] == len(CALLS)
    assert report["diffs"] == []
    # and reading their file in its real zone makes the sources agree
    again = _report(billing, tmp_path, ours, theirs, "--theirs-timezone", "Europe/Paris")
    assert again["findings"] == [] and again["offset_s"] == "0"
    assert again["conclusion"].startswith(f"the sources agree: {len(CALLS)} calls")


def test_numbers_match_whatever_their_prefix_and_ids_need_not_agree(
    billing: Billing, tmp_path: Path
) -> None:
    # Given the same calls, ours written 00-prefixed with other call ids, theirs with +
    ours = write_native(tmp_path / "ours.csv", CALLS, number_prefix="00", ids_prefix="x")
    theirs = write_native(tmp_path / "theirs.csv", CALLS, number_prefix="+")
    report = _report(billing, tmp_path, ours, theirs)
    assert report["matched"] == len(CALLS) and report["findings"] == []
    # and --json prints the same report as one JSON object on stdout's last line
    run = billing(
        "reconcile", "--ours", ours, "--theirs", theirs, "--card", tmp_path / "card.json", "--json"
    )
    assert run.code == 0 and len(run.out.strip().splitlines()) == 1
    assert run.summary["matched"] == len(CALLS) and run.summary["currency"] == "USD"


def test_the_html_report_draws_its_charts_in_headless_chromium(
    billing: Billing, tmp_path: Path
) -> None:
    # Given the missing-hour report
    dropped = [c for c in CALLS if _in_hour(c, "2026-03-04", 14)]
    ours = write_native(tmp_path / "ours.csv", [c for c in CALLS if c not in dropped])
    theirs = write_native(tmp_path / "theirs.csv", CALLS)
    _report(billing, tmp_path, ours, theirs)
    html_file = tmp_path / "out" / "report.html"
    boxes = chart_boxes(html_file.read_text(encoding="utf-8"))
    assert set(boxes) == {DAILY_CHART, HOURLY_CHART, HOURLY_CALLS_CHART}
    # When chromium screenshots it
    width, height = window_for(boxes)
    image = screenshot(html_file, tmp_path / "report.png", width=width, height=height)
    # Then the daily and hourly charts show a red (negative) bar, one of 4 day slots and one
    # of 24 hour slots: at least 100 px each; the calls chart shows both lines
    assert count_colour(image, boxes[DAILY_CHART], NEGATIVE_COLOUR) > 2_000
    assert count_colour(image, boxes[HOURLY_CHART], NEGATIVE_COLOUR) > 100
    assert count_colour(image, boxes[HOURLY_CALLS_CHART], PALETTE[0]) > 100
    assert count_colour(image, boxes[HOURLY_CALLS_CHART], PALETTE[1]) > 100
    for box in boxes.values():
        assert count_ink(image, box) > 1_000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        (b"", "the file is empty"),
        (b"\x00\x01garbage;;\n\x02\n", "cannot tell the CDR format"),
        (b"call_id,tenant,callee,start_time\n", "no voice call"),
    ],
    ids=["missing", "empty", "unreadable", "no-calls"],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    billing: Billing, tmp_path: Path, content: bytes | None, message: str
) -> None:
    ours = write_native(tmp_path / "ours.csv", CALLS[:5])
    theirs = tmp_path / "theirs.csv"
    if content is not None:
        theirs.write_bytes(content)
    run = billing(
        "reconcile", "--ours", ours, "--theirs", theirs, "--card", card(tmp_path / "c.json")
    )
    assert run.code == 2
    assert run.out == ""
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("billing: error: ")
    assert message in lines[0]
    assert "Traceback" not in run.err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--time-tolerance", "soon"], "--time-tolerance must be a number of seconds"),
        (["--duration-tolerance", "-1"], "--duration-tolerance must be zero or more"),
    ],
)
def test_bad_options_are_one_line(
    billing: Billing, tmp_path: Path, flags: list[str], message: str
) -> None:
    ours = write_native(tmp_path / "ours.csv", CALLS[:5])
    run = billing(
        "reconcile", "--ours", ours, "--theirs", ours, "--card", card(tmp_path / "c.json"), *flags
    )
    assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1


def test_sides_in_different_currencies_cannot_be_compared(billing: Billing, tmp_path: Path) -> None:
    ours = write_native(tmp_path / "ours.csv", CALLS[:5])
    eur = tmp_path / "eur.json"
    document = json.loads(card(tmp_path / "c.json").read_text(encoding="utf-8"))
    eur.write_text(json.dumps({**document, "card": "eur", "currency": "EUR"}), encoding="utf-8")
    run = billing(
        "reconcile",
        "--ours",
        ours,
        "--theirs",
        ours,
        "--card",
        tmp_path / "c.json",
        "--theirs-card",
        eur,
    )
    assert run.code == 2
    assert "cannot reconcile USD" in run.err and "EUR" in run.err


def test_the_example_in_docs_reports_md_prints_what_the_page_says(
    billing: Billing, tmp_path: Path
) -> None:
    # Given the card, our file and theirs exactly as docs/reports.md shows them
    text = (Path(__file__).resolve().parents[3] / "docs" / "reports.md").read_text("utf-8")
    example = text[text.index("### Example") :]
    example = example[: example.find("\n## ")] if "\n## " in example else example
    blocks = re.findall(r"```(\w+)\n(.*?)```", example, re.S)
    (_, card_json), (_, ours_csv), (_, theirs_csv), (_, console) = blocks
    (tmp_path / "card.json").write_text(card_json, encoding="utf-8")
    (tmp_path / "ours.csv").write_text(ours_csv, encoding="utf-8")
    (tmp_path / "theirs.csv").write_text(theirs_csv, encoding="utf-8")
    command, *expected = console.strip().splitlines()
    assert command == (
        "$ billing reconcile --ours ours.csv --theirs theirs.csv --card card.json --out-dir out"
    )
    # When run from that directory
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        run = billing(*command.split()[2:])
    finally:
        os.chdir(cwd)
    # Then it prints the page's lines, and the totals are the page's hand calculation
    assert run.code == 0, run.err
    assert run.out.splitlines() == expected
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["total"]["ours"]["cost"] == "0.0900"
    assert report["total"]["theirs"]["cost"] == "0.1054"
    assert report["total"]["diff"]["cost"] == "-0.0154"
    assert (report["worst_day"], report["worst_hour"]) == ("2026-03-04", 14)
