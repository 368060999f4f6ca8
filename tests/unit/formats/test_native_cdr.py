"""SPEC section 4, native CDR CSV: rows become calls or explained rejects, never nothing."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from shared.domain.calls import CallStatus, Encoding, RejectReason, Service
from shared.formats.cdr_formats import ReaderContext, UnknownFormat, open_records
from shared.formats.native_cdr import HeaderError
from shared.formats.records import RowOutcome, as_outcome
from tests.unit.builders import ms

HEADER = (
    "call_id,tenant,account,service,direction,caller,callee,start_time,answer_time,end_time,"
    "billsec,disposition,quantity,encoding"
)


def read(data: bytes, zone: str = "UTC", format_name: str = "auto") -> list[RowOutcome]:
    _name, _lines, outcomes = open_records(
        data.splitlines(keepends=True), format_name, ReaderContext("acme", ZoneInfo(zone))
    )
    return [as_outcome(item) for item in outcomes]


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_a_row_becomes_a_call_with_millisecond_times() -> None:
    # Given one answered voice row
    data = csv_bytes(
        HEADER,
        "c1,acme,ext-201,voice,out,4915551234,+4930123456,2026-03-02T10:00:00Z,"
        "2026-03-02T10:00:05Z,2026-03-02T10:01:06Z,61,ANSWERED,,",
    )
    # When it is read
    (outcome,) = read(data)
    # Then the call carries epoch-ms times and the talk time in ms
    record = outcome.call
    assert record is not None
    assert (record.call_id, record.tenant, record.callee) == ("c1", "acme", "+4930123456")
    assert record.answer_ms == ms("2026-03-02T10:00:05Z")
    assert record.talk_ms == 61_000
    assert record.answered
    assert outcome.line_no == 2


def test_billsec_is_authoritative_over_end_minus_answer() -> None:
    # Given billsec 30 while end − answer is 61 s
    data = csv_bytes(
        "call_id,callee,answer_time,end_time,billsec",
        "c1,4930123456,2026-03-02T10:00:05Z,2026-03-02T10:01:06Z,30",
    )
    # Then talk is 30 s
    assert read(data)[0].call.talk_ms == 30_000  # type: ignore[union-attr]


def test_without_billsec_talk_time_is_end_minus_answer() -> None:
    # Given no billsec / When answer 10:00:05.250 and end 10:01:06 (60.75 s)
    data = csv_bytes(
        "call_id,callee,answer_time,end_time,billsec",
        "c1,4930123456,2026-03-02T10:00:05.250Z,2026-03-02T10:01:06Z,",
    )
    # Then talk is 60,750 ms
    assert read(data)[0].call.talk_ms == 60_750  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("billsec", "talk_ms"),
    [("9.1", 9100), ("9.1001", 9101), ("0.0004", 1), ("61", 61_000), ("0", 0)],
)
def test_decimal_billsec_is_rounded_up_to_the_whole_millisecond(billsec: str, talk_ms: int) -> None:
    data = csv_bytes("call_id,callee,billsec", f"c1,4930123456,{billsec}")
    assert read(data)[0].call.talk_ms == talk_ms  # type: ignore[union-attr]


def test_times_with_an_offset_are_exact_and_naive_times_are_in_the_tenants_zone() -> None:
    # Given the same instant written with an offset, and naive in Europe/Berlin (CET, UTC+1)
    data = csv_bytes(
        "call_id,callee,answer_time,billsec",
        "c1,4930123456,2026-03-02T11:00:00+01:00,60",
        "c2,4930123456,2026-03-02 11:00:00,60",
    )
    first, second = read(data, zone="Europe/Berlin")
    # Then both are 10:00 UTC
    assert first.call.answer_ms == second.call.answer_ms == ms("2026-03-02T10:00:00Z")  # type: ignore[union-attr]


def test_columns_may_come_in_any_order_and_sms_fields_are_read() -> None:
    data = csv_bytes(
        "quantity,encoding,service,callee,call_id,start_time",
        "161,gsm7,sms,+447700900123,s1,2026-03-02T10:00:00Z",
    )
    record = read(data)[0].call
    assert record is not None
    assert (record.service, record.quantity, record.encoding) == (
        Service.SMS,
        Decimal(161),
        Encoding.GSM7,
    )


def test_a_not_answered_disposition_marks_the_call_unanswered() -> None:
    data = csv_bytes("call_id,callee,billsec,disposition", "c1,4930123456,0,NO ANSWER")
    assert read(data)[0].call.answered is False  # type: ignore[union-attr]


def test_physical_line_numbers_count_blank_lines_and_multi_line_records() -> None:
    # Given: line 1 header, line 2 a row, line 3 blank, lines 4-5 one record whose quoted
    # account field holds a newline, line 6 blank, line 7 a row
    data = csv_bytes(
        "call_id,account,callee,billsec",  # 1
        "c1,a,4930123456,60",  # 2
        "",  # 3
        'c2,"two',  # 4
        'lines",4930123456,60',  # 5
        "",  # 6
        "c3,a,4930123456,60",  # 7
    )
    # When read
    outcomes = read(data)
    # Then blank lines are not rows, and each record carries the line where it starts
    assert [(o.call.call_id, o.line_no) for o in outcomes] == [  # type: ignore[union-attr]
        ("c1", 2),
        ("c2", 4),
        ("c3", 7),
    ]
    assert outcomes[1].raw == 'c2,"two\nlines",4930123456,60'
    assert outcomes[1].call.account == "two\nlines"  # type: ignore[union-attr]


def test_windows_line_endings_read_the_same() -> None:
    data = b"call_id,callee,billsec\r\nc1,4930123456,60\r\n\r\nc2,4930123456,61\r\n"
    outcomes = read(data)
    assert [(o.call.call_id, o.line_no, o.raw) for o in outcomes] == [  # type: ignore[union-attr]
        ("c1", 2, "c1,4930123456,60"),
        ("c2", 4, "c2,4930123456,61"),
    ]


def test_an_undecodable_byte_rejects_only_its_row() -> None:
    # Given row 3 holds a Latin-1 "é" (byte 0xE9) that is not UTF-8
    data = (
        b"call_id,caller,callee,billsec\n"
        b"c1,Jose,4930123456,60\n"
        b"c2,Jos\xe9,4930123456,60\n"
        b"c3,Jose,4930123456,60\n"
    )
    # When read
    outcomes = read(data)
    # Then c1 and c3 are calls; line 3 is rejected `encoding` with its original bytes kept
    assert [o.call.call_id for o in outcomes if o.call] == ["c1", "c3"]
    bad = outcomes[1]
    assert (bad.status, bad.reason, bad.line_no) == (CallStatus.REJECTED, RejectReason.ENCODING, 3)
    assert bad.raw.encode("utf-8", "surrogateescape") == b"c2,Jos\xe9,4930123456,60"


@pytest.mark.parametrize(
    ("row", "complaint"),
    [
        ("c1,4930123456", "expected 3 fields, found 2"),
        ("c1,4930123456,60,extra", "expected 3 fields, found 4"),
        (",4930123456,60", "call_id"),
        ("c1,4930123456,sixty", "billsec"),
    ],
)
def test_malformed_rows_are_rejected_with_a_reason(row: str, complaint: str) -> None:
    outcome = read(csv_bytes("call_id,callee,billsec", row))[0]
    assert (outcome.status, outcome.reason) == (CallStatus.REJECTED, RejectReason.MALFORMED)
    assert complaint in outcome.detail


def test_a_bad_timestamp_is_malformed_naming_the_field() -> None:
    outcome = read(csv_bytes("call_id,callee,answer_time,billsec", "c1,49301,yesterday,60"))[0]
    assert outcome.reason is RejectReason.MALFORMED
    assert "answer_time" in outcome.detail


def test_an_unknown_header_column_is_an_error_naming_it() -> None:
    # Given a header with a typo (calee) read as native
    data = csv_bytes("call_id,calee,billsec", "c1,4930123456,60")
    # When read / Then the whole file is refused, naming the column
    with pytest.raises(HeaderError, match="calee"):
        read(data, format_name="native")


def test_auto_detection_refuses_a_file_it_cannot_recognise() -> None:
    with pytest.raises(UnknownFormat):
        read(csv_bytes("id,number,seconds", "c1,4930123456,60"))


def test_an_empty_file_has_no_rows() -> None:
    assert read(b"") == []
    assert read(csv_bytes(HEADER)) == []
