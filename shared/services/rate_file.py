"""Use case: rate one stream of CDR records into rated calls, rejects and a summary."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, cast

from shared.domain.calls import CallRecord, CallStatus, Direction, Encoding, RejectReason, Service
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating, RatingLimits, rate_call
from shared.domain.rating.fast import PlainCalls, Plan
from shared.domain.rating.numbers import NumberingPlan
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
from shared.ports import RatedSink, RejectSink


class CallIdSet:
    """In-file dedupe: call id → content fingerprint, both kept as 64-bit hashes.

    An open-addressing table in two ``array('q')`` (16 bytes a slot, at most half full):
    about 32 bytes per distinct call, where a dict of Python ints costs over 100, so the
    memory of rating a 1,000,000-row file stays close to that of a 100,000-row one. A
    64-bit collision between two different ids (odds about n²/2⁶⁵, 3·10⁻⁸ for a million
    calls) would reject the later call as a ``conflict`` for review, never drop it.
    """

    __slots__ = ("_contents", "_count", "_keys", "_mask")

    def __init__(self, capacity: int = 1 << 12) -> None:
        size = 1 << max(4, (capacity * 2 - 1).bit_length())
        self._keys = array("q", bytes(8 * size))  # 0 marks an empty slot
        self._contents = array("q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def check(self, tenant: str, call_id: str, fingerprint: str) -> CallStatus | None:
        """None for a new call; DUPLICATE for the same content; REJECTED for a conflict."""
        key = hash((tenant, call_id)) or 1
        content = hash(fingerprint)
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == 0:
                break
            if found == key:
                return CallStatus.DUPLICATE if self._contents[slot] == content else _CONFLICT
            slot = (slot + 1) & mask
        keys[slot] = key
        self._contents[slot] = content
        self._count += 1
        if self._count * 2 > mask:
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_contents = self._keys, self._contents
        size = (self._mask + 1) * 2
        keys, contents = array("q", bytes(8 * size)), array("q", bytes(8 * size))
        mask = size - 1
        for key, content in zip(old_keys, old_contents, strict=True):
            if key:
                slot = key & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = key
                contents[slot] = content
        self._keys, self._contents, self._mask = keys, contents, mask

    def __len__(self) -> int:
        return self._count


_CONFLICT = CallStatus.REJECTED


@dataclass(slots=True)
class RatingJob:
    """Everything that decides how one file is rated."""

    card: CompiledCard
    plan: NumberingPlan = field(default_factory=NumberingPlan)
    tenant: str | None = None  # when set, rows naming another tenant are rejected
    now_ms: int | None = None
    limits: RatingLimits = field(default_factory=RatingLimits)


def rate_records(
    records: Iterable[RowOutcome | CallRecord],
    job: RatingJob,
    rated: RatedSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
) -> FileSummary:
    """Rate every record; each ends in exactly one bucket of the returned summary.

    Readers yield a bare CallRecord for a call to rate (the common case, one object less per
    row) and a RowOutcome for anything else.
    """
    tally = _Tally(job, rated.write, rejects, CallIdSet() if seen is None else seen)
    one = tally.one
    for item in records:
        one(item)
    return tally.summary()


class _Tally:
    """The general path: one record at a time, counted into one summary."""

    __slots__ = (
        "card",
        "check",
        "duplicates",
        "job",
        "merged",
        "rated",
        "reasons",
        "rejected",
        "total",
        "unanswered",
        "write_rated",
        "write_reject",
    )

    def __init__(
        self,
        job: RatingJob,
        write_rated: Callable[[CallRecord, Rating], None],
        rejects: RejectSink,
        seen: CallIdSet,
    ) -> None:
        self.job = job
        self.card = job.card
        self.write_rated = write_rated
        self.write_reject = rejects.write
        self.check = seen.check
        self.reasons: Counter[RejectReason] = Counter()
        self.total = Decimal(0)
        self.rated = self.unanswered = self.rejected = self.duplicates = self.merged = 0

    def summary(self) -> FileSummary:
        summary = FileSummary(self.card.currency)
        summary.reasons.update(self.reasons)
        summary.rated, summary.unanswered, summary.rejected = (
            self.rated,
            self.unanswered,
            self.rejected,
        )
        summary.duplicates, summary.merged = self.duplicates, self.merged
        summary.total_cost = self.total
        return summary

    def reject(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None:
        self.write_reject(line_no, raw, reason, detail)
        self.rejected += 1
        self.reasons[reason] += 1

    def repeat(self, repeat: CallStatus, line_no: int, raw: str, call_id: str) -> None:
        """A call id seen before in the file: a duplicate, or a conflict to review."""
        if repeat is CallStatus.DUPLICATE:
            self.duplicates += 1
        else:
            detail = f"call id {call_id!r} seen before with different content"
            self.reject(line_no, raw, RejectReason.CONFLICT, detail)

    def one(self, item: RowOutcome | CallRecord) -> None:
        if item.__class__ is CallRecord:
            call = item
        else:
            outcome = cast(RowOutcome, item)
            found = outcome.call
            if found is None:
                status = outcome.status or CallStatus.REJECTED
                if status is CallStatus.REJECTED:
                    reason = outcome.reason or RejectReason.MALFORMED
                    self.reject(outcome.line_no, outcome.raw, reason, outcome.detail)
                elif status is CallStatus.MERGED:
                    self.merged += 1
                elif status is CallStatus.DUPLICATE:
                    self.duplicates += 1
                else:
                    self.unanswered += 1
                return
            call = found
            call.line_no, call.raw = outcome.line_no, outcome.raw
        job = self.job
        tenant = job.tenant
        if tenant is not None and call.tenant != tenant:
            detail = f"row names tenant {call.tenant!r} but the file belongs to {tenant!r}"
            self.reject(call.line_no, call.raw, RejectReason.WRONG_TENANT, detail)
            return
        repeat = self.check(call.tenant, call.call_id, call.fingerprint)
        if repeat is not None:
            self.repeat(repeat, call.line_no, call.raw, call.call_id)
            return
        rating = rate_call(call, self.card, job.plan, job.now_ms, limits=job.limits)
        status = rating.status
        if status is _RATED:
            self.rated += 1
            self.total += rating.cost
        elif status is _UNANSWERED:
            self.unanswered += 1
        else:
            assert rating.reason is not None
            self.reject(call.line_no, call.raw, rating.reason, rating.detail)
            return
        self.write_rated(call, rating)


_RATED, _UNANSWERED = CallStatus.RATED, CallStatus.UNANSWERED


# -- the bulk fast path for native files --------------------------------------------------


class RatedTextSink(Protocol):
    """A rated sink that also takes ready CSV text (RATED_COLUMNS order, neutralised)."""

    def line(self, call: CallRecord, rating: Rating) -> str:
        """The call's row as the sink would write it."""
        ...

    def write_text(self, text: str) -> None: ...


