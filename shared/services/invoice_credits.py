"""Refunds as a credit on the next invoice, and the tenant's payment history (SPEC 6, 7).

A refund either goes back to the card (Stripe's ``charge.refunded`` → ledger entry
``refund#<re>``, see ``shared.services.payments_webhook``) or becomes a credit on the next
invoice. The second is the operator's decision, not a Stripe event: no money leaves Stripe,
so no Stripe object exists to key it. The operator issues it with an id of their own
(``billing credit-note --tenant T --amount X --reason R --id ID``), and the id makes it
exactly once: the record ``invoice_credit#<tenant>#<id>`` in PaymentsTable is created with a
condition (``attribute_not_exists``), so issuing the same id again returns the first credit
and creates nothing. It is written ``pending``; invoice_cycle consumes it as a negative line
on the tenant's next invoice and moves it to ``applied`` (a final state). It is not a ledger
entry: the wallet balance is prepaid money for usage, and this credit is owed against an
invoice, not spendable on calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from shared.domain.errors import ValidationError
from shared.domain.money import from_minor_units, minor_units, to_minor_units
from shared.ports import TenantDirectory

#: pending credits are consumed by the next invoice; applied is final
INVOICE_CREDIT_RANKS: dict[str, int] = {"pending": 1, "applied": 2}
MAX_CREDIT_ID = 64
MAX_REASON = 200
#: the largest amount a credit note or one-time charge takes (the currency's major units):
#: far above any real credit, and small enough that a line, its tax and the invoice total
#: stay exact in Decimal's 28 digits and storable in DynamoDB
MAX_AMOUNT = Decimal("999999999")


class InvoiceCreditRecords(Protocol):
    def create(self, key: str, tenant: str | None, values: Mapping[str, Any]) -> bool:
        """Write the record unless the key exists; False (nothing written) when it does."""
        ...

    def get(self, key: str) -> dict[str, Any] | None: ...

    def by_tenant(self, tenant: str) -> list[dict[str, Any]]:
        """Every record of the tenant that has a ``created`` time, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class InvoiceCredit:
    tenant: str
    credit_id: str
    amount: Decimal
    currency: str
    reason: str
    status: str
    created: int


@dataclass(frozen=True, slots=True)
class IssuedCredit:
    credit: InvoiceCredit
    #: False when this id had been issued before (nothing new was written)
    created: bool


def invoice_credit_key(tenant: str, credit_id: str) -> str:
    return f"invoice_credit#{tenant}#{credit_id}"


def _credit_id(value: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_CREDIT_ID or not all(c.isalnum() or c in "-_." for c in text):
        raise ValidationError(
            f"--id must be 1-{MAX_CREDIT_ID} letters, digits, '-', '_' or '.', got {value!r}"
        )
    return text


def parse_amount(text: str, currency: str) -> Decimal:
    """A positive amount with at most the currency's minor-unit places (JPY 0, EUR 2)."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"--amount must be an amount like 12.50, got {text!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError(f"--amount must be positive, got {text!r}")
    if amount > MAX_AMOUNT:
        raise ValidationError(f"--amount must be at most {MAX_AMOUNT}, got {text!r}")
    exact = from_minor_units(to_minor_units(amount, currency), currency)
    if exact != amount:
        raise ValidationError(
            f"--amount {text} has more than {minor_units(currency)} decimal places for {currency}"
        )
    return exact


def _as_credit(item: dict[str, Any]) -> InvoiceCredit:
    return InvoiceCredit(
        tenant=str(item["tenant"]),
        credit_id=str(item["credit_id"]),
        amount=Decimal(str(item["amount"])),
        currency=str(item["currency"]),
        reason=str(item.get("reason") or ""),
        status=str(item["status"]),
        created=int(item["created"]),
    )


def issue_invoice_credit(
    tenant: str,
    credit_id: str,
    amount_text: str,
    reason: str,
    records: InvoiceCreditRecords,
    tenants: TenantDirectory,
    now: int,
) -> IssuedCredit:
    """Record a pending credit for the tenant's next invoice, exactly once per ``credit_id``.

    The same id with the same amount and currency returns the first credit unchanged; the
    same id with a different amount is refused (an id is one decision, not a counter)."""
    settings = tenants.get(tenant)
    if settings is None:
        raise ValidationError(f"no tenant {tenant!r}")
    ident = _credit_id(credit_id)
    amount = parse_amount(amount_text, settings.currency)
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        raise ValidationError(f"--reason must be 1-{MAX_REASON} characters")
    key = invoice_credit_key(tenant, ident)
    values = {
        "credit_id": ident, "amount": amount, "currency": settings.currency, "reason": text,
        "status": "pending", "rank": INVOICE_CREDIT_RANKS["pending"], "created": now,
        "kind": "invoice_credit",
    }
    if records.create(key, tenant, values):
        return IssuedCredit(_as_credit({**values, "tenant": tenant}), True)
    found = records.get(key)
    if found is None:  # pragma: no cover - the condition failed, so it exists
        raise ValidationError(f"credit {ident} for {tenant} vanished while being issued")
    existing = _as_credit(found)
    if (existing.amount, existing.currency) != (amount, settings.currency):
        raise ValidationError(
            f"credit {ident} for {tenant} was already issued for {existing.amount} "
            f"{existing.currency}; use a new --id for another credit"
        )
    return IssuedCredit(existing, False)


def pending_invoice_credits(tenant: str, records: InvoiceCreditRecords) -> list[InvoiceCredit]:
    """What the tenant's next invoice deducts (invoice_cycle reads this)."""
    return [
        _as_credit(item) for item in records.by_tenant(tenant)
        if str(item.get("record_key", "")).startswith("invoice_credit#")
        and item.get("status") == "pending"
    ]


# ------------------------------------------------------------------------ payment history


@dataclass(frozen=True, slots=True)
class PaymentEntry:
    """One line of the payment history (SPEC 7: Succeeded / Failed / Refunded)."""

    created: int
    status: str
    reference: str
    amount: Decimal | None
    currency: str | None
    detail: str


_HISTORY_STATUS = {
    ("payment_intent", "succeeded"): "Succeeded",
    ("payment_intent", "failed"): "Failed",
    ("payment_intent", "requires_action"): "Requires action",
    ("refund", "succeeded"): "Refunded",
    ("refund", "pending"): "Refund pending",
    ("refund", "failed"): "Refund failed",
    ("refund", "canceled"): "Refund canceled",
    ("invoice_credit", "pending"): "Credit for next invoice",
    ("invoice_credit", "applied"): "Credit applied",
}


def payment_history(tenant: str, records: InvoiceCreditRecords) -> list[PaymentEntry]:
    """The tenant's payments, refunds and invoice credits, oldest first."""
    entries = []
    for item in records.by_tenant(tenant):
        kind, _, ref = str(item.get("record_key", "")).partition("#")
        status = _HISTORY_STATUS.get((kind, str(item.get("status"))))
        if status is None:
            continue
        amount = item.get("amount")
        if kind == "invoice_credit":
            ref = str(item.get("credit_id") or ref)
        detail = str(item.get("decline_code") or item.get("failure_code") or
                     item.get("reason") or item.get("charge") or "")
        entries.append(PaymentEntry(
            created=int(item.get("created") or 0),
            status=status,
            reference=ref,
            amount=Decimal(str(amount)) if amount is not None else None,
            currency=str(item["currency"]) if item.get("currency") else None,
            detail=detail,
        ))
    return sorted(entries, key=lambda entry: (entry.created, entry.reference))
