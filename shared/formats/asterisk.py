"""Asterisk ``Master.csv`` readers: ``cdr_csv`` (with or without the newcdrcolumns tail) and
``cdr_custom``'s default mapping (SPEC section 4; rules and examples in docs/formats.md).

One Asterisk call can write several rows (one per bridged leg: ring groups, ``Local/``
channels, transfers). With the newcdrcolumns tail every row names its call's ``linkedid``;
rows sharing it are **one call**:

- the **billed row** is the answered row whose ``dstchannel`` is not a ``Local/`` channel and
  whose callee (``dst``) is an outside number (not an extension of at most
  ``max_extension_digits`` digits, nor a dialplan name such as ``ch1``); else the first
  answered row. "Answered" is disposition ``ANSWERED`` with a non-zero ``billsec`` (SPEC 3.1:
  billsec 0 is unanswered);
- every other row of the call is ``merged``;
- a call with no answered row counts one ``unanswered`` (carried by its originating row, the
  one whose ``uniqueid`` is the ``linkedid``, else its first row) and merges the rest.

Without a ``linkedid`` (cdr_csv without the tail, cdr_custom) each row is its own call, named by
its ``uniqueid``.

**Streaming and memory.** A call's rows are usually adjacent but may interleave with other
calls' rows. Open calls wait in an insertion-ordered dict (least recently seen first); a call is
settled once ``window`` rows (default :data:`GROUP_WINDOW_ROWS`) have gone by without a row of
it, when it reaches :data:`MAX_LEGS` rows, or at the end of the file. So at most ``window``
calls are open at once and at most ``MAX_LEGS`` rows are held per call, whatever the file size.
A leg arriving after its call was settled starts a new call with the same id; the rating
service's dedupe then rejects it as ``conflict`` (kept for review, never billed twice).

**Repeated rows.** A row identical to a row of its open call (the same leg delivered twice, as
when a file's tail is repeated) is a ``duplicate`` row. A whole call repeated after its first
copy was settled has the same fingerprint (its rows' text joined), so the rating service
counts its carrier row ``duplicate`` and its other rows stay ``merged``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from shared.domain.calls import CallRecord, CallStatus, Direction, RejectReason
from shared.domain.rating.numbers import NumberKind, normalise
from shared.formats.cdr_context import ReaderContext
from shared.formats.fields import FieldError, parse_seconds_ms, parse_timestamp
from shared.formats.records import PhysicalLines, RowOutcome, csv_records, has_undecodable

#: cdr_csv's fixed order with loguniqueid and loguserfield on (Asterisk's defaults)
CSV_COLUMNS: tuple[str, ...] = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield",
)
#: cdr_csv with ``newcdrcolumns = yes``
CSV_NEW_COLUMNS: tuple[str, ...] = (*CSV_COLUMNS, "peeraccount", "linkedid", "sequence")
#: cdr_custom.conf's sample mapping (the "default" most installations keep)
CUSTOM_COLUMNS: tuple[str, ...] = (
    "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata", "start",
    "answer", "end", "duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid",
    "userfield", "sequence",
)

GROUP_WINDOW_ROWS = 500
MAX_LEGS = 256
_ANSWERED = "ANSWERED"
_LOCAL = "Local/"
_STAMP_CACHE = 4096
_OUTSIDE = (NumberKind.E164, NumberKind.EMERGENCY)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Column positions of one Asterisk row layout; ``linkedid`` is -1 when absent."""

    count: int
    src: int
    dst: int
    dcontext: int
    dstchannel: int
    start: int
    answer: int
    end: int
    billsec: int
    disposition: int
    accountcode: int
    uniqueid: int
    linkedid: int

    @classmethod
    def of(cls, columns: tuple[str, ...]) -> _Layout:
        at = {name: i for i, name in enumerate(columns)}
        return cls(
            len(columns), at["src"], at["dst"], at["dcontext"], at["dstchannel"], at["start"],
            at["answer"], at["end"], at["billsec"], at["disposition"], at["accountcode"],
            at["uniqueid"], at.get("linkedid", -1),
        )


CSV_LAYOUTS = {18: _Layout.of(CSV_COLUMNS), 21: _Layout.of(CSV_NEW_COLUMNS)}
CUSTOM_LAYOUTS = {19: _Layout.of(CUSTOM_COLUMNS)}

# One parsed row: (line_no, raw, fields, layout, start_ms, answer_ms, end_ms, talk_ms, answered)
_Leg = tuple[int, str, list[str], _Layout, int | None, int | None, int | None, int, bool]


