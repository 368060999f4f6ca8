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
#: unquoted, or empty; one record: fields separated by commas, ended by a line break
_FIELD = rb'(?:"(?:[^"]|"")*"[^,\r\n]*|[^,"\r\n][^,\r\n]*|)'
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
        return data.rfind(b"\n") + 1 if _looks_malformed(data) else 0
    return position


def _looks_malformed(data: bytes) -> bool:
    """A first record that no quoting can explain (not merely cut short): e.g. ``"a"b"c``
    leaves a quote open only by accident. Treat it line by line rather than waiting for a
    closing quote that may never come."""
    line_end = data.find(b"\n")
    return line_end >= 0 and data.count(b'"', 0, line_end) % 2 == 0
