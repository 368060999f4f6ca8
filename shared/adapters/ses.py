"""Tenant notifications (``shared.ports.Notifier``): SES email, or log lines when no sender.

What a tenant is told: a declined card (and that we back off before the next try), an
authentication needed (the bank wants the tenant present: no blind retry), no card on file.
A notification is best effort: the recharge's outcome is already recorded when it is sent,
so a failure to send is logged (and counted) but never undoes or repeats the recharge.

Invoice emails (:class:`SesInvoiceMailer`) carry the invoice PDF as an attachment, so they go
out as a raw MIME message (SendRawEmail); their text names the number, total and due date only.
"""

from __future__ import annotations

import email.policy
import re
import unicodedata
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import BillingError
from shared.observability import logger, mask_number

if TYPE_CHECKING:  # the PDF module loads reportlab: not on wallet_recharge's cold start
    from shared.formats.invoice_pdf import InvoiceDocument

SUBJECTS = {
    "declined": "Your card was declined: wallet not recharged",
    "authentication_required": "Your bank needs you to confirm the wallet recharge",
    "no_card": "No card on file: wallet not recharged",
    "dunning_warning": "Invoice {invoice} is overdue: calls suspended in {suspension_in_days} days",
    "suspended": "Your account is suspended: invoice {invoice} is unpaid",
}
BODIES = {
    "declined": (
        "Your wallet's automatic recharge was declined by your card issuer{reason}. We will "
        "try again later; to avoid an interruption, update your card or top up manually."
    ),
    "authentication_required": (
        "Your bank asked for authentication of your wallet's automatic recharge. We will not "
        "retry it on our own: please top up manually, or confirm a card for off-session use."
    ),
    "no_card": (
        "Your wallet fell below its threshold but there is no card on file to recharge it. "
        "Please add a card or top up manually."
    ),
    "dunning_warning": (
        "Invoice {invoice} ({balance_due}) was due on {due_date} and is {days_past_due} days "
        "past due. Unless it is paid, outbound and inbound calls will be suspended in "
        "{suspension_in_days} days (emergency numbers stay available)."
    ),
    "suspended": (
        "Invoice {invoice} is {days_past_due} days past due, so your calls are suspended "
        "(emergency numbers stay available). Paying it restores the service at once."
    ),
}


def message(kind: str, detail: Mapping[str, str]) -> tuple[str, str]:
    """(subject, text) of a notification; unknown kinds get a generic text."""
    code = detail.get("decline_code") or ""
    subject = SUBJECTS.get(kind, f"Wallet notice: {kind}")
    body = BODIES.get(kind, "Something about your wallet needs your attention ({kind}).")
    # the detail's own fields (invoice, due date, ...) fill the dunning texts; a missing one
    # prints as "?" rather than failing the notice
    fields = _Fields({**detail, "reason": f" ({code})" if code else "", "kind": kind})
    return subject.format_map(fields), body.format_map(fields)


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


class LogNotifier:
    """No SES sender configured (or no address for the tenant): a structured log line."""

    def notify(self, tenant: str, kind: str, detail: Mapping[str, str]) -> None:
        logger.warning(
            "tenant notification (not emailed)",
            extra={"tenant": tenant, "notification": kind, **dict(detail)},
        )


class SesNotifier:
    """Email from one verified SES identity to the tenant's billing address."""

    def __init__(
        self, client: Any, sender: str, recipient_of: Callable[[str], str | None]
    ) -> None:
        self._client = client
        self._sender = sender
        self._recipient_of = recipient_of
        self._fallback = LogNotifier()

    def notify(self, tenant: str, kind: str, detail: Mapping[str, str]) -> None:
        recipient = self._recipient_of(tenant)
        if not recipient:
            self._fallback.notify(tenant, kind, detail)
            return
        subject, text = message(kind, detail)
        try:
            self._client.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [recipient]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                },
            )
        except (BotoCoreError, ClientError) as error:  # best effort: outcome already recorded
            logger.error(
                "tenant notification not sent",
                extra={"tenant": tenant, "notification": kind, "error": type(error).__name__},
            )
            return
        logger.info("tenant notified", extra={"tenant": tenant, "notification": kind})


