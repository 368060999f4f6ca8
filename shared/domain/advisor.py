"""Billing-model advisor: the same traffic priced per minute and per channel (SPEC 1, 8).

A SIP-trunk tenant may pay per minute (its rate card, as rated) or a flat monthly price per
concurrent channel. A channel is busy from a call's start (ringing holds it too) to its end,
so the channels a month needs are that month's **peak concurrency**, found with a sweep line
over start (+1) and end (−1) events.

Decisions (docs/reports.md):

- **Touching calls do not overlap.** A call ending at the instant another starts frees its
  channel first (ends sort before starts at the same millisecond): the switch can reuse it.
- **Three channel types.** Outbound channels carry outbound calls only, inbound channels
  inbound calls only, two-way channels either. Dedicated = peak outbound × outbound price +
  peak inbound × inbound price; pooled = peak of all calls together × two-way price. The
  channel model costs the cheaper of the two offered (a type without a price is not offered);
  mixes of dedicated and two-way channels are not searched.
- **Months.** A call belongs to the month (in the rating zone) of its answer time, its
  start when unanswered (the billing period, SPEC 5); each month is
  priced on its own peak, and the per-server minimum charge applies to each month of each
  model: a month costs max(model cost, servers × minimum).
- Voice only: messages and fees hold no channel and are left out of both models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.domain.calls import CallRecord, CallStatus, Direction, Service
from shared.domain.errors import ValidationError
from shared.domain.rating.calendar import epoch_ms_to_local
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating, rate_call
from shared.domain.rating.numbers import NumberingPlan

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Interval:
    """One call's hold on a channel: [start_ms, end_ms), its direction and billing month."""

    start_ms: int
    end_ms: int
    direction: Direction
    month: str


def call_interval(call: CallRecord, month: str) -> Interval | None:
    """When the call held a channel: start (else answer) to end (else answer or start plus
    talk time); None when the record has no time to place it."""
    start = call.start_ms if call.start_ms is not None else call.answer_ms
    if start is None:
        return None
    end = call.end_ms
    if end is None:
        end = (call.answer_ms if call.answer_ms is not None else start) + call.talk_ms
    return Interval(start, end, call.direction, month)


@dataclass(slots=True)
class Traffic:
    """The traffic as both models see it: rated cost and call count per month, channel
    intervals, and what was left out (non-voice, rejected by the card, no time)."""

    currency: str
    month_costs: dict[str, Decimal] = field(default_factory=dict)
    month_calls: dict[str, int] = field(default_factory=dict)
    intervals: list[Interval] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def add(self, call: CallRecord, rating: Rating, zone: ZoneInfo) -> None:
        """One call as both models see it (streaming: only its interval is kept)."""
        if call.service is not Service.VOICE:
            self.skip("not voice")
            return
        if rating.status is CallStatus.REJECTED:
            self.skip(f"rejected: {rating.reason}")
            return
        when = call.answer_ms if call.answer_ms is not None else call.start_ms
        month = "" if when is None else f"{epoch_ms_to_local(when, zone):%Y-%m}"
        interval = None if when is None else call_interval(call, month)
        if interval is None:
            self.skip("no time")
            return
        self.intervals.append(interval)
        self.month_costs[month] = self.month_costs.get(month, _ZERO) + rating.cost
        self.month_calls[month] = self.month_calls.get(month, 0) + 1


def price_traffic(
    calls: Iterable[CallRecord], card: CompiledCard, plan: NumberingPlan
) -> Traffic:
    """Rate every voice call with the engine (the per-minute model) and place it in time
    (the per-channel model)."""
    traffic = Traffic(card.currency)
    for call in calls:
        traffic.add(call, rate_call(call, card, plan), card.zone)
    return traffic


def peak_concurrency(intervals: Iterable[tuple[int, int]]) -> int:
    """The most intervals [start, end) open at one instant (sweep line).

    At equal times ends come before starts, so a call ending exactly when another starts
    does not count as overlapping it. An empty interval (end <= start) holds nothing.
    """
    events: list[tuple[int, int]] = []
    for start, end in intervals:
        if end > start:
            events.append((start, 1))
            events.append((end, -1))
    events.sort()  # (t, -1) sorts before (t, +1): ends first
    busy = peak = 0
    for _when, step in events:
        busy += step
        peak = max(peak, busy)
    return peak


@dataclass(frozen=True, slots=True)
class Peaks:
    """Peak concurrent channels of one month, per direction and all together."""

    outbound: int
    inbound: int
    two_way: int


def month_peaks(intervals: Iterable[Interval]) -> dict[str, Peaks]:
    """Peaks per month ("YYYY-MM"), months in order."""
    by_month: dict[str, list[Interval]] = {}
    for interval in intervals:
        by_month.setdefault(interval.month, []).append(interval)
    peaks: dict[str, Peaks] = {}
    for month in sorted(by_month):
        calls = by_month[month]
        spans = [(c.start_ms, c.end_ms) for c in calls]
        peaks[month] = Peaks(
            outbound=peak_concurrency(
                (c.start_ms, c.end_ms) for c in calls if c.direction is Direction.OUT
            ),
            inbound=peak_concurrency(
                (c.start_ms, c.end_ms) for c in calls if c.direction is Direction.IN
            ),
            two_way=peak_concurrency(spans),
        )
    return peaks


