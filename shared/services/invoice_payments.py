"""Payments against invoices: auto-pay on issue, pay now, and the webhook's success.

Every payment is applied once per payment id (a PaymentIntent id). A payment naming an
invoice (auto-pay: ``metadata.invoice``) goes to that invoice first; any payment's rest, and
a pay-now payment entirely, go to the tenant's open invoices oldest first. The split is
fixed once (``allocation#<payment id>``), so a retry or a second delivery of the same
payment applies the same parts and never a new split of what is left.

Auto-pay follows the wallet recharge's rules (``shared.services.recharge``): the invoice is
its own idempotency record. ``attempt`` (the Idempotency-Key ``invoice-<number>``) is noted
before Stripe is called and the PaymentIntent id as soon as Stripe answers; a retry reads
that intent, or, attempt noted without an id (a crash between Stripe's answer and our
record), finds it by ``metadata.trigger`` before creating one. A succeeded intent is
applied at once (a verified API read); the webhook's later delivery finds the payment
already applied and changes nothing.

A refund of an invoice payment (``reverse_refund``) is never a wallet debit: it takes the
refunded amount back off the invoices that payment paid, newest invoice first (by period,
the split in ``allocation#<payment id>``), each part once per refund id.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from shared.domain.errors import ValidationError
from shared.domain.invoicing.invoice import Invoice
from shared.domain.invoicing.payments import allocate_payment
from shared.domain.money import from_minor_units, minor_units, to_minor_units
from shared.domain.payments import Charge
from shared.observability import logger
from shared.ports import PaymentGateway
from shared.services.invoice_records import (
    OPEN_STATUSES,
    Allocation,
    InvoiceStore,
    PaymentRaced,
    StoredInvoice,
)

#: a payment intent's metadata ``purpose`` for money owed on invoices (not a wallet top-up)
INVOICE_PURPOSE = "invoice_payment"
_RACE_RETRIES = 8


class Customers(Protocol):
    def customer_of(self, tenant: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AppliedPayment:
    payment_id: str
    #: (invoice number, amount applied now or before)
    parts: tuple[tuple[str, Decimal], ...]
    unallocated: Decimal
    #: False when every part had been applied before (a repeated delivery)
    changed: bool


def autopay_key(number: str) -> str:
    """The Stripe Idempotency-Key (and ``metadata.trigger``) of an invoice's auto-pay."""
    return f"invoice-{number}"


def is_invoice_payment(metadata: Mapping[str, Any] | None) -> bool:
    if not metadata:
        return False
    return metadata.get("purpose") == INVOICE_PURPOSE or bool(metadata.get("invoice"))


def as_domain(invoice: StoredInvoice) -> Invoice:
    """The stored invoice as the domain's, with what was paid so far as one settlement."""
    document = dict(invoice.document)
    document["status"] = invoice.status
    document["settlements"] = [{
        "kind": "payment", "reference": "paid-so-far", "amount": str(invoice.paid),
        "on": invoice.issue_date,
    }] if invoice.paid > 0 else []
    return Invoice.model_validate(document)


def allocate_oldest_first(
    amount: Decimal, currency: str, invoices: list[StoredInvoice], first: str | None = None
) -> tuple[list[tuple[str, Decimal]], Decimal]:
    """Split ``amount`` over the open invoices with the domain's allocation (oldest issue
    date first, then lowest number), after the invoice numbered ``first`` (the one an
    auto-pay was made for) takes what it is owed. Returns ([(period, amount)], left over)."""
    parts: list[tuple[str, Decimal]] = []
    left = amount
    named = next((i for i in invoices if i.number == first and i.is_open), None)
    if named is not None:
        take = min(left, named.balance_due)
        parts.append((named.period, take))
        left -= take
    rest = [i for i in invoices if i.is_open and i is not named]
    if left <= 0:
        return parts, left
    result = allocate_payment(left, currency, [as_domain(i) for i in rest])
    period_of = {i.number: i.period for i in rest}
    parts += [(period_of[a.invoice_number], a.amount) for a in result.allocations]
    return parts, result.unallocated


def apply_payment(
    tenant: str, payment_id: str, amount: Decimal, currency: str, store: InvoiceStore,
    invoice_number: str | None = None, sleep: Callable[[float], None] = time.sleep,
) -> AppliedPayment:
    """Apply a succeeded payment to the tenant's invoices, exactly once per ``payment_id``."""
    allocation = store.allocation(payment_id)
    if allocation is None:
        invoices = [store.get(i.tenant, i.period) or i for i in store.of_tenant(tenant)]
        wrong = {i.currency for i in invoices if i.is_open} - {currency}
        if wrong:
            raise ValidationError(
                f"payment {payment_id} is in {currency}, invoices of {tenant} in "
                f"{', '.join(sorted(wrong))}"
            )
        parts, left = allocate_oldest_first(amount, currency, invoices, invoice_number)
        allocation = store.save_allocation(
            Allocation(payment_id, tenant, currency, amount, tuple(parts), left)
        )
    changed = False
    applied = []
    for period, part in allocation.parts:
        number, moved = _apply_part(store, tenant, period, payment_id, part, sleep)
        changed = changed or moved
        applied.append((number, part))
    return AppliedPayment(payment_id, tuple(applied), allocation.unallocated, changed)


