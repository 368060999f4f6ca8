"""Hostile bytes through every CDR reader, the format detection and the chunk cutter.

The promise under test (SPEC section 4, docs/formats.md): a reader either yields one outcome
per physical record (a call to rate, or a reject with a machine-readable reason and a detail)
or refuses the whole file with one of the project's declared errors
(``shared.domain.errors.BillingError``); never an unexpected exception, never a silently
dropped row. The rating service on top keeps ``rows = rated + unanswered + rejected +
duplicates + merged`` whatever it is fed.

Inputs mix random bytes with CSV built to hurt: quotes opened and never closed, doubled
quotes, quoted line breaks, lone ``\\r``, NUL bytes, invalid UTF-8, a BOM, huge fields,
truncated rows, wrong types in every typed column, and real-looking rows cut at random.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.calls import CallRecord, CallStatus
from shared.domain.errors import BillingError
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.summary import FileSummary
from shared.formats.asterisk import CSV_NEW_COLUMNS, CUSTOM_COLUMNS
from shared.formats.cdr_formats import READERS, ReaderContext, detect_format, open_records
from shared.formats.chunks import complete_records_end
from shared.formats.freeswitch import DEFAULT_TEMPLATE
from shared.formats.native_cdr import COLUMNS as NATIVE_COLUMNS
from shared.formats.records import RowOutcome, as_outcome
from shared.services.rate_file import CallIdSet, RatingJob, rate_records
from tests.hostile.budget import FLOW, PURE

CONTEXT = ReaderContext(tenant="acme", zone=ZoneInfo("Europe/Lisbon"))
FORMATS = ["auto", *READERS]
NOW_MS = 1_800_000_000_000  # 2027-01-15: after every generated call

# ------------------------------------------------------------------------------ inputs

#: pieces a hostile field is made of: CSV syntax, control and non-UTF-8 bytes, look-alike
#: values of every typed column
_PIECES = [
    b'"', b'""', b",", b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xc3", b"\xe9", b"\xef\xbb\xbf",
    b"\t", b" ", b"-", b"+", b".", b"e9", b"NaN", b"Infinity", b"1e999999", b"-61", b"61",
    b"0", b"99999999999999999999999", b"2026-10-05T10:00:00Z", b"2026-10-05 10:00:00",
    b"2026/2/30 25:61", b"0001-01-01T00:00:00", b"9999-12-31T23:59:59+14:00",
    b"442071234567", b"+351912345678", b"ANSWERED", b"NO ANSWER", b"Local/100@ctx",
    b"SIP/trunk-0001", b"123e4567-e89b-12d3-a456-426614174000", b"uuid", b"call_id", b"sms",
    b"in", b"gsm7", b"\xe2\x80\xae", b"\\", b"'", b";",
]
hostile_field = st.lists(st.sampled_from(_PIECES), max_size=6).map(b"".join) | st.binary(
    max_size=12
)
huge_field = st.sampled_from([b"9" * 70_000, b'"' + b"x" * 70_000, b"a,\"" * 5000])


def _row(fields: list[bytes]) -> bytes:
    return b",".join(fields)


def _header_for(columns: tuple[str, ...]) -> bytes:
    return ",".join(columns).encode()


def _plausible(columns: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """A row of the right width whose fields are each plausible or hostile."""
    return st.lists(hostile_field, min_size=len(columns), max_size=len(columns)).map(_row)


def _files() -> st.SearchStrategy[bytes]:
    rows_of = {
        "native": (_header_for(NATIVE_COLUMNS), _plausible(NATIVE_COLUMNS)),
        "asterisk-csv": (b"", _plausible(CSV_NEW_COLUMNS)),
        "asterisk-custom": (b"", _plausible(CUSTOM_COLUMNS)),
        "freeswitch": (_header_for(DEFAULT_TEMPLATE), _plausible(DEFAULT_TEMPLATE)),
    }

    @st.composite
    def structured(draw: st.DrawFn) -> bytes:
        header, row = rows_of[draw(st.sampled_from(sorted(rows_of)))]
        rows = draw(st.lists(row | hostile_field, max_size=8))
        separators = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n"]),
                                   min_size=len(rows) + 1, max_size=len(rows) + 1))
        body = b"".join(r + s for r, s in zip([header, *rows], separators, strict=True))
        if draw(st.booleans()):  # truncated anywhere: mid-row, mid-quote, mid-UTF-8
            body = body[: draw(st.integers(0, len(body)))]
        return body

    return st.one_of(
        st.binary(max_size=600),
        structured(),
        st.tuples(structured(), huge_field, structured()).map(lambda parts: b"\n".join(parts)),
    )


def _outcomes(data: bytes, format_name: str) -> list[RowOutcome] | BillingError:
    """Every outcome of reading ``data``, or the declared error the reader refused it with.
    Anything else (an unexpected exception) propagates and fails the test."""
    try:
        _name, _lines, records = open_records(io.BytesIO(data), format_name, CONTEXT)
        return [as_outcome(item) for item in records]
    except BillingError as refused:
        return refused


def _physical_lines(data: bytes) -> int:
    text = data.decode("utf-8", "surrogateescape")
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


# ------------------------------------------------------------------------------ readers


@pytest.mark.parametrize("format_name", FORMATS)
@PURE
@given(data=_files())
def test_a_reader_yields_explained_outcomes_or_refuses_with_a_declared_error(
    format_name: str, data: bytes
) -> None:
    result = _outcomes(data, format_name)
    if isinstance(result, BillingError):
        assert str(result), "a refusal says why"
        return
    lines = max(1, _physical_lines(data))
    seen_lines: set[int] = set()
    for outcome in result:
        # every outcome names the physical line its record starts on, once
        assert 1 <= outcome.line_no <= lines, (outcome.line_no, lines)
        assert outcome.line_no not in seen_lines
        seen_lines.add(outcome.line_no)
        if outcome.status is CallStatus.REJECTED:
            assert outcome.reason is not None and outcome.detail, outcome
        if outcome.status is None:  # a call to rate carries its identity
            assert isinstance(outcome.call, CallRecord)
            assert outcome.call.call_id.strip() and outcome.call.tenant


@pytest.mark.parametrize("format_name", ["asterisk-csv", "asterisk-custom", "native"])
@PURE
@given(
    rows=st.lists(
        st.lists(
            st.sampled_from([p for p in _PIECES if not set(p) & set(b'"\r\n')]), max_size=30
        ).map(b",".join),
        max_size=12,
    )
)
def test_without_quotes_every_non_blank_line_is_one_outcome(
    format_name: str, rows: list[bytes]
) -> None:
    # Given a file whose lines hold no quote and no carriage return: one line, one record
    header = _header_for(NATIVE_COLUMNS) + b"\n" if format_name == "native" else b""
    data = header + b"\n".join(rows)
    records = [
        line for line in data.decode("utf-8", "surrogateescape").split("\n")
        if "," in line or line.strip()
    ]
    expected = len(records) - (1 if format_name == "native" else 0)

    result = _outcomes(data, format_name)

    # Then no line is lost or invented (a header row is not a row)
    assert not isinstance(result, BillingError), result
    assert len(result) == expected


@PURE
@given(first_line=st.text(max_size=200) | st.binary(max_size=200).map(
    lambda raw: raw.decode("utf-8", "replace")
))
def test_format_detection_names_a_reader_or_says_pass_format(first_line: str) -> None:
    try:
        name = detect_format(first_line)
    except BillingError as refused:
        assert "--format" in str(refused)
        return
    assert name in READERS


def test_a_native_file_whose_header_is_not_native_is_refused_with_a_declared_error() -> None:
    # Given --format native on a file whose first line names no native column
    data = b"hello,world\n1,2\n"

    result = _outcomes(data, "native")

    # Then a BillingError that names the problem (not a bare ValueError the CLI cannot map)
    assert isinstance(result, BillingError)
    assert "unknown column" in str(result)


# ------------------------------------------------------------------------------ chunks


@PURE
@given(data=_files())
def test_a_chunk_is_cut_only_after_a_complete_record(data: bytes) -> None:
    cut = complete_records_end(data)

    assert 0 <= cut <= len(data)
    if cut:
        # the cut sits just after a line break, and the kept part parses as whole records
        assert data[cut - 1 : cut] == b"\n"
        kept = data[:cut].decode("utf-8", "surrogateescape")
        if '"' in kept and kept.count('"') % 2 == 0:
            rows = list(csv.reader(io.StringIO(kept, newline="")))
            assert rows is not None
    elif b"\n" in data and b'"' not in data:
        pytest.fail("a quote-free chunk with a line break must be cut at its last newline")


@PURE
@given(
    rows=st.lists(
        st.lists(st.text(alphabet='ab,"\n\r', max_size=6), min_size=1, max_size=4),
        min_size=1, max_size=6,
    ),
    extra=st.binary(max_size=20),
)
def test_a_cut_never_splits_a_quoted_line_break(rows: list[list[str]], extra: bytes) -> None:
    # Given whole records written by the csv module (quoted line breaks and quotes inside)
    # followed by the start of another record
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)  # quotes any "\r" or "\n"
    whole = out.getvalue().encode()
    data = whole + extra.replace(b"\n", b"")

    cut = complete_records_end(data)

    # Then every written record is kept whole and the unfinished one is left for the next
    # chunk: the cut is exactly where the csv module's records end
    assert cut == len(whole)


# ------------------------------------------------------------------------------ rating

CARD = compile_card(load_card({
    "card": "hostile", "currency": "EUR",
    "rates": [{"prefix": "44", "destination": "UK",
               "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}]}],
}))


class _Sink:
    def __init__(self) -> None:
        self.rated: list[Any] = []
        self.rejects: list[Any] = []

    def write(self, *args: Any) -> None:
        (self.rated if len(args) == 2 else self.rejects).append(args)


def _rate(data: bytes, format_name: str) -> tuple[FileSummary, _Sink]:
    _name, _lines, records = open_records(io.BytesIO(data), format_name, CONTEXT)
    sink = _Sink()
    job = RatingJob(card=CARD, tenant="acme", now_ms=NOW_MS)
    return rate_records(records, job, sink, sink, CallIdSet()), sink


@pytest.mark.parametrize("format_name", FORMATS)
@FLOW
@given(data=_files())
def test_rating_hostile_bytes_accounts_for_every_row_and_every_reject_has_a_reason(
    format_name: str, data: bytes
) -> None:
    try:
        summary, sink = _rate(data, format_name)
    except BillingError:
        return  # the whole file refused with a reason (checked above)
    # every record the reader produced lands in exactly one bucket
    outcomes = _outcomes(data, format_name)
    assert not isinstance(outcomes, BillingError)
    assert summary.rows == len(outcomes)
    assert len(sink.rejects) == summary.rejected
    for line_no, _raw, reason, detail in sink.rejects:
        assert isinstance(line_no, int) and line_no >= 1 and reason and detail
    # the total is the exact sum of what was charged, in Decimal
    costs = [rating.cost for _call, rating in sink.rated]
    assert sum(costs, Decimal(0)) == summary.total_cost
    assert all(isinstance(cost, Decimal) for cost in costs)


def test_a_file_with_old_mac_line_breaks_is_refused_with_a_reason_not_a_crash() -> None:
    # Given a file whose only line breaks are lone "\r" (a classic Mac export): its "first
    # line" is the whole file, which the csv module will not split
    data = b"call_id,callee\rc1,442071234567\r"

    result = _outcomes(data, "auto")

    # Then auto-detection refuses it with a BillingError that says to pass --format (it used
    # to raise csv.Error, which the ingest service did not expect: the S3 message failed
    # five times and went to the dead-letter queue instead of ending with rejects)
    assert isinstance(result, BillingError)
    assert "--format" in str(result)
