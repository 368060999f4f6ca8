"""File sinks for offline rating: rated calls as CSV or JSON lines, rejects as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import IO

from shared.domain.calls import CallRecord, RejectReason
from shared.domain.rating.engine import Rating
from shared.formats.csv_safe import FORMULA_STARTS, safe_row, safe_text
from shared.formats.rated_cells import RATED_COLUMNS, billed_seconds_text

REJECT_COLUMNS = ("line", "reason", "detail", "original")
_billed_seconds = billed_seconds_text


def _row(call: CallRecord, rating: Rating) -> tuple[str, ...]:
    return (
        call.call_id,
        call.tenant,
        call.account,
        call.service,
        call.direction,
        call.caller,
        call.callee,
        rating.prefix,
        rating.destination,
        rating.band,
        _billed_seconds(rating.billed_ms),
        str(rating.quantity) if rating.quantity else "",
        str(rating.cost),
        rating.currency,
        rating.card,
        rating.status,
        "",
        ";".join(rating.flags) if rating.flags else "",
    )


#: rated-output columns holding text from the CDR or the card (the rest are our numbers)
_TEXT_COLUMNS = tuple(
    RATED_COLUMNS.index(name)
    for name in (
        "call_id", "tenant", "account", "caller", "callee", "prefix", "destination", "band",
        "card", "flags",
    )
)


_FORMULA_STARTS = frozenset(FORMULA_STARTS)


class CsvRatedSink:
    def __init__(self, stream: IO[str]) -> None:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(RATED_COLUMNS)
        self._writerow = writer.writerow
        self._write = stream.write
        self._buffer = io.StringIO()
        self._line_writer = csv.writer(self._buffer, lineterminator="\n")

    def cells(self, call: CallRecord, rating: Rating) -> Sequence[str]:
        """The call's output row (RATED_COLUMNS order), neutralised for spreadsheets."""
        row = _row(call, rating)
        # text from the CDR or the card may be a spreadsheet formula (docs/reports.md); the
        # common row has none, so test first characters before building another row
        for i in _TEXT_COLUMNS:
            value = row[i]
            if value[:1] in _FORMULA_STARTS and safe_text(value) is not value:
                cells = list(row)
                for j in _TEXT_COLUMNS:
                    cells[j] = safe_text(cells[j])
                return cells
        return row

    def write(self, call: CallRecord, rating: Rating) -> None:
        self._writerow(self.cells(call, rating))

    def line(self, call: CallRecord, rating: Rating) -> str:
        """The call's row as CSV text, as :meth:`write` would write it."""
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self._line_writer.writerow(self.cells(call, rating))
        return buffer.getvalue()

    def write_text(self, text: str) -> None:
        """Rows already as CSV text in RATED_COLUMNS order, neutralised (the fast path)."""
        self._write(text)


class JsonLinesRatedSink:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, call: CallRecord, rating: Rating) -> None:
        record = dict(zip(RATED_COLUMNS, _row(call, rating), strict=True))
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")


class NullRatedSink:
    def cells(self, call: CallRecord, rating: Rating) -> Sequence[str]:
        return ()

    def write(self, call: CallRecord, rating: Rating) -> None:
        return None

    def line(self, call: CallRecord, rating: Rating) -> str:
        return ""

    def write_text(self, text: str) -> None:
        return None


class CsvRejectSink:
    """Rejects keep the original bytes: write to a stream opened with surrogateescape."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._writer = csv.writer(stream, lineterminator="\n") if stream else None
        if self._writer:
            self._writer.writerow(REJECT_COLUMNS)

    def write(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None:
        if self._writer:
            self._writer.writerow(safe_row([line_no, str(reason), detail, raw]))
