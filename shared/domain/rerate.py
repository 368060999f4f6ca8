"""Re-rating a period after a rate-card fix: pure rules (SPEC 8; docs/reports.md).

A re-rate never edits history: each rated call whose price changes under the fixed card
gets one ledger adjustment, ``rerate#<call id>#v<k>``, with the new rating receipt, where
``k`` is how many re-rates the call already has (read with the call). Every move of a call's
cost has its own version, so two re-rates that saw the call at the same cost (overlapping
ranges, concurrent runs, a run finishing a crashed one) collide on the same ledger key
before any money moves. A call already re-rated has its new cost stored, so the same re-rate
again finds it unchanged. The run id (tenant, date range, card content hash) only names the
run: invoices group a run's entries into one line.

Sign: the ledger's own convention (``shared.adapters.dynamodb``): usage is negative, money
in is positive. A price rise of ``new − old`` is a further debit, so the entry's ``amount``
is ``old − new``; the entry also keeps ``difference`` = ``new − old`` (what the call now
costs more) for reports and invoices.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.calls import CallRecord, Direction, Service
from shared.domain.errors import ValidationError
from shared.domain.rating.engine import Rating
from shared.domain.usage import BreakoutDelta, utc_day

LEDGER_RERATE = "rerate"
_ZERO = Decimal(0)


def rerate_run_id(tenant: str, day_from: date, day_to: date, card_hash: str) -> str:
    """The same tenant, range and card content always give the same run (idempotence)."""
    text = f"{tenant}\n{day_from.isoformat()}\n{day_to.isoformat()}\n{card_hash}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def rerate_entry_id(call_id: str, version: int) -> str:
    """The ledger key of a call's ``version``-th re-rate (0 for its first): one per move of
    its cost, whichever run makes it."""
    return f"{LEDGER_RERATE}#{call_id}#v{version}"


def parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{flag}: {text!r} is not a date (expected YYYY-MM-DD)") from None


def periods_between(day_from: date, day_to: date) -> list[str]:
    """The billing months ("YYYY-MM") the inclusive day range touches."""
    if day_to < day_from:
        raise ValidationError(f"--to {day_to} is before --from {day_from}")
    periods = []
    year, month = day_from.year, day_from.month
    while (year, month) <= (day_to.year, day_to.month):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods


def local_day(epoch_ms: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=zone).date()


def call_of_detail(values: Mapping[str, Any]) -> CallRecord:
    """A stored rated call (``CallDetail`` values) as the engine's input again.

    A stored call keeps everything rating reads: callee, service, direction, the times and
    talk time; for messages and fees, the billed quantity (segments already computed, so
    the encoding is not needed again).
    """
    service = Service(str(values.get("service") or Service.VOICE))
    quantity = values.get("quantity")
    return CallRecord(
        call_id=str(values["call_id"]),
        tenant=str(values.get("tenant", "")),
        callee=str(values.get("callee", "")),
        service=service,
        direction=Direction(str(values.get("direction") or Direction.OUT)),
        account=str(values.get("account", "")),
        caller=str(values.get("caller", "")),
        start_ms=_optional_int(values.get("start_ms")),
        answer_ms=_optional_int(values.get("answer_ms")),
        end_ms=_optional_int(values.get("end_ms")),
        talk_ms=int(values.get("talk_ms") or 0),
        answered=True,  # only charged calls are in the period index
        quantity=None if service is Service.VOICE or not quantity else Decimal(quantity),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class RerateChange:
    """One call whose price the fixed card changes: the adjustment to write."""

    tenant: str
    call_id: str
    entry_id: str
    run_id: str
    period: str
    currency: str
    old_cost: Decimal
    new_cost: Decimal
    old_destination: str
    destination: str
    prefix: str
    band: str
    card: str
    billed_ms: int
    receipt: str  # the new rating receipt, compact JSON
    day: str = ""  # UTC day of the start time: the call's breakout row
    old_billed_ms: int = 0
    old_prefix: str = ""
    version: int = 0  # re-rates the call had when read: this entry is its version ``version``

    @property
    def difference(self) -> Decimal:
        """What the call costs more (negative: less) under the fixed card."""
        return self.new_cost - self.old_cost

    @property
    def amount(self) -> Decimal:
        """The ledger amount: usage is negative, so a rise is ``old − new``."""
        return self.old_cost - self.new_cost


def change_of(
    values: Mapping[str, Any], rating: Rating, run_id: str, period: str
) -> RerateChange | None:
    """The adjustment for one stored call re-rated as ``rating``; None when the price is
    the same (nothing to write, whatever else changed)."""
    old = Decimal(values.get("cost") or 0)
    if rating.cost == old:
        return None
    receipt = rating.receipt.as_dict() if rating.receipt is not None else {}
    start, answer = values.get("start_ms"), values.get("answer_ms")
    when = int(start) if start is not None else (int(answer) if answer is not None else None)
    call_id = str(values["call_id"])
    version = int(values.get("rerate_version") or 0)
    return RerateChange(
        tenant=str(values.get("tenant", "")),
        call_id=call_id,
        entry_id=rerate_entry_id(call_id, version),
        run_id=run_id,
        period=period,
        currency=rating.currency,
        old_cost=old,
        new_cost=rating.cost,
        old_destination=str(values.get("destination", "")),
        destination=rating.destination,
        prefix=rating.prefix,
        band=rating.band,
        card=rating.card,
        billed_ms=rating.billed_ms,
        receipt=json.dumps(receipt, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
        day=utc_day(when) if when is not None else "unknown",
        old_billed_ms=int(values.get("billed_ms") or 0),
        old_prefix=str(values.get("prefix") or ""),
        version=version,
    )


def entry_fields(change: RerateChange) -> dict[str, Any]:
    """The ledger entry of a change: what invoices read (``difference``, ``period``,
    ``call_id``, ``run_id``, ``previous_cost``, ``new_cost``, ``receipt``) and what another
    writer needs to finish it (the call's new and old rating fields, ``version``)."""
    return {
        "tenant": change.tenant,
        "entry_id": change.entry_id,
        "kind": LEDGER_RERATE,
        "amount": change.amount,
        "currency": change.currency,
        "difference": change.difference,
        "period": change.period,
        "call_id": change.call_id,
        "run_id": change.run_id,
        "previous_cost": change.old_cost,
        "new_cost": change.new_cost,
        "receipt": change.receipt,
        "version": change.version,
        "destination": change.destination,
        "prefix": change.prefix,
        "band": change.band,
        "card": change.card,
        "billed_ms": change.billed_ms,
        "old_destination": change.old_destination,
        "old_prefix": change.old_prefix,
        "old_billed_ms": change.old_billed_ms,
        "day": change.day,
    }


def change_of_entry(entry: Mapping[str, Any]) -> RerateChange:
    """The change a stored entry made (``entry_fields``' inverse): how a writer that collides
    with it finishes it when its call update never happened."""
    return RerateChange(
        tenant=str(entry["tenant"]),
        call_id=str(entry["call_id"]),
        entry_id=str(entry["entry_id"]),
        run_id=str(entry.get("run_id") or ""),
        period=str(entry.get("period") or ""),
        currency=str(entry.get("currency") or ""),
        old_cost=Decimal(entry["previous_cost"]),
        new_cost=Decimal(entry["new_cost"]),
        old_destination=str(entry.get("old_destination") or ""),
        destination=str(entry.get("destination") or ""),
        prefix=str(entry.get("prefix") or ""),
        band=str(entry.get("band") or ""),
        card=str(entry.get("card") or ""),
        billed_ms=int(entry.get("billed_ms") or 0),
        receipt=str(entry.get("receipt") or ""),
        day=str(entry.get("day") or "unknown"),
        old_billed_ms=int(entry.get("old_billed_ms") or 0),
        old_prefix=str(entry.get("old_prefix") or ""),
        version=int(entry.get("version") or 0),
    )


@dataclass(slots=True)
class RerateSummary:
    """What a re-rate found and did. ``written`` counts adjustments this run wrote,
    ``already`` those an earlier identical run had written (finished now if it crashed)."""

    tenant: str
    run_id: str
    currency: str
    periods: list[str]
    dry_run: bool
    considered: int = 0
    unchanged: int = 0
    changed: int = 0
    written: int = 0
    already: int = 0
    conflicts: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    total_difference: Decimal = _ZERO
    by_destination: dict[str, Decimal] = field(default_factory=dict)
    calls_by_destination: dict[str, int] = field(default_factory=dict)

    def add(self, change: RerateChange) -> None:
        self.changed += 1
        self.total_difference += change.difference
        key = change.destination or change.old_destination
        self.by_destination[key] = self.by_destination.get(key, _ZERO) + change.difference
        self.calls_by_destination[key] = self.calls_by_destination.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; amounts as strings."""
        return {
            "tenant": self.tenant,
            "run_id": self.run_id,
            "currency": self.currency,
            "periods": self.periods,
            "dry_run": self.dry_run,
            "considered": self.considered,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "written": self.written,
            "already": self.already,
            "conflicts": self.conflicts,
            "failed": dict(sorted(self.failed.items())),
            "total_difference": str(self.total_difference),
            "by_destination": {
                name: {"calls": self.calls_by_destination[name], "difference": str(amount)}
                for name, amount in sorted(self.by_destination.items())
            },
        }


def _breakout_destination(destination: str, prefix: str) -> str:
    """The breakout row's destination label, as ``shared.domain.usage.breakout_key``."""
    return destination or (prefix and f"+{prefix}") or "unrated"


def breakout_moves(change: RerateChange) -> dict[tuple[str, str], BreakoutDelta]:
    """What the re-rate changes in the breakouts: the call leaves its old (day, destination)
    row and joins the new one; with the same destination, only billed time and cost move."""
    old_key = (change.day, _breakout_destination(change.old_destination, change.old_prefix))
    new_key = (change.day, _breakout_destination(change.destination, change.prefix))
    if old_key == new_key:
        return {
            old_key: BreakoutDelta(
                0, 0, change.billed_ms - change.old_billed_ms, change.new_cost - change.old_cost
            )
        }
    return {
        old_key: BreakoutDelta(-1, -1, -change.old_billed_ms, -change.old_cost),
        new_key: BreakoutDelta(1, 1, change.billed_ms, change.new_cost),
    }
