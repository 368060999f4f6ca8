"""The native rate card: its documented shape, defaults and load-time checks.

A card is data, never code. This module validates a card document (JSON or YAML already
parsed into a dict) into frozen objects, so every later step can trust it. Unknown fields are
an error naming the field, so a typo such as ``conect_fee`` cannot pass silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.domain.calls import Direction, Service
from shared.domain.errors import CardLoadError
from shared.domain.money import Rounding, parse_decimal, validate_currency

ALWAYS_BAND = "*"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY = "hol"
MS_PER_SECOND = 1000

#: ``per`` (seconds for voice, units otherwise) when a tier does not say
DEFAULT_PER: dict[Service, int] = {
    Service.VOICE: 60,
    Service.SMS: 1,
    Service.EMAIL: 1000,
    Service.PORT: 1,
    Service.FEE: 1,
}


class MaxCostStrategy(StrEnum):
    """What ``max_cost`` does: cap the cost, or leave it and limit call admission."""

    FREE = "free"
    DISCONNECT = "disconnect"


# --------------------------------------------------------------------------------------
# Loaded card: frozen, exact, validated.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Band:
    """A weekly time window in the rating zone; ``to`` is exclusive, 24:00 allowed."""

    name: str
    days: frozenset[str]  # weekday names, "hol", or "*"
    start_minute: int  # minutes after local midnight
    end_minute: int
    weight: int

    def applies_on(self, weekday: int, is_holiday: bool) -> bool:
        """Whether the band's days include a date (on a holiday only `hol` or `*` count)."""
        if ALWAYS_BAND in self.days:
            return True
        if is_holiday:
            return HOLIDAY in self.days
        return WEEKDAYS[weekday] in self.days

    def overlaps(self, other: Band) -> bool:
        """Whether both bands can be in force at one instant."""
        if self.end_minute <= other.start_minute or other.end_minute <= self.start_minute:
            return False
        mine, theirs = self.days, other.days
        if ALWAYS_BAND in mine or ALWAYS_BAND in theirs:
            return True
        return bool(mine & theirs)


ALWAYS = Band(ALWAYS_BAND, frozenset({ALWAYS_BAND}), 0, 24 * 60, 0)


@dataclass(frozen=True, slots=True)
class Tier:
    """From ``start_s`` into the call: ``price`` per ``per`` seconds, in ``increment`` steps."""

    start_s: Decimal
    price: Decimal
    per: int
    increment_s: Decimal


@dataclass(frozen=True, slots=True)
class Rate:
    prefix: str
    destination: str
    service: Service
    direction: Direction
    band: str
    tiers: tuple[Tier, ...]
    initial_s: Decimal  # minimum charged duration (first increment)
    connect_fee: Decimal = Decimal(0)
    min_cost: Decimal = Decimal(0)
    max_cost: Decimal | None = None
    max_cost_strategy: MaxCostStrategy = MaxCostStrategy.FREE
    effective_from: date | None = None
    effective_to: date | None = None
    decimals: int | None = None
    rounding: Rounding | None = None


@dataclass(frozen=True, slots=True)
class RateCard:
    name: str
    currency: str
    timezone: str
    rates: tuple[Rate, ...]
    bands: dict[str, Band] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    parent: str | None = None
    decimals: int = 4
    rounding: Rounding = Rounding.UP
    increment_precision: int | None = None
    emergency: Rate | None = None
    on_net: Rate | None = None

    def band(self, name: str) -> Band:
        return ALWAYS if name == ALWAYS_BAND else self.bands[name]


# --------------------------------------------------------------------------------------
# Document schema (pydantic, extra fields forbidden) and conversion.
# --------------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _as_decimal(value: Any, name: str) -> Decimal:
    return parse_decimal(value, name)


class _TierDoc(BaseModel):
    model_config = _STRICT
    start: Any = Field(default=0, alias="from")
    price: Any
    per: Any = None
    initial: Any = None
    increment: Any = None


