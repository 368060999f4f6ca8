# cython: language_level=3, annotation_typing=False
"""The compiled twin of :func:`shared.services.rate_file.rate_native_batches_pure`.

The same function, statement for statement, with C types on its per-row locals (built by
``pip install -e .`` through setup.py when a C compiler and Cython are there; see
docs/rating.md, performance). The pure-Python function is the reference: the property test
tests/unit/services/test_rate_file_fast_path.py runs both and requires byte-identical
rated rows, rejects and summaries. Change both together.

Integer semantics stay Python's: C ``long long`` only holds epoch milliseconds, talk and
billed times (bounded far below 2**63) and the dedupe table's 64-bit hashes and slots;
costs stay Python ints; ``//`` keeps floor division (cdivision is off).
"""

from cpython.array cimport array


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)  # what str.isascii() returns, without the call

from decimal import Decimal

from shared.domain.calls import Direction, Service
from shared.domain.rating.fast import PlainCalls
from shared.formats.csv_safe import FORMULA_STARTS
from shared.formats.fields import (
    MINUTES_Z,
    FieldError,
    parse_quantity,
    parse_seconds_ms,
    utc_hour_ms,
)
from shared.formats.native_cdr import DIRECTION_TEXTS
from shared.formats.rated_cells import billed_seconds_text, plain_cell, plain_fragment
from shared.services.rate_file import (
    _CACHE_LIMIT,
    _FAR,
    _NOT_CACHED,
    _PLAIN_DISPOSITIONS,
    SMS_ENCODINGS,
    CallIdSet,
    _Tally,
)

cdef long long _MS_PER_HOUR = 3_600_000


def rate_native_batches(batches, rows, job, rated, rejects, seen=None):
    """:func:`rate_records` over ``read_native``, for the same result at several times the
    speed: a block of plain rows (the native columns in order, ASCII, voice, a plain
    international callee, UTC ``…:SSZ`` times, billsec given, a single-tier rate whose band
    holds for the call) is rated from the lookups of
    :class:`~shared.domain.rating.fast.PlainCalls` straight into output rows; any other
    record takes the general path (``NativeRows.read`` then the engine) in its place, so
    the output order is the input order. A property test checks both agree row for row.
    """
    cdef dict directions, segments, tenants, talks, hours_ms, within_hour, hours, billed_texts
    cdef list out, raws, fields_list
    cdef list fields
    cdef str raw, call_id, tenant_text, account, service, direction_text, caller, callee
    cdef str start_text, answer_text, end_text, billsec, disposition, quantity, encoding
    cdef tuple route
    cdef array keys, contents
    cdef long long mask, filled, room, slot, key, found, line_no, start_ms, at_ms, billed
    cdef long long latest, max_extension, step, count, talk_ms
    cdef Py_ssize_t begin, index, count_rows, length
    cdef dict plans, heads, costs
    cdef bint priced, answered
    card = job.card
    seen = CallIdSet() if seen is None else seen
    out = []
    line_of = rated.line

    def write_rated(call, rating):
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
    directions = {}
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
    segments = {}
    tenants = {}
    talks = {}
    hours_ms = {}
    within_hour = MINUTES_Z
    hours = {}
    billed_texts = {}
    missing = _NOT_CACHED
    formula_starts = frozenset(FORMULA_STARTS)
    fast_rated = fast_unanswered = 0
    total = Decimal(0)

    def hour_ms_of(text):
        """The hour of ``text`` (see utc_hour_ms), cached by its first 13 characters."""
        key = text[:13]
        if key in hours_ms:
            return hours_ms[key]
        if len(hours_ms) >= _CACHE_LIMIT:
            hours_ms.clear()
        found = hours_ms[key] = utc_hour_ms(text, zone)
        return found

    def hour_of(hour):
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

    def segments_of(quantity, encoding):
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

    def moment(text):
        """Epoch ms of a time field; -1 when empty, -2 when the general path must read it."""
        if not text:
            return -1
        at = hours_ms.get(text[:13], missing)
        if at is missing:
            at = hour_ms_of(text)
        within = within_hour.get(text[13:])
        return -2 if at is None or within is None else at + within

    def tenant_of(text):
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

    def talk_of(text):
        try:
            talk = parse_seconds_ms(text, "billsec")
        except FieldError:
            talk = None
        usable = talk if talk is not None and 0 <= talk <= max_talk else None
        if len(talks) >= _CACHE_LIMIT:
            talks.clear()
        talks[text] = usable
        return usable

    def general(line_no, raw, fields, error):
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
        count_rows = len(raws)
        assert len(fields_list) == count_rows
        for index in range(count_rows):
            raw = raws[index]
            fields = fields_list[index]
            line_no += 1
            if fields is not None and len(fields) == 14 and PyUnicode_IS_ASCII(raw):
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
                    elif talk_ms == 0 or not answered:
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
                    if talk_ms and answered:
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
                            heads = route[2]
                            for length in heads.get(callee[:2], route[3]):
                                plain = plans.get(callee[:length], missing)
                                if plain is not missing:
                                    break
                            else:
                                plain = None
                    if plain is not None and plain is not missing:
                        priced = talk_ms != 0 and answered
                        if priced:
                            billed, usage, step = plain[0], plain[1], plain[2]
                            if talk_ms > billed:
                                count = -(-(talk_ms - billed) // step)
                                billed += count * step
                                usage += count * plain[3]
                            if (
                                (plain[8] and at_ms + talk_ms > hour[0])
                                or usage < plain[4]
                                or (plain[5] is not None and usage > plain[5])
                            ):
                                plain = None  # crosses a band change, or a cap applies
                    if plain is not None and plain is not missing:
                        # dedupe: CallIdSet.check inlined (the same probing) for a new id
                        # that fits; a known id or a full table goes to check itself
                        key = hash((tenant, call_id)) or 1
                        slot = key & mask
                        found = keys.data.as_longlongs[slot]
                        while found and found != key:
                            slot = (slot + 1) & mask
                            found = keys.data.as_longlongs[slot]
                        if found == 0 and filled < room:
                            keys.data.as_longlongs[slot] = key
                            contents.data.as_longlongs[slot] = hash(raw)
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
                            costs = plain[6]
                            cost = costs.get(usage)
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
                            heads = route[5]
                            for length in heads.get(callee[:2], route[6]):
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
                        found = keys.data.as_longlongs[slot]
                        while found and found != key:
                            slot = (slot + 1) & mask
                            found = keys.data.as_longlongs[slot]
                        if found == 0 and filled < room:
                            keys.data.as_longlongs[slot] = key
                            contents.data.as_longlongs[slot] = hash(raw)
                            filled += 1
                        else:
                            seen._count = filled
                            repeat = check(tenant, call_id, raw)
                            keys, contents, mask = seen._keys, seen._contents, seen._mask
                            filled, room = seen._count, seen._mask >> 1
                            if repeat is not None:
                                tally.repeat(repeat, line_no, raw, call_id)
                                continue
                        costs = plain[6]
                        cost = costs.get(usage)
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