class _Call:
    """The rows of one call seen so far, and the record number of its latest row."""

    __slots__ = ("key", "legs", "seen")

    def __init__(self, key: str) -> None:
        self.key = key
        self.legs: list[_Leg] = []
        self.seen = 0


def read_asterisk_csv(
    lines: PhysicalLines, context: ReaderContext, window: int | None = None
) -> Iterator[RowOutcome]:
    """cdr_csv rows: 18 fields (standard order) or 21 (with the newcdrcolumns tail)."""
    return _read(lines, context, CSV_LAYOUTS, "18 or 21 fields (Asterisk cdr_csv)", window)


def read_asterisk_custom(
    lines: PhysicalLines, context: ReaderContext, window: int | None = None
) -> Iterator[RowOutcome]:
    """cdr_custom rows in the default mapping: 19 fields, no ``linkedid``."""
    return _read(lines, context, CUSTOM_LAYOUTS, "19 fields (Asterisk cdr_custom)", window)


def _read(
    lines: PhysicalLines,
    context: ReaderContext,
    layouts: dict[int, _Layout],
    expected: str,
    window: int | None,
) -> Iterator[RowOutcome]:
    window = GROUP_WINDOW_ROWS if window is None else window
    if window < 1:
        raise ValueError(f"window must be at least 1 row, got {window}")
    open_calls: OrderedDict[str, _Call] = OrderedDict()
    current: _Call | None = None  # the call of the previous row, already last in open_calls
    record = 0
    oldest_seen = 0  # a lower bound of the least recently seen open call's `seen`
    stamps: dict[str, int | None] = {}  # timestamp text → epoch ms: a call's legs share times
    for line_no, raw, fields, error in csv_records(lines):
        record += 1
        if fields is None:
            yield RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, error)
            continue
        leg = _leg(line_no, raw, fields, layouts, expected, context, stamps)
        if isinstance(leg, RowOutcome):
            yield leg
            continue
        layout = leg[3]
        linkedid = fields[layout.linkedid].strip() if layout.linkedid >= 0 else ""
        if not linkedid:  # a call of one row, named by its uniqueid
            one_row = _record(fields[layout.uniqueid].strip(), leg, leg, leg[4], raw, context)
            yield RowOutcome(line_no, raw, one_row)
        else:
            if current is None or current.key != linkedid:
                current = open_calls.get(linkedid)
                if current is None:
                    current = open_calls[linkedid] = _Call(linkedid)
                else:
                    open_calls.move_to_end(linkedid)
            current.seen = record
            for other in current.legs:
                if other[1] == raw:
                    # the same leg delivered twice (a repeated file tail): not a leg of its own
                    yield RowOutcome(line_no, raw, None, CallStatus.DUPLICATE)
                    break
            else:
                current.legs.append(leg)
            if len(current.legs) >= MAX_LEGS:
                del open_calls[linkedid]
                yield from _settle(linkedid, current.legs, context)
                current = None
        if record - oldest_seen < window:
            continue
        # Settle the calls not seen for `window` rows (the least recently seen come first).
        oldest_seen = record
        while open_calls:
            oldest = open_calls[next(iter(open_calls))]
            if record - oldest.seen < window:
                oldest_seen = oldest.seen
                break
            open_calls.popitem(last=False)
            if oldest is current:
                current = None
            yield from _settle(oldest.key, oldest.legs, context)
    for call in open_calls.values():
        yield from _settle(call.key, call.legs, context)


def _leg(
    line_no: int,
    raw: str,
    fields: list[str],
    layouts: dict[int, _Layout],
    expected: str,
    context: ReaderContext,
    stamps: dict[str, int | None],
) -> _Leg | RowOutcome:
    """Parse one row, or the reject saying which field is wrong."""
    if not raw.isascii() and has_undecodable(raw):
        return RowOutcome.reject(line_no, raw, RejectReason.ENCODING, "bytes that are not UTF-8")
    layout = layouts.get(len(fields))
    if layout is None:
        return RowOutcome.reject(
            line_no, raw, RejectReason.MALFORMED, f"expected {expected}, found {len(fields)}"
        )
    if not fields[layout.uniqueid].strip():
        return RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, "uniqueid: empty")
    zone = context.zone
    try:
        start = _stamp(stamps, fields[layout.start], zone, "start")
        answer = _stamp(stamps, fields[layout.answer], zone, "answer")
        talk = parse_seconds_ms(fields[layout.billsec], "billsec")
        # billsec is authoritative (SPEC 3.1): the end time is read only when it is needed
        end = None if talk is not None and answer is not None else (
            _stamp(stamps, fields[layout.end], zone, "end")
        )
    except FieldError as problem:
        return RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, str(problem))
    if talk is None:
        talk = end - answer if (end is not None and answer is not None) else 0
    # Non-zero, not just positive: a negative billsec is billed as `bad_duration`, not hidden.
    answered = talk != 0 and fields[layout.disposition].strip() == _ANSWERED
    return (line_no, raw, fields, layout, start, answer, end, talk, answered)