@dataclass(frozen=True, slots=True)
class ChannelPrices:
    """Monthly price per channel of each type (None: the type is not offered), and the
    per-server minimum charge per month."""

    outbound: Decimal | None = None
    inbound: Decimal | None = None
    two_way: Decimal | None = None
    minimum: Decimal = _ZERO
    servers: int = 1

    def __post_init__(self) -> None:
        prices = (self.outbound, self.inbound, self.two_way)
        if self.two_way is None and (self.outbound is None or self.inbound is None):
            raise ValidationError(
                "per-channel pricing needs a two-way channel price, or both an outbound "
                "and an inbound channel price"
            )
        if any(price is not None and price < 0 for price in prices) or self.minimum < 0:
            raise ValidationError("channel prices and the minimum charge cannot be negative")
        if self.servers < 1:
            raise ValidationError("servers must be at least 1")

    @property
    def floor(self) -> Decimal:
        """The least a month can cost under either model: every server's minimum."""
        return self.minimum * self.servers


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """How a month's channels are bought: ``kind`` "dedicated" or "two-way"."""

    kind: str
    outbound: int
    inbound: int
    two_way: int
    cost: Decimal


def channel_plan(peaks: Peaks, prices: ChannelPrices) -> ChannelPlan:
    """The cheaper offered way to carry a month's peaks (ties go to two-way: one pool)."""
    options: list[ChannelPlan] = []
    if prices.two_way is not None:
        options.append(ChannelPlan("two-way", 0, 0, peaks.two_way, peaks.two_way * prices.two_way))
    if prices.outbound is not None and prices.inbound is not None:
        cost = peaks.outbound * prices.outbound + peaks.inbound * prices.inbound
        options.append(ChannelPlan("dedicated", peaks.outbound, peaks.inbound, 0, cost))
    return min(options, key=lambda plan: plan.cost)


@dataclass(frozen=True, slots=True)
class MonthAdvice:
    month: str
    calls: int
    per_minute_usage: Decimal  # the rated cost of the month's calls
    per_minute: Decimal  # after the minimum charge
    peaks: Peaks
    plan: ChannelPlan
    per_channel: Decimal  # after the minimum charge


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """Cost of each model for the whole period with ``channels`` two-way (or, without a
    two-way price, outbound) channels provisioned every month."""

    channels: int
    per_minute: Decimal
    per_channel: Decimal
    enough: bool  # carries every month's peak


@dataclass(frozen=True, slots=True)
class Advice:
    currency: str
    months: tuple[MonthAdvice, ...]
    per_minute: Decimal
    per_channel: Decimal
    cheaper: str  # "per-minute", "per-channel" or "equal"
    difference: Decimal  # how much the cheaper model saves (>= 0)
    sweep: tuple[SweepPoint, ...] = field(default=())
    break_even_channels: int | None = None


def advise(
    month_costs: Mapping[str, Decimal],
    month_calls: Mapping[str, int],
    peaks: Mapping[str, Peaks],
    prices: ChannelPrices,
    currency: str,
    sweep_to: int | None = None,
) -> Advice:
    """Compare the models month by month; the sweep runs 0..``sweep_to`` channels (default:
    twice the highest peak, at least 10)."""
    months = []
    for month in sorted(set(month_costs) | set(peaks)):
        usage = month_costs.get(month, _ZERO)
        month_peaks_ = peaks.get(month, Peaks(0, 0, 0))
        plan = channel_plan(month_peaks_, prices)
        months.append(
            MonthAdvice(
                month=month,
                calls=month_calls.get(month, 0),
                per_minute_usage=usage,
                per_minute=max(usage, prices.floor),
                peaks=month_peaks_,
                plan=plan,
                per_channel=max(plan.cost, prices.floor),
            )
        )
    per_minute = sum((m.per_minute for m in months), _ZERO)
    per_channel = sum((m.per_channel for m in months), _ZERO)
    if per_minute < per_channel:
        cheaper = "per-minute"
    elif per_channel < per_minute:
        cheaper = "per-channel"
    else:
        cheaper = "equal"
    sweep, break_even = _sweep(months, prices, per_minute, sweep_to)
    return Advice(
        currency=currency,
        months=tuple(months),
        per_minute=per_minute,
        per_channel=per_channel,
        cheaper=cheaper,
        difference=abs(per_minute - per_channel),
        sweep=sweep,
        break_even_channels=break_even,
    )


def _sweep(
    months: list[MonthAdvice], prices: ChannelPrices, per_minute: Decimal, sweep_to: int | None
) -> tuple[tuple[SweepPoint, ...], int | None]:
    """Cost of the period against provisioned channels, and the break-even: the most
    channels the per-channel model can have while costing no more than per-minute (None
    when that is unbounded, a free channel, or when not even 0 channels are cheaper)."""

    def cost(channels: int) -> Decimal:
        return sum((max(_month_cost(channels, m, prices), prices.floor) for m in months), _ZERO)

    pooled = prices.two_way is not None
    needed = max(((m.peaks.two_way if pooled else m.peaks.outbound) for m in months), default=0)
    top = sweep_to if sweep_to is not None else max(10, 2 * needed)
    points = tuple(
        SweepPoint(n, per_minute, cost(n), n >= needed) for n in range(top + 1)
    )
    step = prices.two_way if pooled else prices.outbound
    if not months or not step or cost(0) > per_minute:
        return points, None
    # cost(n) never falls as n grows, and each month costs at least n × step, so cost(high)
    # > per_minute: search between (a floor far above the price keeps cost flat for many
    # channels, too many to walk one at a time)
    low, high = 0, int(per_minute / step) + 2
    while high - low > 1:
        middle = (low + high) // 2
        if cost(middle) <= per_minute:
            low = middle
        else:
            high = middle
    return points, low


def _month_cost(channels: int, month: MonthAdvice, prices: ChannelPrices) -> Decimal:
    """A month with ``channels`` two-way channels; without a two-way price, ``channels``
    outbound channels plus the month's peak of inbound ones."""
    if prices.two_way is not None:
        return channels * prices.two_way
    assert prices.outbound is not None and prices.inbound is not None
    return channels * prices.outbound + month.peaks.inbound * prices.inbound
