"""The invoice, its status machine, payments against it, and credit notes.

Every model is frozen: a transition returns a new invoice. Issuing fixes the number, issue
date and due date; after that no method changes a line or an amount: only the status and
the settlements (payments, credit notes) move, and corrections are credit notes with their
own number series (docs/invoicing.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from shared.domain.errors import BillingError, ValidationError
from shared.domain.invoicing.lines import InvoiceLine
from shared.domain.invoicing.numbering import parse_number
from shared.domain.invoicing.periods import BillingPeriod
from shared.domain.invoicing.tax import Party, TaxGroup, tax_groups
from shared.domain.money import minor_units, round_invoice_amount

#: net days from issue to due date unless the tenant says otherwise; the due date is day 0
#: of the dunning timeline (warned on days 7 and 13, suspended on day 14 past due)
DEFAULT_PAYMENT_TERMS_DAYS = 14


class InvoiceStateError(BillingError):
    """A transition the invoice's status does not allow (says which, and what to do)."""


class InvoiceStatus(StrEnum):
    DRAFT = "Draft"
    SENT = "Sent"
    PARTIALLY_PAID = "Partially Paid"
    PAID = "Paid"
    OVERDUE = "Overdue"
    CANCELLED = "Cancelled"


_S = InvoiceStatus
#: every allowed move; Paid and Cancelled are final
TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    _S.DRAFT: frozenset({_S.SENT, _S.PAID, _S.CANCELLED}),  # Paid: issued with nothing due
    _S.SENT: frozenset({_S.PARTIALLY_PAID, _S.PAID, _S.OVERDUE, _S.CANCELLED}),
    _S.PARTIALLY_PAID: frozenset({_S.PARTIALLY_PAID, _S.PAID, _S.OVERDUE}),
    _S.OVERDUE: frozenset({_S.OVERDUE, _S.PAID, _S.CANCELLED}),
    _S.PAID: frozenset(),
    _S.CANCELLED: frozenset(),
}
OPEN_STATUSES = frozenset({_S.SENT, _S.PARTIALLY_PAID, _S.OVERDUE})


class SettlementKind(StrEnum):
    PAYMENT = "payment"
    CREDIT_NOTE = "credit_note"
    #: a payment given back (a Stripe refund of the payment): negative, ``reverse_payment``
    REFUND = "refund"


