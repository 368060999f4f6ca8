"""CDR format registry and auto-detection (see docs/formats.md for the rules).

``--format auto`` parses the file's first line as CSV and asks each detector of
:data:`DETECTORS` in order; the first that recognises it names the reader. The order matters:
headers are tried before field counts (a header row has any number of fields), and FreeSWITCH's
UUID check comes before Asterisk's timestamp positions.

1. ``native``: a header naming ``call_id`` and only native columns;
2. ``freeswitch``: a header naming ``uuid`` and another FreeSWITCH variable, or 15 fields with a
   UUID at position 10 (the example template's ``uuid``);
3. ``asterisk-csv``: 18 or 21 fields with start, answer, end timestamps at positions 9-11
   (answer and end may be empty);
4. ``asterisk-custom``: 19 fields with the timestamps at positions 8-10.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, cast

from shared.domain.calls import CallRecord
from shared.domain.errors import ValidationError
from shared.formats.asterisk import (
    looks_like_asterisk_csv,
    looks_like_asterisk_custom,
    read_asterisk_csv,
    read_asterisk_custom,
)
from shared.formats.cdr_context import ReaderContext
from shared.formats.freeswitch import is_header, looks_like_freeswitch, read_freeswitch
from shared.formats.native_cdr import COLUMNS as NATIVE_COLUMNS
from shared.formats.native_cdr import read_native
from shared.formats.records import PhysicalLines, RowOutcome

__all__ = [
    "DETECTORS", "READERS", "Detector", "Reader", "ReaderContext", "UnknownFormat",
    "detect_format", "open_records", "starts_with_header",
]

#: a reader yields one item per record: a RowOutcome, or a bare CallRecord to rate (which
#: carries its own line number and text; the native reader's hot path)
Reader = Callable[[PhysicalLines, ReaderContext], Iterator[RowOutcome | CallRecord]]
#: takes the first line's CSV fields
Detector = Callable[[list[str]], bool]


def _read_native(
    lines: PhysicalLines, context: ReaderContext
) -> Iterator[RowOutcome | CallRecord]:
    return read_native(lines, context.tenant, context.zone)


def _looks_native(fields: list[str]) -> bool:
    names = {name.strip().lower().lstrip("\ufeff") for name in fields}
    return "call_id" in names and names <= set(NATIVE_COLUMNS)


#: name → reader
READERS: dict[str, Reader] = {
    "native": _read_native,
    "asterisk-csv": read_asterisk_csv,
    "asterisk-custom": read_asterisk_custom,
    "freeswitch": read_freeswitch,
}
#: detection order (see the module docstring for why this order)
DETECTORS: list[tuple[str, Detector]] = [
    ("native", _looks_native),
    ("freeswitch", looks_like_freeswitch),
    ("asterisk-csv", looks_like_asterisk_csv),
    ("asterisk-custom", looks_like_asterisk_custom),
]


class UnknownFormat(ValidationError):
    pass


def detect_format(first_line: str) -> str:
    try:
        fields = next(csv.reader([first_line.rstrip("\r\n")]), [])
    except csv.Error as problem:  # a lone "\r" or a NUL: not a line any reader can name
        raise UnknownFormat(
            f"cannot read the first line as CSV ({problem}); pass --format "
            f"({', '.join(['auto', *READERS])})"
        ) from None
    for name, looks_like in DETECTORS:
        if looks_like(fields):
            return name
    raise UnknownFormat(
        "cannot tell the CDR format from the first line; pass --format "
        f"({', '.join(['auto', *READERS])})"
    )


def starts_with_header(format_name: str, first_line: str) -> bool:
    """Whether a file of this format opens with a header row (which a resumed chunk of the
    file must be given again, since it starts mid-file)."""
    if format_name == "native":
        return True
    if format_name == "freeswitch":
        return is_header(next(csv.reader([first_line.rstrip("\r\n")]), []))
    return False


def _rewindable(stream: BinaryIO | Iterable[bytes]) -> bool:
    seekable = getattr(stream, "seekable", None)
    return seekable is not None and getattr(stream, "tell", None) is not None and (
        seekable() and stream.tell() == 0  # type: ignore[union-attr]
    )


def open_records(
    stream: BinaryIO | Iterable[bytes],
    format_name: str,
    context: ReaderContext,
    first_line: int = 1,
) -> tuple[str, PhysicalLines, Iterator[RowOutcome | CallRecord]]:
    """Pick the reader (detecting it from the first line for ``auto``) and start it."""
    chunks: Iterable[bytes] = stream
    if format_name == "auto" and _rewindable(stream):
        binary = cast(BinaryIO, stream)
        first = binary.readline()
        binary.seek(0)  # and read the file in blocks, not line by line
        format_name = detect_format(first.decode("utf-8", "replace")) if first else "native"
    elif format_name == "auto":
        iterator = iter(stream)
        first = next(iterator, b"")
        format_name = detect_format(first.decode("utf-8", "replace")) if first else "native"
        chunks = itertools.chain([first], iterator) if first else iterator
    reader = READERS.get(format_name)
    if reader is None:
        raise UnknownFormat(
            f"unknown CDR format {format_name!r}; use one of auto, {', '.join(READERS)}"
        )
    lines = PhysicalLines(chunks, first_line=first_line)
    return format_name, lines, reader(lines, context)
