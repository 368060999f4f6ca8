"""An issued invoice's PDF and its email (``shared.formats.invoice_pdf.document_for`` makes
the view: the PDF shows the invoice as issued and never computes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from shared.domain.invoicing.invoice import Invoice
from shared.formats.invoice_pdf import InvoiceDocument, document_for, render_invoice_pdf
from shared.services.invoice_records import StoredInvoice


def render_pdf(invoice: Invoice) -> bytes:
    """``InvoicingDeps.render``: the branded PDF of an issued invoice."""
    return render_invoice_pdf(document_for(invoice))


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
        self._mailer.send_invoice(recipient, document_for(issued), pdf)
        return True
