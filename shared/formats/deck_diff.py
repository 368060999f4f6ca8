"""What changed between two rate cards: new, removed, increased and decreased prefixes.

Carriers owe notice of price increases, so :func:`diff_lines` lists increases first. A rate
is identified by (service, direction, prefix, band); when a card holds several effective-dated
rates for one of them, the one that starts last is compared (the price going forward). Prices
are compared per minute (``price × 60 / per``) with exact fractions; any other change of terms
(connect fee, initial, increment, later tiers, caps, dates) is listed too.

A new prefix is not only "new": numbers under it used to be priced by a shorter prefix, so
the entry also says what that was (``was 0.1175 via 93``); likewise a removed prefix says
where its numbers fall now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from shared.domain.calls import Direction, Service
from shared.domain.errors import ValidationError
from shared.domain.money import Rounding, ratio_text, round_ratio, units_to_decimal
from shared.domain.rating.card import ALWAYS_BAND, Rate, RateCard

_Key = tuple[Service, Direction, str, str]  # service, direction, band, prefix


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One prefix in the diff. Prices are per minute (voice) or per ``per`` unit, as text."""

    prefix: str
    destination: str
    service: str
    direction: str
    band: str
    old_price: str | None
    new_price: str | None
    change: str | None = None
    change_percent: str | None = None
    #: the price numbers under this prefix had (new) or now have (removed), and from where
    fallback_price: str | None = None
    fallback_prefix: str | None = None
    #: for a new or removed prefix: "increase" or "decrease" when its numbers now pay more
    #: or less than before (through the fallback prefix), else None
    effective: str | None = None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "destination": self.destination,
            "service": self.service,
            "direction": self.direction,
            "band": self.band,
            "old_price": self.old_price,
            "new_price": self.new_price,
            "change": self.change,
            "change_percent": self.change_percent,
            "fallback_price": self.fallback_price,
            "fallback_prefix": self.fallback_prefix,
            "effective": self.effective,
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class CardDiff:
    old_card: str
    new_card: str
    currency: str
    increased: list[PriceEntry] = field(default_factory=list)
    decreased: list[PriceEntry] = field(default_factory=list)
    new: list[PriceEntry] = field(default_factory=list)
    removed: list[PriceEntry] = field(default_factory=list)
    #: same price, other terms changed (connect fee, increments, caps, dates, ...)
    changed: list[PriceEntry] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "increased": len(self.increased),
            "decreased": len(self.decreased),
            "new": len(self.new),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "old_card": self.old_card,
            "new_card": self.new_card,
            "currency": self.currency,
            "counts": self.counts(),
            "increased": [entry.as_dict() for entry in self.increased],
            "decreased": [entry.as_dict() for entry in self.decreased],
            "new": [entry.as_dict() for entry in self.new],
            "removed": [entry.as_dict() for entry in self.removed],
            "changed": [entry.as_dict() for entry in self.changed],
        }


def diff_cards(old: RateCard, new: RateCard) -> CardDiff:
    """Compare two cards rate by rate (see the module docstring)."""
    if old.currency != new.currency:
        raise ValidationError(
            f"cannot compare card {old.name!r} in {old.currency} with card {new.name!r} in "
            f"{new.currency}"
        )
    before, after = _current_rates(old), _current_rates(new)
    result = CardDiff(old.name, new.name, new.currency)
    for key in sorted(before.keys() | after.keys(), key=_sort_key):
        old_rate, new_rate = before.get(key), after.get(key)
        if old_rate is None and new_rate is not None:
            result.new.append(_entry(key, None, new_rate, fallback=_fallback(before, key)))
        elif new_rate is None and old_rate is not None:
            result.removed.append(_entry(key, old_rate, None, fallback=_fallback(after, key)))
        elif old_rate is not None and new_rate is not None:
            old_price, new_price = _per_minute(old_rate), _per_minute(new_rate)
            notes = _term_changes(old_rate, new_rate)
            entry = _entry(key, old_rate, new_rate, notes=notes)
            if new_price > old_price:
                result.increased.append(entry)
            elif new_price < old_price:
                result.decreased.append(entry)
            elif notes:
                result.changed.append(entry)
            else:
                result.unchanged += 1
    return result


def diff_lines(diff: CardDiff) -> list[str]:
    """The diff as text: increases first (they need notice), then decreases, new, removed,
    and other changes of terms."""
    counts = diff.counts()
    lines = [
        f"diff {diff.old_card} → {diff.new_card} ({diff.currency} per minute): "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
    ]
    hidden = [e for e in (*diff.new, *diff.removed) if e.effective == "increase"]
    if hidden:
        lines.append(
            f"note: {len(hidden)} new or removed prefix(es) raise the price of their numbers "
            "(see below)"
        )
    sections = (
        ("increased (carriers owe notice)", diff.increased),
        ("decreased", diff.decreased),
        ("new", diff.new),
        ("removed", diff.removed),
        ("changed terms, same price", diff.changed),
    )
    for title, entries in sections:
        if not entries:
            continue
        lines.append(f"{title}:")
        lines.extend(f"  {_entry_text(entry)}" for entry in entries)
    return lines


# --------------------------------------------------------------------------------------


def _current_rates(card: RateCard) -> dict[_Key, Rate]:
    """Per (service, direction, band, prefix): the rate that starts last."""
    chosen: dict[_Key, Rate] = {}
    for rate in card.rates:
        key = (rate.service, rate.direction, rate.band, rate.prefix)
        earlier = chosen.get(key)
        if earlier is None or _start(rate) > _start(earlier):
            chosen[key] = rate
    return chosen


def _start(rate: Rate) -> str:
    return rate.effective_from.isoformat() if rate.effective_from else ""