# ------------------------------------------------------------------ invoice emails (issue 7)

#: A phone-like run: 7 or more digits, possibly split by spaces, dots, dashes or brackets.
_PHONE_LIKE = re.compile(r"\+?\d(?:[\s().-]*\d){6,}")


def _one_line(text: str) -> str:
    """Free text safe for a header or a line: control characters (CR/LF would inject
    headers) become spaces and whitespace is collapsed."""
    cleaned = "".join(" " if unicodedata.category(char)[0] == "C" else char for char in text)
    return " ".join(cleaned.split())


def _name(text: str) -> str:
    """A party's name for the email: one line, phone-like runs masked (a tenant named after
    its number must not put a subscriber number in a mailbox)."""
    return _PHONE_LIKE.sub(lambda match: mask_number(match.group()), _one_line(text))


def invoice_attachment_name(number: str) -> str:
    """``<number>.pdf``, with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by
    ``-`` (a ``/`` in a number would otherwise be a path in the recipient's mail client)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", number).strip(".-")
    return f"{safe or 'invoice'}.pdf"


def invoice_message(document: InvoiceDocument) -> tuple[str, str]:
    """(subject, text) of an invoice email: number, total, balance and due date. No line
    detail, account data or secrets: the PDF attached is the invoice."""
    from shared.formats.invoice_pdf import format_amount

    currency = document.currency
    number = _one_line(document.number)
    total = format_amount(document.total, currency)
    due = document.due_date.isoformat()
    seller = _name(document.seller.name)
    subject = f"{document.title} {number} from {seller}: {total} {currency}, due {due}"
    if document.balance_due > 0:
        balance = format_amount(document.balance_due, currency)
        to_pay = f"Balance due: {balance} {currency} by {due}."
    else:
        to_pay = "Nothing to pay: this invoice is settled."
    text = "\n".join(
        (
            f"Hello {_name(document.buyer.name)},",
            "",
            f"Your {document.title.lower()} {number} for "
            f"{document.period_start.isoformat()} to {document.period_end.isoformat()} "
            "is attached as a PDF.",
            "",
            f"Total: {total} {currency}",
            f"Due date: {due}",
            to_pay,
            "",
            seller,
        )
    )
    return subject, text


#: CRLF line ends, headers folded at 78 columns, 76-column base64 and quoted-printable:
#: what RFC 5322 and RFC 2045 ask of a message on the wire.
_MIME_POLICY = email.policy.SMTP


def invoice_email(
    document: InvoiceDocument, pdf: bytes, sender: str, recipient: str
) -> EmailMessage:
    """The MIME message: a plain-text part and the PDF attached as ``<number>.pdf``."""
    subject, text = invoice_message(document)
    message = EmailMessage(policy=_MIME_POLICY)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    message.add_attachment(
        pdf,
        maintype="application",
        subtype="pdf",
        filename=invoice_attachment_name(document.number),
    )
    return message


class InvoiceEmailNotSent(BillingError):
    """SES refused or could not take the invoice email; the caller decides on a retry (the
    invoice stays issued and stored either way)."""


class SesInvoiceMailer:
    """Invoice emails through SES SendRawEmail (the only SES v1 call that takes attachments),
    from one verified identity."""

    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send_invoice(self, recipient: str, document: InvoiceDocument, pdf: bytes) -> str:
        """Send the invoice with its PDF; the SES message id, or :class:`InvoiceEmailNotSent`."""
        message = invoice_email(document, pdf, self._sender, recipient)
        try:
            answer = self._client.send_raw_email(
                Source=self._sender,
                Destinations=[recipient],
                RawMessage={"Data": message.as_bytes()},
            )
        except (BotoCoreError, ClientError) as error:
            code = error.response["Error"].get("Code", "") if isinstance(error, ClientError) else ""
            logger.error(
                "invoice email not sent",
                extra={"invoice": document.number, "error": type(error).__name__, "code": code},
            )
            raise InvoiceEmailNotSent(
                f"invoice {document.number}: SES did not send the email ({code or error})"
            ) from error
        message_id = str(answer["MessageId"])
        logger.info("invoice emailed", extra={"invoice": document.number, "message_id": message_id})
        return message_id