class Settlement(BaseModel):
    """Money settled against an issued invoice: a payment or a credit note (positive), or a
    refund of a payment (negative)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SettlementKind
    reference: str
    amount: Decimal
    on: date


def _sum(values: list[Decimal], currency: str) -> Decimal:
    """Amounts already in minor units, summed; nothing sums to 0 in minor units too (0.00 USD,
    0 JPY), so an empty invoice prints like any other."""
    return sum(values, Decimal(0).scaleb(-minor_units(currency)))


def _totals(
    lines: tuple[InvoiceLine, ...], currency: str
) -> tuple[tuple[TaxGroup, ...], Decimal, Decimal]:
    groups = tax_groups(lines, currency)
    subtotal = _sum([line.amount for line in lines if line.charged], currency)
    tax = _sum([group.amount for group in groups], currency)
    return groups, subtotal, tax


class Invoice(BaseModel):
    """A tenant's invoice for one period. ``total = subtotal + tax``; ``balance_due =
    total − paid``; checked whenever one is built or loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    period: str
    zone: str
    currency: str
    prepaid: bool = False
    status: InvoiceStatus = InvoiceStatus.DRAFT
    number: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    seller: Party
    buyer: Party
    lines: tuple[InvoiceLine, ...]
    tax_groups: tuple[TaxGroup, ...]
    notes: tuple[str, ...] = ()
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    settlements: tuple[Settlement, ...] = ()

    @classmethod
    def draft(
        cls, *, tenant: str, period: str, zone: str, currency: str, prepaid: bool,
        seller: Party, buyer: Party, lines: tuple[InvoiceLine, ...], notes: tuple[str, ...],
    ) -> Invoice:
        """A Draft with its tax groups and totals computed from the lines."""
        groups, subtotal, tax = _totals(lines, currency)
        return cls(
            tenant=tenant, period=period, zone=zone, currency=currency, prepaid=prepaid,
            seller=seller, buyer=buyer, lines=lines, tax_groups=groups, notes=notes,
            subtotal=subtotal, tax=tax, total=subtotal + tax,
        )

    @model_validator(mode="after")
    def _consistent(self) -> Invoice:
        groups, subtotal, tax = _totals(self.lines, self.currency)
        if (groups, subtotal, tax) != (self.tax_groups, self.subtotal, self.tax):
            raise ValueError("invoice totals do not match its lines")
        if self.total != self.subtotal + self.tax:
            raise ValueError("invoice total is not subtotal + tax")
        for line in self.lines:
            if round_invoice_amount(line.amount, self.currency) != line.amount:
                raise ValueError(f"line {line.description!r} is not rounded to minor units")
        if self.status is InvoiceStatus.DRAFT and self.number is not None:
            raise ValueError("a Draft has no number yet")
        if self.status in (*OPEN_STATUSES, InvoiceStatus.PAID) and self.number is None:
            raise ValueError(f"a {self.status} invoice has a number")
        if self.settlements and self.paid > self.total:
            raise ValueError("an invoice cannot be settled beyond its total")
        return self

    @property
    def billing_period(self) -> BillingPeriod:
        """The period as local dates ``[start, end)`` in the tenant's zone (for printing)."""
        return BillingPeriod.parse(self.period, self.zone)

    # ------------------------------------------------------------------ amounts

    @property
    def paid(self) -> Decimal:
        return _sum([settlement.amount for settlement in self.settlements], self.currency)

    @property
    def balance_due(self) -> Decimal:
        return self.total - self.paid

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def days_past_due(self, today: date) -> int:
        """Days since the due date (day 0 is the due date); 0 when not open or not due."""
        if not self.is_open or self.due_date is None or today <= self.due_date:
            return 0
        return (today - self.due_date).days

    # ------------------------------------------------------------------ transitions

    def _to(self, status: InvoiceStatus, **changes: object) -> Invoice:
        if status not in TRANSITIONS[self.status]:
            raise InvoiceStateError(
                f"invoice {self.number or '(draft)'} of {self.tenant} {self.period} cannot go "
                f"from {self.status} to {status}"
                + ("; issued invoices are corrected by credit notes" if self.number else "")
            )
        return self.model_validate({**self.model_dump(), **changes, "status": status})

    def issue(
        self, number: str, issue_date: date, payment_terms_days: int = DEFAULT_PAYMENT_TERMS_DAYS
    ) -> Invoice:
        """Fix number, issue date and due date (issue + terms) and send it. Nothing due
        (a total of 0) makes it Paid at once."""
        parse_number(number)
        if payment_terms_days < 0:
            raise ValidationError(f"payment terms must be 0 days or more, got {payment_terms_days}")
        if self.total < 0:
            raise ValidationError(
                f"invoice of {self.tenant} {self.period} totals {self.total}: a negative "
                "invoice is issued as a credit note"
            )
        status = InvoiceStatus.PAID if self.total == 0 else InvoiceStatus.SENT
        return self._to(
            status, number=number, issue_date=issue_date,
            due_date=issue_date + timedelta(days=payment_terms_days),
        )

    def cancel(self) -> Invoice:
        """Discard a draft (no number was used). Issued invoices take a credit note."""
        if self.status is not InvoiceStatus.DRAFT:
            raise InvoiceStateError(
                f"invoice {self.number} is issued: cancel it with a credit note for its total"
            )
        return self._to(InvoiceStatus.CANCELLED)

    def mark_overdue(self, today: date) -> Invoice:
        """Overdue once ``today`` is after the due date and something is still due;
        unchanged before that (safe to call daily)."""
        if self.status is InvoiceStatus.OVERDUE:
            return self
        if not self.is_open:
            raise InvoiceStateError(f"invoice {self.number or '(draft)'} is {self.status}")
        if self.days_past_due(today) == 0:
            return self
        return self._to(InvoiceStatus.OVERDUE)

    def record_payment(self, reference: str, amount: Decimal, on: date) -> Invoice:
        """Apply a payment of at most the balance due. The same reference and amount again
        returns the invoice unchanged (a retried webhook pays nothing twice)."""
        return self._settle(SettlementKind.PAYMENT, reference, amount, on)

    def apply_credit_note(self, note: CreditNote) -> Invoice:
        """Settle the balance with a credit note for this invoice, up to the balance due
        (what is left of the note, ``-note.total`` minus the settled amount, is owed to
        the tenant: a refund or a credit on the next invoice). Fully settled by credit
        notes alone, the invoice is Cancelled; with some money paid, Paid."""
        if note.invoice_number != self.number:
            raise ValidationError(f"credit note {note.number} is for {note.invoice_number}")
        if note.currency != self.currency:
            raise ValidationError(f"credit note {note.number} is in {note.currency}")
        for done in self.settlements:
            if done.reference == note.number and done.kind is SettlementKind.CREDIT_NOTE:
                return self
        amount = min(-note.total, self.balance_due)
        return self._settle(SettlementKind.CREDIT_NOTE, note.number, amount, note.issue_date)

    def reverse_payment(self, reference: str, amount: Decimal, on: date) -> Invoice:
        """Give back ``amount`` of the money paid on this invoice (a refund of a payment,
        ``reference`` the refund's id): ``paid`` goes down and ``balance_due`` up by it.

        The invoice is open again (a Paid invoice too: Paid is final for payments and
        credit notes, a refund is the one way back): Overdue when ``on`` is after the due
        date, else Partially Paid while something is still paid, else Sent. At most what
        payments settled (credit notes are not refunded here). The same reference and
        amount again returns the invoice unchanged (a repeated webhook gives back nothing
        twice); the same reference with another amount is refused."""
        for done in self.settlements:
            if done.reference == reference and done.kind is SettlementKind.REFUND:
                if done.amount != -amount:
                    raise ValidationError(
                        f"refund {reference} was already taken off {self.number} for "
                        f"{-done.amount}, not {amount}"
                    )
                return self
        if self.status not in (*OPEN_STATUSES, InvoiceStatus.PAID):
            raise InvoiceStateError(
                f"invoice {self.number or '(draft)'} is {self.status}: no payment to refund"
            )
        if not reference:
            raise ValidationError("a refund needs a reference")
        if amount <= 0 or round_invoice_amount(amount, self.currency) != amount:
            raise ValidationError(
                f"refund {reference}: {amount} is not a positive amount in {self.currency} "
                "minor units"
            )
        paid_by_payments = sum(
            (s.amount for s in self.settlements if s.kind is not SettlementKind.CREDIT_NOTE),
            Decimal(0),
        )
        if amount > paid_by_payments:
            raise ValidationError(
                f"refund {reference} of {amount} exceeds the {paid_by_payments} paid on "
                f"{self.number}"
            )
        settled = Settlement(kind=SettlementKind.REFUND, reference=reference, amount=-amount,
                             on=on)
        settlements = (*self.settlements, settled)
        paid = _sum([s.amount for s in settlements], self.currency)
        if self.due_date is not None and on > self.due_date:
            status = InvoiceStatus.OVERDUE
        elif paid > 0:
            status = InvoiceStatus.PARTIALLY_PAID
        else:
            status = InvoiceStatus.SENT
        # not through _to: Paid is final for settling, and a refund reopens it on purpose
        return self.model_validate({**self.model_dump(), "settlements": settlements,
                                    "status": status})

    def _settle(
        self, kind: SettlementKind, reference: str, amount: Decimal, on: date
    ) -> Invoice:
        for done in self.settlements:
            if done.reference == reference and done.kind is kind:
                if done.amount != amount:
                    raise ValidationError(
                        f"{kind} {reference} was already applied to {self.number} "
                        f"for {done.amount}, not {amount}"
                    )
                return self
        if not self.is_open:
            raise InvoiceStateError(
                f"invoice {self.number or '(draft)'} is {self.status}: nothing to settle"
            )
        if not reference:
            raise ValidationError("a payment or credit note needs a reference")
        if amount <= 0 or round_invoice_amount(amount, self.currency) != amount:
            raise ValidationError(
                f"{kind} {reference}: {amount} is not a positive amount in {self.currency} "
                "minor units"
            )
        if amount > self.balance_due:
            raise ValidationError(
                f"{kind} {reference} of {amount} exceeds the balance due {self.balance_due} "
                f"on {self.number}; allocate the rest elsewhere"
            )
        settled = Settlement(kind=kind, reference=reference, amount=amount, on=on)
        settlements = (*self.settlements, settled)
        remaining = self.balance_due - amount
        if remaining > 0:
            status = (
                InvoiceStatus.OVERDUE if self.status is InvoiceStatus.OVERDUE
                else InvoiceStatus.PARTIALLY_PAID
            )
        elif any(s.kind is SettlementKind.PAYMENT for s in settlements):
            status = InvoiceStatus.PAID
        else:
            status = InvoiceStatus.CANCELLED
        return self._to(status, settlements=settlements)


