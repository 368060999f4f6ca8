"""Field parsers shared by every CDR reader: timestamps, durations, quantities.

These run once or more per CDR row, so they take the cheap path first (plain digits, ISO
text) and fall back to the general one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_FALLBACK_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M:%S")
#: (zone, local wall-clock hour as epoch ms) → UTC offset in ms; zone offsets change on hour
#: boundaries (or half/quarter hours, which still fall inside one wall-clock hour key below)
_OFFSETS: dict[tuple[tzinfo, int], int] = {}
_MS_PER_HOUR = 3_600_000
#: plausible CDR years: wide enough for any switch, narrow enough that offsets and zones never
#: push a time outside what datetime can represent (year 1 or 9999 would overflow)
_FIRST_YEAR, _LAST_YEAR = 1970, 9000


class FieldError(ValueError):
    """A field that does not parse; the message names the field and the value."""


def parse_timestamp(text: str, zone: tzinfo, field: str) -> int | None:
    """Epoch milliseconds from ISO-8601 (offset or ``Z``; naive means ``zone``), or None
    for an empty field. Also reads the slash forms spreadsheets leave (``2020/2/10 22:41``).

    A wall-clock time that a DST change repeats is read as its first occurrence.
    """
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        text = text.strip()
        if not text:
            return None
        moment = _parse_fallback(text, field)
    if not _FIRST_YEAR <= moment.year <= _LAST_YEAR:
        raise FieldError(
            f"{field}: {text!r} is outside the years {_FIRST_YEAR}-{_LAST_YEAR} a CDR can carry"
        )
    if moment.tzinfo is not None:
        return (moment - _EPOCH) // _MS
    wall_ms = (moment.replace(tzinfo=UTC) - _EPOCH) // _MS
    key = (zone, wall_ms - wall_ms % _MS_PER_HOUR)
    offset = _OFFSETS.get(key)
    if offset is None:
        local = moment.replace(minute=0, second=0, microsecond=0, tzinfo=zone)
        delta = local.utcoffset()
        offset = 0 if delta is None else delta // _MS
        if len(_OFFSETS) > 100_000:
            _OFFSETS.clear()
        _OFFSETS[key] = offset
    return wall_ms - offset


def _parse_fallback(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in _FALLBACK_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise FieldError(f"{field}: {text!r} is not a timestamp (expected ISO-8601)")


def parse_seconds_ms(text: str, field: str) -> int | None:
    """Decimal seconds → whole milliseconds, rounded up (SPEC 3.1); None when empty."""
    if text.isdecimal():
        return int(text) * 1000
    text = text.strip()
    if not text:
        return None
    if text.isdecimal():
        return int(text) * 1000
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FieldError(f"{field}: {text!r} is not a number of seconds") from None
    if not value.is_finite():
        raise FieldError(f"{field}: {text!r} is not a number of seconds")
    scaled = value * 1000
    whole = int(scaled)
    return whole + 1 if scaled > whole else whole


def parse_quantity(text: str, field: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FieldError(f"{field}: {text!r} is not a number") from None
    if not value.is_finite():
        raise FieldError(f"{field}: {text!r} is not a number")
    return value


#: the tail ":MM:SSZ" of a UTC ISO timestamp → its minutes and seconds in milliseconds
MINUTES_Z: dict[str, int] = {
    f":{minute:02d}:{second:02d}Z": (minute * 60 + second) * 1000
    for minute in range(60)
    for second in range(60)
}


def utc_hour_ms(text: str, zone: tzinfo) -> int | None:
    """For ``text`` = hour + ``":MM:SSZ"`` (as ``2026-10-22T23:03:51Z``): epoch milliseconds
    of its first 13 characters, the hour, such that any timestamp of that hour parses as
    this value plus its :data:`MINUTES_Z`; None when ``text`` is not of that shape or does
    not parse (the caller then reads it with :func:`parse_timestamp`, which says why).

    Lets a bulk reader cache timestamps by their hour: ``hour[text[:13]] +
    MINUTES_Z[text[13:]]`` equals ``parse_timestamp(text)`` whenever both keys are found.
    """
    offset = MINUTES_Z.get(text[13:])
    if offset is None:
        return None
    head = text[:13]
    try:
        full = parse_timestamp(text, zone, "time")
        first = parse_timestamp(head + ":00:00Z", zone, "time")
        last = parse_timestamp(head + ":59:59Z", zone, "time")
    except FieldError:
        return None
    if full is None or first is None or full - offset != first or last != first + 3_599_000:
        return None
    return first
