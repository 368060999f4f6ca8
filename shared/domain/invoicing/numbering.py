"""Invoice and credit-note numbers: an issuer prefix and a gapless sequence integer.

The store allocates the integer atomically at issue (one counter per series); this module
only formats and parses: ``INV-000042`` is prefix ``INV``, sequence 42. Credit notes have
their own series (prefix ``CN`` by default)."""

from __future__ import annotations

import re

from shared.domain.errors import ValidationError

INVOICE_PREFIX = "INV"
CREDIT_NOTE_PREFIX = "CN"
#: digits at least; a sequence past 999999 simply gets longer
SEQUENCE_WIDTH = 6
_PREFIX = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
_NUMBER = re.compile(r"^([A-Z0-9][A-Z0-9-]{0,19})-(\d{6,})$")


def format_number(prefix: str, sequence: int) -> str:
    """``format_number("INV", 42)`` → ``INV-000042``."""
    if not _PREFIX.match(prefix) or prefix.endswith("-"):
        raise ValidationError(
            f"an invoice prefix is 1-20 upper-case letters, digits or inner dashes, got {prefix!r}"
        )
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise ValidationError(f"an invoice sequence starts at 1, got {sequence!r}")
    return f"{prefix}-{sequence:0{SEQUENCE_WIDTH}d}"


def parse_number(number: str) -> tuple[str, int]:
    """``INV-000042`` → ``("INV", 42)``; the inverse of :func:`format_number`."""
    found = _NUMBER.match(number)
    if not found or found[1].endswith("-"):
        raise ValidationError(
            f"an invoice number is PREFIX-NNNNNN (e.g. INV-000042), got {number!r}"
        )
    sequence = int(found[2])
    if sequence < 1 or format_number(found[1], sequence) != number:
        raise ValidationError(f"invoice number {number!r} is not in canonical form")
    return found[1], sequence
