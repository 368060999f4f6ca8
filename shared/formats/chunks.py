"""Where a byte chunk of a CSV file may be cut so that no record is split.

A CDR file is rated in byte-range chunks. Cutting at the last newline is right unless that
newline sits inside a quoted field (a quoted value may hold line breaks), so when a chunk has
quotes at all, records are matched one by one with the csv module's rules (a quote opens a
quoted field only at the start of a field; ``""`` inside it is a literal quote) and the cut
goes after the last record that is complete.
"""

from __future__ import annotations

import re

#: one field: quoted (then anything up to the delimiter, as the csv module tolerates),
#: unquoted, or empty; one record: fields separated by commas, ended by a line break. The
#: quoted part is possessive (``*+``): ``""`` is always an escaped quote, as for the csv
#: module; backtracking would read it as the closing quote plus a stray one and end a record
#: the reader sees as still open (then the cut, and so the outcome, depended on chunk size)
_FIELD = rb'(?:"(?:[^"]|"")*+"[^,\r\n]*|[^,"\r\n][^,\r\n]*|)'
_RECORD = re.compile(_FIELD + rb"(?:," + _FIELD + rb")*\r?\n")


def complete_records_end(data: bytes) -> int:
    """Byte index just after the last complete record in ``data`` (0: none is complete).

    ``data`` starts at a record boundary. A record that cannot be matched (malformed, or cut
    inside its quotes) ends the scan: the chunk is cut before it, unless it is the first,
    in which case the plain last newline is used and the reader rejects what it finds.
    """
    if b'"' not in data:
        return data.rfind(b"\n") + 1
    position, match = 0, _RECORD.match
    while position < len(data):
        found = match(data, position)
        if found is None:
            break
        position = found.end()
    if position == 0:
        if not _looks_malformed(data):
            return 0
        # the malformed line, and the lines after it up to the next one holding a quote: a
        # quote may open a record that runs past line ends, so it must start a chunk to be
        # matched as the reader will read it (else the outcome depends on the chunk size)
        first_end = data.find(b"\n") + 1
        quote = data.find(b'"', first_end)
        return max(first_end, data.rfind(b"\n", 0, quote if quote >= 0 else len(data)) + 1)
    return position


def _looks_malformed(data: bytes) -> bool:
    """A first record that no quoting can explain (not merely cut short): e.g. ``"a"b"c``
    leaves a quote open only by accident. Treat it line by line rather than waiting for a
    closing quote that may never come."""
    line_end = data.find(b"\n")
    return line_end >= 0 and data.count(b'"', 0, line_end) % 2 == 0
