"""The branded invoice PDF: an :class:`InvoiceDocument` in, deterministic A4 PDF bytes out.

Why a view model: the PDF shows what was issued, already computed; it never adds, rounds or
taxes anything. Every amount is a ``Decimal`` printed exactly (at least the currency's minor
unit of decimals, more when the value has them, as per-minute unit prices do), so the page
and the ledger can never disagree by a float's rounding.

Why a hand-laid canvas rather than reportlab's flowables: the regions (logo, table header,
totals) sit at fixed places that tests check on a rendered page, the table paginates with its
header row repeated and "Page x of y" known before drawing, and user text (descriptions,
names, addresses) is drawn as literal strings: never parsed as Paragraph markup, so ``<b>``
or ``&amp;`` print as typed. Text is set in DejaVu Sans (bundled under ``assets/``, embedded
as a subset) so Latin, Greek and Cyrillic names print as written; characters the font lacks
(CJK, emoji) print as U+FFFD rather than as invisible boxes.

Identical documents give identical bytes (reportlab's ``invariant`` mode: fixed creation date
and document id), so a re-issued PDF can be compared with the stored one byte for byte.
"""

from __future__ import annotations

import functools
import io
import math
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from shared.domain.errors import ValidationError
from shared.domain.invoicing.invoice import Invoice
from shared.domain.invoicing.periods import BillingPeriod
from shared.domain.invoicing.tax import Party, Treatment, treatment
from shared.domain.money import minor_units, validate_currency

# ------------------------------------------------------------------------- the view model


@dataclass(frozen=True, slots=True)
class PrintedParty:
    """Seller or buyer as printed: name, postal address lines, tax id (on tax invoices)."""

    name: str
    address: tuple[str, ...] = ()
    tax_id: str | None = None


@dataclass(frozen=True, slots=True)
class Brand:
    """The seller's look: the name beside the logo mark and the accent colour (``#RRGGBB``)."""

    name: str
    colour: str = "#0B5FAF"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", self.colour):
            raise ValueError(f"brand colour is written #RRGGBB, got {self.colour!r}")


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One table row. ``tax_rates`` are percentages (20 prints as 20%; VAT and a levy as
    "20% + 2.5%"); ``informational`` lines (a prepaid tenant's usage statement, top-up
    receipts) are shown apart, marked not charged, and are never in the totals."""

    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    tax_rates: tuple[Decimal, ...] = ()
    unit: str = ""
    informational: bool = False

    def __post_init__(self) -> None:
        _require_decimals(
            self.description,
            quantity=self.quantity,
            unit_price=self.unit_price,
            amount=self.amount,
            **{f"tax rate {i + 1}": rate for i, rate in enumerate(self.tax_rates)},
        )


@dataclass(frozen=True, slots=True)
class TaxBreakdown:
    """One tax rate group of a tax invoice: the taxed base and the tax on it."""

    name: str
    rate: Decimal
    base: Decimal
    amount: Decimal

    def __post_init__(self) -> None:
        _require_decimals(self.name, rate=self.rate, base=self.base, amount=self.amount)


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """Everything the PDF and its email show, in one currency, already computed.

    ``period_end`` is the last day included (the PDF prints ``start – end``).
    """

    number: str
    issue_date: date
    due_date: date
    period_start: date
    period_end: date
    status: str
    currency: str
    seller: PrintedParty
    buyer: PrintedParty
    lines: tuple[DocumentLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    paid: Decimal
    balance_due: Decimal
    tax_invoice: bool = False
    reverse_charge: bool = False
    tax_breakdown: tuple[TaxBreakdown, ...] = ()
    notes: tuple[str, ...] = ()
    brand: Brand | None = None

    def __post_init__(self) -> None:
        validate_currency(self.currency)
        _require_decimals(
            self.number,
            subtotal=self.subtotal,
            tax=self.tax,
            total=self.total,
            paid=self.paid,
            balance_due=self.balance_due,
        )

    @property
    def title(self) -> str:
        return "Tax invoice" if self.tax_invoice else "Invoice"


def _require_decimals(owner: str, **values: Decimal | None) -> None:
    """Money and quantities are Decimal: a float here would print its binary rounding."""
    for name, value in values.items():
        if value is not None and not isinstance(value, Decimal):
            raise TypeError(f"{owner!r}: {name} must be a Decimal, got {type(value).__name__}")
        if value is not None and not value.is_finite():
            raise ValueError(f"{owner!r}: {name} must be a finite number, got {value}")


#: Printed under the totals of a reverse-charge invoice (EU VAT Directive, article 196).
REVERSE_CHARGE_NOTE = (
    "Reverse charge: no tax charged by the seller; the customer accounts for it "
    "(EU: Council Directive 2006/112/EC, article 196)."
)
INFORMATIONAL_HEADING = "Usage statement: not charged (already paid from your prepaid wallet)"
NOT_CHARGED = "not charged"

# ---------------------------------------------------------------------- layout constants


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in PDF points, origin at the page's bottom-left corner (reportlab's)."""

    x: float
    y: float
    width: float
    height: float

    @property
    def top(self) -> float:
        return self.y + self.height

    @property
    def right(self) -> float:
        return self.x + self.width

    def to_pixels(self, scale: float) -> tuple[int, int, int, int]:
        """(left, upper, right, lower) in a page rendered at ``scale`` pixels per point, whose
        origin is the top-left corner (PIL's crop box): for tests on a rendered page."""
        return (
            math.floor(self.x * scale),
            math.floor((PAGE_HEIGHT - self.top) * scale),
            math.ceil(self.right * scale),
            math.ceil((PAGE_HEIGHT - self.y) * scale),
        )


PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 40.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

#: The logo mark, top-left on every page.
LOGO_BOX = Box(MARGIN, PAGE_HEIGHT - MARGIN - 48.0, 48.0, 48.0)
#: The title, number, dates, period and status: top-right of page 1.
META_BOX = Box(PAGE_WIDTH / 2 + 30.0, PAGE_HEIGHT - MARGIN - 96.0, CONTENT_WIDTH / 2 - 30.0, 96.0)
PARTY_GAP = 24.0
PARTY_WIDTH = (CONTENT_WIDTH - PARTY_GAP) / 2
PARTY_MAX_LINES = 7
#: Seller ("From") and buyer ("Bill to") blocks on page 1.
SELLER_BOX = Box(MARGIN, PAGE_HEIGHT - MARGIN - 222.0, PARTY_WIDTH, 104.0)
BUYER_BOX = Box(MARGIN + PARTY_WIDTH + PARTY_GAP, SELLER_BOX.y, PARTY_WIDTH, SELLER_BOX.height)

#: Where the line table starts: below the parties on page 1, below the logo on later pages.
TABLE_TOP_FIRST = SELLER_BOX.y - 16.0
TABLE_TOP_NEXT = LOGO_BOX.y - 20.0
HEADER_ROW_HEIGHT = 18.0
TEXT_SIZE = 8.5
LINE_LEADING = 11.0
ROW_PADDING = 4.0
SINGLE_ROW_HEIGHT = LINE_LEADING + 2 * ROW_PADDING

#: Footer band ("Page x of y"), and the lowest a table row may reach.
FOOTER_BASELINE = MARGIN - 12.0
TABLE_BOTTOM = MARGIN + 8.0

#: Columns, left to right: (heading, width, right-aligned). Description takes the rest.
QUANTITY_WIDTH, UNIT_PRICE_WIDTH, TAX_WIDTH, AMOUNT_WIDTH = 78.0, 84.0, 52.0, 92.0
DESCRIPTION_WIDTH = CONTENT_WIDTH - QUANTITY_WIDTH - UNIT_PRICE_WIDTH - TAX_WIDTH - AMOUNT_WIDTH
CELL_PADDING = 4.0


