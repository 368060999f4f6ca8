"""The native CDR CSV (SPEC section 4): a header row, then one call per row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import tzinfo
from operator import itemgetter

from shared.domain.calls import CallRecord, Direction, Encoding, RejectReason, Service
from shared.domain.errors import ValidationError
from shared.formats.fields import FieldError, parse_quantity, parse_seconds_ms, parse_timestamp
from shared.formats.records import PhysicalLines, RowOutcome, csv_records, has_undecodable

COLUMNS = (
    "call_id",
    "tenant",
    "account",
    "service",
    "direction",
    "caller",
    "callee",
    "start_time",
    "answer_time",
    "end_time",
    "billsec",
    "disposition",
    "quantity",
    "encoding",
)
REQUIRED = frozenset({"call_id", "callee"})
ANSWERED_DISPOSITIONS = frozenset({"", "ANSWERED", "ANSWER"})
_SERVICES = {service.value: service for service in Service}
_DIRECTIONS = {direction.value: direction for direction in Direction} | {
    "outbound": Direction.OUT,
    "inbound": Direction.IN,
}
#: direction texts a row may carry (exactly, before the general path's case folding)
DIRECTION_TEXTS = {"": Direction.OUT, **_DIRECTIONS}
_ENCODINGS = {encoding.value: encoding for encoding in Encoding}


class HeaderError(ValidationError):
    """The file's header is not a native CDR header; the message says what is missing.

    A ValidationError (a BillingError), so every caller maps it to a clear refusal."""


def read_native(
    lines: PhysicalLines, tenant: str, zone: tzinfo
) -> Iterator[RowOutcome | CallRecord]:
    """Parse native CDR CSV. ``tenant`` is used where the row leaves it empty."""
    rows = NativeRows(tenant, zone)
    read = rows.read
    for start, raw, fields, error in csv_records(lines):
        item = read(start, raw, fields, error)
        if item is not None:
            yield item


class NativeRows:
    """Turns a native file's records, header first, into calls or rejects: one record at a
    time, so the block-wise rating fast path and :func:`read_native` read rows alike."""

    __slots__ = ("canonical", "pad", "pick", "tenant", "width", "zone")

    def __init__(self, tenant: str, zone: tzinfo) -> None:
        self.tenant = tenant
        self.zone = zone
        self.pick: Callable[[list[str]], tuple[str, ...]] | None = None
        self.width = 0
        self.pad = False
        #: the header is COLUMNS in order: a row's fields are the columns as they stand
        self.canonical = False

    def read(
        self, start: int, raw: str, fields: list[str] | None, error: str
    ) -> RowOutcome | CallRecord | None:
        """The record's call or reject; None for the header row."""
        if fields is None:
            return RowOutcome.reject(start, raw, RejectReason.MALFORMED, error)
        if self.pick is None:
            self.pick, self.width, self.pad = _header(fields)
            self.canonical = self.width == len(COLUMNS) and [
                name.strip().lower().lstrip("\ufeff") for name in fields
            ] == list(COLUMNS)
            return None
        if not raw.isascii() and has_undecodable(raw):
            return RowOutcome.reject(start, raw, RejectReason.ENCODING, "bytes that are not UTF-8")
        if len(fields) != self.width:
            return RowOutcome.reject(
                start,
                raw,
                RejectReason.MALFORMED,
                f"expected {self.width} fields, found {len(fields)}",
            )
        if self.pad:
            fields.append("")
        try:
            return _call(self.pick(fields), self.tenant, self.zone, start, raw)
        except FieldError as problem:
            return RowOutcome.reject(start, raw, RejectReason.MALFORMED, str(problem))


def _header(fields: list[str]) -> tuple[Callable[[list[str]], tuple[str, ...]], int, bool]:
    """An itemgetter returning the 14 native columns in COLUMNS order ("" when absent)."""
    names = [name.strip().lower().lstrip("\ufeff") for name in fields]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise HeaderError(f"unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}")
    missing = REQUIRED - set(names)
    if missing:
        raise HeaderError(f"missing column(s) {', '.join(sorted(missing))}")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise HeaderError(f"column(s) named twice: {', '.join(duplicated)}")
    absent = len(names)  # index of the "" appended to rows when a column is missing
    indexes = [names.index(name) if name in names else absent for name in COLUMNS]
    pick: Callable[[list[str]], tuple[str, ...]] = itemgetter(*indexes)
    return pick, len(names), absent in indexes


def _call(values: tuple[str, ...], tenant: str, zone: tzinfo, line_no: int, raw: str) -> CallRecord:
    (
        call_id,
        row_tenant,
        account,
        service_text,
        direction_text,
        caller,
        callee,
        start_text,
        answer_text,
        end_text,
        billsec,
        disposition,
        quantity_text,
        encoding_text,
    ) = values
    call_id = call_id.strip()
    if not call_id:
        raise FieldError("call_id: empty")
    service = _SERVICES.get(service_text) if service_text else Service.VOICE
    if service is None:
        service = _SERVICES.get(service_text.strip().lower())
        if service is None:
            raise FieldError(f"service: {service_text!r} is not one of {', '.join(_SERVICES)}")
    direction = _DIRECTIONS.get(direction_text) if direction_text else Direction.OUT
    if direction is None:
        direction = _DIRECTIONS.get(direction_text.strip().lower())
        if direction is None:
            raise FieldError(f"direction: {direction_text!r} is not 'out' or 'in'")
    encoding = None
    if encoding_text:
        encoding = _ENCODINGS.get(encoding_text.strip().lower())
        if encoding is None:
            raise FieldError(f"encoding: {encoding_text!r} is not gsm7 or ucs2")
    start = parse_timestamp(start_text, zone, "start_time")
    answer = parse_timestamp(answer_text, zone, "answer_time")
    talk = parse_seconds_ms(billsec, "billsec")
    # billsec is authoritative (SPEC 3.1): the end time is only read when it is needed
    end = (
        None
        if talk is not None and answer is not None
        else parse_timestamp(end_text, zone, "end_time")
    )
    if talk is None:
        talk = end - answer if (end is not None and answer is not None) else 0
    if answer is None and talk > 0:
        answer = end - talk if end is not None else start
    answered = disposition in ANSWERED_DISPOSITIONS or (
        disposition.strip().upper() in ANSWERED_DISPOSITIONS
    )
    return CallRecord(
        call_id,
        row_tenant.strip() or tenant,
        callee.strip(),
        service,
        direction,
        account,
        caller,
        start,
        answer,
        end,
        talk,
        answered,
        parse_quantity(quantity_text, "quantity") if quantity_text else None,
        encoding,
        raw,
        line_no,
        raw,
    )
