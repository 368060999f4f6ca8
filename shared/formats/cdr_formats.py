"""CDR format registry and auto-detection (see docs/formats.md for the rules)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO
from zoneinfo import ZoneInfo

from shared.domain.calls import Direction
from shared.domain.errors import ValidationError
from shared.formats.native_cdr import COLUMNS as NATIVE_COLUMNS
from shared.formats.native_cdr import read_native
from shared.formats.records import PhysicalLines, RowOutcome


@dataclass(frozen=True, slots=True)
class ReaderContext:
    """What a reader needs beyond the bytes: whose file it is and how to read its times."""

    tenant: str
    zone: ZoneInfo
    #: switch dialplan context → direction (SPEC 4: default out)
    contexts: dict[str, Direction] = field(default_factory=dict)


Reader = Callable[[PhysicalLines, ReaderContext], Iterator[RowOutcome]]
Detector = Callable[[str], bool]


def _read_native(lines: PhysicalLines, context: ReaderContext) -> Iterator[RowOutcome]:
    return read_native(lines, context.tenant, context.zone)


def _looks_native(first_line: str) -> bool:
    names = {name.strip().strip('"').lower().lstrip("\ufeff") for name in first_line.split(",")}
    return "call_id" in names and names <= set(NATIVE_COLUMNS)


#: name → reader; detection order is the order of DETECTORS
READERS: dict[str, Reader] = {"native": _read_native}
DETECTORS: list[tuple[str, Detector]] = [("native", _looks_native)]


class UnknownFormat(ValidationError):
    pass


def detect_format(first_line: str) -> str:
    for name, looks_like in DETECTORS:
        if looks_like(first_line):
            return name
    raise UnknownFormat(
        "cannot tell the CDR format from the first line; pass --format "
        f"({', '.join(['auto', *READERS])})"
    )


def open_records(
    stream: BinaryIO | Iterable[bytes], format_name: str, context: ReaderContext
) -> tuple[str, PhysicalLines, Iterator[RowOutcome]]:
    """Pick the reader (detecting it from the first line for ``auto``) and start it."""
    chunks: Iterable[bytes] = stream
    if format_name == "auto":
        iterator = iter(stream)
        first = next(iterator, b"")
        format_name = detect_format(first.decode("utf-8", "replace")) if first else "native"
        chunks = itertools.chain([first], iterator) if first else iterator
    reader = READERS.get(format_name)
    if reader is None:
        raise UnknownFormat(f"unknown CDR format {format_name!r}; use one of auto, {', '.join(READERS)}")
    lines = PhysicalLines(chunks)
    return format_name, lines, reader(lines, context)
