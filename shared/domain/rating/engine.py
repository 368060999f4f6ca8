"""The rating engine: one call record + a compiled card → a priced, explained result.

The steps follow SPEC section 3 in order; docs/rating.md walks through them with examples.
All arithmetic is on integers of 1/denominator currency units (see ``compiled.py``) and the
call's cost is rounded exactly once, by :func:`shared.domain.money.round_call_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from shared.domain.calls import CallRecord, CallStatus, RejectReason, Service
from shared.domain.money import round_call_cost, units_to_decimal
from shared.domain.rating.calendar import epoch_ms_to_local
from shared.domain.rating.compiled import CompiledCard, CompiledRate, PrefixGroup
from shared.domain.rating.numbers import NumberingPlan, NumberKind, classify
from shared.domain.rating.receipt import Receipt, ReceiptPart
from shared.domain.rating.sms import sms_segments

MAX_TALK_MS = 24 * 3_600_000
FUTURE_TOLERANCE_MS = 3_600_000
#: more segments, emails or units than this in one record is not a real usage record
MAX_QUANTITY = 1_000_000_000
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RatingLimits:
    """Plausibility limits on a call (SPEC 3.1)."""

    max_talk_ms: int = MAX_TALK_MS
    future_tolerance_ms: int = FUTURE_TOLERANCE_MS


@dataclass(slots=True)
class Rating:
    """What rating made of one call: status, price and (when asked) the receipt."""

    status: CallStatus
    currency: str
    card: str = ""
    cost: Decimal = _ZERO
    prefix: str = ""
    destination: str = ""
    band: str = ""
    billed_ms: int = 0
    quantity: int = 0
    reason: RejectReason | None = None
    detail: str = ""
    flags: tuple[str, ...] = ()
    receipt: Receipt | None = field(default=None, repr=False)

    @property
    def billed_seconds(self) -> Decimal:
        return units_to_decimal(self.billed_ms, 3)


_DEFAULT_LIMITS = RatingLimits()


class RatingRejected(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def rate_call(
    call: CallRecord,
    card: CompiledCard,
    plan: NumberingPlan,
    now_ms: int | None = None,
    *,
    limits: RatingLimits = _DEFAULT_LIMITS,
    explain: bool = False,
) -> Rating:
    """Rate one call against a tenant's compiled card. Never raises for bad calls: a call
    that cannot be rated comes back REJECTED with a machine-readable reason."""
    if not explain and call.service is _VOICE:
        quick = _rate_plain_voice(call, card, plan, now_ms, limits)
        if quick is not None:
            return quick
    try:
        if call.service is Service.VOICE:
            return _rate_voice(call, card, plan, now_ms, limits, explain)
        return _rate_units(call, card, plan, now_ms, limits, explain)
    except RatingRejected as rejected:
        return Rating(
            CallStatus.REJECTED,
            card.currency,
            card.name,
            reason=rejected.reason,
            detail=rejected.detail,
        )


# -- voice -------------------------------------------------------------------------------

_VOICE = Service.VOICE


def _rate_plain_voice(
    call: CallRecord,
    card: CompiledCard,
    plan: NumberingPlan,
    now_ms: int | None,
    limits: RatingLimits,
) -> Rating | None:
    """The common call, priced in closed form: answered, plausible, dialled as plain
    international digits, on a single-tier rate whose band segment holds every increment.

    Returns None for anything else, which then takes the general path of the same rules
    (``_rate_voice``); a property test checks both paths agree.
    """
    talk_ms = call.talk_ms
    answer_ms = call.answer_ms
    callee = call.callee
    if (
        talk_ms <= 0
        or talk_ms > limits.max_talk_ms
        or answer_ms is None
        or not call.answered
        or (now_ms is not None and answer_ms > now_ms + limits.future_tolerance_ms)
        or len(callee) <= plan.max_extension_digits
        or not callee.isdigit()
        or callee.startswith(plan.rewrite_prefixes)
        or callee in plan.emergency_numbers
    ):
        return None
    found = _select(card, call, callee, answer_ms)
    if found is None:
        return None
    matched, group, anchor, segment_end = found
    if not anchor.single_tier or (group.banded and answer_ms + talk_ms > segment_end):
        return None
    tier = anchor.tiers[0]
    billed, usage = anchor.initial_ms, anchor.initial_cost
    if talk_ms > billed:
        count = -(-(talk_ms - billed) // tier.increment_ms)
        billed += count * tier.increment_ms
        usage += count * tier.increment_cost
    return _finish(
        matched, anchor, usage, billed, callee, anchor.rate.destination, call, None, None
    )


def _rate_voice(
    call: CallRecord,
    card: CompiledCard,
    plan: NumberingPlan,
    now_ms: int | None,
    limits: RatingLimits,
    explain: bool,
) -> Rating:
    talk_ms = call.talk_ms
    if talk_ms < 0 or talk_ms > limits.max_talk_ms:
        raise RatingRejected(
            RejectReason.BAD_DURATION,
            f"talk time {units_to_decimal(talk_ms, 3)} s is outside "
            f"0..{limits.max_talk_ms // 1000} s",
        )
    if not call.answered or talk_ms == 0:
        return _unanswered(call, card, plan)
    answer_ms = call.answer_ms
    if answer_ms is None:
        raise RatingRejected(RejectReason.MALFORMED, "answered call without an answer time")
    if now_ms is not None and answer_ms > now_ms + limits.future_tolerance_ms:
        raise RatingRejected(RejectReason.FUTURE_TIME, "answer time is more than 1 h in the future")
    kind, digits = classify(call.callee, plan)
    if kind is not NumberKind.E164:
        return _rate_special(call, card, kind, digits, explain)
    found = _select(card, call, digits, answer_ms)
    if found is None:
        raise RatingRejected(
            RejectReason.NO_RATE,
            f"no {call.service} {call.direction} rate for {digits} on card {card.name!r}"
            + (" or its parents" if card.card.parent else ""),
        )
    matched, group, anchor, _segment_end = found
    return _price_voice(call, matched, anchor, group, digits, explain=explain, flag=None)


def _unanswered(call: CallRecord, card: CompiledCard, plan: NumberingPlan) -> Rating:
    """Cost 0, but labelled with the destination dialled, so breakouts count the attempt
    (and ASR) where it was made."""
    when = call.start_ms if call.start_ms is not None else call.answer_ms
    kind, digits = classify(call.callee, plan)
    if when is None or kind is not NumberKind.E164:
        label = {NumberKind.EMERGENCY: "Emergency", NumberKind.EXTENSION: "On-net"}.get(kind, "")
        return Rating(CallStatus.UNANSWERED, card.currency, card.name, destination=label)
    found = _select(card, call, digits, when)
    if found is None:
        return Rating(CallStatus.UNANSWERED, card.currency, card.name)
    matched, _group, anchor, _end = found
    return Rating(
        CallStatus.UNANSWERED, matched.currency, matched.name, prefix=anchor.rate.prefix,
        destination=anchor.rate.destination, band=anchor.rate.band,
    )


def _rate_special(
    call: CallRecord, card: CompiledCard, kind: NumberKind, digits: str, explain: bool
) -> Rating:
    """Emergency numbers and on-net extensions: the card's rate for them, else free."""
    if kind is NumberKind.INVALID:
        raise RatingRejected(
            RejectReason.BAD_NUMBER, f"callee {call.callee!r} is not a dialable number"
        )
    special = card.emergency if kind is NumberKind.EMERGENCY else card.on_net
    label = "Emergency" if kind is NumberKind.EMERGENCY else "On-net"
    if special is None:
        return Rating(
            CallStatus.RATED,
            card.currency,
            card.name,
            destination=label,
            billed_ms=call.talk_ms,
            flags=(kind.value,),
            receipt=Receipt.free(card, call, digits, label) if explain else None,
        )
    rating = _price_voice(call, card, special, None, digits, explain=explain, flag=kind.value)
    rating.destination = label
    return rating


