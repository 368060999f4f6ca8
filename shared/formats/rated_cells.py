"""The rated-calls output's columns, and the text of its computed cells.

Shared by the file sinks (``adapters.files``) and the bulk rating fast path
(``services.rate_file``), which builds rows of these cells directly.
"""

from __future__ import annotations

from shared.formats.csv_safe import safe_text

#: characters that make the csv module quote a cell
_QUOTED = (",", '"', "\r", "\n")

RATED_COLUMNS = (
    "call_id",
    "tenant",
    "account",
    "service",
    "direction",
    "caller",
    "callee",
    "prefix",
    "destination",
    "band",
    "billed_seconds",
    "quantity",
    "cost",
    "currency",
    "card",
    "status",
    "reason",
    "flags",
)

_SECONDS_TEXT: dict[int, str] = {}


def billed_seconds_text(billed_ms: int) -> str:
    """Milliseconds as seconds text without float (66000 → "66", 9100 → "9.100")."""
    text = _SECONDS_TEXT.get(billed_ms)
    if text is None:
        whole, fraction = divmod(billed_ms, 1000)
        text = f"{whole}.{fraction:03d}" if fraction else str(whole)
        if len(_SECONDS_TEXT) < 100_000:
            _SECONDS_TEXT[billed_ms] = text
    return text


def plain_cell(text: str) -> bool:
    """Whether ``text`` goes into the rated CSV as it stands: no quoting (no comma, quote or
    line break) and nothing a spreadsheet would run (see csv_safe)."""
    return safe_text(text) is text and not any(mark in text for mark in _QUOTED)


def plain_fragment(*cells: str) -> str | None:
    """Consecutive cells as CSV text, when every one is :func:`plain_cell` (else None): the
    csv module would write exactly this text for them."""
    return ",".join(cells) if all(plain_cell(cell) for cell in cells) else None
