"""Usage summary: rated-call rows summed by service and direction, from rated calls only
(never from wallet movements). Costs are summed unrounded; the invoice rounds each line
once. A call belongs to the period of its answer time (a message or fee: its start time)
in the tenant's zone (SPEC 5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from shared.domain.errors import ValidationError
from shared.domain.invoicing.periods import BillingPeriod


class UsageRow(Protocol):
    """What the aggregator reads of a rated call (``shared.adapters.dynamodb.RatedCallRow``
    has these fields)."""

    @property
    def call_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...
    @property
    def billed_ms(self) -> int: ...
    @property
    def quantity(self) -> int: ...
    @property
    def answer_ms(self) -> int | None: ...
    @property
    def start_ms(self) -> int | None: ...


@dataclass(frozen=True, slots=True, order=True)
class UsageKey:
    period: str
    service: str
    direction: str


@dataclass(slots=True)
class UsageTotals:
    """One (period, service, direction): count, billed time, units and exact cost."""

    calls: int = 0
    billed_ms: int = 0
    quantity: int = 0
    cost: Decimal = Decimal(0)


@dataclass(slots=True)
class UsageSummary:
    """Totals per (period, service, direction), per server (call ``account``), and the
    billed milliseconds per (service, direction) for plan minutes."""

    currency: str
    totals: dict[UsageKey, UsageTotals]
    cost_by_server: dict[str, Decimal]

    def billed_ms(self, service: str, directions: Iterable[str]) -> int:
        wanted = set(directions)
        return sum(
            totals.billed_ms for key, totals in self.totals.items()
            if key.service == service and key.direction in wanted
        )


def call_period(row: UsageRow, zone: str | None) -> BillingPeriod:
    when = row.answer_ms if row.answer_ms is not None else row.start_ms
    if when is None:
        raise ValidationError(f"rated call {row.call_id} has no answer or start time")
    return BillingPeriod.containing(when, zone)


def aggregate_usage(rows: Iterable[UsageRow], currency: str, zone: str | None) -> UsageSummary:
    """Sum rated rows by (period of answer time, service, direction); rows not ``rated``
    are skipped (the store's period index holds only charged calls anyway); a row in
    another currency is an error, never converted."""
    totals: dict[UsageKey, UsageTotals] = {}
    by_server: dict[str, Decimal] = {}
    seen: set[str] = set()
    for row in rows:
        if row.status and row.status != "rated":
            continue
        if row.call_id in seen:
            raise ValidationError(f"rated call {row.call_id} appears twice in the usage")
        seen.add(row.call_id)
        if row.currency != currency:
            raise ValidationError(
                f"rated call {row.call_id} is in {row.currency}, the invoice in {currency}"
            )
        key = UsageKey(call_period(row, zone).key, row.service, row.direction)
        entry = totals.setdefault(key, UsageTotals())
        entry.calls += 1
        entry.billed_ms += row.billed_ms
        entry.quantity += row.quantity
        entry.cost += row.cost
        by_server[row.account] = by_server.get(row.account, Decimal(0)) + row.cost
    ordered = sorted(totals.items(), key=lambda item: _line_order(item[0]))
    return UsageSummary(currency, dict(ordered), by_server)


def _line_order(key: UsageKey) -> tuple[str, str, bool, str]:
    """Periods oldest first, services by name, outbound before inbound."""
    return key.period, key.service, key.direction != "out", key.direction


def late_calls(rows: Iterable[UsageRow], invoiced: set[str] | frozenset[str]) -> list[UsageRow]:
    """Rows of an already invoiced period that its invoice did not include (``invoiced``:
    the call ids it covered): they go on the next invoice as late usage."""
    return [row for row in rows if row.call_id not in invoiced]