def _stamp(stamps: dict[str, int | None], text: str, zone: ZoneInfo, field: str) -> int | None:
    """parse_timestamp, remembering recent texts (Asterisk writes whole seconds, so the legs of
    a call and calls of the same second repeat them)."""
    if text in stamps:
        return stamps[text]
    if len(stamps) >= _STAMP_CACHE:
        stamps.clear()
    value = stamps[text] = parse_timestamp(text, zone, field)
    return value


def _settle(key: str, legs: list[_Leg], context: ReaderContext) -> Iterator[RowOutcome]:
    """One outcome per row of a finished call, in line order: the call on its billed (or
    originating) row, ``merged`` on the others."""
    if len(legs) == 1:
        leg = legs[0]
        yield RowOutcome(leg[0], leg[1], _record(key, leg, leg, leg[4], leg[1], context))
        return
    billed = _billed(legs, context)
    origin = _origin(key, legs)
    start = min((leg[4] for leg in legs if leg[4] is not None), default=None)
    carrier = billed or origin
    call = _record(key, carrier, origin, start, "\n".join(leg[1] for leg in legs), context)
    for leg in legs:
        if leg is carrier:
            yield RowOutcome(leg[0], leg[1], call)
        else:
            yield RowOutcome(leg[0], leg[1], None, CallStatus.MERGED)


def _billed(legs: list[_Leg], context: ReaderContext) -> _Leg | None:
    answered = [leg for leg in legs if leg[8]]
    if len(answered) < 2:
        return answered[0] if answered else None
    plan = context.plan
    for leg in answered:
        fields, layout = leg[2], leg[3]
        if not fields[layout.dstchannel].startswith(_LOCAL) and (
            normalise(fields[layout.dst], plan).kind in _OUTSIDE
        ):
            return leg
    return answered[0]


def _origin(key: str, legs: list[_Leg]) -> _Leg:
    """The row of the channel that started the call (its uniqueid is the linkedid)."""
    for leg in legs:
        if leg[2][leg[3].uniqueid].strip() == key:
            return leg
    return legs[0]


def _record(
    key: str, leg: _Leg, origin: _Leg, start: int | None, fingerprint: str,
    context: ReaderContext,
) -> CallRecord:
    _line, _raw, fields, layout, _start, answer, end, talk, answered = leg
    if answered and answer is None:
        answer = end - talk if end is not None else start
    contexts = context.contexts
    direction = Direction.OUT
    if contexts:
        direction = (
            contexts.get(origin[2][origin[3].dcontext].strip())
            or contexts.get(fields[layout.dcontext].strip())
            or Direction.OUT
        )
    return CallRecord(
        call_id=key,
        tenant=context.tenant,
        callee=fields[layout.dst].strip(),
        direction=direction,
        account=fields[layout.accountcode].strip(),
        caller=fields[layout.src].strip(),
        start_ms=start,
        answer_ms=answer,
        end_ms=end,
        talk_ms=talk,
        answered=answered,
        fingerprint=fingerprint,
    )


def _looks_like_time(text: str, required: bool) -> bool:
    """``YYYY-MM-DD …`` or ``YYYY/M/D …`` (cheap shape check for detection, not a parse)."""
    text = text.strip()
    if not text:
        return not required
    return len(text) >= 10 and text[:4].isdigit() and text[4] in "-/"


def _times_at(fields: list[str], start: int) -> bool:
    return (
        _looks_like_time(fields[start], True)
        and _looks_like_time(fields[start + 1], False)
        and _looks_like_time(fields[start + 2], False)
    )


def looks_like_asterisk_csv(fields: list[str]) -> bool:
    """18 or 21 fields with start, answer, end at positions 9-11."""
    return len(fields) in CSV_LAYOUTS and _times_at(fields, 9)


def looks_like_asterisk_custom(fields: list[str]) -> bool:
    """19 fields with start, answer, end at positions 8-10."""
    return len(fields) in CUSTOM_LAYOUTS and _times_at(fields, 8)