def _check_not_future(event_ms: int, now_ms: int | None, limits: RatingLimits) -> None:
    if now_ms is not None and event_ms > now_ms + limits.future_tolerance_ms:
        raise RatingRejected(RejectReason.FUTURE_TIME, "answer time is more than 1 h in the future")


def _in_force(group: PrefixGroup, active: frozenset[str], answer_ms: int) -> CompiledRate | None:
    """The highest-weight rate of the prefix whose band is ``active`` and that is effective
    at the call's answer time."""
    for rate in group.rates:
        if rate.rate.band in active and rate.effective_from_ms <= answer_ms < rate.effective_to_ms:
            return rate
    return None


def _select(
    card: CompiledCard, call: CallRecord, digits: str, at_ms: int
) -> tuple[CompiledCard, PrefixGroup, CompiledRate, int] | None:
    """Longest prefix with a rate in force at ``at_ms``, then the parent card, else None.
    Also returns where the band segment containing ``at_ms`` ends."""
    current: CompiledCard | None = card
    key = (call.service, call.direction)
    while current is not None:
        index = current.indexes.get(key)
        if index is not None:
            groups = index.groups
            _start, segment_end, active = current.calendar.segment_at(at_ms)
            size = len(digits)
            for length in index.candidates(digits):
                if length > size:
                    continue
                group = groups.get(digits[:length])
                if group is not None:
                    anchor = _in_force(group, active, at_ms)
                    if anchor is not None:
                        return current, group, anchor, segment_end
        current = current.parent
    return None


