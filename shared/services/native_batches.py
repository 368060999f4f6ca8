"""The bulk fast path of ``billing rate`` for native files (docs/rating.md, performance).

One source, two builds. This module is plain Python and is the reference implementation;
where a C compiler was there at install time, setup.py also compiles this same file with
Cython (pure-Python mode), taking the C types of the per-row locals from
``native_batches.pxd`` beside it. The compiled module has the same name and shadows this
file on import (an extension module is found before a ``.py``), so
:func:`shared.services.rate_file.native_batch_raters` loads this file's source explicitly
for the pure path. Nothing here imports Cython: the module runs unchanged without it, as in
Lambda.

Integer semantics stay Python's in both builds: C ``long long`` only holds epoch
milliseconds, talk and billed times (bounded far below 2**63) and the dedupe table's 64-bit
hashes and slots; costs stay Python ints and ``Decimal``; ``//`` keeps floor division
(cdivision is off).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from shared.domain.calls import CallRecord, Direction, Encoding, Service
from shared.domain.rating.engine import Rating
from shared.domain.rating.fast import PlainCalls, Plan
from shared.domain.summary import FileSummary
from shared.formats.csv_safe import FORMULA_STARTS
from shared.formats.fields import (
    MINUTES_Z,
    FieldError,
    parse_quantity,
    parse_seconds_ms,
    utc_hour_ms,
)
from shared.formats.native_cdr import DIRECTION_TEXTS, NativeRows
from shared.formats.rated_cells import billed_seconds_text, plain_cell, plain_fragment
from shared.formats.records import RecordBatch, RowOutcome
from shared.ports import RejectSink
from shared.services.rate_file import CallIdSet, RatedTextSink, RatingJob, _Tally

#: per direction text: output text, then (hour slot, lengths by head, short lengths) for
#: voice and for SMS
Route = tuple[
    str,
    int,
    dict[str, tuple[int, ...]],
    tuple[int, ...],
    int,
    dict[str, tuple[int, ...]],
    tuple[int, ...],
]
#: per UTC hour: segment end, then plans for voice out, voice in, SMS out, SMS in
HourEntry = tuple[
    int,
    dict[str, Plan | None],
    dict[str, Plan | None],
    dict[str, Plan | None],
    dict[str, Plan | None],
]
SMS_ENCODINGS: dict[str, Encoding | None] = {"": None, **{e.value: e for e in Encoding}}
_PLAIN_DISPOSITIONS = frozenset({"", "ANSWERED", "ANSWER"})
_NOT_CACHED = object()
_FAR = 2**62
_MS_PER_HOUR = 3_600_000
_CACHE_LIMIT = 100_000
#: what the fast path makes of a row (0: it goes to the general path)
_VOICE, _UNANSWERED, _SMS = 1, 2, 3
#: where a Route's voice and SMS parts start
_VOICE_ROUTE, _SMS_ROUTE = 1, 4


def _routes(fast: PlainCalls) -> dict[str, Route]:
    """Direction text → (its output text, then for voice and for SMS: slot in an hour's
    entry and the prefix lengths to try by a number's first digits)."""
    directions: dict[str, Route] = {}
    for text, direction in DIRECTION_TEXTS.items():
        voice = fast.indexes.get((Service.VOICE.value, direction.value))
        sms = fast.indexes.get((Service.SMS.value, direction.value))
        if voice is not None or sms is not None:
            out_slot = direction is Direction.OUT
            directions[text] = (
                direction.value,
                1 if out_slot else 2,
                voice.by_head if voice else {},
                voice.short_lengths if voice else (),
                3 if out_slot else 4,
                sms.by_head if sms else {},
                sms.short_lengths if sms else (),
            )
    return directions


class _Lookups:
    """One file's caches (each bounded by _CACHE_LIMIT entries) and what fills them on a
    miss; the per-row loop reads the dictionaries directly and calls these only on a miss."""

    __slots__ = (
        "default_tenant",
        "fast",
        "hours",
        "hours_ms",
        "max_talk",
        "only_tenant",
        "segments",
        "talks",
        "tenants",
        "zone",
    )

    def __init__(self, fast: PlainCalls, job: RatingJob, rows: NativeRows) -> None:
        self.fast = fast
        self.only_tenant, self.default_tenant, self.zone = job.tenant, rows.tenant, rows.zone
        self.max_talk = job.limits.max_talk_ms
        self.segments: dict[tuple[str, str], tuple[int, str] | None] = {}
        self.tenants: dict[str, str | None] = {}
        self.talks: dict[str, int | None] = {}
        self.hours_ms: dict[str, int | None] = {}
        self.hours: dict[int, HourEntry | None] = {}

    def hour_ms_of(self, text: str) -> int | None:
        """The hour of ``text`` (see utc_hour_ms), cached by its first 13 characters."""
        hours_ms, key = self.hours_ms, text[:13]
        if key in hours_ms:
            return hours_ms[key]
        if len(hours_ms) >= _CACHE_LIMIT:
            hours_ms.clear()
        found = hours_ms[key] = utc_hour_ms(text, self.zone)
        return found

    def moment(self, text: str) -> int:
        """Epoch ms of a time field; -1 when empty, -2 when the general path must read it."""
        if not text:
            return -1
        at: Any = self.hours_ms.get(text[:13], _NOT_CACHED)
        if at is _NOT_CACHED:
            at = self.hour_ms_of(text)
        within = MINUTES_Z.get(text[13:])
        return -2 if at is None or within is None else at + within

    def hour_of(self, hour: int) -> HourEntry | None:
        """(segment end, voice out, voice in, SMS out, SMS in plans) for a UTC hour."""
        fast = self.fast
        segment = fast.hour_segment(hour)
        entry = None
        if segment is not None:
            end, active = segment
            plans = fast.prefix_plans
            entry = (
                end,
                plans("voice", "out", active),
                plans("voice", "in", active),
                plans("sms", "out", active),
                plans("sms", "in", active),
            )
        if len(self.hours) >= _CACHE_LIMIT:
            self.hours.clear()
        self.hours[hour] = entry
        return entry

    def segments_of(self, quantity: str, encoding: str) -> tuple[int, str] | None:
        """An SMS's billed segments (and their text), or None for the general path."""
        found: tuple[int, str] | None = None
        if encoding in SMS_ENCODINGS:
            try:
                count = self.fast.sms_segments(
                    parse_quantity(quantity, "quantity") if quantity else None,
                    SMS_ENCODINGS[encoding],
                )
            except FieldError:
                count = None
            if count is not None:
                found = (count, str(count))
        if len(self.segments) >= _CACHE_LIMIT:
            self.segments.clear()
        self.segments[(quantity, encoding)] = found
        return found

    def tenant_of(self, text: str) -> str | None:
        resolved = text.strip() or self.default_tenant
        usable = (
            text == text.strip()
            and (self.only_tenant is None or resolved == self.only_tenant)
            and plain_cell(resolved)
        )
        if len(self.tenants) >= _CACHE_LIMIT:
            self.tenants.clear()
        found = self.tenants[text] = resolved if usable else None
        return found

    def talk_of(self, text: str) -> int | None:
        try:
            talk = parse_seconds_ms(text, "billsec")
        except FieldError:
            talk = None
        usable = talk if talk is not None and 0 <= talk <= self.max_talk else None
        if len(self.talks) >= _CACHE_LIMIT:
            self.talks.clear()
        self.talks[text] = usable
        return usable


class _Collect:
    """The general path's rated rows, as the sink's lines, into the block's output."""

    __slots__ = ("line_of", "out")

    def __init__(self, line_of: Callable[[CallRecord, Rating], str], out: list[str]) -> None:
        self.line_of, self.out = line_of, out

    def __call__(self, call: CallRecord, rating: Rating) -> None:
        self.out.append(self.line_of(call, rating))


def _general(
    read: Callable[[int, str, list[str] | None, str], RowOutcome | CallRecord | None],
    one: Callable[[RowOutcome | CallRecord], None],
    line_no: int,
    raw: str,
    fields: list[str] | None,
    error: str,
) -> None:
    item = read(line_no, raw, fields, error)
    if item is not None:
        one(item)


def rate_native_batches(
    batches: Iterable[RecordBatch],
    rows: NativeRows,
    job: RatingJob,
    rated: RatedTextSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
) -> FileSummary:
    """:func:`~shared.services.rate_file.rate_records` over ``read_native``, for the same
    result at several times the speed: a block of plain rows (the native columns in order,
    ASCII, voice, a plain international callee, UTC ``…:SSZ`` times, billsec given, a
    single-tier rate whose band holds for the call) is rated from the lookups of
    :class:`~shared.domain.rating.fast.PlainCalls` straight into output rows; any other
    record takes the general path (``NativeRows.read`` then the engine) in its place, so
    the output order is the input order. A property test checks both agree row for row.
    """
    card = job.card
    seen = CallIdSet() if seen is None else seen
    out: list[str] = []
    tally = _Tally(job, _Collect(rated.line, out), rejects, seen)
    one, read, check = tally.one, rows.read, seen.check
    fast = PlainCalls(card, plain_fragment)
    lookups = _Lookups(fast, job, rows)
    hour_ms_of, hour_of, moment = lookups.hour_ms_of, lookups.hour_of, lookups.moment
    tenant_of, talk_of, segments_of = lookups.tenant_of, lookups.talk_of, lookups.segments_of
    segments, tenants, talks = lookups.segments, lookups.tenants, lookups.talks
    hours_ms, hours = lookups.hours_ms, lookups.hours
    cost_text = fast.cost_text
    plan = job.plan
    max_extension = plan.max_extension_digits
    rewrite = plan.rewrite_prefixes
    emergency = frozenset(plan.emergency_numbers)
    limits = job.limits
    latest = _FAR if job.now_ms is None else job.now_ms + limits.future_tolerance_ms
    names = plain_fragment(card.currency, card.name)
    names_ok = names is not None
    rated_tail, unanswered_tail = f"{names},rated,,\n", f"{names},unanswered,,\n"
    directions = _routes(fast)
    within_hour = MINUTES_Z
    billed_texts: dict[int, str] = {}
    missing: Any = _NOT_CACHED
    formula_starts = frozenset(FORMULA_STARTS)
    fast_rated = fast_unanswered = 0
    total = Decimal(0)
    keys, contents, mask = seen._keys, seen._contents, seen._mask
    filled, room = seen._count, mask >> 1  # calls in the table; most it takes without growing
    for first, raws, fields_list, numbers, errors in batches:
        tally.total, seen._count = total, filled
        begin = 0
        if numbers is not None:
            assert errors is not None
            for line_no, raw, fields, error in zip(numbers, raws, fields_list, errors, strict=True):
                _general(read, one, line_no, raw, fields, error)
            begin = len(raws)
        while begin < len(raws) and (rows.pick is None or not (rows.canonical and names_ok)):
            raw, fields = raws[begin], fields_list[begin]
            begin += 1
            if fields is not None and len(fields) == 1 and not raw.strip():
                continue  # blank lines are not rows
            _general(read, one, first + begin - 1, raw, fields, "")
        total = tally.total
        keys, contents, mask = seen._keys, seen._contents, seen._mask
        filled, room = seen._count, mask >> 1
        if begin == len(raws):
            rated.write_text("".join(out))
            out.clear()
            continue
        if begin:
            raws, fields_list, first = raws[begin:], fields_list[begin:], first + begin
        line_no = first - 1
        count_rows = len(raws)
        assert len(fields_list) == count_rows
        for index in range(count_rows):
            raw = raws[index]
            fields = fields_list[index]
            line_no += 1
            kind = 0
            if fields is not None and len(fields) == 14 and raw.isascii():
                (
                    call_id,
                    tenant_text,
                    account,
                    service,
                    direction_text,
                    caller,
                    callee,
                    start_text,
                    answer_text,
                    end_text,
                    billsec,
                    disposition,
                    quantity,
                    encoding,
                ) = fields
                tenant = tenants.get(tenant_text, missing)
                if tenant is missing:
                    tenant = tenant_of(tenant_text)
                route: Any = directions.get(direction_text)  # read at a service's offset
                plain = None
                if (
                    tenant is None
                    or route is None
                    or not call_id
                    or not call_id[0] > " " < call_id[-1]
                    or call_id[0] in formula_starts
                    or not callee.isdigit()
                    or len(callee) <= max_extension
                    or callee.startswith(rewrite)
                    or callee in emergency
                    or account[:1] in formula_starts
                    or caller[:1] in formula_starts
                ):
                    pass  # not a plain call
                elif service == "voice" and not quantity and not encoding:
                    talk = talks.get(billsec, missing)
                    if talk is missing:
                        talk = talk_of(billsec)
                    hour_ms = hours_ms.get(start_text[:13], missing)
                    if hour_ms is missing:
                        hour_ms = hour_ms_of(start_text)
                    within = within_hour.get(start_text[13:])
                    if talk is not None and hour_ms is not None and within is not None:
                        talk_ms = talk
                        start_ms = hour_ms + within
                        answered = disposition in _PLAIN_DISPOSITIONS or (
                            disposition.strip().upper() in _PLAIN_DISPOSITIONS
                        )
                        at_ms = -1
                        if answer_text:
                            hour_ms = hours_ms.get(answer_text[:13], missing)
                            if hour_ms is missing:
                                hour_ms = hour_ms_of(answer_text)
                            within = within_hour.get(answer_text[13:])
                            if hour_ms is not None and within is not None:
                                at_ms = hour_ms + within
                        elif (talk_ms == 0 or not answered) and (
                            not end_text or moment(end_text) != -2
                        ):
                            # no answer time: the end time is read (and must parse), and the
                            # attempt is labelled at its start
                            at_ms = start_ms
                        if talk_ms and answered:
                            if 0 <= at_ms <= latest:
                                kind = _VOICE
                        elif at_ms >= 0:
                            at_ms = start_ms
                            kind = _UNANSWERED
                elif service == "sms" and not billsec:
                    # an SMS: billed by segments at the first of answer, start, end time
                    units = segments.get((quantity, encoding), missing)
                    if units is missing:
                        units = segments_of(quantity, encoding)
                    times = (moment(answer_text), moment(start_text), moment(end_text))
                    at_ms = -1
                    for ms in times:
                        if ms >= 0:
                            at_ms = ms
                            break
                    if units is not None and -2 not in times and 0 <= at_ms <= latest:
                        kind = _SMS
                if kind:
                    # the plan of the callee's prefix in the bands of the call's hour
                    hour = hours.get(at_ms // _MS_PER_HOUR, missing)
                    if hour is missing:
                        hour = hour_of(at_ms // _MS_PER_HOUR)
                    if hour is not None:
                        at = _SMS_ROUTE if kind == _SMS else _VOICE_ROUTE
                        plans = hour[route[at]]
                        heads = route[at + 1]
                        for length in heads.get(callee[:2], route[at + 2]):
                            plain = plans.get(callee[:length], missing)
                            if plain is not missing:
                                break
                        else:
                            plain = None
                if plain is not None and kind != _UNANSWERED:
                    if kind == _VOICE:
                        billed, usage, step = plain[0], plain[1], plain[2]
                        if talk_ms > billed:
                            count = -(-(talk_ms - billed) // step)
                            billed += count * step
                            usage += count * plain[3]
                    else:
                        usage = plain[1] + plain[3] * units[0]
                    if (
                        (kind == _VOICE and plain[8] and at_ms + talk_ms > hour[0])
                        or usage < plain[4]
                        or (plain[5] is not None and usage > plain[5])
                    ):
                        plain = None  # crosses a band change, or a cap applies
                if plain is not None:
                    # dedupe: CallIdSet.check inlined (the same probing) for a new id that
                    # fits; a known id or a full table goes to check itself
                    key = hash((tenant, call_id)) or 1
                    slot = key & mask
                    found = keys[slot]
                    while found and found != key:
                        slot = (slot + 1) & mask
                        found = keys[slot]
                    if found == 0 and filled < room:
                        keys[slot] = key
                        contents[slot] = hash(raw)
                        filled += 1
                    else:
                        seen._count = filled
                        repeat = check(tenant, call_id, raw)
                        keys, contents, mask = seen._keys, seen._contents, seen._mask
                        filled, room = seen._count, mask >> 1
                        if repeat is not None:
                            tally.repeat(repeat, line_no, raw, call_id)
                            continue
                    if kind == _UNANSWERED:
                        fast_unanswered += 1
                        out.append(
                            f"{call_id},{tenant},{account},voice,{route[0]},{caller},"
                            f"{callee},{plain[7]},0,,0,{unanswered_tail}"
                        )
                        continue
                    costs = plain[6]
                    cost = costs.get(usage)
                    if cost is None:
                        cost = cost_text(usage, plain)
                    total += cost[0]
                    fast_rated += 1
                    if kind == _VOICE:
                        billed_text = billed_texts.get(billed)
                        if billed_text is None:
                            billed_text = billed_texts[billed] = billed_seconds_text(billed)
                        out.append(
                            f"{call_id},{tenant},{account},voice,{route[0]},{caller},"
                            f"{callee},{plain[7]},{billed_text},,{cost[1]},{rated_tail}"
                        )
                    else:
                        out.append(
                            f"{call_id},{tenant},{account},sms,{route[0]},{caller},"
                            f"{callee},{plain[7]},0,{units[1]},{cost[1]},{rated_tail}"
                        )
                    continue
            if fields is not None and len(fields) == 1 and not raw.strip():
                continue  # blank lines are not rows
            item = read(line_no, raw, fields, "")
            if item is not None:
                tally.total, seen._count = total, filled
                one(item)
                total = tally.total
                keys, contents, mask = seen._keys, seen._contents, seen._mask
                filled, room = seen._count, mask >> 1
        rated.write_text("".join(out))
        out.clear()
    tally.total, seen._count = total, filled
    tally.rated += fast_rated
    tally.unanswered += fast_unanswered
    return tally.summary()