def _apply_part(
    store: InvoiceStore, tenant: str, period: str, payment_id: str, amount: Decimal,
    sleep: Callable[[float], None],
) -> tuple[str, bool]:
    for attempt in range(_RACE_RETRIES):
        invoice = store.get(tenant, period)
        if invoice is None:
            raise ValidationError(f"no invoice of {tenant} for {period}")
        if payment_id in invoice.payments:
            return invoice.number, False
        # another payment may have settled it since the split was fixed: never beyond 0
        take = min(amount, invoice.balance_due) if invoice.status in OPEN_STATUSES else Decimal(0)
        if take <= 0:
            logger.warning("payment part not applied: the invoice was settled meanwhile",
                           extra={"tenant": tenant, "invoice": invoice.number,
                                  "payment": payment_id, "amount": str(amount)})
            return invoice.number, False
        # the status the domain gives (Partially Paid, or Overdue until paid in full; Paid)
        on = date.fromisoformat(invoice.issue_date)
        status = str(as_domain(invoice).record_payment(payment_id, take, on).status)
        try:
            return invoice.number, store.apply_payment(invoice, payment_id, take, status)
        except PaymentRaced:
            sleep(random.uniform(0, 0.05 * 2**attempt))
    raise PaymentRaced(f"invoice of {tenant} for {period} kept moving; the payment retries")


# ------------------------------------------------------------------------------ refunds


@dataclass(frozen=True, slots=True)
class ReversedRefund:
    refund_id: str
    payment_id: str
    #: (invoice number, amount taken off it now or before)
    parts: tuple[tuple[str, Decimal], ...]
    #: what the payment no longer had on any invoice (its unallocated rest, or parts that
    #: were never applied): nothing to take back
    unreversed: Decimal
    #: False when every part had been taken off before (a repeated delivery)
    changed: bool


def reverse_refund(
    tenant: str, payment_id: str, refund_id: str, amount: Decimal, currency: str,
    on: date, store: InvoiceStore, sleep: Callable[[float], None] = time.sleep,
) -> ReversedRefund | None:
    """Take a succeeded refund of the invoice payment ``payment_id`` back off the invoices
    it paid, exactly once per ``refund_id``. None when the payment was never applied to
    invoices (no ``allocation#<payment id>``: a top-up, or not applied yet).

    Newest invoice first (latest period of the allocation): the older invoice stays the
    settled one, as a payment settles the oldest first. Each invoice gives back at most what
    this payment put on it less what earlier refunds of it took, and never below 0 paid.
    ``on`` (the refund's day) decides Overdue (``Invoice.reverse_payment``)."""
    allocation = store.allocation(payment_id)
    if allocation is None:
        return None
    if allocation.tenant != tenant or allocation.currency != currency:
        raise ValidationError(
            f"refund {refund_id} of {payment_id} is {currency} for {tenant}; the payment was "
            f"{allocation.currency} for {allocation.tenant}"
        )
    left = amount
    parts: list[tuple[str, Decimal]] = []
    changed = False
    for period, part in sorted(allocation.parts, key=lambda p: p[0], reverse=True):
        if left <= 0:
            break
        number, took, moved = _reverse_part(
            store, tenant, period, payment_id, refund_id, part, left, on, sleep)
        if took > 0:
            parts.append((number, took))
            left -= took
            changed = changed or moved
    if left > 0:
        logger.warning("refund beyond what the payment has on invoices: nothing to take back",
                       extra={"tenant": tenant, "payment": payment_id, "refund": refund_id,
                              "amount": str(left)})
    return ReversedRefund(refund_id, payment_id, tuple(parts), max(left, Decimal(0)), changed)


def _reverse_part(
    store: InvoiceStore, tenant: str, period: str, payment_id: str, refund_id: str,
    part: Decimal, left: Decimal, on: date, sleep: Callable[[float], None],
) -> tuple[str, Decimal, bool]:
    """(invoice number, amount taken off, whether this call wrote it)."""
    for attempt in range(_RACE_RETRIES):
        invoice = store.get(tenant, period)
        if invoice is None:
            raise ValidationError(f"no invoice of {tenant} for {period}")
        done = invoice.reversals.get(refund_id)
        if done is not None:
            return invoice.number, done[1], False
        if payment_id not in invoice.payments:
            return invoice.number, Decimal(0), False  # the part was never applied
        earlier = sum((a for p, a in invoice.reversals.values() if p == payment_id), Decimal(0))
        take = min(left, part - earlier, invoice.paid)
        if take <= 0:
            return invoice.number, Decimal(0), False
        status = str(as_domain(invoice).reverse_payment(refund_id, take, on).status)
        try:
            return invoice.number, take, store.reverse_payment(
                invoice, refund_id, payment_id, take, status)
        except PaymentRaced:
            sleep(random.uniform(0, 0.05 * 2**attempt))
    raise PaymentRaced(f"invoice of {tenant} for {period} kept moving; the refund retries")