class _RateDoc(BaseModel):
    model_config = _STRICT
    prefix: Any = ""
    destination: str = ""
    service: Service = Service.VOICE
    direction: Direction = Direction.OUT
    band: str = ALWAYS_BAND
    connect_fee: Any = 0
    min_cost: Any = 0
    max_cost: Any = None
    max_cost_strategy: MaxCostStrategy = MaxCostStrategy.FREE
    tiers: list[_TierDoc]
    effective_from: date | None = None
    effective_to: date | None = None
    decimals: int | None = None
    rounding: Rounding | None = None

    @field_validator("prefix", mode="before")
    @classmethod
    def _prefix_text(cls, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("prefix must be digits (a string or an integer)")
        text = str(value).strip().lstrip("+")
        if text and not text.isdigit():
            raise ValueError(f"prefix {value!r} must contain digits only")
        return text


class _BandDoc(BaseModel):
    model_config = _STRICT
    days: str = ALWAYS_BAND
    start: str = Field(default="00:00", alias="from")
    end: str = Field(default="24:00", alias="to")
    weight: int = 0


class _CardDoc(BaseModel):
    model_config = _STRICT
    card: str
    currency: str
    timezone: str = "UTC"
    parent: str | None = None
    decimals: int = 4
    rounding: Rounding = Rounding.UP
    increment_precision: int | None = None
    bands: dict[str, _BandDoc] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    rates: list[_RateDoc]
    emergency: _RateDoc | None = None
    on_net: _RateDoc | None = None


def _describe(error: ValidationError) -> str:
    errors = error.errors()
    # An unknown field first: a misspelt required field ("curency") is also reported as
    # missing, and only the unknown name shows the user what they typed wrong.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}'"
    if first["type"] == "missing":
        return f"missing field '{where}'"
    return f"field '{where}': {first['msg']}"


def _parse_minutes(text: str, field_name: str) -> int:
    try:
        hours, minutes = text.split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        raise CardLoadError(f"{field_name}: expected HH:MM, got {text!r}") from None
    if not (0 <= int(minutes) < 60 and 0 <= value <= 24 * 60):
        raise CardLoadError(f"{field_name}: {text!r} is not a time of day (00:00 to 24:00)")
    return value


def _parse_days(text: str, field_name: str) -> frozenset[str]:
    days: set[str] = set()
    for item in (part.strip().lower() for part in text.split(",")):
        if item in (ALWAYS_BAND, HOLIDAY) or item in WEEKDAYS:
            days.add(item)
        elif "-" in item:
            first, _, last = item.partition("-")
            if first not in WEEKDAYS or last not in WEEKDAYS:
                raise CardLoadError(f"{field_name}: unknown day range {item!r}")
            i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
            span = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            days.update(WEEKDAYS[k] for k in span)
        else:
            raise CardLoadError(
                f"{field_name}: unknown day {item!r} (use *, mon..sun, ranges like mon-fri, hol)"
            )
    return frozenset(days)


def _band(name: str, doc: _BandDoc) -> Band:
    where = f"bands.{name}"
    if name == ALWAYS_BAND:
        raise CardLoadError(f"{where}: '*' is the built-in always-on band and cannot be redefined")
    start = _parse_minutes(doc.start, f"{where}.from")
    end = _parse_minutes(doc.end, f"{where}.to")
    if start >= end:
        raise CardLoadError(
            f"{where}: 'from' {doc.start} must be before 'to' {doc.end} (a night band is two bands)"
        )
    return Band(name, _parse_days(doc.days, f"{where}.days"), start, end, doc.weight)


def _milliseconds_exact(value: Decimal, where: str) -> Decimal:
    if value != value.quantize(Decimal("0.001")) and value * 1000 != int(value * 1000):
        raise CardLoadError(f"{where}: {value} s is finer than the 1 ms resolution of rating")
    return value


def _rate(doc: _RateDoc, where: str, card: _CardDoc) -> Rate:
    if not doc.tiers:
        raise CardLoadError(f"{where}.tiers: a rate needs at least one tier")
    tiers: list[Tier] = []
    initial: Decimal | None = None
    for i, tier_doc in enumerate(doc.tiers):
        tw = f"{where}.tiers[{i}]"
        start = _as_decimal(tier_doc.start, f"{tw}.from")
        price = _as_decimal(tier_doc.price, f"{tw}.price")
        if price < 0:
            raise CardLoadError(f"{tw}.price: must not be negative, got {price}")
        per_value = DEFAULT_PER[doc.service] if tier_doc.per is None else tier_doc.per
        per_dec = _as_decimal(per_value, f"{tw}.per")
        if per_dec <= 0 or per_dec != per_dec.to_integral_value():
            raise CardLoadError(f"{tw}.per: must be a positive whole number, got {per_value}")
        increment = (
            Decimal(1)
            if tier_doc.increment is None
            else _as_decimal(tier_doc.increment, f"{tw}.increment")
        )
        if increment <= 0:
            raise CardLoadError(f"{tw}.increment: must be positive, got {increment}")
        _milliseconds_exact(increment, f"{tw}.increment")
        if i == 0:
            if start != 0:
                raise CardLoadError(f"{tw}.from: the first tier must start at 0, got {start}")
            initial = increment
            if tier_doc.initial is not None:
                initial = _as_decimal(tier_doc.initial, f"{tw}.initial")
                if initial < 0:
                    raise CardLoadError(f"{tw}.initial: must not be negative, got {initial}")
                _milliseconds_exact(initial, f"{tw}.initial")
        else:
            if tier_doc.initial is not None:
                raise CardLoadError(f"{tw}.initial: only the tier from 0 may set 'initial'")
            if start <= tiers[-1].start_s:
                raise CardLoadError(f"{tw}.from: tiers must start at increasing offsets")
            _milliseconds_exact(start, f"{tw}.from")
        tiers.append(Tier(start, price, int(per_dec), increment))
    if doc.band != ALWAYS_BAND and doc.band not in card.bands:
        raise CardLoadError(f"{where}.band: band {doc.band!r} is not defined in 'bands'")
    max_cost = None if doc.max_cost is None else _as_decimal(doc.max_cost, f"{where}.max_cost")
    min_cost = _as_decimal(doc.min_cost, f"{where}.min_cost")
    connect_fee = _as_decimal(doc.connect_fee, f"{where}.connect_fee")
    for label, amount in (("connect_fee", connect_fee), ("min_cost", min_cost)):
        if amount < 0:
            raise CardLoadError(f"{where}.{label}: must not be negative, got {amount}")
    if max_cost is not None and max_cost < min_cost:
        raise CardLoadError(f"{where}.max_cost: {max_cost} is below min_cost {min_cost}")
    if doc.effective_from and doc.effective_to and doc.effective_to <= doc.effective_from:
        raise CardLoadError(f"{where}.effective_to: must be after effective_from")
    if doc.decimals is not None and not 0 <= doc.decimals <= 12:
        raise CardLoadError(f"{where}.decimals: must be 0..12, got {doc.decimals}")
    assert initial is not None
    return Rate(
        prefix=doc.prefix,
        destination=doc.destination,
        service=doc.service,
        direction=doc.direction,
        band=doc.band,
        tiers=tuple(tiers),
        initial_s=initial,
        connect_fee=connect_fee,
        min_cost=min_cost,
        max_cost=max_cost,
        max_cost_strategy=doc.max_cost_strategy,
        effective_from=doc.effective_from,
        effective_to=doc.effective_to,
        decimals=doc.decimals,
        rounding=doc.rounding,
    )


def _effective_overlap(a: Rate, b: Rate) -> bool:
    a_from, b_from = a.effective_from or date.min, b.effective_from or date.min
    a_to, b_to = a.effective_to or date.max, b.effective_to or date.max
    return a_from < b_to and b_from < a_to


def _check_weights(card: RateCard) -> None:
    """Two rates of one prefix/service/direction with equal weight in force at once: error."""
    groups: dict[tuple[Service, Direction, str], list[Rate]] = {}
    for rate in card.rates:
        groups.setdefault((rate.service, rate.direction, rate.prefix), []).append(rate)
    for (service, direction, prefix), rates in groups.items():
        for i, first in enumerate(rates):
            for second in rates[i + 1 :]:
                band_a, band_b = card.band(first.band), card.band(second.band)
                if (
                    band_a.weight == band_b.weight
                    and band_a.overlaps(band_b)
                    and _effective_overlap(first, second)
                ):
                    raise CardLoadError(
                        f"card {card.name!r}: prefix {prefix!r} ({service} {direction}) has "
                        f"bands {first.band!r} and {second.band!r} with equal weight "
                        f"{band_a.weight} in force at the same time"
                    )


def load_card(document: Any, source: str = "card") -> RateCard:
    """Validate a parsed card document into a :class:`RateCard` or raise CardLoadError."""
    if not isinstance(document, dict):
        raise CardLoadError(f"{source}: a rate card must be an object (mapping) at the top level")
    try:
        doc = _CardDoc.model_validate(document)
    except ValidationError as error:
        raise CardLoadError(f"{source}: {_describe(error)}") from None
    try:
        validate_currency(doc.currency)
    except ValueError as error:
        raise CardLoadError(f"{source}: {error}") from None
    try:
        ZoneInfo(doc.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CardLoadError(f"{source}: unknown timezone {doc.timezone!r}") from None
    if not 0 <= doc.decimals <= 12:
        raise CardLoadError(f"{source}: decimals must be 0..12, got {doc.decimals}")
    if doc.increment_precision is not None and not 0 <= doc.increment_precision <= 12:
        raise CardLoadError(f"{source}: increment_precision must be 0..12")
    bands = {name: _band(name, band_doc) for name, band_doc in doc.bands.items()}
    rates = tuple(
        _rate(rate_doc, f"{source}: rates[{i}]", doc) for i, rate_doc in enumerate(doc.rates)
    )
    emergency = _rate(doc.emergency, f"{source}: emergency", doc) if doc.emergency else None
    on_net = _rate(doc.on_net, f"{source}: on_net", doc) if doc.on_net else None
    card = RateCard(
        name=doc.card,
        currency=doc.currency,
        timezone=doc.timezone,
        rates=rates,
        bands=bands,
        holidays=frozenset(doc.holidays),
        parent=doc.parent,
        decimals=doc.decimals,
        rounding=doc.rounding,
        increment_precision=doc.increment_precision,
        emergency=emergency,
        on_net=on_net,
    )
    _check_weights(card)
    return card


def band_time(minutes: int) -> time:
    return time(23, 59, 59, 999999) if minutes >= 24 * 60 else time(minutes // 60, minutes % 60)
