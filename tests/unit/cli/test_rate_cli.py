"""``billing rate`` (SPEC section 9): the worked examples end to end through files and flags,
the --json summary, the rejects file, and one clear error line for any bad input.

Each test runs once per implementation of the native fast path built on this install (the
compiled one, then ``BILLING_PURE_PYTHON=1``); without the extension, the pure one only.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.services.rate_file import native_batch_raters
from tests.unit.builders import card, example_b_card, rate
from tests.unit.cli.conftest import Billing, Run

REPO_ROOT = Path(__file__).resolve().parents[3]
NATIVE_HEADER = (
    "call_id,tenant,account,service,direction,caller,callee,start_time,answer_time,end_time,"
    "billsec,disposition,quantity,encoding"
)


@pytest.fixture(autouse=True, params=sorted(native_batch_raters()))
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which fast path ``billing rate`` runs: "compiled" (the default where it was built) or
    "pure" (BILLING_PURE_PYTHON=1)."""
    monkeypatch.setenv("BILLING_PURE_PYTHON", "1" if request.param == "pure" else "0")
    return str(request.param)


def write_card(folder: Path, document: dict[str, Any], name: str = "card.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_cdrs(folder: Path, *lines: str, name: str = "cdrs.csv") -> Path:
    path = folder / name
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def native_row(
    call_id: str, callee: str, answer: str, billsec: str, disposition: str = "ANSWERED"
) -> str:
    return f"{call_id},acme,,voice,out,,{callee},{answer},{answer},,{billsec},{disposition},,"


def assert_one_error_line(run: Run) -> str:
    """SPEC 9: one clear line on stderr, a non-zero exit code, no traceback."""
    assert run.code != 0
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("billing: error: ")
    assert "Traceback" not in run.err
    assert "internal error" not in run.err  # bad input is the user's to fix, not a crash
    return lines[0]


# -- the worked examples -------------------------------------------------------------------


def test_worked_example_a_100_calls_of_9_1_seconds_total_0_0800(
    tmp_path: Path, billing: Billing
) -> None:
    # Given 0.005/min in 0.001 s increments, 4 dp rounding up (SPEC 3.7 worked example A)
    card_path = write_card(
        tmp_path, card(rate("", "0.005", increment="0.001"), decimals=4, rounding="up")
    )
    # and 100 answered calls of 9.1 s each
    rows = [
        native_row(f"a{i:03d}", "4930123456", "2026-03-02T10:00:00Z", "9.1") for i in range(100)
    ]
    cdrs = write_cdrs(tmp_path, NATIVE_HEADER, *rows)
    # When they are rated with --json
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--json")
    # Then each call is 0.000758… → 0.0008 and the total is 0.0800 (not 0.0758), as a string
    assert run.code == 0, run.err
    summary = run.summary
    assert summary["total_cost"] == "0.0800"
    assert (summary["rows"], summary["rated"], summary["rejected"]) == (100, 100, 0)
    assert summary["currency"] == "USD"


def test_worked_example_b_london_peak_to_off_peak_total_0_0469(
    tmp_path: Path, billing: Billing
) -> None:
    # Given worked example B's card (zone Europe/London)
    card_path = write_card(tmp_path, example_b_card(card="uk-retail", currency="GBP"))
    # and a call answered Monday 2026-07-06 18:59:30 UTC (19:59:30 BST) with 75.5 s of talk
    cdrs = write_cdrs(
        tmp_path, NATIVE_HEADER, native_row("b1", "+447700900123", "2026-07-06T18:59:30Z", "75.5")
    )
    out = tmp_path / "rated.csv"
    # When it is rated
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--json", "--out", out)
    # Then 0.0333 (60 s peak) + 3 × 0.00117 (6 s steps off-peak) + 0.0100 (peak connect fee)
    # = 0.04681 → 0.0469
    assert run.code == 0, run.err
    assert run.summary["total_cost"] == "0.0469"
    assert run.summary["currency"] == "GBP"
    # and the rated file says so too, with 78 s billed (60 + 3 × 6)
    (row,) = list(csv.DictReader(out.open(encoding="utf-8")))
    assert (row["cost"], row["billed_seconds"], row["prefix"], row["band"]) == (
        "0.0469",
        "78",
        "44",
        "peak",
    )


def test_the_timezone_flag_overrides_the_cards_zone(tmp_path: Path, billing: Billing) -> None:
    # Given worked example B rated with --timezone UTC: the call is at 18:59:30 local, and its
    # later increments (from 19:00:30) are still peak
    card_path = write_card(tmp_path, example_b_card(card="uk-retail", currency="GBP"))
    cdrs = write_cdrs(
        tmp_path, NATIVE_HEADER, native_row("b1", "+447700900123", "2026-07-06T18:59:30Z", "75.5")
    )
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--json", "--timezone", "UTC")
    # Then 0.0333 + 3 × 0.00333 + 0.0100 = 0.05329 → 0.0533
    assert run.summary["total_cost"] == "0.0533"


def test_country_code_flag_normalises_national_numbers(tmp_path: Path, billing: Billing) -> None:
    # Given a card rating 44 at 0.60/min per minute and nothing else
    card_path = write_card(tmp_path, card(rate("44", "0.60", increment=60)))
    cdrs = write_cdrs(
        tmp_path, NATIVE_HEADER, native_row("n1", "02071234567", "2026-03-02T10:00:00Z", "60")
    )
    # When a national number is rated for a UK tenant / Then it is 442071234567: 0.60
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--json", "--country-code", "44")
    assert (run.summary["rated"], run.summary["total_cost"]) == (1, "0.6000")


# -- the --json summary ----------------------------------------------------------------------


def test_json_summary_is_one_object_on_the_last_line_with_amounts_as_strings(
    tmp_path: Path, billing: Billing
) -> None:
    # Given one rated, one unanswered and one rejected call, and a duplicate
    card_path = write_card(tmp_path, card(rate("49", "0.0140", initial=60, increment=6)))
    rated = native_row("c1", "4930123456", "2026-03-02T10:00:00Z", "61")
    cdrs = write_cdrs(
        tmp_path,
        NATIVE_HEADER,
        rated,
        native_row("c2", "4930123456", "2026-03-02T10:00:00Z", "0", "NO ANSWER"),
        native_row("c3", "33123456789", "2026-03-02T10:00:00Z", "61"),
        rated,
    )
    # When rated with --json
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--json")
    # Then stdout's last line is a JSON object with the SPEC's keys; counts are numbers and
    # money is a string (66 s × 0.0140/60 = 0.0154)
    summary = run.summary
    assert {
        "rows",
        "rated",
        "unanswered",
        "rejected",
        "duplicates",
        "merged",
        "total_cost",
        "currency",
    } <= summary.keys()
    assert (
        summary["rows"],
        summary["rated"],
        summary["unanswered"],
        summary["rejected"],
        summary["duplicates"],
        summary["merged"],
    ) == (4, 1, 1, 1, 1, 0)
    assert summary["total_cost"] == "0.0154"
    assert isinstance(summary["total_cost"], str)
    assert summary["rows"] == (
        summary["rated"]
        + summary["unanswered"]
        + summary["rejected"]
        + summary["duplicates"]
        + summary["merged"]
    )


def test_without_json_the_summary_is_readable_text(tmp_path: Path, billing: Billing) -> None:
    card_path = write_card(tmp_path, card(rate("49", "0.0140", initial=60, increment=6)))
    cdrs = write_cdrs(
        tmp_path, NATIVE_HEADER, native_row("c1", "4930123456", "2026-03-02T10:00:00Z", "61")
    )
    run = billing("rate", "--card", card_path, "--cdrs", cdrs)
    assert run.code == 0
    assert "0.0154 USD" in run.out


# -- the rejects file ------------------------------------------------------------------------


def test_the_rejects_file_has_physical_line_numbers_the_original_line_and_the_reason(
    tmp_path: Path, billing: Billing
) -> None:
    # Given a card for Germany only, and a file where
    # line 1 is the header, line 2 a good call, line 3 blank, lines 4-5 one quoted record
    # (a caller name with a newline) to France (no rate), line 6 blank, line 7 a negative
    # billsec, line 8 a row with a byte that is not UTF-8, line 9 a good call
    card_path = write_card(tmp_path, card(rate("49", "0.0140", initial=60, increment=6)))
    cdrs = tmp_path / "cdrs.csv"
    cdrs.write_bytes(
        (NATIVE_HEADER + "\n").encode()
        + (native_row("c1", "4930123456", "2026-03-02T10:00:00Z", "61") + "\n").encode()
        + b"\n"
        + b'c2,acme,,voice,out,"Jean\nDupont",33123456789,2026-03-02T10:00:00Z,'
        b"2026-03-02T10:00:00Z,,61,ANSWERED,,\n"
        + b"\n"
        + (native_row("c3", "4930123456", "2026-03-02T10:00:00Z", "-5") + "\n").encode()
        + b"c4,acme,,voice,out,Jos\xe9,4930123456,2026-03-02T10:00:00Z,"
        b"2026-03-02T10:00:00Z,,61,ANSWERED,,\n"
        + (native_row("c5", "4930123456", "2026-03-02T10:00:00Z", "7") + "\n").encode()
    )
    rejects = tmp_path / "rejects.csv"
    # When rated with --rejects
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--rejects", rejects, "--json")
    # Then two calls are rated (0.0154 + 0.0140 = 0.0294) and three rows are rejected
    assert run.code == 0, run.err
    assert (run.summary["rows"], run.summary["rated"], run.summary["rejected"]) == (5, 2, 3)
    assert run.summary["total_cost"] == "0.0294"
    with rejects.open(encoding="utf-8", errors="surrogateescape", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["line"], row["reason"]) for row in rows] == [
        ("4", "no_rate"),  # where the multi-line record starts
        ("7", "bad_duration"),
        ("8", "encoding"),  # only that row: line 9 was still rated
    ]
    assert rows[0]["original"] == (
        'c2,acme,,voice,out,"Jean\nDupont",33123456789,2026-03-02T10:00:00Z,'
        "2026-03-02T10:00:00Z,,61,ANSWERED,,"
    )
    assert rows[1]["original"] == native_row("c3", "4930123456", "2026-03-02T10:00:00Z", "-5")
    # the undecodable byte is written back unchanged, so the operator sees the real input
    assert b"Jos\xe9,4930123456" in rejects.read_bytes()
    assert all(row["detail"] for row in rows)


