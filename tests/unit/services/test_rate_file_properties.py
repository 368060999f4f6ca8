"""Invariants of rating a whole file (hypothesis), over generated native CSV files that mix
good calls, SMS, duplicates, conflicts, junk rows, bytes that are not UTF-8, quoted
multi-line fields and blank lines.

The generator knows where it put every record, so the tests check the service against that
knowledge, not against the summary's own arithmetic.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.calls import RejectReason
from tests.unit.builders import PEAK_OFFPEAK_BANDS, card, compiled, rate
from tests.unit.services.rate_file_fakes import rate_bytes

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
#: the native CDR header, as SPEC section 4 lists it
COLUMNS = (
    *("call_id", "tenant", "account", "service", "direction", "caller", "callee"),
    *("start_time", "answer_time", "end_time", "billsec", "disposition", "quantity", "encoding"),
)
CARD = compiled(
    card(
        rate("49", "0.0190", initial=60, increment=6, band="peak"),
        rate("49", "0.0140", initial=60, increment=6, band="offpeak"),
        rate("44", "0.0210", increment=1, connect_fee="0.0100", max_cost="0.50"),
        rate("", "0.0079", service="sms"),
        bands=PEAK_OFFPEAK_BANDS,
        timezone="Europe/London",
    )
)
NOT_UTF8 = "\udce9"  # written with surrogateescape: the Latin-1 byte 0xE9 of "José"


@dataclass
class GeneratedFile:
    data: bytes
    records: int = 0  # data records (not the header, not blank lines)
    record_lines: list[int] = field(default_factory=list)  # physical line where each starts
    #: line → reason for the records that must be rejected whatever else happens
    certain_rejects: dict[int, RejectReason] = field(default_factory=dict)


def csv_text(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def _iso(offset_s: int) -> str:
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=offset_s)).isoformat()


seconds = st.one_of(
    st.integers(0, 4000).map(str),
    st.integers(0, 4000).map(str),
    st.decimals(0, 600, places=3).map(str),
    st.sampled_from(["", "-5", "90000", "abc"]),
)
valid_times = st.integers(0, 300 * 86_400).map(_iso)
times = st.one_of(
    valid_times,
    valid_times,
    valid_times,
    st.sampled_from(["", "2099-01-01T00:00:00Z", "not a time", "2026-03-02 10:00:00"]),
)
callees = st.sampled_from(
    [
        "4930123456",
        "+49 30 123-456",
        "442071234567",
        "33123456789",
        "112",
        "2001",
        "",
        "4420ABC34567",
    ]
)
junk_text = st.text(alphabet=st.sampled_from(list('abcXYZ019 ,"\n€é;-:')), min_size=0, max_size=12)


@st.composite
def call_fields(draw: st.DrawFn, call_id: str) -> list[str]:
    service = draw(st.sampled_from(["voice"] * 4 + ["sms", "sms", "", "fax"]))
    answer = draw(times)
    return [
        call_id,
        draw(st.sampled_from(["acme", "acme", "acme", "", "globex"])),
        draw(st.sampled_from(["", "ext-201", "two\nlines"])),  # a quoted multi-line field
        service,
        draw(st.sampled_from(["", "out", "out", "out", "in", "sideways"])),
        draw(st.sampled_from(["", "4915551234", "José"])),
        draw(callees),
        answer,
        answer,
        "",
        draw(seconds),
        draw(st.sampled_from(["ANSWERED", "", "NO ANSWER", "BUSY"])),
        draw(st.sampled_from(["", "1", "2", "0", "161"])) if service == "sms" else "",
        draw(st.sampled_from(["", "gsm7", "ucs2"])) if service == "sms" else "",
    ]


@st.composite
def cdr_files(draw: st.DrawFn, allow_repeats: bool = True) -> GeneratedFile:
    """A native CSV file of 0-40 records of every kind, with blank lines in between."""
    parts = [csv_text(list(COLUMNS))]
    line = 2  # the next physical line
    generated = GeneratedFile(b"")
    previous: list[list[str]] = []
    kinds = ["call", "call", "call", "junk", "not_utf8", "blank"]
    if allow_repeats:
        kinds += ["duplicate", "conflict"]
    for i in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(kinds))
        if kind in ("duplicate", "conflict") and not previous:
            kind = "call"
        if kind == "blank":
            parts.append("\n")
            line += 1
            continue
        if kind == "call":
            fields = draw(call_fields(f"c{i}"))
            previous.append(fields)
        elif kind == "duplicate":
            fields = list(draw(st.sampled_from(previous)))
        elif kind == "conflict":
            fields = list(draw(st.sampled_from(previous)))
            fields[10] = str(draw(st.integers(5000, 6000)))  # same id, other billsec
        elif kind == "not_utf8":
            fields = draw(call_fields(f"c{i}"))
            fields[5] = "Jos" + NOT_UTF8
            generated.certain_rejects[line] = RejectReason.ENCODING
        else:  # junk: any number of fields of any text, never a blank-looking line
            fields = draw(st.lists(junk_text, min_size=1, max_size=20))
            if len(fields) == 1 and not fields[0].strip():
                fields = ["junk", *fields]
            if len(fields) != len(COLUMNS):
                generated.certain_rejects[line] = RejectReason.MALFORMED
        text = csv_text(fields)
        parts.append(text)
        generated.records += 1
        generated.record_lines.append(line)
        line += text.count("\n")
    generated.data = "".join(parts).encode("utf-8", "surrogateescape")
    return generated


@PROPERTY_SETTINGS
@given(file=cdr_files())
def test_every_record_of_any_file_is_counted_once(file: GeneratedFile) -> None:
    # Given any native file, junk included / When it is rated
    result = rate_bytes(file.data, CARD)
    summary = result.summary
    # Then rows = rated + unanswered + rejected + duplicates + merged, and rows is the number
    # of records the generator wrote (blank lines and the header are not rows)
    assert summary.rows == file.records
    assert summary.rows == (
        summary.rated + summary.unanswered + summary.rejected + summary.duplicates + summary.merged
    )
    # and every bucket is backed by the outputs: a reject line per rejected row, a rated line
    # per rated or unanswered call
    assert len(result.rejects.rows) == summary.rejected
    assert len(result.rated.rows) == summary.rated + summary.unanswered
    # and each reject points at the physical line where its record starts, at most once
    reject_lines = [reject.line for reject in result.rejects.rows]
    assert len(set(reject_lines)) == len(reject_lines)
    assert set(reject_lines) <= set(file.record_lines)
    # and the rows that cannot be read are rejected for the right reason, one row each
    found = {reject.line: reject.reason for reject in result.rejects.rows}
    for line, reason in file.certain_rejects.items():
        assert found.get(line) is reason
    # and the total is the exact sum of what was written out
    assert summary.total_cost == sum((r.cost for _c, r in result.rated.rows), Decimal(0))


@PROPERTY_SETTINGS
@given(file=cdr_files(allow_repeats=False), data=st.data())
def test_a_file_rated_whole_equals_its_two_halves_rated_separately(
    file: GeneratedFile, data: st.DataObject
) -> None:
    # Given a file whose call ids are unique, cut into two files at any record boundary
    lines = file.data.split(b"\n")
    header = lines[0] + b"\n"
    cut_record = data.draw(st.integers(0, file.records), label="records in the first half")
    cut_line = (
        file.record_lines[cut_record] if cut_record < file.records else len(lines)
    )  # physical line (1-based) where the second half starts
    first = b"\n".join(lines[: cut_line - 1]) + b"\n"
    second = header + b"\n".join(lines[cut_line - 1 :])
    # When the whole and both halves are rated
    whole = rate_bytes(file.data, CARD).summary
    halves = rate_bytes(first, CARD).summary.merge(rate_bytes(second, CARD).summary)
    # Then the counts and the total agree exactly
    assert whole.as_dict() == halves.as_dict()
    assert whole.total_cost == halves.total_cost
