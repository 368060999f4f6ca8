"""What a CDR reader yields for each input record, and the physical-line machinery they share.

Readers never drop a record: each physical record becomes exactly one :class:`RowOutcome`,
either a call to rate or a reject/merge with its reason, carrying its physical line number
(where the record starts) and its original text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from shared.domain.calls import CallRecord, CallStatus, RejectReason

#: Surrogates that ``errors="surrogateescape"`` puts in place of undecodable bytes.
_ESCAPED_LOW, _ESCAPED_HIGH = "\udc80", "\udcff"


@dataclass(slots=True)
class RowOutcome:
    """One input record: a call to rate, or why it is not one."""

    line_no: int
    raw: str
    call: CallRecord | None = None
    status: CallStatus | None = None  # None: rate it; REJECTED, MERGED or UNANSWERED otherwise
    reason: RejectReason | None = None
    detail: str = ""

    @classmethod
    def reject(cls, line_no: int, raw: str, reason: RejectReason, detail: str) -> RowOutcome:
        return cls(line_no, raw, None, CallStatus.REJECTED, reason, detail)


def has_undecodable(text: str) -> bool:
    """Whether text decoded with surrogateescape held bytes that were not UTF-8."""
    if text.isascii():
        return False
    return any(_ESCAPED_LOW <= char <= _ESCAPED_HIGH for char in text)


class PhysicalLines:
    """Iterates a binary stream as decoded text lines, remembering the current record.

    Undecodable bytes are kept as surrogate escapes (so the original bytes can be written back
    to a rejects file unchanged) and flagged per record, so one bad byte rejects one row only.
    """

    def __init__(self, stream: BinaryIO | Iterable[bytes], encoding: str = "utf-8") -> None:
        self._stream = stream
        self._encoding = encoding
        self.line_no = 0  # physical lines read so far
        self.bytes_read = 0
        self._record: list[str] = []

    def __iter__(self) -> Iterator[str]:
        decode, record = self._encoding, self._record
        for raw in self._stream:
            self.line_no += 1
            self.bytes_read += len(raw)
            text = raw.decode(decode, "surrogateescape")
            record.append(text)
            yield text

    def take_record(self) -> str:
        """The text of the record the CSV reader just finished (its lines, newline-free)."""
        text = "".join(self._record).rstrip("\r\n")
        self._record.clear()
        return text


def csv_records(lines: PhysicalLines) -> Iterator[tuple[int, str, list[str] | None, str]]:
    """(start line, original text, fields, error) for every non-blank record.

    ``fields`` is None when the CSV layer itself could not parse the record (``error`` says
    why); the caller rejects that one record and reading goes on with the next.
    """
    reader = csv.reader(lines)
    previous_end = 0
    while True:
        try:
            fields: list[str] | None = next(reader)
            error = ""
        except StopIteration:
            return
        except csv.Error as problem:
            fields, error = None, f"unreadable CSV: {problem}"
        start = previous_end + 1
        previous_end = lines.line_no
        raw = lines.take_record()
        if fields is not None and (not fields or (len(fields) == 1 and not fields[0].strip())):
            continue
        yield start, raw, fields, error
