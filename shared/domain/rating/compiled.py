"""A rate card compiled for one rating zone: integer prices, prefix index, band calendar.

Rating sums exact rationals. Every amount of a compiled card is an integer count of
``1 / denominator`` currency units, where ``denominator = 10**exponent * lcm(per values)``
is chosen so that every price per millisecond, fee and cap of the card is a whole number.
Sums stay exact; the one rounding per call divides by the denominator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.calls import Direction, Service
from shared.domain.errors import CardLoadError, ValidationError
from shared.domain.money import Rounding, decimal_as_ratio, round_increment_cost
from shared.domain.rating.calendar import BandCalendar, local_midnight_ms
from shared.domain.rating.card import ALWAYS_BAND, MaxCostStrategy, Rate, RateCard, Tier

_FAR_PAST = -(2**62)
_FAR_FUTURE = 2**62
#: effective bounds of a rate without effective dates
FAR_PAST, FAR_FUTURE = _FAR_PAST, _FAR_FUTURE


@dataclass(frozen=True, slots=True)
class CompiledTier:
    tier: Tier
    start_ms: int
    increment_ms: int
    per_ms_cost: int  # cost of one millisecond, in 1/denominator units
    increment_cost: int  # one whole increment, after increment_precision if the card sets it


@dataclass(frozen=True, slots=True)
class CompiledRate:
    rate: Rate
    weight: int
    tiers: tuple[CompiledTier, ...]
    initial_ms: int
    initial_cost: int
    quantity_cost: int  # per unit of quantity (non-voice services), 1/denominator units
    connect_fee: int
    min_cost: int
    max_cost: int | None
    disconnect_at_max: bool
    effective_from_ms: int
    effective_to_ms: int
    decimals: int
    rounding: Rounding
    #: one tier only: its increments all alike after ``initial`` (the engine's fast path)
    single_tier: bool = False

    def tier_at(self, offset_ms: int) -> tuple[CompiledTier, int]:
        """The tier in force at an offset into the call, and where the next tier starts."""
        tiers = self.tiers
        for i in range(len(tiers) - 1, -1, -1):
            if tiers[i].start_ms <= offset_ms:
                following = tiers[i + 1].start_ms if i + 1 < len(tiers) else _FAR_FUTURE
                return tiers[i], following
        raise AssertionError("first tier starts at 0")  # pragma: no cover

    def effective_at(self, ms: int) -> bool:
        return self.effective_from_ms <= ms < self.effective_to_ms


@dataclass(frozen=True, slots=True)
class PrefixGroup:
    """All rates of one prefix, service and direction, highest band weight first."""

    prefix: str
    rates: tuple[CompiledRate, ...]
    #: whether the rate in force can change during a call (any rate bound to a band)
    banded: bool = False


HEAD_DIGITS = 2


@dataclass(slots=True)
class PrefixIndex:
    """Prefix groups by prefix, plus, per leading two digits of a number, the prefix lengths
    worth trying (longest first), so longest-prefix match takes one or two dict probes."""

    groups: dict[str, PrefixGroup] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()  # prefix lengths present, longest first
    by_head: dict[str, tuple[int, ...]] = field(default_factory=dict)
    short_lengths: tuple[int, ...] = ()  # lengths below HEAD_DIGITS, longest first

    @classmethod
    def build(cls, groups: dict[str, PrefixGroup]) -> PrefixIndex:
        lengths = tuple(sorted({len(prefix) for prefix in groups}, reverse=True))
        short = tuple(length for length in lengths if length < HEAD_DIGITS)
        heads: dict[str, set[int]] = {}
        for prefix in groups:
            if len(prefix) >= HEAD_DIGITS:
                heads.setdefault(prefix[:HEAD_DIGITS], set()).add(len(prefix))
        by_head = {
            head: tuple(sorted(found, reverse=True)) + short for head, found in heads.items()
        }
        return cls(groups, lengths, by_head, short)

    def candidates(self, digits: str) -> tuple[int, ...]:
        """Prefix lengths to try for ``digits``, longest first."""
        return self.by_head.get(digits[:HEAD_DIGITS], self.short_lengths)


@dataclass(slots=True)
class CompiledCard:
    card: RateCard
    zone: ZoneInfo
    denominator: int
    calendar: BandCalendar
    indexes: dict[tuple[Service, Direction], PrefixIndex]
    emergency: CompiledRate | None
    on_net: CompiledRate | None
    parent: CompiledCard | None = None

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def currency(self) -> str:
        return self.card.currency


def _max_scale(card: RateCard) -> int:
    """Most decimal places of any amount on the card (prices, fees, caps)."""
    amounts: list[Decimal] = []
    for rate in _all_rates(card):
        amounts.extend(tier.price for tier in rate.tiers)
        amounts.extend((rate.connect_fee, rate.min_cost))
        if rate.max_cost is not None:
            amounts.append(rate.max_cost)
    scale = 0
    for amount in amounts:
        exponent = amount.normalize().as_tuple().exponent
        assert isinstance(exponent, int)
        scale = max(scale, -exponent)
    return scale


def _all_rates(card: RateCard) -> list[Rate]:
    extra = [rate for rate in (card.emergency, card.on_net) if rate is not None]
    return [*card.rates, *extra]


def _ms(seconds: Decimal) -> int:
    return int(seconds * 1000)


class _Scale:
    """Converts card amounts into integer 1/denominator units."""

    def __init__(self, card: RateCard) -> None:
        pers = {tier.per for rate in _all_rates(card) for tier in rate.tiers} or {1}
        self.lcm_per = math.lcm(*pers)
        self.exponent = max(_max_scale(card) + 3, card.increment_precision or 0)
        self.denominator = 10**self.exponent * self.lcm_per

    def amount(self, value: Decimal) -> int:
        numerator, power = decimal_as_ratio(value)
        return numerator * (self.denominator // power)

    def per_ms(self, tier: Tier) -> int:
        numerator, power = decimal_as_ratio(tier.price)
        # price / (per * 1000) per millisecond, exact by the choice of exponent
        return numerator * (10**self.exponent // power // 1000) * (self.lcm_per // tier.per)

    def per_unit(self, tier: Tier) -> int:
        numerator, power = decimal_as_ratio(tier.price)
        return numerator * (10**self.exponent // power) * (self.lcm_per // tier.per)


def _compile_rate(rate: Rate, card: RateCard, scale: _Scale, zone: ZoneInfo) -> CompiledRate:
    precision = card.increment_precision

    def increment_cost(per_ms_cost: int, increment_ms: int) -> int:
        exact = per_ms_cost * increment_ms
        if precision is None:
            return exact
        rounded = round_increment_cost(exact, scale.denominator, precision)
        return rounded * (scale.denominator // 10**precision)

    tiers = tuple(
        CompiledTier(
            tier=tier,
            start_ms=_ms(tier.start_s),
            increment_ms=_ms(tier.increment_s),
            per_ms_cost=scale.per_ms(tier),
            increment_cost=increment_cost(scale.per_ms(tier), _ms(tier.increment_s)),
        )
        for tier in rate.tiers
    )
    initial_ms = _ms(rate.initial_s)
    band = card.band(rate.band)
    return CompiledRate(
        rate=rate,
        weight=band.weight,
        tiers=tiers,
        initial_ms=initial_ms,
        initial_cost=increment_cost(tiers[0].per_ms_cost, initial_ms),
        quantity_cost=scale.per_unit(rate.tiers[0]),
        connect_fee=scale.amount(rate.connect_fee),
        min_cost=scale.amount(rate.min_cost),
        max_cost=None if rate.max_cost is None else scale.amount(rate.max_cost),
        disconnect_at_max=rate.max_cost_strategy == MaxCostStrategy.DISCONNECT,
        effective_from_ms=_date_ms(rate.effective_from, zone, _FAR_PAST),
        effective_to_ms=_date_ms(rate.effective_to, zone, _FAR_FUTURE),
        decimals=card.decimals if rate.decimals is None else rate.decimals,
        rounding=card.rounding if rate.rounding is None else rate.rounding,
        single_tier=len(tiers) == 1,
    )


def _date_ms(day: date | None, zone: ZoneInfo, default: int) -> int:
    return default if day is None else local_midnight_ms(day, zone)


def compile_card(
    card: RateCard, zone_name: str | None = None, parent: CompiledCard | None = None
) -> CompiledCard:
    """Compile ``card`` for the rating zone (default: the card's own ``timezone``)."""
    try:
        zone = ZoneInfo(zone_name or card.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown timezone {zone_name or card.timezone!r}") from None
    if parent is not None and parent.currency != card.currency:
        raise CardLoadError(
            f"card {card.name!r} ({card.currency}) cannot fall back to parent "
            f"{parent.name!r} ({parent.currency}): currencies differ"
        )
    scale = _Scale(card)
    grouped: dict[tuple[Service, Direction], dict[str, list[CompiledRate]]] = {}
    for rate in card.rates:
        compiled = _compile_rate(rate, card, scale, zone)
        grouped.setdefault((rate.service, rate.direction), {}).setdefault(rate.prefix, []).append(
            compiled
        )
    indexes: dict[tuple[Service, Direction], PrefixIndex] = {}
    for key, by_prefix in grouped.items():
        groups = {
            prefix: PrefixGroup(
                prefix,
                tuple(sorted(rates, key=lambda r: -r.weight)),
                banded=any(r.rate.band != ALWAYS_BAND for r in rates),
            )
            for prefix, rates in by_prefix.items()
        }
        indexes[key] = PrefixIndex.build(groups)
    return CompiledCard(
        card=card,
        zone=zone,
        denominator=scale.denominator,
        calendar=BandCalendar(card.bands, card.holidays, zone),
        indexes=indexes,
        emergency=_compile_rate(card.emergency, card, scale, zone) if card.emergency else None,
        on_net=_compile_rate(card.on_net, card, scale, zone) if card.on_net else None,
        parent=parent,
    )
