"""The branded invoice PDF, read back as a customer's viewer would: its text (pypdf) and a
page rendered to pixels (pypdfium2), checked where the layout constants place the logo, the
line table and the totals."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pypdfium2
import pytest
from PIL import Image

from shared.domain.errors import ValidationError
from shared.domain.invoicing.invoice import Invoice, InvoiceStatus
from shared.domain.invoicing.lines import InvoiceLine, LineKind
from shared.domain.invoicing.tax import Party, Surcharge, TaxRules, with_taxes
from shared.formats.invoice_pdf import (
    BALANCE_ROW_BOX,
    CONTENT_WIDTH,
    DESCRIPTION_WIDTH,
    FIRST_ROW_BOX,
    INFORMATIONAL_HEADING,
    LOGO_BOX,
    MARGIN,
    REVERSE_CHARGE_NOTE,
    TABLE_HEADER_BOX,
    TOTAL_ROW_BOX,
    TOTALS_BOX,
    TOTALS_GAP,
    Box,
    Brand,
    DocumentLine,
    InvoiceDocument,
    PrintedParty,
    TaxBreakdown,
    document_for,
    format_amount,
    format_quantity,
    format_rates,
    render_invoice_pdf,
    table_header_box,
    wrap,
)

SCALE = 2.0  # pixels per point when rendering a page
ROOT = Path(__file__).resolve().parents[3]

SELLER = PrintedParty("Nimbus Voice GmbH", ("Hauptstraße 1", "10115 Berlin", "DE"), "DE123456789")
BUYER = PrintedParty("Acme Telecom Ltd", ("1 High Street", "London EC1A 1AA", "GB"), "GB98765432")


def line(
    description: str, quantity: str, unit_price: str, amount: str, **kw: object
) -> DocumentLine:
    return DocumentLine(
        description,
        Decimal(quantity),
        Decimal(unit_price),
        Decimal(amount),
        **kw,  # type: ignore[arg-type]
    )


def invoice(lines: tuple[DocumentLine, ...] | None = None, **changes: object) -> InvoiceDocument:
    """A postpaid tax invoice, computed by hand:
    plan 49.00 + 1,234.5 min × 0.0125 = 15.43125 → 15.43; subtotal 64.43;
    VAT 20% of 64.43 = 12.886 → 12.89; total 77.32; paid 20.00; balance due 57.32."""
    document = InvoiceDocument(
        number="INV-2026-000042",
        issue_date=date(2026, 8, 1),
        due_date=date(2026, 8, 15),
        period_start=date(2026, 7, 1),
        period_end=date(2026, 7, 31),
        status="Partially Paid",
        currency="EUR",
        seller=SELLER,
        buyer=BUYER,
        lines=lines
        if lines is not None
        else (
            line("Business 10 plan, July 2026", "1", "49.00", "49.00", tax_rates=(Decimal(20),)),
            line(
                "Outbound calls to UK mobiles",
                "1234.5",
                "0.0125",
                "15.43",
                unit="min",
                tax_rates=(Decimal(20),),
            ),
        ),
        subtotal=Decimal("64.43"),
        tax=Decimal("12.89"),
        total=Decimal("77.32"),
        paid=Decimal("20.00"),
        balance_due=Decimal("57.32"),
        tax_invoice=True,
        tax_breakdown=(TaxBreakdown("VAT", Decimal(20), Decimal("64.43"), Decimal("12.89")),),
        brand=Brand("Nimbus Voice", "#0B5FAF"),
    )
    return replace(document, **changes)  # type: ignore[arg-type]


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def rendered(pdf: bytes, index: int = 0) -> Image.Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return document[index].render(scale=SCALE).to_pil().convert("RGB")
    finally:
        document.close()


def ink(image: Image.Image, box: Box) -> int:
    """Pixels in the box that are not near-white."""
    region = image.crop(box.to_pixels(SCALE)).convert("L").tobytes()
    return sum(1 for value in region if value < 200)


def bluish(image: Image.Image, box: Box) -> int:
    """Pixels of the brand colour #0B5FAF (blue well above red)."""
    region = image.crop(box.to_pixels(SCALE)).tobytes()
    return sum(1 for r, b in zip(region[0::3], region[2::3], strict=True) if b > 140 and r < 80)