# -- one clear error line for any bad input --------------------------------------------------


def good_files(folder: Path) -> tuple[Path, Path]:
    card_path = write_card(folder, card(rate("49", "0.0140")))
    cdrs = write_cdrs(
        folder, NATIVE_HEADER, native_row("c1", "4930123456", "2026-03-02T10:00:00Z", "61")
    )
    return card_path, cdrs


def test_a_missing_card_file_is_one_error_line(tmp_path: Path, billing: Billing) -> None:
    _card, cdrs = good_files(tmp_path)
    line = assert_one_error_line(billing("rate", "--card", tmp_path / "nope.json", "--cdrs", cdrs))
    assert "nope.json" in line


def test_a_missing_cdr_file_is_one_error_line(tmp_path: Path, billing: Billing) -> None:
    card_path, _cdrs = good_files(tmp_path)
    line = assert_one_error_line(billing("rate", "--card", card_path, "--cdrs", tmp_path / "x.csv"))
    assert "x.csv" in line


def test_a_card_with_an_unknown_field_is_one_error_line_naming_it(
    tmp_path: Path, billing: Billing
) -> None:
    _card, cdrs = good_files(tmp_path)
    card_path = write_card(tmp_path, card(rate("49", "0.0140", conect_fee="0.01")), "typo.json")
    line = assert_one_error_line(billing("rate", "--card", card_path, "--cdrs", cdrs))
    assert "conect_fee" in line
    assert "typo.json" in line  # which file


