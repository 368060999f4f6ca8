"""An in-memory invoice store that enforces ``DynamoInvoiceStore``'s conditions, and the
other collaborators of the invoicing service (files, mailer, usage rows).

``issue`` is all or nothing like the one ``TransactWriteItems``: the counter must still be
n-1, the (tenant, period) key free and every credit still pending in the payment records;
``apply_payment`` requires ``paid`` unchanged and the payment id not yet applied.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.domain.suspension import OpenInvoice
from shared.services.invoice_records import (
    Allocation,
    CounterMoved,
    CreditTaken,
    PaymentRaced,
    PendingCharge,
    StoredInvoice,
    UsageInvoiced,
)
from tests.fakes.payments import MemoryPaymentRecords, MemoryWallet


@dataclass
class MemoryInvoiceStore:
    credits: MemoryPaymentRecords = field(default_factory=MemoryPaymentRecords)
    counters: dict[str, int] = field(default_factory=dict)
    invoices: dict[tuple[str, str], StoredInvoice] = field(default_factory=dict)
    allocations: dict[str, Allocation] = field(default_factory=dict)
    charges: dict[str, PendingCharge] = field(default_factory=dict)
    #: the ledger a postpaid issue credits (``invoiced#<number>``), with the same condition
    wallet: MemoryWallet = field(default_factory=MemoryWallet)
    #: issue attempts refused because the counter had moved (races seen)
    races: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def last_number(self, issuer: str) -> int:
        return self.counters.get(issuer, 0)

    def issue(
        self, invoice: StoredInvoice, sequence: int, credit_keys: Sequence[str],
        charge_keys: Sequence[str] = (),
        remainders: Sequence[tuple[str, Mapping[str, Any]]] = (),
        usage_invoiced: UsageInvoiced | None = None,
    ) -> bool:
        with self._lock:
            if (invoice.tenant, invoice.period) in self.invoices:
                return False
            if self.counters.get(invoice.issuer, 0) != sequence - 1:
                self.races += 1
                raise CounterMoved(f"{invoice.issuer} is past {sequence - 1}")
            for key in credit_keys:
                if (self.credits.get(key) or {}).get("status") != "pending":
                    raise CreditTaken(key)
            for key in charge_keys:
                if key not in self.charges or self.charges[key].billed_by is not None:
                    raise CreditTaken(key)
            for key, _ in remainders:
                if key in self.credits.items:
                    raise CreditTaken(key)
            if usage_invoiced is not None and (
                    usage_invoiced.tenant, usage_invoiced.entry_id) in self.wallet.entries:
                raise CounterMoved(usage_invoiced.entry_id)
            self.counters[invoice.issuer] = sequence
            self.invoices[(invoice.tenant, invoice.period)] = invoice
            for key in credit_keys:
                self.credits.items[key].update(status="applied", rank=2, invoice=invoice.number)
            for key in charge_keys:
                self.charges[key] = dataclasses.replace(self.charges[key],
                                                        billed_by=invoice.number)
            for key, values in remainders:
                self.credits.items[key] = {**values, "record_key": key}
            if usage_invoiced is not None:
                self.wallet.credit(usage_invoiced.tenant, usage_invoiced.entry_id,
                                   usage_invoiced.amount, usage_invoiced.currency)
            return True

    def add_charge(self, charge: PendingCharge) -> bool:
        with self._lock:
            if charge.key in self.charges:
                return False
            self.charges[charge.key] = charge
            return True

    def pending_charges(self, tenant: str) -> list[PendingCharge]:
        return [c for c in self.charges.values() if c.tenant == tenant and c.billed_by is None]

    def get(self, tenant: str, period: str) -> StoredInvoice | None:
        return self.invoices.get((tenant, period))

    def by_number(self, number: str) -> StoredInvoice | None:
        return next((i for i in self.invoices.values() if i.number == number), None)

    def of_tenant(self, tenant: str) -> list[StoredInvoice]:
        return sorted((i for i in self.invoices.values() if i.tenant == tenant),
                      key=lambda invoice: invoice.period)

    def open_invoices(self, tenant: str) -> list[OpenInvoice]:
        from datetime import date

        return [OpenInvoice(i.number, date.fromisoformat(i.due_date), i.balance_due, i.currency)
                for i in self.of_tenant(tenant) if i.is_open]

    def mark(self, tenant: str, period: str, values: Mapping[str, Any]) -> None:
        unknown = set(values) - {"pdf_key", "emailed", "autopay"}
        if unknown:
            raise ValueError(f"an issued invoice's {sorted(unknown)} never change")
        with self._lock:
            self.invoices[(tenant, period)] = dataclasses.replace(
                self.invoices[(tenant, period)], **dict(values))

    def set_status(self, tenant: str, period: str, expected: str, status: str) -> bool:
        with self._lock:
            found = self.invoices.get((tenant, period))
            if found is None or found.status != expected:
                return False
            self.invoices[(tenant, period)] = dataclasses.replace(found, status=status)
            return True

    def allocation(self, payment_id: str) -> Allocation | None:
        return self.allocations.get(payment_id)

    def save_allocation(self, allocation: Allocation) -> Allocation:
        with self._lock:
            return self.allocations.setdefault(allocation.payment_id, allocation)

    def apply_payment(
        self, invoice: StoredInvoice, payment_id: str, amount: Decimal, status: str
    ) -> bool:
        with self._lock:
            now = self.invoices[(invoice.tenant, invoice.period)]
            if payment_id in now.payments:
                return False
            if now.paid != invoice.paid:
                raise PaymentRaced(invoice.number)
            self.invoices[(invoice.tenant, invoice.period)] = dataclasses.replace(
                now, paid=now.paid + amount, balance_due=now.balance_due - amount,
                status=status, payments=now.payments | {payment_id},
            )
            return True

    def reverse_payment(
        self, invoice: StoredInvoice, refund_id: str, payment_id: str, amount: Decimal,
        status: str,
    ) -> bool:
        with self._lock:
            now = self.invoices[(invoice.tenant, invoice.period)]
            if refund_id in now.reversals:
                return False
            if now.paid != invoice.paid:
                raise PaymentRaced(invoice.number)
            self.invoices[(invoice.tenant, invoice.period)] = dataclasses.replace(
                now, paid=now.paid - amount, balance_due=now.balance_due + amount,
                status=status, reversals={**now.reversals, refund_id: (payment_id, amount)},
            )
            return True

    def statuses(self) -> dict[str, str]:
        return {i.number: i.status for i in self.invoices.values()}


@dataclass
class MemoryFiles:
    objects: dict[str, bytes] = field(default_factory=dict)
    puts: list[str] = field(default_factory=list)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = data
        self.puts.append(key)

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]


@dataclass
class RecordingMailer:
    sent: list[tuple[str, str, int]] = field(default_factory=list)

    def send_invoice(self, invoice: StoredInvoice, pdf: bytes) -> bool:
        self.sent.append((invoice.tenant, invoice.number, len(pdf)))
        return True


@dataclass(frozen=True)
class Row:
    """A rated call as the invoicing domain reads it (``UsageRow``)."""

    call_id: str
    cost: Decimal
    answer_ms: int
    service: str = "voice"
    direction: str = "out"
    account: str = ""
    currency: str = "USD"
    status: str = "rated"
    billed_ms: int = 60_000
    quantity: int = 1
    start_ms: int | None = None


@dataclass
class MemoryUsage:
    rows: dict[tuple[str, str], list[Row]] = field(default_factory=dict)

    def rated_calls(self, tenant: str, period: str) -> list[Row]:
        return list(self.rows.get((tenant, period), []))

    def add(self, tenant: str, period: str, *rows: Row) -> None:
        self.rows.setdefault((tenant, period), []).extend(rows)


@dataclass
class MemoryRerates:
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def rerate_entries(self, tenant: str) -> list[dict[str, Any]]:
        return list(self.entries.get(tenant, []))


@dataclass
class Customers:
    customers: dict[str, str] = field(default_factory=dict)

    def customer_of(self, tenant: str) -> str | None:
        return self.customers.get(tenant)