def table_header_box(first_page: bool) -> Box:
    """The table's header row (repeated on every page that carries table rows)."""
    top = TABLE_TOP_FIRST if first_page else TABLE_TOP_NEXT
    return Box(MARGIN, top - HEADER_ROW_HEIGHT, CONTENT_WIDTH, HEADER_ROW_HEIGHT)


#: The header row and the first single-line row of page 1's table.
TABLE_HEADER_BOX = table_header_box(first_page=True)
FIRST_ROW_BOX = Box(
    MARGIN, TABLE_HEADER_BOX.y - SINGLE_ROW_HEIGHT, CONTENT_WIDTH, SINGLE_ROW_HEIGHT
)

#: Totals, bottom-right of the last page: subtotal, tax, total, paid, balance due.
TOTALS_ROW_HEIGHT = 17.0
TOTALS_ROWS = ("Subtotal", "Tax", "Total", "Paid", "Balance due")
TOTALS_BOX = Box(
    PAGE_WIDTH - MARGIN - 230.0, TABLE_BOTTOM, 230.0, TOTALS_ROW_HEIGHT * len(TOTALS_ROWS)
)
#: Currency, reverse-charge note and free notes, left of the totals on the last page.
NOTES_BOX = Box(MARGIN, TABLE_BOTTOM, TOTALS_BOX.x - MARGIN - 20.0, TOTALS_BOX.height)
#: The table of the last page ends this far above the totals.
TOTALS_GAP = 14.0


def totals_row_box(label: str) -> Box:
    """The row of one totals entry (``"Total"``, ``"Balance due"``, ...)."""
    index = TOTALS_ROWS.index(label)
    top = TOTALS_BOX.top - index * TOTALS_ROW_HEIGHT
    return Box(TOTALS_BOX.x, top - TOTALS_ROW_HEIGHT, TOTALS_BOX.width, TOTALS_ROW_HEIGHT)


TOTAL_ROW_BOX = totals_row_box("Total")
BALANCE_ROW_BOX = totals_row_box("Balance due")

DEFAULT_COLOUR = "#0B5FAF"
INK = HexColor("#1A1A1A")
MUTED = HexColor("#6B6B6B")
RULE = HexColor("#D0D0D0")
INFO_FILL = HexColor("#F1F1F1")

# ----------------------------------------------------------------------------- fonts

ASSETS = Path(__file__).resolve().parent / "assets"
FONT, BOLD = "InvoiceSans", "InvoiceSans-Bold"
_FONT_FILES = {FONT: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}


def _register_fonts() -> frozenset[int]:
    """Register the bundled fonts once per process; the code points they can draw."""
    registered = pdfmetrics.getRegisteredFontNames()
    for name, file in _FONT_FILES.items():
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(ASSETS / file)))
    regular = set(pdfmetrics.getFont(FONT).face.charToGlyph)
    bold = set(pdfmetrics.getFont(BOLD).face.charToGlyph)
    return frozenset(regular & bold)


@functools.cache
def _drawable() -> frozenset[int]:
    return _register_fonts()


def printable(text: str) -> str:
    """User text as it can be drawn: line breaks, tabs and other controls become spaces,
    characters the font lacks (and stray surrogates) become U+FFFD, never a silent box."""
    drawable = _drawable()
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif category == "Cf":  # invisible: zero-width joiners, bidi overrides, soft hyphens
            continue
        else:
            out.append(char if ord(char) in drawable else "\ufffd")
    return "".join(out)


# ------------------------------------------------------------------------- number text


def format_amount(amount: Decimal, currency: str) -> str:
    """An amount exactly, with thousands separators: at least the currency's minor unit of
    decimals (12.5 EUR → 12.50), more when the value has them (0.0125 → 0.0125)."""
    exponent = amount.as_tuple().exponent
    places = max(minor_units(currency), -exponent if isinstance(exponent, int) else 0)
    return f"{amount:,.{places}f}"