_PLAIN_DISPOSITIONS = frozenset({"", "ANSWERED", "ANSWER"})
_NOT_CACHED = object()


def rate_native_batches_pure(
    batches: Iterable[RecordBatch],
    rows: NativeRows,
    job: RatingJob,
    rated: RatedTextSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
) -> FileSummary:
    """:func:`rate_records` over ``read_native``, for the same result at several times the
    speed: a block of plain rows (the native columns in order, ASCII, voice, a plain
    international callee, UTC ``…:SSZ`` times, billsec given, a single-tier rate whose band
    holds for the call) is rated from the lookups of
    :class:`~shared.domain.rating.fast.PlainCalls` straight into output rows; any other
    record takes the general path (``NativeRows.read`` then the engine) in its place, so
    the output order is the input order. A property test checks both agree row for row.

    This is the reference implementation; ``_rate_native.pyx`` is its compiled twin (see
    :func:`native_batch_raters`).
    """
    card = job.card
    seen = CallIdSet() if seen is None else seen
    out: list[str] = []
    line_of = rated.line

    def write_rated(call: CallRecord, rating: Rating) -> None:
        out.append(line_of(call, rating))

    tally = _Tally(job, write_rated, rejects, seen)
    one, read, check = tally.one, rows.read, seen.check
    fast = PlainCalls(card, plain_fragment)
    plan = job.plan
    max_extension = plan.max_extension_digits
    rewrite = plan.rewrite_prefixes
    emergency = frozenset(plan.emergency_numbers)
    limits = job.limits
    max_talk = limits.max_talk_ms
    latest = _FAR if job.now_ms is None else job.now_ms + limits.future_tolerance_ms
    only_tenant, default_tenant, zone = job.tenant, rows.tenant, rows.zone
    currency, card_name = card.currency, card.name
    names = plain_fragment(currency, card_name)
    names_ok = names is not None
    rated_tail, unanswered_tail = f"{names},rated,,\n", f"{names},unanswered,,\n"
    # direction text → (its output text, then for voice and for SMS: slot in an hour's
    # entry and the prefix lengths to try by a number's first digits)
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
    segments: dict[tuple[str, str], tuple[int, str] | None] = {}
    tenants: dict[str, str | None] = {}
    talks: dict[str, int | None] = {}
    hours_ms: dict[str, int | None] = {}
    within_hour = MINUTES_Z
    hours: dict[int, HourEntry | None] = {}
    billed_texts: dict[int, str] = {}
    missing: Any = _NOT_CACHED
    formula_starts = frozenset(FORMULA_STARTS)
    fast_rated = fast_unanswered = 0
    total = Decimal(0)

    def hour_ms_of(text: str) -> int | None:
        """The hour of ``text`` (see utc_hour_ms), cached by its first 13 characters."""
        key = text[:13]
        if key in hours_ms:
            return hours_ms[key]
        if len(hours_ms) >= _CACHE_LIMIT:
            hours_ms.clear()
        found = hours_ms[key] = utc_hour_ms(text, zone)
        return found

    def hour_of(hour: int) -> HourEntry | None:
        """(segment end, voice out, voice in, SMS out, SMS in plans) for a UTC hour."""
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
        if len(hours) >= _CACHE_LIMIT:
            hours.clear()
        hours[hour] = entry
        return entry

    def segments_of(quantity: str, encoding: str) -> tuple[int, str] | None:
        """An SMS's billed segments (and their text), or None for the general path."""
        found: tuple[int, str] | None = None
        if encoding in SMS_ENCODINGS:
            try:
                count = fast.sms_segments(
                    parse_quantity(quantity, "quantity") if quantity else None,
                    SMS_ENCODINGS[encoding],
                )
            except FieldError:
                count = None
            if count is not None:
                found = (count, str(count))
        if len(segments) >= _CACHE_LIMIT:
            segments.clear()
        segments[(quantity, encoding)] = found
        return found

    def moment(text: str) -> int:
        """Epoch ms of a time field; -1 when empty, -2 when the general path must read it."""
        if not text:
            return -1
        at = hours_ms.get(text[:13], missing)
        if at is missing:
            at = hour_ms_of(text)
        within = within_hour.get(text[13:])
        return -2 if at is None or within is None else at + within

    def tenant_of(text: str) -> str | None:
        resolved = text.strip() or default_tenant
        usable = (
            text == text.strip()
            and (only_tenant is None or resolved == only_tenant)
            and plain_cell(resolved)
        )
        if len(tenants) >= _CACHE_LIMIT:
            tenants.clear()
        found = tenants[text] = resolved if usable else None
        return found

    def talk_of(text: str) -> int | None:
        try:
            talk = parse_seconds_ms(text, "billsec")
        except FieldError:
            talk = None
        usable = talk if talk is not None and 0 <= talk <= max_talk else None
        if len(talks) >= _CACHE_LIMIT:
            talks.clear()
        talks[text] = usable
        return usable

    def general(line_no: int, raw: str, fields: list[str] | None, error: str) -> None:
        item = read(line_no, raw, fields, error)
        if item is not None:
            one(item)

    keys, contents, mask = seen._keys, seen._contents, seen._mask
    filled, room = seen._count, mask >> 1  # calls in the table; most it takes without growing
    for first, raws, fields_list, numbers, errors in batches:
        tally.total, seen._count = total, filled
        begin = 0
        if numbers is not None:
            assert errors is not None
            for line_no, raw, fields, error in zip(numbers, raws, fields_list, errors, strict=True):
                general(line_no, raw, fields, error)
            begin = len(raws)
        while begin < len(raws) and (rows.pick is None or not (rows.canonical and names_ok)):
            raw, fields = raws[begin], fields_list[begin]
            begin += 1
            if fields is not None and len(fields) == 1 and not raw.strip():
                continue  # blank lines are not rows
            general(first + begin - 1, raw, fields, "")
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
        for raw, fields in zip(raws, fields_list, strict=True):
            line_no += 1
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
                talk = talks.get(billsec, missing)
                if talk is missing:
                    talk = talk_of(billsec)
                route = directions.get(direction_text)
                hour_ms = hours_ms.get(start_text[:13], missing)
                if hour_ms is missing:
                    hour_ms = hour_ms_of(start_text)
                within = within_hour.get(start_text[13:])
                if (
                    tenant is not None
                    and talk is not None
                    and route is not None
                    and hour_ms is not None
                    and within is not None
                    and service == "voice"
                    and not quantity
                    and not encoding
                    and call_id
                    and call_id[0] > " " < call_id[-1]
                    and call_id[0] not in formula_starts
                    and callee.isdigit()
                    and len(callee) > max_extension
                    and not callee.startswith(rewrite)
                    and callee not in emergency
                    and account[:1] not in formula_starts
                    and caller[:1] not in formula_starts
                ):
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
                    elif talk == 0 or not answered:
                        # no answer time: the end time is read (and must parse), and the
                        # attempt is labelled at its start
                        if end_text:
                            hour_ms = hours_ms.get(end_text[:13], missing)
                            if hour_ms is missing:
                                hour_ms = hour_ms_of(end_text)
                            within = within_hour.get(end_text[13:])
                            if hour_ms is not None and within is not None:
                                at_ms = start_ms
                        else:
                            at_ms = start_ms
                    billed = -1
                    plain = None
                    if talk and answered:
                        if 0 <= at_ms <= latest:
                            billed = 0
                    elif at_ms >= 0:
                        at_ms = start_ms
                        billed = 0
                    if billed == 0:
                        hour = hours.get(at_ms // _MS_PER_HOUR, missing)
                        if hour is missing:
                            hour = hour_of(at_ms // _MS_PER_HOUR)
                        if hour is not None:
                            plans = hour[route[1]]
                            for length in route[2].get(callee[:2], route[3]):
                                plain = plans.get(callee[:length], missing)
                                if plain is not missing:
                                    break
                            else:
                                plain = None
                    if plain is not None and plain is not missing:
                        priced = bool(talk and answered)
                        if priced:
                            billed, usage, step = plain[0], plain[1], plain[2]
                            if talk > billed:
                                count = -(-(talk - billed) // step)
                                billed += count * step
                                usage += count * plain[3]
                            if (
                                (plain[8] and at_ms + talk > hour[0])
                                or usage < plain[4]
                                or (plain[5] is not None and usage > plain[5])
                            ):
                                plain = None  # crosses a band change, or a cap applies
                    if plain is not None and plain is not missing:
                        # dedupe: CallIdSet.check inlined (the same probing) for a new id
                        # that fits; a known id or a full table goes to check itself
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
                            filled, room = seen._count, seen._mask >> 1
                            if repeat is not None:
                                tally.repeat(repeat, line_no, raw, call_id)
                                continue
                        if priced:
                            cost = plain[6].get(usage)
                            if cost is None:
                                cost = fast.cost_text(usage, plain)
                            billed_text = billed_texts.get(billed)
                            if billed_text is None:
                                billed_text = billed_texts[billed] = billed_seconds_text(billed)
                            total += cost[0]
                            fast_rated += 1
                            out.append(
                                f"{call_id},{tenant},{account},voice,{route[0]},{caller},"
                                f"{callee},{plain[7]},{billed_text},,{cost[1]},{rated_tail}"
                            )
                        else:
                            fast_unanswered += 1
                            out.append(
                                f"{call_id},{tenant},{account},voice,{route[0]},{caller},"
                                f"{callee},{plain[7]},0,,0,{unanswered_tail}"
                            )
                        continue
                if (
                    service == "sms"
                    and not billsec
                    and tenant is not None
                    and route is not None
                    and call_id
                    and call_id[0] > " " < call_id[-1]
                    and call_id[0] not in formula_starts
                    and callee.isdigit()
                    and len(callee) > max_extension
                    and not callee.startswith(rewrite)
                    and callee not in emergency
                    and account[:1] not in formula_starts
                    and caller[:1] not in formula_starts
                ):
                    # an SMS: billed by segments at the first of answer, start, end time
                    units = segments.get((quantity, encoding), missing)
                    if units is missing:
                        units = segments_of(quantity, encoding)
                    times = (moment(answer_text), moment(start_text), moment(end_text))
                    at_ms = next((ms for ms in times if ms >= 0), -1)
                    plain = None
                    if units is not None and -2 not in times and 0 <= at_ms <= latest:
                        hour = hours.get(at_ms // _MS_PER_HOUR, missing)
                        if hour is missing:
                            hour = hour_of(at_ms // _MS_PER_HOUR)
                        if hour is not None:
                            plans = hour[route[4]]
                            for length in route[5].get(callee[:2], route[6]):
                                plain = plans.get(callee[:length], missing)
                                if plain is not missing:
                                    break
                            else:
                                plain = None
                    if plain is not None:
                        usage = plain[1] + plain[3] * units[0]
                        if usage < plain[4] or (plain[5] is not None and usage > plain[5]):
                            plain = None  # a cap applies
                    if plain is not None:
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
                            filled, room = seen._count, seen._mask >> 1
                            if repeat is not None:
                                tally.repeat(repeat, line_no, raw, call_id)
                                continue
                        cost = plain[6].get(usage)
                        if cost is None:
                            cost = fast.cost_text(usage, plain)
                        total += cost[0]
                        fast_rated += 1
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
                filled, room = seen._count, seen._mask >> 1
        rated.write_text("".join(out))
        out.clear()
    tally.total, seen._count = total, filled
    tally.rated += fast_rated
    tally.unanswered += fast_unanswered
    return tally.summary()


#: rate_native_batches' signature, shared by its pure and compiled implementations
NativeBatchRater = Callable[
    [Iterable[RecordBatch], NativeRows, RatingJob, RatedTextSink, RejectSink, CallIdSet | None],
    FileSummary,
]


def native_batch_raters() -> dict[str, NativeBatchRater]:
    """The fast path's implementations on this install, preferred first: "compiled" when the
    optional Cython extension ``_rate_native`` was built (``pip install -e .`` with a C
    compiler), then always "pure", the reference it must match byte for byte."""
    raters: dict[str, NativeBatchRater] = {}
    try:
        from shared.services import _rate_native
    except ImportError:  # built without a compiler, or a source tree never installed
        pass
    else:
        raters["compiled"] = _rate_native.rate_native_batches
    raters["pure"] = rate_native_batches_pure
    return raters


def rate_native_batches(
    batches: Iterable[RecordBatch],
    rows: NativeRows,
    job: RatingJob,
    rated: RatedTextSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
    *,
    pure: bool = False,
) -> FileSummary:
    """:func:`rate_native_batches_pure`, by its compiled twin when it was built and ``pure``
    is not asked for (``BILLING_PURE_PYTHON=1`` for ``billing rate``)."""
    raters = native_batch_raters()
    rater = raters["pure"] if pure else next(iter(raters.values()))
    return rater(batches, rows, job, rated, rejects, seen)


_FAR = 2**62
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
_MS_PER_HOUR = 3_600_000
_CACHE_LIMIT = 100_000
