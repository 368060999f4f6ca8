"""The native CDR CSV (SPEC section 4): a header row, then one call per row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import tzinfo

from shared.domain.calls import CallRecord, Direction, Encoding, RejectReason, Service
from shared.formats.fields import FieldError, parse_quantity, parse_seconds_ms, parse_timestamp
from shared.formats.records import PhysicalLines, RowOutcome, csv_records, has_undecodable

COLUMNS = (
    "call_id", "tenant", "account", "service", "direction", "caller", "callee",
    "start_time", "answer_time", "end_time", "billsec", "disposition", "quantity", "encoding",
)
REQUIRED = frozenset({"call_id", "callee"})
ANSWERED_DISPOSITIONS = frozenset({"", "ANSWERED", "ANSWER"})
_SERVICES = {service.value: service for service in Service}
_DIRECTIONS = {direction.value: direction for direction in Direction} | {
    "outbound": Direction.OUT, "inbound": Direction.IN,
}
_ENCODINGS = {encoding.value: encoding for encoding in Encoding}


class HeaderError(ValueError):
    """The file's header is not a native CDR header; the message says what is missing."""


def read_native(lines: PhysicalLines, tenant: str, zone: tzinfo) -> Iterator[RowOutcome]:
    """Parse native CDR CSV. ``tenant`` is used where the row leaves it empty."""
    records = csv_records(lines)
    header: dict[str, int] | None = None
    for line_no, raw, fields, error in records:
        if fields is None:
            yield RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, error)
            continue
        if header is None:
            header = _header(fields)
            continue
        yield _row(line_no, raw, fields, header, tenant, zone)


def _header(fields: list[str]) -> dict[str, int]:
    names = [name.strip().lower().lstrip("\ufeff") for name in fields]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise HeaderError(f"unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}")
    missing = REQUIRED - set(names)
    if missing:
        raise HeaderError(f"missing column(s) {', '.join(sorted(missing))}")
    return {name: i for i, name in enumerate(names)}


def _row(
    line_no: int, raw: str, fields: list[str], header: dict[str, int], tenant: str, zone: tzinfo
) -> RowOutcome:
    if has_undecodable(raw):
        return RowOutcome.reject(line_no, raw, RejectReason.ENCODING, "bytes that are not UTF-8")
    if len(fields) != len(header):
        return RowOutcome.reject(
            line_no, raw, RejectReason.MALFORMED,
            f"expected {len(header)} fields, found {len(fields)}",
        )

    def get(name: str) -> str:
        index = header.get(name)
        return "" if index is None else fields[index].strip()

    try:
        call = _call(get, tenant, zone)
    except FieldError as error:
        return RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, str(error))
    call.fingerprint = raw
    return RowOutcome(line_no, raw, call)


def _call(get: Callable[[str], str], tenant: str, zone: tzinfo) -> CallRecord:
    call_id = get("call_id")
    if not call_id:
        raise FieldError("call_id: empty")
    service = _SERVICES.get(get("service").lower() or "voice")
    if service is None:
        raise FieldError(f"service: {get('service')!r} is not one of {', '.join(_SERVICES)}")
    direction = _DIRECTIONS.get(get("direction").lower() or "out")
    if direction is None:
        raise FieldError(f"direction: {get('direction')!r} is not 'out' or 'in'")
    encoding = None
    if get("encoding"):
        encoding = _ENCODINGS.get(get("encoding").lower())
        if encoding is None:
            raise FieldError(f"encoding: {get('encoding')!r} is not gsm7 or ucs2")
    start = parse_timestamp(get("start_time"), zone, "start_time")
    answer = parse_timestamp(get("answer_time"), zone, "answer_time")
    end = parse_timestamp(get("end_time"), zone, "end_time")
    talk = parse_seconds_ms(get("billsec"), "billsec")
    if talk is None:
        talk = end - answer if (end is not None and answer is not None) else 0
    if answer is None and talk > 0:
        answer = end - talk if end is not None else start
    return CallRecord(
        call_id=call_id,
        tenant=get("tenant") or tenant,
        callee=get("callee"),
        service=service,
        direction=direction,
        account=get("account"),
        caller=get("caller"),
        start_ms=start,
        answer_ms=answer,
        end_ms=end,
        talk_ms=talk,
        answered=get("disposition").upper() in ANSWERED_DISPOSITIONS,
        quantity=parse_quantity(get("quantity"), "quantity"),
        encoding=encoding,
    )

