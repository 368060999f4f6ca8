"""An issued invoice as the PDF's view model, the PDF itself, and the invoice email.

The PDF shows the invoice as issued (``shared.formats.invoice_pdf`` never computes): this
module only copies the domain's figures into the view model.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from shared.domain.invoicing.invoice import Invoice
from shared.domain.invoicing.periods import BillingPeriod
from shared.domain.invoicing.tax import Party
from shared.formats.invoice_pdf import (
    Brand,
    DocumentLine,
    InvoiceDocument,
    PrintedParty,
    TaxBreakdown,
    render_invoice_pdf,
)
from shared.services.invoice_records import StoredInvoice


def _printed(party: Party) -> PrintedParty:
    return PrintedParty(party.name, tuple(party.address), party.tax_id or None)


def invoice_document(
    invoice: Invoice, paid: Decimal | None = None, balance_due: Decimal | None = None,
    status: str | None = None,
) -> InvoiceDocument:
    """The view model of an issued invoice (settlement figures as given, else as issued)."""
    if invoice.number is None or invoice.issue_date is None or invoice.due_date is None:
        raise ValueError("only an issued invoice has a document")
    period = BillingPeriod.parse(invoice.period, invoice.zone)
    return InvoiceDocument(
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=period.start,
        period_end=period.end - timedelta(days=1),
        status=status or str(invoice.status),
        currency=invoice.currency,
        seller=_printed(invoice.seller),
        buyer=_printed(invoice.buyer),
        lines=tuple(
            DocumentLine(
                description=line.description, quantity=line.quantity,
                unit_price=line.unit_price, amount=line.amount,
                tax_rates=tuple(tax.rate for tax in line.taxes), unit=line.unit,
                informational=line.informational,
            )
            for line in invoice.lines
        ),
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        paid=invoice.paid if paid is None else paid,
        balance_due=invoice.balance_due if balance_due is None else balance_due,
        tax_invoice=bool(invoice.seller.tax_id),
        reverse_charge=any(note.startswith("Reverse charge") for note in invoice.notes),
        tax_breakdown=tuple(
            TaxBreakdown(group.name, group.rate, group.base, group.amount)
            for group in invoice.tax_groups
        ),
        notes=invoice.notes,
        brand=Brand(invoice.seller.name) if invoice.seller.name else None,
    )


def render_pdf(invoice: Invoice) -> bytes:
    """``InvoicingDeps.render``: the branded PDF of an issued invoice."""
    return render_invoice_pdf(invoice_document(invoice))


class DocumentMailer(Protocol):
    """``shared.adapters.ses.SesInvoiceMailer``."""

    def send_invoice(self, recipient: str, document: InvoiceDocument, pdf: bytes) -> str: ...


class BillingAddressMailer:
    """``shared.services.invoicing.InvoiceMailer``: the invoice to the tenant's billing
    address (the one kept with its Stripe customer link), or nothing when it has none."""

    def __init__(
        self, mailer: DocumentMailer | None, recipient_of: Callable[[str], str | None]
    ) -> None:
        self._mailer = mailer
        self._recipient_of = recipient_of

    def send_invoice(self, invoice: StoredInvoice, pdf: bytes) -> bool:
        recipient = self._recipient_of(invoice.tenant)
        if self._mailer is None or not recipient:
            return False
        issued = Invoice.model_validate(dict(invoice.document))
        self._mailer.send_invoice(recipient, invoice_document(issued), pdf)
        return True
