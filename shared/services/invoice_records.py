"""What the invoice store keeps of an issued invoice, and the port it keeps it behind.

An issued invoice is immutable (SPEC 7): its number, lines, totals, dates and the usage it
billed never change after the issue transaction. Only its *settlement* moves afterwards:
status (Sent → Partially Paid / Paid / Overdue, and back to open when a payment is
refunded), paid and balance due, the payments applied (each payment id once), the refunds
of them taken off again (each refund id once), and the delivery steps done after the issue
(PDF written, email sent, auto-pay attempted), each recorded so a retry repeats none of
them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from shared.domain.errors import BillingError

#: SPEC 7 statuses. An invoice is written Sent in its issue transaction (Draft exists only
#: in memory, between building and issuing); Cancelled is set by a credit note.
DRAFT, SENT, PARTIALLY_PAID, PAID, OVERDUE, CANCELLED = (
    "Draft", "Sent", "Partially Paid", "Paid", "Overdue", "Cancelled",
)
#: statuses with money still owed
OPEN_STATUSES = frozenset({SENT, PARTIALLY_PAID, OVERDUE})


class CounterMoved(BillingError):
    """Another issue took the next number first; read the counter again and retry."""


class PaymentRaced(BillingError):
    """Another payment changed the invoice between our read and our write; read again."""


class CreditTaken(BillingError):
    """A pending credit this invoice meant to consume was applied elsewhere meanwhile."""


@dataclass(frozen=True, slots=True)
class StoredInvoice:
    """One issued invoice as the store holds it."""

    tenant: str
    period: str  # YYYY-MM
    number: str
    issuer: str
    currency: str
    status: str
    issued_ms: int
    issue_date: str  # ISO date, tenant's calendar
    due_date: str  # ISO date
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    paid: Decimal
    balance_due: Decimal
    #: the invoice as issued (lines, parties, tax breakdown), JSON-ready, amounts as strings
    document: Mapping[str, Any]
    #: per invoiced period: {"calls": n, "ids": [keys of the call-id lists billed]}, carried
    #: forward from invoice to invoice, so the next one bills only calls that arrived later
    usage_billed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: invoice credits (``invoice_credit#<tenant>#<id>`` keys) consumed by this invoice
    credits: tuple[str, ...] = ()
    #: re-rating ledger entries (ids) billed by this invoice and every earlier one
    adjusted_entries: tuple[str, ...] = ()
    pdf_key: str | None = None
    emailed: bool = False
    #: the auto-pay attempt: ``attempt`` (idempotency key), ``intent_id``, ``outcome``
    autopay: Mapping[str, Any] = field(default_factory=dict)
    #: payment ids already applied to this invoice (each applies once)
    payments: frozenset[str] = frozenset()
    #: refunds of those payments taken off it: refund id -> (payment id, amount), each once
    reversals: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES and self.balance_due > 0


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one payment was split over a tenant's invoices, fixed once when first applied,
    so a retry applies the same parts (never a new split of what is left)."""

    payment_id: str
    tenant: str
    currency: str
    amount: Decimal
    #: (invoice period, amount) in application order
    parts: tuple[tuple[str, Decimal], ...]
    #: what no open invoice needed (kept for the operator to refund or credit)
    unallocated: Decimal


@dataclass(frozen=True, slots=True)
class UsageInvoiced:
    """A postpaid invoice's ledger credit, written in its issue transaction: the exact,
    unrounded rated usage it billed (the period's calls, late calls, re-rate differences),
    so the tenant's balance is minus its *unbilled* usage (what ``credit_limit`` bounds)."""

    tenant: str
    number: str
    period: str
    amount: Decimal
    currency: str

    @property
    def entry_id(self) -> str:
        return f"invoiced#{self.number}"


@dataclass(frozen=True, slots=True)
class PendingCharge:
    """A one-time charge (a number port, a set-up fee) for the tenant's invoice of
    ``period`` or, if that one is issued already, the next one."""

    tenant: str
    charge_id: str
    period: str
    description: str
    unit_price: Decimal
    quantity: Decimal = Decimal(1)
    #: pending until an invoice bills it, then that invoice's number
    billed_by: str | None = None

    @property
    def key(self) -> str:
        return f"charge#{self.tenant}#{self.charge_id}"


class InvoiceStore(Protocol):
    """InvoicesTable (``shared.adapters.invoice_store.DynamoInvoiceStore``)."""

    def last_number(self, issuer: str) -> int:
        """The last number the issuer used (0 before its first invoice)."""
        ...

    def issue(
        self, invoice: StoredInvoice, sequence: int, credit_keys: Sequence[str],
        charge_keys: Sequence[str] = (),
        remainders: Sequence[tuple[str, Mapping[str, Any]]] = (),
        usage_invoiced: UsageInvoiced | None = None,
    ) -> bool:
        """Write the invoice, move the issuer's counter from ``sequence - 1`` to
        ``sequence``, mark the credits applied and the one-time charges billed, create
        the ``remainders`` (what a credit larger than the invoice leaves: new pending
        credits, by key and values, in PaymentsTable) and, for a postpaid invoice, the
        ledger credit ``usage_invoiced`` with its balance change, all or nothing. False (nothing
        written) when the tenant's invoice of that period exists; ``CounterMoved`` when
        another issue took ``sequence``; ``CreditTaken`` when a credit or a charge is no
        longer pending."""
        ...

    def add_charge(self, charge: PendingCharge) -> bool:
        """Record a one-time charge once per (tenant, id); False when that id exists."""
        ...

    def pending_charges(self, tenant: str) -> list[PendingCharge]:
        """The tenant's one-time charges no invoice has billed yet."""
        ...

    def get(self, tenant: str, period: str) -> StoredInvoice | None: ...

    def by_number(self, number: str) -> StoredInvoice | None: ...

    def of_tenant(self, tenant: str) -> list[StoredInvoice]:
        """The tenant's invoices, oldest period first."""
        ...

    def mark(self, tenant: str, period: str, values: Mapping[str, Any]) -> None:
        """Record a delivery step (``pdf_key``, ``emailed``, ``autopay``): never the
        issued content."""
        ...

    def set_status(self, tenant: str, period: str, expected: str, status: str) -> bool:
        """Compare-and-set of the status; False when it was not ``expected``."""
        ...

    def allocation(self, payment_id: str) -> Allocation | None: ...

    def save_allocation(self, allocation: Allocation) -> Allocation:
        """Create the allocation once; the stored one when it existed."""
        ...

    def apply_payment(
        self, invoice: StoredInvoice, payment_id: str, amount: Decimal, status: str
    ) -> bool:
        """Add ``amount`` to paid (taken from the balance due) and set ``status``, on the
        invoice as read (``invoice.paid`` unchanged since). False when ``payment_id`` was
        applied to it before; ``PaymentRaced`` when another payment moved it meanwhile."""
        ...

    def reverse_payment(
        self, invoice: StoredInvoice, refund_id: str, payment_id: str, amount: Decimal,
        status: str,
    ) -> bool:
        """Take ``amount`` off paid (back onto the balance due), record ``refund_id`` (of
        ``payment_id``) in ``reversals`` and set ``status``, on the invoice as read
        (``invoice.paid`` unchanged since). False when ``refund_id`` was taken off it
        before; ``PaymentRaced`` when another payment or refund moved it meanwhile."""
        ...
