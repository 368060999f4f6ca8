"""The rated-calls output's columns, and the text of its computed cells.

Shared by the file sinks (``adapters.files``) and the bulk rating fast path
(``services.rate_file``), which builds rows of these cells directly.
"""

from __future__ import annotations

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
