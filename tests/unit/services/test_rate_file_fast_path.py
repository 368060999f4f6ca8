"""The bulk fast path (``rate_native_batches``) against the general path (``read_native`` +
``rate_records``): on random cards and random native files they must write the same rated
rows, the same rejects and the same summary, byte for byte.

The files mix what the fast path takes (plain UTC voice calls, answered or not, on banded
and unbanded prefixes) with everything it must hand to the general engine: naive and offset
times, DST days, fractional and odd billsec, special and national numbers, SMS, dated rates,
tiers, caps, connect fees, unknown prefixes, duplicates and conflicts, other tenants,
spreadsheet formulas, quoted and blank lines, bytes that are not UTF-8. Blocks are made tiny
so records also straddle block boundaries.

Every test here runs once per implementation of the fast path that this install has
(``native_batch_raters``): ``shared/services/native_batches.py`` compiled by Cython (when
setup.py could build it) and the same file run as Python, the reference. Where the extension
was not built, the "compiled" case is not collected at all rather than skipped: the tests
then run the pure path only, and ``test_the_compiled_fast_path_is_there_when_built`` says
which ran.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.files import CsvRatedSink, CsvRejectSink
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.numbers import NumberingPlan
from shared.formats import records as records_module
from shared.formats.native_cdr import COLUMNS, NativeRows, read_native
from shared.formats.records import PhysicalLines, csv_record_batches
from shared.services.rate_file import (
    CallIdSet,
    NativeBatchRater,
    RatingJob,
    native_batch_raters,
    rate_records,
)
from tests.unit.builders import NOW, PEAK_OFFPEAK_BANDS, card, compiled, ms, rate, tier

PREFIXES = ["49", "4930", "44", "447", "1", "33", "55115020", "5511"]
PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def rate_docs(draw: st.DrawFn, prefix: str, banded: bool) -> list[dict[str, Any]]:
    """The rates of one prefix: one unbanded rate, or a peak and an off-peak rate."""
    docs = []
    for band in ("peak", "offpeak") if banded else (None,):
        fields: dict[str, Any] = {}
        destination = draw(st.sampled_from(["", "Germany", "Brazil, São Paulo", "=1+1", 'A "B"']))
        if destination:
            fields["destination"] = destination
        if band:
            fields["band"] = band
        if draw(st.integers(0, 4)) == 0:
            fields["connect_fee"] = draw(st.sampled_from(["0.0100", "0.005"]))
        if draw(st.integers(0, 9)) == 0:
            fields["min_cost"] = "0.02"
        if draw(st.integers(0, 9)) == 0:
            fields["max_cost"] = "0.05"
            fields["max_cost_strategy"] = draw(st.sampled_from(["free", "disconnect"]))
        if draw(st.integers(0, 9)) == 0:
            fields["effective_from"] = "2026-03-29"
        if draw(st.integers(0, 5)) == 0:
            fields["decimals"] = draw(st.integers(0, 6))
            fields["rounding"] = draw(st.sampled_from(["up", "down", "half_up", "half_even"]))
        price = draw(st.sampled_from(["0.0140", "0.0333", "0.0117", "0.005", "1.23456"]))
        if draw(st.integers(0, 9)) == 0:
            tiers = [tier(price, initial=30, increment=6), tier("0.001", start=60, increment=1)]
            docs.append(rate(prefix, tiers=tiers, **fields))
        else:
            initial, increment = draw(
                st.sampled_from([(60, 6), (60, 60), (1, 1), (None, None), ("0.5", "0.001")])
            )
            docs.append(rate(prefix, price, initial=initial, increment=increment, **fields))
    return docs


@st.composite
def cards(draw: st.DrawFn) -> CompiledCard:
    docs: list[dict[str, Any]] = []
    for prefix in PREFIXES:
        docs += draw(rate_docs(prefix, draw(st.booleans())))
    if draw(st.booleans()):
        docs.append(rate("", "0.0500"))
    docs.append(rate("1800", "0.0220", direction="in"))
    docs.append(rate("", "0.0079", service="sms"))
    docs.append(rate("44", "0.0300", service="sms", band="peak", connect_fee="0.001"))
    docs.append(rate("44", "0.0100", service="sms", band="offpeak", destination="UK SMS"))
    if draw(st.booleans()):
        docs.append(rate("49", "0.0200", service="sms", band="peak", min_cost="0.03"))
    zone = draw(st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]))
    return compiled(card(*docs, bands=PEAK_OFFPEAK_BANDS, timezone=zone, holidays=["2026-10-26"]))


#: around both 2026 DST changes in Europe and the US, a holiday, and ordinary days
DAYS = [datetime(2026, month, day, tzinfo=UTC) for month, day in ((3, 8), (3, 29), (10, 25))]
DAYS += [datetime(2026, 10, 26, tzinfo=UTC), datetime(2026, 7, 6, tzinfo=UTC)]


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    offset = draw(
        st.one_of(
            st.integers(-7200, 93600),
            # just before a band edge somewhere: 08:00 or 20:00 local in one of the zones
            st.builds(
                lambda edge, before: int(edge * 3600) - before,
                st.sampled_from([0, 1, 2.5, 7, 8, 12, 13, 14.5, 19, 20, 24]),
                st.integers(-30, 400),
            ),
        )
    )
    moment = draw(st.sampled_from(DAYS)) + timedelta(seconds=offset)
    form = draw(st.sampled_from(["z"] * 12 + ["offset", "naive", "space", "odd"]))
    if form == "z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "offset":
        return moment.astimezone().isoformat()
    if form == "naive":
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    if form == "space":
        return moment.strftime("%Y-%m-%d %H:%M:%SZ")
    return draw(st.sampled_from(["", "2099-01-01T00:00:00Z", "soon", "2026-13-01T00:00:00Z"]))


callees = st.one_of(
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from([*PREFIXES, *PREFIXES, "9", "1800"]),
        st.text(alphabet="0123456789", min_size=5, max_size=9),
    ),
    st.sampled_from(["4930123456", "447911123456", "551150201234", "12125550100"]),
)
billsecs = st.one_of(
    st.integers(0, 400).map(str),
    st.sampled_from(["0", "1", "60", "61", "66", "3600"]),
)


#: per column, values the general path must handle (spaces, formulas, case, other tenants)
ODD_VALUES: dict[int, list[str]] = {
    0: ["", " c", "=c", "-1"],
    1: ["", "globex", " acme", "@acme"],
    2: ["", "-ext", "+1", "Jos\udce9", "é", "two\nlines"],
    3: ["sms", "", "Voice", "fax"],
    4: ["in", "", "outbound", "OUT", "sideways"],
    5: ["", "=cmd", "-4930111", "+4930111"],
    7: ["", "soon", "2026-13-01T00:00:00Z", "2026-07-06T10:00:00"],
    8: ["", "soon", "2026-13-01T00:00:00Z", "2099-01-01T00:00:00Z", "2026-07-06T10:00:00+02:00"],
    9: ["soon", "2026-10-25T01:30:00"],
    6: ["112", "2001", "+442071234567", "00442071234567", "02071234567", " 4930123456", "49"],
    10: ["", "-5", "90000", "x", " 42", "9.1", "75.5", "0.001"],
    11: ["", "NO ANSWER", "answered ", "BUSY", "ANSWER"],
    12: ["2", "0", "1"],
    13: ["gsm7", "ucs2"],
}


@st.composite
def rows(draw: st.DrawFn, call_id: str) -> list[str]:
    """A plain call (what the fast path takes), then up to two columns made odd."""
    answer = draw(timestamps())
    fields = [
        call_id,
        "acme",
        "ext1",
        "voice",
        "out",
        "4930111",
        draw(callees),
        draw(st.sampled_from([answer] * 9 + [""])),
        draw(st.sampled_from([answer] * 9 + [""])),
        draw(st.sampled_from(["", "", answer])),
        draw(billsecs),
        draw(st.sampled_from(["ANSWERED"] * 4 + ["NO ANSWER"])),
        "",
        "",
    ]
    if draw(st.integers(0, 3)) == 0:  # an SMS: quantity (characters or segments), encoding
        fields[3] = "sms"
        fields[10] = draw(st.sampled_from([""] * 7 + ["0"]))
        fields[12] = draw(st.sampled_from(["", "1", "2", "160", "161", "71"] * 2 + ["0", "1.5"]))
        fields[13] = draw(st.sampled_from(["", "gsm7", "ucs2"] * 3 + ["GSM7"]))
        fields[9] = draw(st.one_of(st.just(""), timestamps()))  # billed at the first time given
        fields[8] = draw(st.sampled_from([fields[8], fields[8], ""]))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        column = draw(st.sampled_from([*ODD_VALUES, 7, 8, 9]))
        if draw(st.booleans()):
            fields[column] = draw(st.sampled_from(ODD_VALUES[column]))
        elif column in (7, 8, 9):
            fields[column] = draw(timestamps())
    return fields


@st.composite
def files(draw: st.DrawFn) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n"] * 6 + ["\r\n"])))
    writer.writerow(COLUMNS)
    written: list[list[str]] = []
    for i in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["row"] * 12 + ["repeat", "blank", "junk", "quoted"]))
        if kind == "repeat" and written:
            fields = list(draw(st.sampled_from(written)))
            if draw(st.booleans()):
                fields[10] = "7"  # same id, other content: a conflict
            writer.writerow(fields)
        elif kind == "blank":
            out.write("\n")
        elif kind == "junk":
            out.write(draw(st.sampled_from(["a,b,c\n", ",,,,\n", "x" * 30 + "\n"])))
        else:
            fields = draw(rows(f"c{i}"))
            if kind == "quoted":
                fields[2] = "two\nlines"
            written.append(fields)
            writer.writerow(fields)
    return out.getvalue().encode("utf-8", "surrogateescape")


def _general(data: bytes, job: RatingJob) -> tuple[str, str, dict[str, Any]]:
    rated, rejects = io.StringIO(), io.StringIO()
    lines = PhysicalLines(io.BytesIO(data))
    summary = rate_records(
        read_native(lines, "acme", job.card.zone),
        job,
        CsvRatedSink(rated),
        CsvRejectSink(rejects),
    )
    return rated.getvalue(), rejects.getvalue(), summary.as_dict()


def _fast(
    data: bytes, job: RatingJob, rater: NativeBatchRater
) -> tuple[str, str, dict[str, Any]]:
    rated, rejects = io.StringIO(), io.StringIO()
    lines = PhysicalLines(io.BytesIO(data))
    summary = rater(
        csv_record_batches(lines),
        NativeRows("acme", job.card.zone),
        job,
        CsvRatedSink(rated),
        CsvRejectSink(rejects),
        CallIdSet(capacity=1),  # 16 slots: the table grows while the fast path fills it
    )
    return rated.getvalue(), rejects.getvalue(), summary.as_dict()


RATERS = native_batch_raters()
SERVICES = Path(__file__).resolve().parents[3] / "shared" / "services"


@pytest.fixture(params=sorted(RATERS))
def rater(request: pytest.FixtureRequest) -> NativeBatchRater:
    """Each implementation of the fast path built on this install ("compiled", "pure")."""
    return RATERS[request.param]


def test_the_compiled_fast_path_is_there_when_built() -> None:
    # Given this install / Then the pure reference is always there, and the compiled build is
    # there exactly when setup.py built its extension (the "compiled" cases above run then)
    assert "pure" in RATERS
    built = any((SERVICES / f"native_batches{suffix}").is_file() for suffix in EXTENSION_SUFFIXES)
    assert ("compiled" in RATERS) == built


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of about 300 bytes: records straddle them (the same for every example)."""
    monkeypatch.setattr(records_module, "BLOCK_BYTES", 300)