def format_quantity(quantity: Decimal, unit: str = "") -> str:
    """A quantity as given (1234.5 → 1,234.5), never in exponent notation."""
    exponent = quantity.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    text = f"{quantity:,.{places}f}"
    return f"{text} {unit}" if unit else text


def format_rate(rate: Decimal) -> str:
    """A tax rate in percent, exactly and without trailing zeros (20.00 → 20%, 5.5 → 5.5%)."""
    text = f"{rate:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def format_rates(rates: Sequence[Decimal]) -> str:
    """A line's taxes: "20%", "20% + 2.5%" (VAT and a levy), or "–" when none applies."""
    return " + ".join(format_rate(rate) for rate in rates) or "–"


# --------------------------------------------------------------------------- wrapping


def _width(text: str, font: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(text, font, size))


def wrap(text: str, width: float, font: str = FONT, size: float = TEXT_SIZE) -> list[str]:
    """Break text into lines no wider than ``width``: at spaces, and inside a word too long
    for a line (a 300-character token must not run over the next column)."""
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        current = ""
        for word in printable(paragraph).split():
            candidate = f"{current} {word}" if current else word
            if _width(candidate, font, size) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            for char in word:
                if current and _width(current + char, font, size) > width:
                    lines.append(current)
                    current = ""
                current += char
        lines.append(current)
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines or [""]


