"""FreeSWITCH ``mod_cdr_csv`` reader (SPEC section 4; rules and examples in docs/formats.md).

Without a header the columns are the "example" template of ``cdr_csv.conf.xml``
(:data:`DEFAULT_TEMPLATE`). A first row that names columns (it contains ``uuid``) or an
explicit template (``ReaderContext.columns``, ``billing rate --cdr-columns``) replaces it;
then ``billmsec`` (milliseconds) is used in preference to ``billsec`` where both are present.
Columns the reader does not use are ignored.

- ``uuid`` is the call id; one row is one call (the B leg is named by ``bleg_uuid`` on the same
  row, so there is nothing to merge).
- Answered iff ``answer_stamp`` is set and the talk time is not zero; ``hangup_cause`` is
  informational (a call that talked and then ended with ``RECOVERY_ON_TIMER_EXPIRE`` still
  talked).
- Direction from the ``context`` column through the tenant's context map, default out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from shared.domain.calls import CallRecord, Direction, RejectReason
from shared.domain.errors import ValidationError
from shared.formats.cdr_context import ReaderContext
from shared.formats.fields import FieldError, parse_seconds_ms, parse_timestamp
from shared.formats.records import PhysicalLines, RowOutcome, csv_records, has_undecodable

DEFAULT_TEMPLATE: tuple[str, ...] = (
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp",
    "answer_stamp", "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid",
    "accountcode", "read_codec", "write_codec",
)
#: channel variables a header names; one of them besides ``uuid`` marks a FreeSWITCH header
HEADER_NAMES = frozenset({
    "caller_id_name", "caller_id_number", "destination_number", "start_stamp", "answer_stamp",
    "end_stamp", "billsec", "billmsec", "hangup_cause", "bleg_uuid", "read_codec",
    "write_codec",
})
REQUIRED = ("uuid", "destination_number", "answer_stamp")
_OUT = Direction.OUT


class TemplateError(ValidationError):
    """A header or template the reader cannot use; the message says what is missing."""


#: the columns the reader uses, in the order ``_Layout.pick`` returns them
_USED = (
    "caller_id_number", "destination_number", "context", "start_stamp", "answer_stamp",
    "end_stamp", "billsec", "billmsec", "uuid", "accountcode",
)


@dataclass(frozen=True, slots=True)
class _Layout:
    """How to pick the used columns out of a row: ``pick(fields)`` returns them in ``_USED``
    order, a column the template lacks read as the "" appended to rows when ``pad``."""

    count: int
    pick: Callable[[list[str]], Any]
    pad: bool

    @classmethod
    def of(cls, columns: Sequence[str]) -> _Layout:
        names = [_column_name(name) for name in columns]
        missing = [name for name in REQUIRED if name not in names]
        if missing:
            raise TemplateError(
                f"FreeSWITCH columns lack {', '.join(missing)} (got {', '.join(names)})"
            )
        if "billsec" not in names and "billmsec" not in names:
            raise TemplateError("FreeSWITCH columns need billsec or billmsec")
        absent = len(names)
        indexes = [names.index(name) if name in names else absent for name in _USED]
        return cls(absent, itemgetter(*indexes), absent in indexes)


def _column_name(text: str) -> str:
    """``uuid``, ``"uuid"`` and ``${uuid}`` all name the ``uuid`` column."""
    name = text.strip().lstrip("\ufeff").strip().lower()
    if name.startswith("${") and name.endswith("}"):
        name = name[2:-1]
    return name


DEFAULT_LAYOUT = _Layout.of(DEFAULT_TEMPLATE)


def is_header(fields: list[str]) -> bool:
    """A row naming FreeSWITCH variables: ``uuid`` and at least one other known variable."""
    names = {_column_name(field) for field in fields}
    return "uuid" in names and not names.isdisjoint(HEADER_NAMES)


def read_freeswitch(lines: PhysicalLines, context: ReaderContext) -> Iterator[RowOutcome]:
    """Rows of ``mod_cdr_csv``. A header row is never data; an explicit template
    (``context.columns``) wins over it."""
    explicit = _Layout.of(context.columns) if context.columns else None
    layout = explicit
    first = True
    for line_no, raw, fields, error in csv_records(lines):
        if fields is None:
            yield RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, error)
            continue
        if first:
            first = False
            if is_header(fields):
                layout = explicit or _Layout.of(fields)
                continue
            layout = explicit or DEFAULT_LAYOUT
        assert layout is not None
        yield _row(line_no, raw, fields, layout, context)


def _row(
    line_no: int, raw: str, fields: list[str], layout: _Layout, context: ReaderContext
) -> RowOutcome:
    if not raw.isascii() and has_undecodable(raw):
        return RowOutcome.reject(line_no, raw, RejectReason.ENCODING, "bytes that are not UTF-8")
    if len(fields) != layout.count:
        return RowOutcome.reject(
            line_no, raw, RejectReason.MALFORMED,
            f"expected {layout.count} fields (FreeSWITCH cdr_csv), found {len(fields)}",
        )
    if layout.pad:
        fields.append("")
    (caller, callee, dialplan_context, start_text, answer_text, end_text, billsec, billmsec,
     call_id, account) = layout.pick(fields)
    call_id = call_id.strip()
    if not call_id:
        return RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, "uuid: empty")
    zone = context.zone
    try:
        start = parse_timestamp(start_text, zone, "start_stamp")
        answer = parse_timestamp(answer_text, zone, "answer_stamp")
        talk = _talk_ms(billmsec) if billmsec else None
        if talk is None:
            talk = parse_seconds_ms(billsec, "billsec")
        # the talk time is authoritative (SPEC 3.1): end_stamp is read only when it is needed
        end = None if talk is not None and answer is not None else (
            parse_timestamp(end_text, zone, "end_stamp")
        )
    except FieldError as problem:
        return RowOutcome.reject(line_no, raw, RejectReason.MALFORMED, str(problem))
    if talk is None:
        talk = end - answer if (end is not None and answer is not None) else 0
    contexts = context.contexts
    call = CallRecord(
        call_id=call_id,
        tenant=context.tenant,
        callee=callee.strip(),
        direction=contexts.get(dialplan_context.strip(), _OUT) if contexts else _OUT,
        account=account.strip(),
        caller=caller.strip(),
        start_ms=start,
        answer_ms=answer,
        end_ms=end,
        talk_ms=talk,
        # Non-zero, not just positive: a negative billsec is rated `bad_duration`, not hidden.
        answered=answer is not None and talk != 0,
        fingerprint=raw,
    )
    return RowOutcome(line_no, raw, call)


def _talk_ms(billmsec: str) -> int | None:
    """Whole milliseconds, or None for a blank field (then billsec counts)."""
    text = billmsec.strip()
    if not text:
        return None
    if text.isdecimal():
        return int(text)
    if text[0] == "-" and text[1:].isdecimal():
        return -int(text[1:])
    raise FieldError(f"billmsec: {text!r} is not a whole number of milliseconds")


def _is_uuid(text: str) -> bool:
    text = text.strip()
    if len(text) != 36 or text[8] != "-" or text[13] != "-":
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def looks_like_freeswitch(fields: list[str]) -> bool:
    """A header naming FreeSWITCH variables, or 15 fields with a UUID at position 10."""
    return is_header(fields) or (len(fields) == len(DEFAULT_TEMPLATE) and _is_uuid(fields[10]))
