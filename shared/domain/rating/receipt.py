"""Rating receipts: enough of the arithmetic behind a cost to re-derive it by hand."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.domain.money import ratio_text, units_to_decimal
from shared.domain.rating.calendar import epoch_ms_to_local

if TYPE_CHECKING:
    from shared.domain.calls import CallRecord
    from shared.domain.rating.compiled import CompiledCard, CompiledRate, CompiledTier


@dataclass(frozen=True, slots=True)
class ReceiptPart:
    """A run of equal increments: ``count`` × ``increment_s`` at ``price`` per ``per``."""

    start_s: Decimal  # offset into the call where the run starts
    band: str
    tier_from_s: Decimal
    increment_s: Decimal
    count: int
    price: Decimal
    per: int
    cost: str  # exact value of the run
    quantity: int = 0

    @classmethod
    def of(
        cls,
        card: CompiledCard,
        rate: CompiledRate,
        tier: CompiledTier,
        offset_ms: int,
        step_ms: int,
        count: int,
        cost: int,
    ) -> ReceiptPart:
        return cls(
            start_s=units_to_decimal(offset_ms, 3),
            band=rate.rate.band,
            tier_from_s=tier.tier.start_s,
            increment_s=units_to_decimal(step_ms, 3),
            count=count,
            price=tier.tier.price,
            per=tier.tier.per,
            cost=ratio_text(cost, card.denominator),
        )

    @classmethod
    def of_quantity(
        cls, card: CompiledCard, rate: CompiledRate, quantity: int, cost: int
    ) -> ReceiptPart:
        tier = rate.rate.tiers[0]
        return cls(
            start_s=Decimal(0),
            band=rate.rate.band,
            tier_from_s=Decimal(0),
            increment_s=Decimal(0),
            count=quantity,
            price=tier.price,
            per=tier.per,
            cost=ratio_text(cost, card.denominator),
            quantity=quantity,
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    card: str
    currency: str
    zone: str
    call_id: str
    service: str
    direction: str
    number: str
    prefix: str
    destination: str
    answer_local: str
    talk_s: Decimal
    billed_s: Decimal
    quantity: int
    parts: tuple[ReceiptPart, ...]
    usage: str
    connect_fee: Decimal
    min_cost: Decimal
    max_cost: Decimal | None
    max_cost_strategy: str
    before_caps: str
    unrounded: str
    decimals: int
    rounding: str
    cost: Decimal
    flags: tuple[str, ...]

    @classmethod
    def build(
        cls,
        card: CompiledCard,
        anchor: CompiledRate,
        call: CallRecord,
        digits: str,
        destination: str,
        parts: list[ReceiptPart],
        usage: int,
        before_caps: int,
        total: int,
        cost: Decimal,
        billed_ms: int,
        quantity: int,
        flags: tuple[str, ...],
    ) -> Receipt:
        rate = anchor.rate
        when = call.answer_ms if call.answer_ms is not None else call.start_ms
        return cls(
            card=card.name,
            currency=card.currency,
            zone=card.zone.key,
            call_id=call.call_id,
            service=str(call.service),
            direction=str(call.direction),
            number=digits,
            prefix=rate.prefix,
            destination=destination,
            answer_local=""
            if when is None
            else epoch_ms_to_local(when, card.zone).isoformat(timespec="milliseconds"),
            talk_s=units_to_decimal(call.talk_ms, 3),
            billed_s=units_to_decimal(billed_ms, 3),
            quantity=quantity,
            parts=tuple(parts),
            usage=ratio_text(usage, card.denominator),
            connect_fee=rate.connect_fee,
            min_cost=rate.min_cost,
            max_cost=rate.max_cost,
            max_cost_strategy=str(rate.max_cost_strategy),
            before_caps=ratio_text(before_caps, card.denominator),
            unrounded=ratio_text(total, card.denominator),
            decimals=anchor.decimals,
            rounding=str(anchor.rounding),
            cost=cost,
            flags=flags,
        )

    @classmethod
    def free(cls, card: CompiledCard, call: CallRecord, digits: str, label: str) -> Receipt:
        when = call.answer_ms
        return cls(
            card=card.name,
            currency=card.currency,
            zone=card.zone.key,
            call_id=call.call_id,
            service=str(call.service),
            direction=str(call.direction),
            number=digits,
            prefix="",
            destination=label,
            answer_local="" if when is None else epoch_ms_to_local(when, card.zone).isoformat(),
            talk_s=units_to_decimal(call.talk_ms, 3),
            billed_s=units_to_decimal(call.talk_ms, 3),
            quantity=0,
            parts=(),
            usage="0",
            connect_fee=Decimal(0),
            min_cost=Decimal(0),
            max_cost=None,
            max_cost_strategy="free",
            before_caps="0",
            unrounded="0",
            decimals=0,
            rounding="none",
            cost=Decimal(0),
            flags=(label.lower(),),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts and decimals as strings."""
        return _jsonable(self)

    def lines(self) -> list[str]:
        """The receipt as text, one step of the arithmetic per line."""
        out = [
            f"call {self.call_id}: {self.service} {self.direction} to {self.number or '-'}",
            f"card {self.card} ({self.currency}), zone {self.zone}, answered {self.answer_local}",
            f"prefix {self.prefix!r} → {self.destination or '-'}",
        ]
        if self.service == "voice":
            out.append(f"talk {self.talk_s} s, billed {self.billed_s} s")
        for part in self.parts:
            if part.quantity:
                out.append(f"  {part.quantity} × {part.price} / {part.per} = {part.cost}")
            else:
                out.append(
                    f"  from {part.start_s} s [{part.band}, tier from {part.tier_from_s} s]: "
                    f"{part.count} × {part.increment_s} s × {part.price}/{part.per} s = {part.cost}"
                )
        out.append(f"usage {self.usage} + connect fee {self.connect_fee} = {self.before_caps}")
        if self.min_cost:
            out.append(f"min cost {self.min_cost}")
        if self.max_cost is not None:
            out.append(f"max cost {self.max_cost} ({self.max_cost_strategy})")
        out.append(
            f"unrounded {self.unrounded} → rounded {self.rounding} to {self.decimals} dp = "
            f"{self.cost} {self.currency}"
        )
        if self.flags:
            out.append(f"flags: {', '.join(self.flags)}")
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
