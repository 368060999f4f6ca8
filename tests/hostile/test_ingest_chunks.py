"""Hostile CDR files through the whole ingest service (in-memory stores that enforce
DynamoDB's conditions): chunking must not change the outcome.

A file is read in byte-range chunks cut after the last complete record (quoted line breaks
included), its header given again to every later chunk. So for any bytes, rating with tiny
chunks must end exactly as rating in one chunk: the same balance, the same calls charged,
the same counts per outcome and reason, and the same rejects at the same physical lines.
Hostile inputs: quoted fields with line breaks and doubled quotes, unclosed quotes, lone
``\\r``, NUL bytes, invalid UTF-8, blank lines, truncated last rows, duplicates.

Native and FreeSWITCH files only: an Asterisk call whose legs straddle a chunk boundary is a
documented limit (docs/data-model.md, "Known limits"), not a bug.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.tenants import TenantSettings
from shared.services.ingest import CdrFile, IngestDeps, IngestOptions, ingest_file
from tests.fakes.usage_store import MemoryObjects, MemoryUsageStore, RecordedEvents
from tests.hostile.budget import PURE

NOW_MS = 1_800_000_000_000
CARD = compile_card(load_card({
    "card": "hostile", "currency": "USD",
    "rates": [{"prefix": "44", "destination": "UK",
               "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}]}],
}))
NATIVE_HEADER = b"call_id,tenant,caller,callee,start_time,answer_time,billsec\n"
FS_HEADER = b"uuid,caller_id_number,destination_number,start_stamp,answer_stamp,billsec\n"


class Tenants:
    def get(self, tenant: str) -> TenantSettings | None:
        return TenantSettings(tenant_id="acme", card="hostile", currency="USD") if (
            tenant == "acme") else None


def _ingest(data: bytes, chunk_bytes: int) -> tuple[object, ...]:
    store, objects = MemoryUsageStore(), MemoryObjects()
    objects.objects[("b", "tenants/acme/f.csv")] = data
    etag = hashlib.md5(data).hexdigest()
    file = CdrFile("b", "tenants/acme/f.csv", etag, len(data), etag=etag)
    deps = IngestDeps(objects=objects, outputs=objects, tenants=Tenants(),
                      cards=lambda _s: CARD, store=store, events=RecordedEvents(),
                      now_ms=lambda: NOW_MS, sleep=lambda _s: None)
    options = IngestOptions(chunk_bytes=chunk_bytes, max_line_bytes=4096)
    result = ingest_file(file, deps, options)
    assert result.status == "done"
    rejects: list[str] = []
    for (_bucket, key), text in sorted(objects.texts.items()):
        if key.startswith("rejects/"):
            rejects += text.splitlines()[1:]  # without each chunk file's header row
    summary = result.summary.as_dict()
    return (
        store.balance("acme"), store.ledger_sum("acme"),
        sorted((cid, item.rating.cost) for (_t, cid), item in store.calls.items()),
        summary, sorted(rejects),
    )


_GOOD = [
    b"c1,acme,+351912345678,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61",
    b"c2,acme,1001,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,121",
    b'"c3",acme,"+1 (415) 555-0123","442071234567",2026-10-05T10:00:00Z,,0',
    b'c4,acme,"line\nbreak",442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,7',
    b'c5,acme,"say ""hi""",442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,30',
]
_BAD = [
    b'c6,acme,"unclosed,442071234567,2026-10-05T10:00:00Z,,61',
    b"c7,acme,\x00,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61",
    b"c8,acme,\xff\xfe,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61",
    b"c9,acme,1,2,3", b"", b" ", b"\r", b"c10,acme,1,44\r20,x,y,z",
    b"c11,other,1,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61",
    b"c12,acme,1,442071234567,not a time,,61", b",,,,,,", b'"', b'""',
]
_FS = [
    b"0f6e8f6a-2a4b-4c53-9a3e-6f1f1b9e1a01,1001,442071234567,2026-10-05 10:00:00,"
    b"2026-10-05 10:00:02,61",
    b'"0f6e8f6a-2a4b-4c53-9a3e-6f1f1b9e1a02","1001","442071234567","2026-10-05 10:00:00",'
    b'"",0',
]


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    native = draw(st.booleans())
    rows = draw(st.lists(st.sampled_from(_GOOD + _BAD if native else _FS + _BAD), max_size=14))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(rows),
                         max_size=len(rows)))
    body = b"".join(r + e for r, e in zip(rows, ends, strict=True))
    if draw(st.booleans()):
        body = body.rstrip(b"\r\n")  # no newline at the end of the file
    return (NATIVE_HEADER if native else FS_HEADER) + body


@PURE
@given(data=hostile_files(), chunk_bytes=st.integers(1, 200))
def test_tiny_chunks_end_exactly_like_one_chunk(data: bytes, chunk_bytes: int) -> None:
    whole = _ingest(data, 1 << 20)
    chunked = _ingest(data, chunk_bytes)

    assert chunked == whole
    # and the whole file's balance is its rated calls' exact sum, in Decimal
    balance, ledger, calls, summary, _rejects = whole
    assert balance == ledger == -sum((cost for _c, cost in calls), Decimal(0))  # type: ignore[attr-defined]
    assert summary["rows"] == (  # type: ignore[index]
        summary["rated"] + summary["unanswered"] + summary["rejected"]  # type: ignore[index]
        + summary["duplicates"] + summary["merged"]  # type: ignore[index]
    )


FS_ROW = _FS[0]


def test_an_escaped_quote_never_closes_a_record_for_the_chunk_cutter() -> None:
    # Given an unclosed quote, then a line holding only "" (an escaped quote inside it, for
    # the csv module), then a good row: the reader sees one record running to the end
    data = FS_HEADER + b'c6,acme,"unclosed,4420,2026-10-05T10:00:00Z,,61\n""\n' + FS_ROW + b"\n"

    # Then one-byte chunks end as one chunk does (the cutter used to take "" for the
    # closing quote and a stray one, ending the record early and charging the row)
    assert _ingest(data, 1) == _ingest(data, 1 << 20)


def test_a_malformed_line_does_not_carry_the_next_quoted_line_into_its_chunk() -> None:
    # Given a line the csv module refuses (a lone CR), a lone quote, and a good row
    data = FS_HEADER + b"c10,acme,1,44\r20,x,y,z\n\"\n" + FS_ROW + b"\n"

    # Then the quote starts a chunk of its own and is read as in one chunk (it used to be cut
    # with the malformed line, so its record ended at the chunk's end instead of the file's)
    assert _ingest(data, 5) == _ingest(data, 1 << 20)
