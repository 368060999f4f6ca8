"""What a CDR reader yields for each input record, and the physical-line machinery they share.

Readers never drop a record: each physical record becomes exactly one :class:`RowOutcome`,
either a call to rate or a reject/merge with its reason, carrying its physical line number
(where the record starts) and its original text.
"""

from __future__ import annotations

import csv
import itertools
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


def as_outcome(item: RowOutcome | CallRecord) -> RowOutcome:
    """Readers yield bare CallRecords for calls to rate (one object less per row in the hot
    loop); this gives every item the RowOutcome shape for code that wants one."""
    if isinstance(item, RowOutcome):
        return item
    return RowOutcome(item.line_no, item.raw, item)


def has_undecodable(text: str) -> bool:
    """Whether text decoded with surrogateescape held bytes that were not UTF-8."""
    if text.isascii():
        return False
    return any(_ESCAPED_LOW <= char <= _ESCAPED_HIGH for char in text)


BLOCK_BYTES = 1 << 20


def split_lines(text: str) -> list[str]:
    """A block's physical lines, each with its line break: only "\n" (or "\r\n") ends a
    line; any other break character (lone "\r", form feed, ...) is inside one."""
    lines = text.splitlines(keepends=True)
    if len(lines) != text.count("\n") + (not text.endswith("\n")):
        lines = [line + "\n" for line in text.split("\n")]
        if text.endswith("\n"):
            lines.pop()
        else:
            lines[-1] = lines[-1][:-1]
    return lines


class PhysicalLines:
    """Iterates a binary stream as decoded text lines and hands back each record's text.

    The stream is read in blocks of about 1 MiB, decoded and split at once (so per-line work
    stays in C); the csv reader consumes the lines, and :meth:`take_record` maps its line
    count back to the record's physical line numbers and original text. Undecodable bytes are
    kept as surrogate escapes (so the original bytes can be written back to a rejects file
    unchanged) and flagged per record, so one bad byte rejects one row only.
    """

    def __init__(
        self, stream: BinaryIO | Iterable[bytes], encoding: str = "utf-8", first_line: int = 1
    ) -> None:
        self._stream = stream
        self._encoding = encoding
        #: physical number of the stream's first line (a resumed chunk starts mid-file)
        self.first_line = first_line
        self.line_no = first_line - 1  # physical lines of the records taken so far
        self.bytes_read = 0
        self._current: tuple[int, list[str]] = (1, [])  # (number of its first line, lines)
        self._previous: tuple[int, list[str]] = (1, [])
        self._next_line = 1

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._blocks())

    def text_blocks(self) -> Iterator[str]:
        """The stream as decoded blocks of whole lines (about 1 MiB each)."""
        for block in self._byte_blocks():
            self.bytes_read += len(block)
            yield block.decode(self._encoding, "surrogateescape")

    def _blocks(self) -> Iterator[list[str]]:
        for text in self.text_blocks():
            lines = split_lines(text)
            self._previous = self._current
            self._current = (self._next_line, lines)
            self._next_line += len(lines)
            yield lines

    def _byte_blocks(self) -> Iterator[bytes]:
        """Blocks of whole lines (the last may lack its newline at end of stream)."""
        read = getattr(self._stream, "read", None)
        if read is None:
            batch: list[bytes] = []
            for raw in self._stream:
                batch.append(raw)
                if len(batch) >= 4096:
                    yield b"".join(batch)
                    batch.clear()
            if batch:
                yield b"".join(batch)
            return
        carry = b""
        while True:
            chunk = read(BLOCK_BYTES)
            if not chunk:
                break
            chunk = carry + chunk
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                carry = chunk
                continue
            carry = chunk[cut:]
            yield chunk[:cut]
        if carry:
            yield carry

    def take_record(self, end_line: int) -> tuple[int, str]:
        """(start line, text) of the record the CSV reader just finished at ``end_line``
        (its ``line_num``), without the trailing newline."""
        start = self.line_no + 1
        self.line_no = end_line
        first, lines = self._current
        if start >= first:
            if start == end_line:
                text = lines[start - first]
            else:
                text = "".join(lines[start - first : end_line - first + 1])
        else:
            old_first, old_lines = self._previous
            text = "".join(old_lines[start - old_first :]) + "".join(lines[: end_line - first + 1])
        return start, text.rstrip("\r\n")