def test_a_card_that_is_not_json_is_one_error_line(tmp_path: Path, billing: Billing) -> None:
    _card, cdrs = good_files(tmp_path)
    card_path = tmp_path / "broken.json"
    card_path.write_text('{"card": "x", ', encoding="utf-8")
    assert_one_error_line(billing("rate", "--card", card_path, "--cdrs", cdrs))


@pytest.mark.parametrize("format_name", ["auto", "native"])
def test_a_cdr_file_with_an_unknown_header_is_one_error_line(
    tmp_path: Path, billing: Billing, format_name: str
) -> None:
    card_path, _cdrs = good_files(tmp_path)
    cdrs = write_cdrs(tmp_path, "call_id,calee,billsec", "c1,4930123456,61", name="typo.csv")
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--format", format_name)
    line = assert_one_error_line(run)
    if format_name == "native":
        assert "calee" in line


def test_an_unknown_timezone_is_one_error_line(tmp_path: Path, billing: Billing) -> None:
    card_path, cdrs = good_files(tmp_path)
    run = billing("rate", "--card", card_path, "--cdrs", cdrs, "--timezone", "Mars/Olympus")
    line = assert_one_error_line(run)
    assert "Mars/Olympus" in line


@pytest.mark.parametrize(
    "argv",
    [
        ("rate", "--card", "card.json"),  # --cdrs missing
        ("rate", "--cdrs", "cdrs.csv"),  # --card missing
        ("rate", "--card", "card.json", "--cdrs", "cdrs.csv", "--max-extension-digits", "six"),
        ("rate", "--card", "card.json", "--cdrs", "cdrs.csv", "--format", "excel"),
        ("rate", "--card", "card.json", "--cdrs", "cdrs.csv", "--country-code", "+44"),
        ("rat",),  # unknown command
    ],
)
def test_bad_arguments_are_one_error_line(
    tmp_path: Path, billing: Billing, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    good_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert_one_error_line(billing(*argv))


def test_the_installed_command_prints_no_traceback_for_bad_input(tmp_path: Path) -> None:
    # Given the real process boundary (python -m shared.cli.main, as the console script runs)
    _card, cdrs = good_files(tmp_path)
    card_path = write_card(tmp_path, card(rate("49", "0.0140", roundng="up")), "typo.json")
    # When the command is run with a card that does not load
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.cli.main",
            "rate",
            "--card",
            str(card_path),
            "--cdrs",
            str(cdrs),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    # Then stderr is one "billing: error:" line naming the field, and the exit is non-zero
    assert assert_one_error_line(Run(done.returncode, done.stdout, done.stderr))
    assert "roundng" in done.stderr
    assert done.stdout == ""


# -- parent cards on the command line ------------------------------------------------------


def test_a_parent_card_given_with_a_second_card_flag_rates_what_the_child_cannot(
    tmp_path: Path, billing: Billing
) -> None:
    # Given a retail card for the UK whose parent "wholesale" rates France at 0.30/min
    child = write_card(
        tmp_path,
        card(rate("44", "0.10", increment=60), card="retail", parent="wholesale"),
        "retail.json",
    )
    parent = write_card(
        tmp_path, card(rate("33", "0.30", increment=60), card="wholesale"), "wholesale.json"
    )
    cdrs = write_cdrs(
        tmp_path,
        NATIVE_HEADER,
        native_row("u1", "442071234567", "2026-03-02T10:00:00Z", "60"),
        native_row("f1", "33123456789", "2026-03-02T10:00:00Z", "60"),
    )
    # When rated with both cards
    run = billing("rate", "--card", child, "--card", parent, "--cdrs", cdrs, "--json")
    # Then both calls are rated: 0.10 + 0.30 = 0.40
    assert (run.summary["rated"], run.summary["total_cost"]) == (2, "0.4000")


def test_a_parent_card_in_another_currency_is_one_error_line(
    tmp_path: Path, billing: Billing
) -> None:
    child = write_card(
        tmp_path, card(rate("44", "0.10"), card="retail", parent="wholesale"), "retail.json"
    )
    parent = write_card(
        tmp_path, card(rate("33", "0.30"), card="wholesale", currency="EUR"), "wholesale.json"
    )
    _card, cdrs = good_files(tmp_path)
    line = assert_one_error_line(billing("rate", "--card", child, "--card", parent, "--cdrs", cdrs))
    assert "EUR" in line and "USD" in line


# -- billing explain -------------------------------------------------------------------------


def test_explain_shows_the_arithmetic_of_worked_example_b(tmp_path: Path, billing: Billing) -> None:
    # Given worked example B's card / When its call is explained from flags
    card_path = write_card(tmp_path, example_b_card(card="uk-retail", currency="GBP"))
    run = billing(
        "explain",
        "--card",
        card_path,
        "--callee",
        "+447700900123",
        "--answer",
        "2026-07-06T18:59:30Z",
        "--billsec",
        "75.5",
        "--json",
    )
    # Then the receipt re-derives 0.0469: one 60 s peak increment, three 6 s off-peak ones,
    # the peak connect fee, 0.04681 unrounded
    assert run.code == 0, run.err
    receipt = json.loads(run.out.strip().splitlines()[-1])
    assert receipt["cost"] == "0.0469"
    assert receipt["unrounded"] == "0.04681"
    assert Decimal(receipt["billed_s"]) == 78  # 60 + 3 × 6
    assert [(p["band"], p["count"], Decimal(p["increment_s"])) for p in receipt["parts"]] == [
        ("peak", 1, Decimal(60)),
        ("offpeak", 3, Decimal(6)),
    ]