@PROPERTY_SETTINGS
@given(card_=cards(), data=files(), tenant=st.sampled_from([None, "acme"]))
def test_the_fast_path_writes_what_the_general_path_writes(
    tiny_blocks: None,
    rater: NativeBatchRater,
    card_: CompiledCard,
    data: bytes,
    tenant: str | None,
) -> None:
    # Given any card and any native file / When both paths rate it
    job = RatingJob(card=card_, plan=NumberingPlan(), tenant=tenant, now_ms=ms(NOW))
    # Then the rated rows, the rejects and the summary are identical
    assert _fast(data, job, rater) == _general(data, job)


def test_the_fast_path_rates_the_plain_calls_itself(rater: NativeBatchRater) -> None:
    # Given a card and plain calls (answered and not) on a peak/off-peak prefix
    card_ = compiled(
        card(
            rate("49", "0.0190", initial=60, increment=6, band="peak"),
            rate("49", "0.0140", initial=60, increment=6, band="offpeak"),
            rate("49", "0.0300", service="sms", band="peak", connect_fee="0.001"),
            rate("49", "0.0100", service="sms", band="offpeak"),
            bands=PEAK_OFFPEAK_BANDS,
        )
    )
    data = (
        ",".join(COLUMNS) + "\n"
        "c1,acme,ext1,voice,out,4930111,4930123456,2026-03-02T09:59:00Z,"
        "2026-03-02T10:00:00Z,,61,ANSWERED,,\n"
        "c2,acme,ext1,voice,out,4930111,4930123456,2026-03-02T21:00:00Z,,,0,NO ANSWER,,\n"
        "c3,acme,ext1,sms,out,4930111,4930123456,2026-03-02T19:59:59Z,,"
        "2026-03-02T20:00:01Z,,,161,gsm7\n"
    ).encode()
    job = RatingJob(card=card_, now_ms=ms(NOW))
    # When the fast path rates them, with the general engine unavailable
    calls: list[object] = []
    original = NativeRows.read

    def counting(self: NativeRows, *args: Any) -> object:
        calls.append(args)
        return original(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NativeRows, "read", counting)
        rated, _rejects, summary = _fast(data, job, rater)
    # Then only the header went through the general reader
    assert len(calls) == 1
    # and 61 s at peak on 60/6 bills 66 s: 66 × 0.0190 / 60 = 0.0209; the unanswered call
    # is labelled with its off-peak destination at cost 0
    lines = rated.splitlines()
    assert lines[1].split(",")[7:16] == [
        "49",
        "",
        "peak",
        "66",
        "",
        "0.0209",
        "USD",
        "test",
        "rated",
    ]
    assert lines[2].split(",")[7:16] == [
        "49",
        "",
        "offpeak",
        "0",
        "",
        "0",
        "USD",
        "test",
        "unanswered",
    ]
    # and the SMS is billed at its first time given (the start, at peak): 161 GSM-7
    # characters are 2 segments, 2 × 0.0300 + 0.001 = 0.0610
    assert lines[3].split(",")[7:16] == [
        "49",
        "",
        "peak",
        "0",
        "2",
        "0.0610",
        "USD",
        "test",
        "rated",
    ]
    assert summary["rated"] == 2 and summary["unanswered"] == 1