class CreditNote(BaseModel):
    """A correction of an issued invoice: negative lines with the invoice's taxes, its own
    gapless number series, and the reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str
    invoice_number: str
    tenant: str
    currency: str
    issue_date: date
    reason: str
    lines: tuple[InvoiceLine, ...]
    tax_groups: tuple[TaxGroup, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal

    @model_validator(mode="after")
    def _consistent(self) -> CreditNote:
        groups, subtotal, tax = _totals(self.lines, self.currency)
        if (groups, subtotal, tax) != (self.tax_groups, self.subtotal, self.tax):
            raise ValueError("credit note totals do not match its lines")
        if self.total != subtotal + tax or self.total >= 0:
            raise ValueError("a credit note totals less than 0 and total = subtotal + tax")
        return self


def credit_note(
    invoice: Invoice,
    number: str,
    issue_date: date,
    reason: str,
    amounts: Mapping[int, Decimal] | None = None,
) -> CreditNote:
    """A credit note for ``invoice``: every charged line reversed (``amounts`` None; its
    total is minus the invoice's), or the given positive amounts of the given (positive)
    line indexes, each with that line's taxes."""
    parse_number(number)
    if invoice.number is None:
        raise InvoiceStateError("a draft is changed or cancelled, not credited")
    if not reason.strip():
        raise ValidationError("a credit note needs a reason")
    full = amounts is None
    chosen = amounts if amounts is not None else {
        index: line.amount for index, line in enumerate(invoice.lines)
        if line.charged and line.amount != 0
    }
    lines = []
    for index, amount in sorted(chosen.items()):
        if not 0 <= index < len(invoice.lines) or not invoice.lines[index].charged:
            raise ValidationError(f"invoice {invoice.number} has no charged line {index}")
        original = invoice.lines[index]
        if not full and (amount <= 0 or amount > original.amount):
            raise ValidationError(
                f"line {index} ({original.description}) can be credited 0 < x ≤ "
                f"{original.amount}, got {amount}"
            )
        rounded = round_invoice_amount(amount, invoice.currency)
        lines.append(original.model_copy(update={
            "amount": -rounded, "quantity": Decimal(1), "unit_price": None,
            "description": f"Credit: {original.description}", "reference": invoice.number,
        }))
    if not lines:
        raise ValidationError(f"nothing to credit on invoice {invoice.number}")
    groups, subtotal, tax = _totals(tuple(lines), invoice.currency)
    return CreditNote(
        number=number, invoice_number=invoice.number, tenant=invoice.tenant,
        currency=invoice.currency, issue_date=issue_date, reason=reason.strip(),
        lines=tuple(lines), tax_groups=groups, subtotal=subtotal, tax=tax, total=subtotal + tax,
    )
