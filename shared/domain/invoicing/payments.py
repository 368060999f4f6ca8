"""Payment allocation: one payment spread over open invoices, oldest first (SPEC 7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.domain.errors import ValidationError
from shared.domain.invoicing.invoice import Invoice
from shared.domain.invoicing.numbering import parse_number
from shared.domain.money import round_invoice_amount


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice_number: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AllocationResult:
    allocations: tuple[Allocation, ...]
    #: what no open invoice needed: a credit for the tenant, never dropped
    unallocated: Decimal


def _age(invoice: Invoice) -> tuple[date, str, int]:
    assert invoice.issue_date is not None and invoice.number is not None
    prefix, sequence = parse_number(invoice.number)
    return invoice.issue_date, prefix, sequence


def allocate_payment(
    amount: Decimal, currency: str, invoices: Sequence[Invoice]
) -> AllocationResult:
    """Spread ``amount`` over the open invoices in ``currency``, oldest issue date first
    (then lowest number), each up to its balance due; the rest is unallocated."""
    if not amount.is_finite() or amount <= 0:
        raise ValidationError(f"a payment must be positive, got {amount}")
    if round_invoice_amount(amount, currency) != amount:
        raise ValidationError(f"a payment of {amount} has more decimals than {currency} allows")
    left = amount
    allocations = []
    for invoice in sorted((i for i in invoices if i.is_open), key=_age):
        if left == 0:
            break
        if invoice.currency != currency:
            raise ValidationError(
                f"invoice {invoice.number} is in {invoice.currency}, the payment in {currency}"
            )
        share = min(left, invoice.balance_due)
        if share > 0:
            allocations.append(Allocation(str(invoice.number), share))
            left -= share
    return AllocationResult(tuple(allocations), left)


def apply_payment(
    reference: str, amount: Decimal, currency: str, on: date, invoices: Sequence[Invoice]
) -> tuple[list[Invoice], AllocationResult]:
    """Allocate and record the payment; returns every invoice (paid ones updated, in the
    order given) and the allocation. Each invoice records it under ``reference``."""
    result = allocate_payment(amount, currency, invoices)
    shares = {allocation.invoice_number: allocation.amount for allocation in result.allocations}
    updated = [
        invoice.record_payment(reference, shares[invoice.number], on)
        if invoice.number in shares else invoice
        for invoice in invoices
    ]
    return updated, result
