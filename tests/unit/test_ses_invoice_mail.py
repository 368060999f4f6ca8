"""Invoice emails: a raw MIME message through SES with the PDF attached as <number>.pdf, a
short text with number, total and due date, and nothing it should not carry."""

from __future__ import annotations

import email
import email.policy
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.adapters.ses import (
    InvoiceEmailNotSent,
    SesInvoiceMailer,
    invoice_attachment_name,
    invoice_message,
)
from shared.formats.invoice_pdf import DocumentLine, InvoiceDocument, PrintedParty

PDF = b"%PDF-1.4 fake invoice bytes\x00\xff"


class FakeSes:
    """SES v1's send_raw_email as boto3 takes it: Source, Destinations, RawMessage.Data."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail

    def send_raw_email(self, **request: Any) -> dict[str, str]:
        if self.fail:
            raise ClientError({"Error": {"Code": "MessageRejected"}}, "SendRawEmail")
        assert set(request) == {"Source", "Destinations", "RawMessage"}
        self.sent.append(request)
        return {"MessageId": "0100-abc"}


def document(**changes: Any) -> InvoiceDocument:
    fields: dict[str, Any] = {
        "number": "INV-2026-000042",
        "issue_date": date(2026, 8, 1),
        "due_date": date(2026, 8, 15),
        "period_start": date(2026, 7, 1),
        "period_end": date(2026, 7, 31),
        "status": "Sent",
        "currency": "EUR",
        "seller": PrintedParty("Nimbus Voice GmbH", ("Berlin",), "DE123456789"),
        "buyer": PrintedParty("Acme Ltd", ("London",), "GB98765432"),
        "lines": (
            DocumentLine(
                "DID +44 20 7123 4567 monthly", Decimal(1), Decimal("1234.50"), Decimal("1234.50")
            ),
        ),
        "subtotal": Decimal("1234.50"),
        "tax": Decimal("246.90"),
        "total": Decimal("1481.40"),
        "paid": Decimal("0.00"),
        "balance_due": Decimal("1481.40"),
    }
    fields.update(changes)
    return InvoiceDocument(**fields)


def parsed(request: dict[str, Any]) -> email.message.EmailMessage:
    raw = request["RawMessage"]["Data"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_the_invoice_is_sent_raw_with_the_pdf_attached_as_number_pdf() -> None:
    # Given an invoice of 1,481.40 EUR due 2026-08-15
    ses = FakeSes()
    mailer = SesInvoiceMailer(ses, "billing@nimbus.test")

    # When it is emailed
    message_id = mailer.send_invoice("ap@acme.test", document(), PDF)

    # Then SES got one raw message from the sender identity to the buyer
    assert message_id == "0100-abc"
    (request,) = ses.sent
    assert request["Source"] == "billing@nimbus.test"
    assert request["Destinations"] == ["ap@acme.test"]
    message = parsed(request)
    assert message["From"] == "billing@nimbus.test"
    assert message["To"] == "ap@acme.test"
    # (a folded header may start with folding white space, which means nothing)
    assert message["Subject"].strip() == (
        "Invoice INV-2026-000042 from Nimbus Voice GmbH: 1,481.40 EUR, due 2026-08-15"
    )
    # a text part with number, total and due date, and the PDF byte for byte
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "INV-2026-000042" in text and "1,481.40 EUR" in text and "2026-08-15" in text
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV-2026-000042.pdf"
    assert attachment.get_content() == PDF


def test_the_email_carries_no_line_detail_phone_number_or_secret() -> None:
    # Given a buyer name with a phone number in it and a DID line on the invoice
    subject, text = invoice_message(document(buyer=PrintedParty("Acme +44 20 7123 4567")))

    # Then neither the subject nor the text holds the full number or any line detail
    for part in (subject, text):
        assert "7123 4567" not in part
        assert "20 7123" not in part
        assert "DID" not in part
        assert "sk_" not in part and "whsec_" not in part
    assert "Hello Acme +44 ** **** **67," in text


def test_a_settled_invoice_says_nothing_is_due() -> None:
    _subject, text = invoice_message(
        document(status="Paid", paid=Decimal("1481.40"), balance_due=Decimal("0.00"))
    )

    assert "Nothing to pay" in text
    assert "Balance due" not in text


def test_header_injection_is_neutralised_and_unicode_survives() -> None:
    ses = FakeSes()
    hostile = document(
        number="INV/7\r\nBcc: victim@example.com",
        seller=PrintedParty("Zürich Télécom\nBcc: x@y.test"),
    )

    SesInvoiceMailer(ses, "billing@nimbus.test").send_invoice("ap@acme.test", hostile, PDF)

    message = parsed(ses.sent[0])
    assert message["Bcc"] is None
    assert "Zürich Télécom" in message["Subject"]
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "INV-7-Bcc-victim-example.com.pdf"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("INV-2026-000042", "INV-2026-000042.pdf"),
        ("A/2026/7", "A-2026-7.pdf"),
        ("///", "invoice.pdf"),
    ],
)
def test_attachment_names(number: str, expected: str) -> None:
    assert invoice_attachment_name(number) == expected


def test_the_raw_message_keeps_to_the_wire_line_limits() -> None:
    # A 27 kB attachment and a long non-ASCII seller name: base64 lines of 76 characters
    # (RFC 2045) and folded headers, every line ending CRLF within 78 columns
    ses = FakeSes()
    long_name = PrintedParty("Zürich Télécom SA " * 6)

    SesInvoiceMailer(ses, "billing@nimbus.test").send_invoice(
        "ap@acme.test", document(seller=long_name), PDF * 1000
    )

    raw: bytes = ses.sent[0]["RawMessage"]["Data"]
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    (attachment,) = list(parsed(ses.sent[0]).iter_attachments())
    assert attachment.get_content() == PDF * 1000


def test_an_ses_refusal_is_raised_as_not_sent() -> None:
    mailer = SesInvoiceMailer(FakeSes(fail=True), "billing@nimbus.test")

    with pytest.raises(InvoiceEmailNotSent, match=r"INV-2026-000042.*MessageRejected"):
        mailer.send_invoice("ap@acme.test", document(), PDF)