# ------------------------------------------------------------------------------ auto-pay


@dataclass(frozen=True, slots=True)
class AutopayDeps:
    store: InvoiceStore
    gateway: PaymentGateway
    customers: Customers


def autopay(invoice: StoredInvoice, deps: AutopayDeps) -> str:
    """Charge the invoice's balance to the tenant's default card, once. Returns the outcome:
    succeeded | processing | declined | authentication_required | no_card | not_due |
    done_before."""
    state = dict(invoice.autopay)
    if state.get("outcome") in {"succeeded", "declined", "authentication_required", "no_card"}:
        return "done_before"
    if invoice.balance_due <= 0 and not state.get("intent_id"):
        return "not_due"
    key = autopay_key(invoice.number)
    charge: Charge | None = None
    if state.get("intent_id"):
        charge = deps.gateway.retrieve(str(state["intent_id"]))
    else:
        customer = deps.customers.customer_of(invoice.tenant)
        if customer is None:
            deps.store.mark(invoice.tenant, invoice.period, {
                "autopay": {**state, "outcome": "no_card"}})
            return "no_card"
        if state.get("attempt") == key:
            charge = deps.gateway.find_charge(customer, key)
        else:
            state["attempt"] = key
            deps.store.mark(invoice.tenant, invoice.period, {"autopay": state})
        if charge is None:
            charge = deps.gateway.charge_off_session(
                customer, to_minor_units(invoice.balance_due, invoice.currency),
                invoice.currency.lower(), key,
                {"tenant": invoice.tenant, "invoice": invoice.number, "trigger": key,
                 "purpose": INVOICE_PURPOSE},
            )
        state["intent_id"] = charge.intent_id
        deps.store.mark(invoice.tenant, invoice.period, {"autopay": state})
    if charge.status == "succeeded":
        # the money Stripe reports received, not what we asked for
        received = from_minor_units(charge.amount_minor, invoice.currency)
        apply_payment(invoice.tenant, charge.intent_id, received, invoice.currency,
                      deps.store, invoice.number)
    if charge.status != "processing":
        deps.store.mark(invoice.tenant, invoice.period, {
            "autopay": {**state, "outcome": charge.status,
                        "decline_code": charge.decline_code}})
    return charge.status


# ------------------------------------------------------------------------------ pay now


@dataclass(frozen=True, slots=True)
class PayNowResult:
    #: succeeded | processing | declined | authentication_required | no_card | nothing_due
    outcome: str
    intent_id: str | None = None
    applied: AppliedPayment | None = None


def pay_now(
    tenant: str, amount: Decimal | None, request_id: str, deps: AutopayDeps
) -> PayNowResult:
    """Charge the tenant's default card now for ``amount`` (None: everything due) and apply
    it oldest open invoice first. The same ``request_id`` never charges twice: the
    Idempotency-Key and ``metadata.trigger`` are ``pay-<tenant>-<request id>`` and an intent
    already created for it is found before another is made."""
    invoices = [deps.store.get(i.tenant, i.period) or i for i in deps.store.of_tenant(tenant)]
    customer = deps.customers.customer_of(tenant)
    trigger = f"pay-{tenant}-{request_id}"
    # a repeated request finds its payment first: what is due now no longer matters
    charge: Charge | None = deps.gateway.find_charge(customer, trigger) if customer else None
    currency = invoices[-1].currency if invoices else ""
    if charge is None:
        open_invoices = [invoice for invoice in invoices if invoice.is_open]
        due = sum((invoice.balance_due for invoice in open_invoices), Decimal(0))
        if not open_invoices:
            return PayNowResult("nothing_due")
        wanted = due if amount is None else amount
        if wanted <= 0 or wanted > due:
            raise ValidationError(
                f"--amount must be more than 0 and at most the {due} {currency} due, "
                f"got {wanted}"
            )
        if from_minor_units(to_minor_units(wanted, currency), currency) != wanted:
            # Stripe takes whole minor units: never charge another amount than was asked
            raise ValidationError(
                f"--amount {wanted} has more than {minor_units(currency)} decimal places "
                f"for {currency}"
            )
        if customer is None:
            return PayNowResult("no_card")
        charge = deps.gateway.charge_off_session(
            customer, to_minor_units(wanted, currency), currency.lower(), trigger,
            {"tenant": tenant, "trigger": trigger, "purpose": INVOICE_PURPOSE},
        )
    if charge.status != "succeeded":
        return PayNowResult(charge.status, charge.intent_id or None)
    received = from_minor_units(charge.amount_minor, currency)
    applied = apply_payment(tenant, charge.intent_id, received, currency, deps.store)
    return PayNowResult("succeeded", charge.intent_id, applied)