def test_the_text_shows_number_parties_every_line_and_the_totals() -> None:
    # Given the hand-computed invoice above
    # When it is rendered and its text read back
    (text,) = page_texts(render_invoice_pdf(invoice()))

    # Then the number, dates, period, status and both parties with their tax ids are there
    for expected in (
        "TAX INVOICE",
        "INV-2026-000042",
        "2026-08-01",
        "2026-08-15",
        "2026-07-01 – 2026-07-31",
        "Partially Paid",
        "Nimbus Voice GmbH",
        "Hauptstraße 1",
        "Tax ID: DE123456789",
        "Acme Telecom Ltd",
        "London EC1A 1AA",
        "Tax ID: GB98765432",
    ):
        assert expected in text, expected
    # each line's description, quantity, exact unit price, tax rate and amount
    for expected in (
        "Business 10 plan, July 2026",
        "49.00",
        "Outbound calls to UK mobiles",
        "1,234.5 min",
        "0.0125",
        "20%",
        "15.43",
    ):
        assert expected in text, expected
    # the totals, and the tax group on a tax invoice
    for expected in (
        "Subtotal (EUR)",
        "64.43",
        "Tax (EUR)",
        "12.89",
        "Total (EUR)",
        "77.32",
        "Paid (EUR)",
        "20.00",
        "Balance due (EUR)",
        "57.32",
        "VAT 20% on 64.43: 12.89",
        "Page 1 of 1",
    ):
        assert expected in text, expected


def test_informational_lines_are_apart_and_marked_not_charged() -> None:
    # Given a prepaid invoice: the plan is charged, usage is a statement already paid
    # from the wallet (0.50 + 1.25 + 2.00 = 3.75, none of it in the 10.00 subtotal)
    statement = (
        line("Usage: outbound national", "10", "0.05", "0.50", unit="min", informational=True),
        line("Usage: outbound mobile", "25", "0.05", "1.25", unit="min", informational=True),
        line("Top-up received 2026-07-09", "1", "2.00", "2.00", informational=True),
    )
    plan = line("Starter plan", "1", "10.00", "10.00", tax_rates=(Decimal(20),))
    document = invoice(
        (statement[0], plan, *statement[1:]),
        subtotal=Decimal("10.00"),
        tax=Decimal("2.00"),
        total=Decimal("12.00"),
        paid=Decimal("12.00"),
        balance_due=Decimal("0.00"),
        tax_breakdown=(),
    )

    (text,) = page_texts(render_invoice_pdf(document))

    # Then the charged line comes first, then the statement under its own heading
    assert text.index("Starter plan") < text.index(INFORMATIONAL_HEADING)
    for description in ("Usage: outbound national", "Usage: outbound mobile", "Top-up received"):
        assert text.index(INFORMATIONAL_HEADING) < text.index(description)
    assert text.count("not charged") >= 4  # the heading, each statement line, its total
    assert "Usage statement total" in text and "3.75" in text
    assert "12.00" in text


def test_the_logo_the_table_and_the_total_are_drawn_where_the_layout_says() -> None:
    # Given a one-page invoice of two lines, rendered at 2 pixels per point
    image = rendered(render_invoice_pdf(invoice()))

    # Then the logo box holds the brand colour, the table header and first row and the
    # total rows hold ink
    logo_area = LOGO_BOX.width * LOGO_BOX.height * SCALE * SCALE
    assert bluish(image, LOGO_BOX) > logo_area * 0.4
    assert bluish(image, TABLE_HEADER_BOX) > 0
    assert ink(image, TABLE_HEADER_BOX) > 0
    assert ink(image, FIRST_ROW_BOX) > 50
    assert ink(image, TOTAL_ROW_BOX) > 50
    assert bluish(image, BALANCE_ROW_BOX) > 0
    # and the same check fails where nothing is drawn: between the two table rows' end
    # (about 2 × 19 pt under the header) and the totals, the page is white
    blank = Box(MARGIN, TOTALS_BOX.top + TOTALS_GAP, CONTENT_WIDTH, 250.0)
    assert ink(image, blank) == 0