def csv_records(lines: PhysicalLines) -> Iterator[tuple[int, str, list[str] | None, str]]:
    """(start line, original text, fields, error) for every non-blank record.

    A line without a double quote is split on commas directly, which is what the csv module
    would do with it, only faster; a line with a quote goes to the csv module, which pulls
    continuation lines for quoted newlines. ``fields`` is None when the CSV layer could not
    parse the record (``error`` says why); the caller rejects that one record and reading
    goes on with the next.
    """
    source = iter(lines)
    line_no = lines.first_line - 1
    for line in source:
        line_no += 1
        text = line.rstrip("\r\n")
        if '"' not in text and "\r" not in text:
            fields = text.split(",")
            if len(fields) == 1 and not text.strip():
                continue  # blank lines are not rows
            yield line_no, text, fields, ""
            continue
        consumed = [line]

        def feed(first: str = line, taken: list[str] = consumed) -> Iterator[str]:
            yield first
            for more in source:
                taken.append(more)
                yield more

        reader = csv.reader(feed())
        parsed: list[str] | None
        try:
            parsed, error = next(reader), ""
        except csv.Error as problem:
            parsed, error = None, f"unreadable CSV: {problem}"
        except StopIteration:  # pragma: no cover - the first line is always there
            return
        start = line_no
        line_no += len(consumed) - 1
        raw = text if len(consumed) == 1 else "".join(consumed).rstrip("\r\n")
        if parsed is not None and (not parsed or (len(parsed) == 1 and not parsed[0].strip())):
            continue
        yield start, raw, parsed, error


#: one batch of records: (first line number, original texts, fields, line numbers); line
#: numbers None means consecutive from the first (a plain block, one record per line)
RecordBatch = tuple[int, list[str], list[list[str] | None], list[int] | None, list[str] | None]


def csv_record_batches(lines: PhysicalLines) -> Iterator[RecordBatch]:
    """:func:`csv_records` a block at a time, for the rating fast path.

    A block without a double quote or a carriage return (the common file) is one record per
    line, split on commas: its batch is the block's lines and their fields, every line
    included (blank ones too: the caller skips a blank record as :func:`csv_records` does).
    Any other block is read record by record exactly as :func:`csv_records` reads it (a
    quoted record may continue into the next block) and comes with explicit line numbers
    and, per record, the CSV error ("" when it parsed; its fields are then None).
    """
    blocks = lines.text_blocks()
    line_no = lines.first_line - 1
    for text in blocks:
        if '"' not in text and "\r" not in text:
            raws = text.split("\n")
            if text.endswith("\n"):
                raws.pop()
            yield line_no + 1, raws, [raw.split(",") for raw in raws], None, None
            line_no += len(raws)
            continue
        pending = split_lines(text)
        numbers: list[int] = []
        texts: list[str] = []
        fields_list: list[list[str] | None] = []
        errors: list[str] = []
        position = 0

        def continuation(pending: list[str] = pending) -> Iterator[str]:
            """Lines after the current one, into the next blocks if a record needs them."""
            nonlocal position
            while True:
                if position == len(pending):
                    more = next(blocks, None)
                    if more is None:
                        return
                    pending.extend(split_lines(more))
                    continue
                position += 1
                yield pending[position - 1]

        while position < len(pending):
            line = pending[position]
            position += 1
            line_no += 1
            stripped = line.rstrip("\r\n")
            if '"' not in stripped and "\r" not in stripped:
                fields = stripped.split(",")
                if len(fields) == 1 and not stripped.strip():
                    continue  # blank lines are not rows
                numbers.append(line_no)
                texts.append(stripped)
                fields_list.append(fields)
                errors.append("")
                continue
            consumed = [line]

            def feed(first: str = line, taken: list[str] = consumed) -> Iterator[str]:
                yield first
                for more_line in continuation():
                    taken.append(more_line)
                    yield more_line

            reader = csv.reader(feed())
            parsed: list[str] | None
            try:
                parsed, error = next(reader), ""
            except csv.Error as problem:
                parsed, error = None, f"unreadable CSV: {problem}"
            start = line_no
            line_no += len(consumed) - 1
            raw = stripped if len(consumed) == 1 else "".join(consumed).rstrip("\r\n")
            if parsed is not None and (not parsed or (len(parsed) == 1 and not parsed[0].strip())):
                continue
            numbers.append(start)
            texts.append(raw)
            fields_list.append(parsed)
            errors.append(error)
        if numbers:
            yield numbers[0], texts, fields_list, numbers, errors
