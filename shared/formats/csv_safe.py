"""CSV cells that a spreadsheet will not execute (formula / CSV injection, OWASP).

A CDR field is attacker-controlled text: a caller id of ``=HYPERLINK("http://x","y")`` or
``@SUM(1+1)*cmd|' /C calc'!A0`` in a rated-calls export runs when an operator opens the
file in Excel, LibreOffice or Google Sheets. Following OWASP's CSV-injection guidance,
every exported cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading apostrophe (``'``), which spreadsheets show as text and never
evaluate; quoting and embedded separators are left to the ``csv`` module.

**Decision:** a cell that is a plain number (``-1.50``, ``+442071234567``, ``-0.0008``)
is left unchanged: a spreadsheet reads it as a number, not a formula, and our own exports
carry signed amounts (re-rate differences, margins) and E.164 numbers that must stay
numbers. "Plain" means an optional sign, digits, an optional decimal point and digits,
nothing else: ``-1+2`` or ``+44 20 7123-4567`` are not plain and are neutralised.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

#: the characters OWASP lists as starting a formula (or hiding one after a control char)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_STARTS = frozenset(FORMULA_STARTS)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)\Z")


def safe_text(value: str) -> str:
    """Text as it may go into a CSV export: a cell a spreadsheet would take for a formula
    gets a leading apostrophe; plain numbers and other text pass unchanged. Cheap on the
    common cell (one character test), so the rated-calls writer can call it per cell."""
    if not value or value[0] not in _STARTS or _PLAIN_NUMBER.match(value):
        return value
    return "'" + value


def safe_cell(value: object) -> object:
    """:func:`safe_text` for text; any other value (int, Decimal, None) passes unchanged."""
    return safe_text(value) if isinstance(value, str) else value


def safe_row(row: Iterable[object]) -> list[object]:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(value) for value in row]


class SafeCsvWriter:
    """``csv.writer`` whose every row is neutralised: use it for every CSV export."""

    def __init__(self, stream: IO[str], **options: Any) -> None:
        options.setdefault("lineterminator", "\n")
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[object]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