def test_a_long_invoice_paginates_with_the_header_row_repeated() -> None:
    # Given 40 single-line rows: 19 pt each, more than page 1's table holds (under 500 pt)
    rows = tuple(
        line(f"Item {n:03d} extension", "1", "2.50", "2.50", tax_rates=(Decimal(20),))
        for n in range(1, 41)
    )
    pdf = render_invoice_pdf(
        invoice(
            rows,
            subtotal=Decimal("100.00"),
            tax=Decimal("20.00"),
            total=Decimal("120.00"),
            paid=Decimal("0.00"),
            balance_due=Decimal("120.00"),
            tax_breakdown=(),
        )
    )

    # Then there is more than one page, each with the header row and "Page x of y"
    texts = page_texts(pdf)
    count = len(texts)
    assert count >= 2
    for number, text in enumerate(texts, start=1):
        assert "Description" in text and "Unit price (EUR)" in text
        assert f"Page {number} of {count}" in text
        assert "INV-2026-000042" in text
    # every row appears exactly once, in order, and the totals only on the last page
    everything = "\n".join(texts)
    positions = [everything.index(f"Item {n:03d} extension") for n in range(1, 41)]
    assert positions == sorted(positions)
    assert all(everything.count(f"Item {n:03d} extension") == 1 for n in range(1, 41))
    assert all("Balance due" not in text for text in texts[:-1])
    assert "Balance due (EUR)" in texts[-1] and "120.00" in texts[-1]
    # the rendered pages agree: header row on page 2 at its place, total on the last only
    assert ink(rendered(pdf, 1), table_header_box(first_page=False)) > 0
    assert bluish(rendered(pdf, 0), BALANCE_ROW_BOX) == 0  # table rows there, no totals
    assert bluish(rendered(pdf, count - 1), BALANCE_ROW_BOX) > 0
    assert ink(rendered(pdf, count - 1), TOTAL_ROW_BOX) > 50


def test_totals_that_do_not_fit_under_the_table_get_a_page_of_their_own() -> None:
    # Page 1's rows start 18 pt (header row) under the table top, 563.9 pt, so at 545.9;
    # the totals (85 pt from 48 pt up, so their top is at 133) need 14 pt of space above:
    # 545.9 - 19 n >= 147 holds for n <= 20 single-line rows, and 26 rows still fit the page.
    def rows(count: int) -> tuple[DocumentLine, ...]:
        return tuple(line(f"Row {n:02d}", "1", "1.00", "1.00") for n in range(1, count + 1))

    fits = page_texts(render_invoice_pdf(invoice(rows(20))))
    spills = page_texts(render_invoice_pdf(invoice(rows(21))))

    assert len(fits) == 1 and "Balance due (EUR)" in fits[0]
    assert len(spills) == 2
    assert "Row 21" in spills[0] and "Balance due" not in spills[0]
    assert "Balance due (EUR)" in spills[1] and "Page 2 of 2" in spills[1]
    assert "Description" not in spills[1]  # no empty table on the totals' page


def test_identical_invoices_give_identical_bytes() -> None:
    first = render_invoice_pdf(invoice())
    second = render_invoice_pdf(invoice())
    other = render_invoice_pdf(invoice(number="INV-2026-000043"))

    assert first == second
    assert first != other
    assert first.startswith(b"%PDF-")


def test_identical_bytes_from_a_fresh_process() -> None:
    # A stored PDF compared with one rendered later by another Lambda instance
    script = (
        "import sys, hashlib; sys.path[:0] = ['.', 'tests/unit/formats'];"
        "from test_invoice_pdf import invoice;"
        "from shared.formats.invoice_pdf import render_invoice_pdf;"
        "print(hashlib.sha256(render_invoice_pdf(invoice())).hexdigest())"
    )
    here = hashlib.sha256(render_invoice_pdf(invoice())).hexdigest()
    there = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert there == here