def _sort_key(key: _Key) -> tuple[str, str, str, str]:
    service, direction, band, prefix = key
    return (service.value, direction.value, prefix, band)


def _per_minute(rate: Rate) -> Fraction:
    """The first tier's price per minute for voice, per ``per`` unit otherwise."""
    tier = rate.tiers[0]
    price = Fraction(tier.price)
    if rate.service is Service.VOICE:
        return price * 60 / tier.per
    return price


def _text(value: Fraction) -> str:
    return ratio_text(value.numerator, value.denominator)


def _price_text(rate: Rate) -> str:
    tier = rate.tiers[0]
    if rate.service is not Service.VOICE or tier.per == 60:
        return str(tier.price)
    return _text(_per_minute(rate))


def _fallback(rates: dict[_Key, Rate], key: _Key) -> Rate | None:
    """The other card's rate for the longest shorter prefix (same service, direction and
    band): what numbers under a new prefix paid before, or under a removed one pay now."""
    service, direction, band, prefix = key
    for length in range(len(prefix) - 1, -1, -1):
        rate = rates.get((service, direction, band, prefix[:length]))
        if rate is not None:
            return rate
    return None


def _entry(
    key: _Key,
    old: Rate | None,
    new: Rate | None,
    *,
    notes: tuple[str, ...] = (),
    fallback: Rate | None = None,
) -> PriceEntry:
    service, direction, band, prefix = key
    named = new if new is not None else old
    assert named is not None
    change = percent = effective = None
    if fallback is not None:
        then, now = (fallback, new) if old is None else (old, fallback)
        assert then is not None and now is not None
        if _per_minute(now) != _per_minute(then):
            effective = "increase" if _per_minute(now) > _per_minute(then) else "decrease"
    if old is not None and new is not None:
        before, after = _per_minute(old), _per_minute(new)
        delta = after - before
        change = ("+" if delta > 0 else "") + _text(delta)
        if before:
            ratio = delta * 100 / before
            units = round_ratio(ratio.numerator, ratio.denominator, 2, Rounding.HALF_EVEN)
            percent = ("+" if units > 0 else "") + f"{units_to_decimal(units, 2)}"
    return PriceEntry(
        prefix=prefix,
        destination=named.destination,
        service=service.value,
        direction=direction.value,
        band=band,
        old_price=None if old is None else _price_text(old),
        new_price=None if new is None else _price_text(new),
        change=change,
        change_percent=percent,
        fallback_price=None if fallback is None else _price_text(fallback),
        fallback_prefix=None if fallback is None else fallback.prefix,
        effective=effective,
        notes=notes,
    )


def _seconds(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _term_changes(old: Rate, new: Rate) -> tuple[str, ...]:
    """Every difference in terms other than the first tier's price."""
    notes: list[str] = []

    def compare(label: str, before: object, after: object) -> None:
        if before != after:
            notes.append(f"{label} {before} → {after}")

    compare("connect fee", old.connect_fee, new.connect_fee)
    compare("initial", _seconds(old.initial_s), _seconds(new.initial_s))
    old_tiers = [(t.start_s, t.price, t.per, t.increment_s) for t in old.tiers]
    new_tiers = [(t.start_s, t.price, t.per, t.increment_s) for t in new.tiers]
    compare("increment", _seconds(old.tiers[0].increment_s), _seconds(new.tiers[0].increment_s))
    if old_tiers[1:] != new_tiers[1:]:
        notes.append(
            f"later tiers {_tiers_text(old_tiers[1:])} → {_tiers_text(new_tiers[1:])}"
        )
    compare("min cost", old.min_cost, new.min_cost)
    compare("max cost", old.max_cost, new.max_cost)
    if old.max_cost is not None or new.max_cost is not None:
        compare("max cost strategy", old.max_cost_strategy.value, new.max_cost_strategy.value)
    compare("effective from", old.effective_from, new.effective_from)
    compare("effective to", old.effective_to, new.effective_to)
    return tuple(notes)


def _tiers_text(tiers: list[tuple[Decimal, Decimal, int, Decimal]]) -> str:
    if not tiers:
        return "none"
    return ", ".join(
        f"[{_seconds(start)} s: {price}/{per} s, increment {_seconds(increment)}]"
        for start, price, per, increment in tiers
    )


def _entry_text(entry: PriceEntry) -> str:
    label = entry.prefix
    if entry.band != ALWAYS_BAND:
        label += f" [{entry.band}]"
    if entry.service != Service.VOICE.value or entry.direction != Direction.OUT.value:
        label += f" ({entry.service} {entry.direction})"
    parts = [f"{label:<14} {entry.destination}:" if entry.destination else f"{label}:"]
    if entry.old_price is not None and entry.new_price is not None:
        parts.append(f"{entry.old_price} → {entry.new_price}")
        if entry.change is not None and entry.old_price != entry.new_price:
            percent = f", {entry.change_percent}%" if entry.change_percent is not None else ""
            parts.append(f"({entry.change}{percent})")
    elif entry.new_price is not None:
        parts.append(entry.new_price)
        parts.append(_fallback_text("was", entry))
    elif entry.old_price is not None:
        parts.append(entry.old_price)
        parts.append(_fallback_text("now", entry))
    text = " ".join(part for part in parts if part)
    if entry.notes:
        text += "; " + "; ".join(entry.notes)
    return text


def _fallback_text(word: str, entry: PriceEntry) -> str:
    if entry.fallback_prefix is None:
        return f"({word}: no rate)" if word == "now" else "(no rate before)"
    via = entry.fallback_prefix or "the default rate"
    effect = f": effectively an {entry.effective}" if entry.effective else ""
    return f"({word} {entry.fallback_price} via {via}{effect})"