def _price_voice(
    call: CallRecord,
    card: CompiledCard,
    anchor: CompiledRate,
    group: PrefixGroup | None,
    digits: str,
    *,
    explain: bool,
    flag: str | None,
) -> Rating:
    """Lay out the increments (SPEC 3.5-3.6). ``group`` None: the anchor prices them all."""
    answer_ms = call.answer_ms
    assert answer_ms is not None
    talk_ms = call.talk_ms
    parts: list[ReceiptPart] | None = [] if explain else None
    offset = anchor.initial_ms
    usage = anchor.initial_cost
    if parts is not None and offset:
        parts.append(ReceiptPart.of(card, anchor, anchor.tiers[0], 0, offset, 1, usage))
    calendar = card.calendar
    while offset < talk_ms:
        rate: CompiledRate | None = anchor
        boundary = _FAR
        if group is not None and group.banded:
            wall_ms = answer_ms + offset
            _start, segment_end, active = calendar.segment_at(wall_ms)
            rate = _in_force(group, active, answer_ms)
            boundary = segment_end - answer_ms
        if rate is None:
            local = epoch_ms_to_local(answer_ms + offset, card.zone).isoformat(timespec="seconds")
            raise RatingRejected(
                RejectReason.NO_RATE,
                f"no rate of prefix {anchor.rate.prefix!r} is in force at {local} "
                f"({offset / 1000} s into the call)",
            )
        tier, next_tier_ms = rate.tier_at(offset)
        if next_tier_ms < boundary:
            boundary = next_tier_ms
        step = tier.increment_ms
        needed = -(-(talk_ms - offset) // step)
        before_boundary = -(-(boundary - offset) // step)
        count = needed if needed < before_boundary else before_boundary
        cost = count * tier.increment_cost
        if parts is not None:
            parts.append(ReceiptPart.of(card, rate, tier, offset, step, count, cost))
        usage += cost
        offset += count * step
    return _finish(card, anchor, usage, offset, digits, anchor.rate.destination, call, parts, flag)


_FAR = 2**62


def _finish(
    card: CompiledCard,
    anchor: CompiledRate,
    usage: int,
    billed: int,
    digits: str,
    destination: str,
    call: CallRecord,
    parts: list[ReceiptPart] | None,
    flag: str | None,
    quantity: int = 0,
) -> Rating:
    """Connect fee, then min cost, then max cost, then the one rounding (SPEC 3.7)."""
    flags: tuple[str, ...] = (flag,) if flag else ()
    total = usage + anchor.connect_fee
    before_caps = total
    if total < anchor.min_cost:
        total = anchor.min_cost
        flags += ("min_cost",)
    maximum = anchor.max_cost
    if maximum is not None and total > maximum:
        if anchor.disconnect_at_max:
            flags += ("max_cost_disconnect",)
        else:
            total = maximum
            flags += ("max_cost_capped",)
    cost = round_call_cost(total, card.denominator, anchor.decimals, anchor.rounding)
    receipt = None
    if parts is not None:
        receipt = Receipt.build(
            card,
            anchor,
            call,
            digits,
            destination,
            parts,
            usage,
            before_caps,
            total,
            cost,
            billed,
            quantity,
            flags,
        )
    rate = anchor.rate
    return Rating(
        _RATED,
        card.currency,
        card.name,
        cost,
        rate.prefix,
        destination,
        rate.band,
        billed,
        quantity,
        None,
        "",
        flags,
        receipt,
    )


_RATED = CallStatus.RATED


# -- SMS, email, one-time fees ---------------------------------------------------------------


def _rate_units(
    call: CallRecord,
    card: CompiledCard,
    plan: NumberingPlan,
    now_ms: int | None,
    limits: RatingLimits,
    explain: bool,
) -> Rating:
    """Services priced by quantity: price × quantity / per; no increments (SPEC 3.9)."""
    quantity = billable_quantity(call)
    times = (call.answer_ms, call.start_ms, call.end_ms)
    event_ms = next((ms for ms in times if ms is not None), None)
    if event_ms is None:
        raise RatingRejected(RejectReason.MALFORMED, f"{call.service} record without a time")
    _check_not_future(event_ms, now_ms, limits)
    digits = ""
    if call.service is Service.SMS and call.callee.strip():
        kind, digits = classify(call.callee, plan)
        if kind is NumberKind.INVALID:
            raise RatingRejected(RejectReason.BAD_NUMBER, f"callee {call.callee!r} is not a number")
    found = _select(card, call, digits, event_ms)
    if found is None:
        raise RatingRejected(
            RejectReason.NO_RATE,
            f"no {call.service} {call.direction} rate for {digits or 'the default prefix'} "
            f"on card {card.name!r}",
        )
    matched_card, _group, anchor, _segment_end = found
    usage = anchor.quantity_cost * quantity
    parts: list[ReceiptPart] | None = None
    if explain:
        parts = [ReceiptPart.of_quantity(matched_card, anchor, quantity, usage)]
    return _finish(
        matched_card, anchor, usage, 0, digits, anchor.rate.destination, call, parts, None, quantity
    )


def billable_quantity(call: CallRecord) -> int:
    """Units a service record is billed for (SMS segments, emails, fees); raises
    RatingRejected (bad_quantity) for a quantity that is not a whole number in range."""
    raw = Decimal(1) if call.quantity is None else call.quantity
    if raw < 1 or raw > MAX_QUANTITY or raw != raw.to_integral_value():
        raise RatingRejected(
            RejectReason.BAD_QUANTITY,
            f"quantity must be a whole number from 1 to {MAX_QUANTITY:,}, got {raw}",
        )
    count = int(raw)
    if call.service is Service.SMS and call.encoding is not None:
        return sms_segments(count, call.encoding)
    return count