def test_hostile_text_is_shown_literally_and_never_crashes() -> None:
    # Given markup characters, other scripts, control characters, a stray surrogate, a
    # character the font lacks, and a 3,000-character token with no space to break at
    # (about 86 lines of 11 pt: taller than any page)
    token = "Ω" * 3000
    hostile = (
        line('<b>bold</b> & <i>x</i> &amp; "quoted" <font color=red>', "1", "1.00", "1.00"),
        line("Zürich Жанна Ελλάδα Łódź €\x00\x07\tnext\udc80 中", "2", "1.00", "2.00"),
        line(token, "1", "0.00", "0.00"),
    )
    buyer = PrintedParty("<script>alert(1)</script> " * 30, ("Straße\n2", "x" * 400), "<tax>")
    pdf = render_invoice_pdf(invoice(hostile, buyer=buyer, number="INV<1>&amp;"))

    everything = "\n".join(page_texts(pdf))
    flat = " ".join(everything.split())
    for literal in (
        '<b>bold</b> & <i>x</i> &amp; "quoted" <font color=red>',
        "Zürich Жанна Ελλάδα Łódź €",
        "INV<1>&amp;",
        "<script>alert(1)</script>",
        "Tax ID: <tax>",
    ):
        assert literal in flat, literal
    # controls became spaces, the surrogate and the missing glyph the replacement character
    assert "\x00" not in everything and "\x07" not in everything
    assert "next\ufffd \ufffd" in flat
    # the long token is all there, broken over lines and, taller than a page, over pages
    assert everything.count("Ω") == len(token)
    assert len(page_texts(pdf)) >= 2


def test_wrapped_lines_never_run_into_the_next_column() -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    width = DESCRIPTION_WIDTH - 8
    text = "word " * 50 + "W" * 500 + " Жанна中"
    lines = wrap(text, width)

    assert len(lines) > 5
    assert all(stringWidth(part, "InvoiceSans", 8.5) <= width for part in lines)
    assert "".join("".join(lines).split()) == "".join(text.replace("中", "\ufffd").split())


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234567.5", "EUR", "1,234,567.50"),  # padded to the minor unit
        ("0.0125", "EUR", "0.0125"),  # a per-minute price keeps its decimals
        ("-7.5", "USD", "-7.50"),  # a refund
        ("1500", "JPY", "1,500"),  # no minor unit
        ("1.5", "KWD", "1.500"),  # three decimals
        ("12345678901234567890.123456789", "EUR", "12,345,678,901,234,567,890.123456789"),
    ],
)
def test_amounts_print_exactly(amount: str, currency: str, expected: str) -> None:
    assert format_amount(Decimal(amount), currency) == expected


def test_quantities_and_rates_print_exactly() -> None:
    assert format_quantity(Decimal("1234.50"), "min") == "1,234.50 min"
    assert format_quantity(Decimal("1E+3")) == "1,000"
    assert format_rates((Decimal("20.00"),)) == "20%"
    assert format_rates((Decimal(20), Decimal("2.5"))) == "20% + 2.5%"
    assert format_rates(()) == "–"


def test_a_float_amount_is_refused() -> None:
    with pytest.raises(TypeError, match="amount must be a Decimal"):
        DocumentLine("Plan", Decimal(1), Decimal("1.00"), 1.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="total must be a Decimal"):
        invoice(total=77.32)
    with pytest.raises(ValueError, match="#RRGGBB"):
        Brand("Nimbus", "blue")


def test_reverse_charge_is_noted() -> None:
    document = invoice(
        tax=Decimal("0.00"),
        total=Decimal("64.43"),
        paid=Decimal("0.00"),
        balance_due=Decimal("64.43"),
        tax_breakdown=(),
        reverse_charge=True,
    )

    (text,) = page_texts(render_invoice_pdf(document))

    assert " ".join(REVERSE_CHARGE_NOTE.split()[:6]) in " ".join(text.split())


# ----------------------------------------------------------- from the domain invoice


def issued_invoice(buyer: Party, prepaid: bool = False) -> Invoice:
    """A July 2026 invoice of a GB seller, issued 2026-08-01 on 14 days' terms."""
    seller = Party(
        name="Nimbus Voice Ltd", address=("1 Dock Road", "Leeds"), country="GB", tax_id="GB111"
    )
    rules = {
        "GB": TaxRules(
            country="GB",
            default_rate=Decimal(20),
            surcharges=(Surcharge(name="Telecom levy", rate=Decimal("2.5")),),
        )
    }
    lines = (
        InvoiceLine(
            kind=LineKind.SUBSCRIPTION,
            description="Business 10 plan",
            amount=Decimal("49.00"),
            unit_price=Decimal("49.00"),
        ),
        InvoiceLine(
            kind=LineKind.USAGE,
            description="Outbound calls, mobile",
            amount=Decimal("15.43"),
            quantity=Decimal("1234.5"),
            unit="min",
            unit_price=Decimal("0.0125"),
            informational=prepaid,
        ),
        InvoiceLine(
            kind=LineKind.ONE_TIME,
            description="Number port",
            amount=Decimal("25.00"),
            unit_price=Decimal("25.00"),
        ),
    )
    taxed, notes = with_taxes(lines, seller, buyer, rules)
    draft = Invoice.draft(
        tenant="acme",
        period="2026-07",
        zone="Europe/London",
        currency="GBP",
        prepaid=prepaid,
        seller=seller,
        buyer=buyer,
        lines=taxed,
        notes=notes,
    )
    return draft.issue("INV-000042", date(2026, 8, 1))