def _clip(text: str, width: float, font: str, size: float) -> str:
    """One line that fits ``width``, cut with an ellipsis when it does not."""
    text = printable(text)
    if _width(text, font, size) <= width:
        return text
    while text and _width(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _fitting_size(text: str, width: float, font: str, size: float) -> float:
    """A font size at which a number fits its column (shrunk, never cut: digits matter)."""
    while size > 5.0 and _width(text, font, size) > width:
        size -= 0.5
    return size


# ------------------------------------------------------------------------- pagination


@dataclass(frozen=True, slots=True)
class Row:
    """One table row to place: kind ``charge``, ``info_heading``, ``info``, ``info_total`` or
    ``empty``; ``text`` is the wrapped description; the number cells print on its first chunk."""

    kind: str
    text: tuple[str, ...]
    quantity: str = ""
    unit_price: str = ""
    tax: str = ""
    amount: str = ""


@dataclass(slots=True)
class Placed:
    """A row (or a chunk of a long row's lines) at its top edge on one page."""

    row: Row
    top: float
    lines: tuple[str, ...]
    first_chunk: bool

    @property
    def height(self) -> float:
        if self.row.kind == "info_heading":
            return HEADER_ROW_HEIGHT
        return len(self.lines) * LINE_LEADING + 2 * ROW_PADDING


@dataclass(slots=True)
class Page:
    rows: list[Placed] = field(default_factory=list)
    totals: bool = False


def _rows(document: InvoiceDocument) -> list[Row]:
    currency = document.currency
    text_width = DESCRIPTION_WIDTH - 2 * CELL_PADDING

    def row(line: DocumentLine, kind: str) -> Row:
        return Row(
            kind,
            tuple(wrap(line.description, text_width)),
            format_quantity(line.quantity, printable(line.unit)),
            "" if line.unit_price is None else format_amount(line.unit_price, currency),
            NOT_CHARGED if line.informational else format_rates(line.tax_rates),
            format_amount(line.amount, currency),
        )

    charged = [row(line, "charge") for line in document.lines if not line.informational]
    info = [line for line in document.lines if line.informational]
    rows = charged or [Row("empty", ("No charges for this period.",))]
    if info:
        rows.append(Row("info_heading", (INFORMATIONAL_HEADING,)))
        rows.extend(row(line, "info") for line in info)
        statement = sum((line.amount for line in info), Decimal(0))
        rows.append(
            Row(
                "info_total",
                ("Usage statement total",),
                tax=NOT_CHARGED,
                amount=format_amount(statement, currency),
            )
        )
    return rows


def paginate(document: InvoiceDocument) -> list[Page]:
    """Place the table rows on pages: a row moves whole to the next page when it does not fit,
    a row taller than a page is split by lines, the usage statement's heading is never left
    alone at a page's foot, and the totals go on the last page (a page of its own if the
    table leaves no room above them)."""
    pages = [Page()]
    cursor = TABLE_TOP_FIRST - HEADER_ROW_HEIGHT
    full_height = TABLE_TOP_NEXT - HEADER_ROW_HEIGHT - TABLE_BOTTOM
    rows = _rows(document)

    def new_page() -> None:
        nonlocal cursor
        pages.append(Page())
        cursor = TABLE_TOP_NEXT - HEADER_ROW_HEIGHT

    for index, row in enumerate(rows):
        if row.kind == "info_heading":
            following = rows[index + 1] if index + 1 < len(rows) else None
            needed = HEADER_ROW_HEIGHT + (SINGLE_ROW_HEIGHT if following else 0)
            if cursor - needed < TABLE_BOTTOM:
                new_page()
            pages[-1].rows.append(Placed(row, cursor, row.text, True))
            cursor -= HEADER_ROW_HEIGHT
            continue
        height = len(row.text) * LINE_LEADING + 2 * ROW_PADDING
        if cursor - height < TABLE_BOTTOM and height <= full_height:
            new_page()
        remaining, first = row.text, True
        while remaining:
            fit = int((cursor - TABLE_BOTTOM - 2 * ROW_PADDING) // LINE_LEADING)
            if fit < 1:
                new_page()
                continue
            chunk, remaining = remaining[:fit], remaining[fit:]
            placed = Placed(row, cursor, chunk, first)
            pages[-1].rows.append(placed)
            cursor -= placed.height
            first = False
    if cursor - TOTALS_GAP < TOTALS_BOX.top:
        pages.append(Page())
    pages[-1].totals = True
    return pages


# ---------------------------------------------------------------------------- drawing


def render_invoice_pdf(document: InvoiceDocument) -> bytes:
    """The invoice as PDF bytes: A4, identical bytes for an identical document."""
    _drawable()
    pages = paginate(document)
    accent = HexColor((document.brand.colour if document.brand else None) or DEFAULT_COLOUR)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(f"{document.title} {printable(document.number)}")
    canvas.setAuthor(printable(document.seller.name))
    canvas.setSubject(f"{document.title} for {printable(document.buyer.name)}")
    canvas.setCreator("telecom-billing")
    for number, page in enumerate(pages, start=1):
        _draw_brand(canvas, document, accent)
        if number == 1:
            _draw_meta(canvas, document)
            _draw_party(canvas, SELLER_BOX, "From", document.seller)
            _draw_party(canvas, BUYER_BOX, "Bill to", document.buyer)
        else:
            _draw_continuation(canvas, document)
        if page.rows:
            _draw_table_header(canvas, table_header_box(number == 1), document.currency, accent)
            for placed in page.rows:
                _draw_row(canvas, placed)
        if page.totals:
            _draw_totals(canvas, document, accent)
            _draw_notes(canvas, document)
        _draw_footer(canvas, document, number, len(pages))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _text(
    canvas: Canvas,
    x: float,
    y: float,
    text: str,
    font: str = FONT,
    size: float = TEXT_SIZE,
    colour: Color = INK,
    right: bool = False,
) -> None:
    canvas.setFont(font, size)
    canvas.setFillColor(colour)
    if right:
        canvas.drawRightString(x, y, text)
    else:
        canvas.drawString(x, y, text)


def _draw_logo(canvas: Canvas, box: Box, accent: Color) -> None:
    """The logo mark in vectors: a rounded tile in the brand colour with a handset's signal
    waves, so it renders at any scale and needs no image file."""
    canvas.saveState()
    canvas.setFillColor(accent)
    canvas.roundRect(box.x, box.y, box.width, box.height, box.width * 0.18, stroke=0, fill=1)
    centre_x, centre_y = box.x + box.width * 0.3, box.y + box.height * 0.3
    canvas.setFillColor(white)
    canvas.circle(centre_x, centre_y, box.width * 0.07, stroke=0, fill=1)
    canvas.setStrokeColor(white)
    canvas.setLineWidth(box.width * 0.07)
    canvas.setLineCap(1)
    for radius in (0.22, 0.38, 0.54):
        r = box.width * radius
        canvas.arc(centre_x - r, centre_y - r, centre_x + r, centre_y + r, 5, 80)
    canvas.restoreState()


def _draw_brand(canvas: Canvas, document: InvoiceDocument, accent: Color) -> None:
    _draw_logo(canvas, LOGO_BOX, accent)
    name = document.brand.name if document.brand else document.seller.name
    x = LOGO_BOX.right + 10
    _text(canvas, x, LOGO_BOX.y + 26, _clip(name, META_BOX.x - x - 10, BOLD, 15), BOLD, 15)
    _text(canvas, x, LOGO_BOX.y + 12, "Telecom services", size=8, colour=MUTED)


def _draw_meta(canvas: Canvas, document: InvoiceDocument) -> None:
    box = META_BOX
    _text(canvas, box.right, box.top - 16, document.title.upper(), BOLD, 16, right=True)
    period = f"{document.period_start.isoformat()} – {document.period_end.isoformat()}"
    entries = (
        ("Number", document.number),
        ("Issue date", document.issue_date.isoformat()),
        ("Due date", document.due_date.isoformat()),
        ("Period", period),
        ("Status", document.status),
    )
    y = box.top - 36
    label_width = 60.0
    for label, value in entries:
        _text(canvas, box.x, y, label, size=8.5, colour=MUTED)
        fitted = _clip(value, box.width - label_width, BOLD, 9)
        _text(canvas, box.right, y, fitted, BOLD, 9, right=True)
        y -= 13


def _draw_party(canvas: Canvas, box: Box, label: str, party: PrintedParty) -> None:
    """Name, address and tax id, wrapped to the block. A name and address too long for
    PARTY_MAX_LINES lines are cut with an ellipsis; the tax id line is never cut away (a
    tax invoice without the buyer's tax id is not one)."""
    _text(canvas, box.x, box.top - 8, label.upper(), BOLD, 7.5, MUTED)
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(box.x, box.top - 12, box.right, box.top - 12)
    lines: list[tuple[str, str]] = [(text, BOLD) for text in wrap(party.name, box.width, BOLD, 10)]
    for address_line in party.address:
        lines.extend((text, FONT) for text in wrap(address_line, box.width, FONT, 9))
    tax_lines: list[tuple[str, str]] = []
    if party.tax_id:
        tax_lines = [(_clip(f"Tax ID: {party.tax_id}", box.width, FONT, 9), FONT)]
    room = PARTY_MAX_LINES - len(tax_lines)
    if len(lines) > room:
        last, font = lines[room - 1]
        lines = [*lines[: room - 1], (_clip(last + "…", box.width, font, 9), font)]
    lines += tax_lines
    y = box.top - 26
    for text, font in lines:
        _text(canvas, box.x, y, text, font, 10 if font == BOLD else 9)
        y -= 12


def _draw_continuation(canvas: Canvas, document: InvoiceDocument) -> None:
    text = f"{document.title} {document.number} (continued)"
    _text(
        canvas,
        PAGE_WIDTH - MARGIN,
        LOGO_BOX.y + 26,
        _clip(text, CONTENT_WIDTH / 2, BOLD, 10),
        BOLD,
        10,
        right=True,
    )


def _columns() -> Iterator[tuple[float, float]]:
    """(left x, width) of each column: description, quantity, unit price, tax, amount."""
    x = MARGIN
    for width in (DESCRIPTION_WIDTH, QUANTITY_WIDTH, UNIT_PRICE_WIDTH, TAX_WIDTH, AMOUNT_WIDTH):
        yield x, width
        x += width


def _draw_table_header(canvas: Canvas, box: Box, currency: str, accent: Color) -> None:
    canvas.setFillColor(accent)
    canvas.rect(box.x, box.y, box.width, box.height, stroke=0, fill=1)
    headings = (
        "Description",
        "Quantity",
        f"Unit price ({currency})",
        "Tax",
        f"Amount ({currency})",
    )
    baseline = box.y + 6
    for (x, width), heading in zip(_columns(), headings, strict=True):
        if heading == "Description":
            _text(canvas, x + CELL_PADDING, baseline, heading, BOLD, 8, white)
        else:
            size = _fitting_size(heading, width - 2 * CELL_PADDING, BOLD, 8)
            _text(
                canvas, x + width - CELL_PADDING, baseline, heading, BOLD, size, white, right=True
            )


def _draw_row(canvas: Canvas, placed: Placed) -> None:
    row = placed.row
    top, bottom = placed.top, placed.top - placed.height
    if row.kind == "info_heading":
        canvas.setFillColor(INFO_FILL)
        canvas.rect(MARGIN, bottom, CONTENT_WIDTH, placed.height, stroke=0, fill=1)
        text = _clip(row.text[0], CONTENT_WIDTH - 2 * CELL_PADDING, BOLD, 8)
        _text(canvas, MARGIN + CELL_PADDING, bottom + 6, text, BOLD, 8, MUTED)
        return
    informational = row.kind in ("info", "info_total")
    colour = MUTED if informational or row.kind == "empty" else INK
    font = BOLD if row.kind == "info_total" else FONT
    baseline = top - ROW_PADDING - TEXT_SIZE
    for line in placed.lines:
        _text(canvas, MARGIN + CELL_PADDING, baseline, line, font, TEXT_SIZE, colour)
        baseline -= LINE_LEADING
    if placed.first_chunk:
        cells = (row.quantity, row.unit_price, row.tax, row.amount)
        first_baseline = top - ROW_PADDING - TEXT_SIZE
        for (x, width), cell in zip(list(_columns())[1:], cells, strict=True):
            if cell:
                size = _fitting_size(cell, width - 2 * CELL_PADDING, font, TEXT_SIZE)
                _text(
                    canvas,
                    x + width - CELL_PADDING,
                    first_baseline,
                    cell,
                    font,
                    size,
                    colour,
                    right=True,
                )
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.4)
    if informational:
        canvas.setDash(2, 2)
    canvas.line(MARGIN, bottom, MARGIN + CONTENT_WIDTH, bottom)
    canvas.setDash()


def _draw_totals(canvas: Canvas, document: InvoiceDocument, accent: Color) -> None:
    amounts = (document.subtotal, document.tax, document.total, document.paid, document.balance_due)
    for label, amount in zip(TOTALS_ROWS, amounts, strict=True):
        box = totals_row_box(label)
        emphasised = label in ("Total", "Balance due")
        colour = INK
        if label == "Balance due":
            canvas.setFillColor(accent)
            canvas.rect(box.x, box.y, box.width, box.height, stroke=0, fill=1)
            colour = white
        elif label == "Total":
            canvas.setStrokeColor(INK)
            canvas.setLineWidth(0.8)
            canvas.line(box.x, box.top, box.right, box.top)
        font = BOLD if emphasised else FONT
        _text(
            canvas,
            box.x + CELL_PADDING,
            box.y + 5,
            f"{label} ({document.currency})",
            font,
            9,
            colour,
        )
        value = format_amount(amount, document.currency)
        size = _fitting_size(value, box.width / 2, font, 9)
        _text(canvas, box.right - CELL_PADDING, box.y + 5, value, font, size, colour, right=True)


def _draw_notes(canvas: Canvas, document: InvoiceDocument) -> None:
    """Currency, the reverse-charge note and free notes, wrapped into the notes box; what
    does not fit is cut (the notes are a courtesy, the totals beside them are the invoice)."""
    currency = document.currency
    notes: list[str] = [f"All amounts in {currency}."]
    notes.extend(
        f"{group.name} {format_rate(group.rate)} on {format_amount(group.base, currency)}: "
        f"{format_amount(group.amount, currency)}"
        for group in document.tax_breakdown
    )
    stated = any(note.lower().startswith("reverse charge") for note in document.notes)
    if document.reverse_charge and not stated:
        notes.append(REVERSE_CHARGE_NOTE)
    notes.extend(document.notes)
    lines: list[str] = []
    for note in notes:
        lines.extend(wrap(note, NOTES_BOX.width, FONT, 7.5))
    capacity = int(NOTES_BOX.height // 10)
    y = NOTES_BOX.top - 8
    for line in _cut(lines, capacity):
        _text(canvas, NOTES_BOX.x, y, line, size=7.5, colour=MUTED)
        y -= 10


def _cut(lines: Sequence[str], capacity: int) -> list[str]:
    if len(lines) <= capacity:
        return list(lines)
    return [*lines[: capacity - 1], lines[capacity - 1] + "…"]


def _draw_footer(canvas: Canvas, document: InvoiceDocument, number: int, count: int) -> None:
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.5)
    canvas.line(MARGIN, FOOTER_BASELINE + 10, PAGE_WIDTH - MARGIN, FOOTER_BASELINE + 10)
    left = _clip(
        f"{document.seller.name} · {document.title} {document.number}",
        CONTENT_WIDTH - 80,
        FONT,
        7.5,
    )
    _text(canvas, MARGIN, FOOTER_BASELINE, left, size=7.5, colour=MUTED)
    _text(
        canvas,
        PAGE_WIDTH - MARGIN,
        FOOTER_BASELINE,
        f"Page {number} of {count}",
        size=7.5,
        colour=MUTED,
        right=True,
    )


# ------------------------------------------------------------- from the domain invoice


def document_for(invoice: Invoice, brand: Brand | None = None) -> InvoiceDocument:
    """The view of an issued domain invoice: its own seller and buyer, each line with its
    tax rates, the tax groups, the notes, and the period as first and last day.

    A Draft has no number or dates yet and is never sent, so it is refused. The invoice is a
    tax invoice when the seller has a tax id (both parties' ids are then printed); reverse
    charge is the domain's own :func:`treatment` of the two parties."""
    if invoice.number is None or invoice.issue_date is None or invoice.due_date is None:
        raise ValidationError(
            f"invoice of {invoice.tenant} {invoice.period} is a {invoice.status}: issue it "
            "(number, issue and due date) before rendering its PDF"
        )
    period = BillingPeriod.parse(invoice.period, invoice.zone)
    return InvoiceDocument(
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=period.start,
        period_end=period.end - timedelta(days=1),
        status=str(invoice.status),
        currency=invoice.currency,
        seller=_printed(invoice.seller),
        buyer=_printed(invoice.buyer),
        lines=tuple(
            DocumentLine(
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                tax_rates=tuple(code.rate for code in line.taxes),
                unit=line.unit,
                informational=line.informational,
            )
            for line in invoice.lines
        ),
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        paid=invoice.paid,
        balance_due=invoice.balance_due,
        tax_invoice=bool(invoice.seller.tax_id),
        reverse_charge=treatment(invoice.seller, invoice.buyer) is Treatment.REVERSE_CHARGE,
        tax_breakdown=tuple(
            TaxBreakdown(group.name, group.rate, group.base, group.amount)
            for group in invoice.tax_groups
        ),
        notes=invoice.notes,
        brand=brand,
    )


def _printed(party: Party) -> PrintedParty:
    """Name, address lines and the country code (unless the address already ends with it)."""
    address = party.address
    if party.country and (not address or address[-1].strip() != party.country):
        address = (*address, party.country)
    return PrintedParty(party.name, address, party.tax_id or None)