def test_an_issued_domain_invoice_maps_to_the_document_and_prints() -> None:
    # Given a GB buyer (standard tax) and a payment of 20.00. By hand:
    #   VAT 20% on 49.00 + 15.43 + 25.00 = 89.43 → 17.886 → 17.89
    #   levy 2.5% on the telecom lines 49.00 + 15.43 = 64.43 → 1.61075 → 1.61
    #   tax 19.50, total 108.93, paid 20.00, balance due 88.93
    buyer = Party(name="Acme Ltd", address=("2 Mill Lane", "York", "GB"), country="GB")
    invoice_ = issued_invoice(buyer).record_payment("pi_1", Decimal("20.00"), date(2026, 8, 2))

    document = document_for(invoice_, Brand("Nimbus Voice"))

    assert (document.number, document.status, document.currency) == (
        "INV-000042",
        "Partially Paid",
        "GBP",
    )
    assert (document.issue_date, document.due_date) == (date(2026, 8, 1), date(2026, 8, 15))
    assert (document.period_start, document.period_end) == (date(2026, 7, 1), date(2026, 7, 31))
    assert document.seller == PrintedParty(
        "Nimbus Voice Ltd", ("1 Dock Road", "Leeds", "GB"), "GB111"
    )
    assert document.buyer == PrintedParty("Acme Ltd", ("2 Mill Lane", "York", "GB"), None)
    assert [line.tax_rates for line in document.lines] == [
        (Decimal(20), Decimal("2.5")),
        (Decimal(20), Decimal("2.5")),
        (Decimal(20),),
    ]
    assert (document.subtotal, document.tax, document.total) == (
        Decimal("89.43"),
        Decimal("19.50"),
        Decimal("108.93"),
    )
    assert (document.paid, document.balance_due) == (Decimal("20.00"), Decimal("88.93"))
    assert document.tax_invoice and not document.reverse_charge

    (text,) = page_texts(render_invoice_pdf(document))
    flat = " ".join(text.split())
    for expected in (
        "INV-000042",
        "2026-07-01 – 2026-07-31",
        "Business 10 plan",
        "20% + 2.5%",
        "Number port",
        "25.00",
        "VAT 20% on 89.43: 17.89",
        "Telecom levy 2.5% on 64.43: 1.61",
        "108.93",
        "88.93",
        "Tax ID: GB111",
    ):
        assert expected in flat, expected
    assert flat.count("Tax ID:") == 1  # a consumer buyer has none to print


def test_a_business_buyer_abroad_gets_the_reverse_charge_and_prepaid_usage_is_a_statement() -> None:
    # Given a German business buyer with a tax id, prepaid: usage 15.43 is informational;
    # no tax at all; total = 49.00 + 25.00 = 74.00
    buyer = Party(
        name="Beispiel GmbH", address=("Berlin",), country="DE", tax_id="DE999", business=True
    )

    document = document_for(issued_invoice(buyer, prepaid=True))

    assert document.reverse_charge
    assert (document.subtotal, document.tax, document.total) == (
        Decimal("74.00"),
        Decimal("0"),
        Decimal("74.00"),
    )
    (text,) = page_texts(render_invoice_pdf(document))
    flat = " ".join(text.split())
    assert "Reverse charge: tax to be accounted for by the recipient" in flat
    assert REVERSE_CHARGE_NOTE not in flat  # the domain's note, not a second one
    assert flat.index(INFORMATIONAL_HEADING) < flat.index("Outbound calls, mobile")


def test_a_draft_is_not_rendered() -> None:
    buyer = Party(name="Acme Ltd", country="GB")
    draft = issued_invoice(buyer).model_copy(
        update={"status": InvoiceStatus.DRAFT, "number": None, "issue_date": None}
    )

    with pytest.raises(ValidationError, match="issue it"):
        document_for(draft)
