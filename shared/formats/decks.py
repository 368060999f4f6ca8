"""Carrier rate decks → native rate documents, with a report for every row not taken as is.

``billing import-deck`` reads four deck formats (docs/formats.md, "Rate decks and
import-deck"):

* ``csv`` — the native flat CSV deck (``prefix, destination, price, …``, SPEC section 4);
* ``a-z`` — carrier A–Z decks: header names matched case-insensitively, with the usual
  synonyms (``DESTINATION, PREFIX, RATE``, ``Code``, ``Dial Code``, ``Per Minute Cost``,
  ``Connect Cost``, ``Increment``, ``Included Seconds``, ``Effective Date`` …), comma or dot
  decimals, separated by ``,`` ``;`` tab or ``|``;
* ``open-rate-card`` — ConnexCS Open Rate Card JSON (github.com/connexcs/open-rate-card,
  schema 1.0: ``cards.<id>.fields`` names the columns of the ``rates`` arrays);
* ``special-numbers`` — the Portuguese special-numbers sheet (rate-method codes, initial
  cost, peak and off-peak prices, max cost).

Parsing is pure: bytes in, rate documents and row reports out; amounts go from text to
``Decimal`` and back to text, never through a float. Every data row ends as exactly one of
imported, rejected or skipped, so ``rows = imported + rejected + skipped``; warnings annotate
imported rows (a row decoded with the legacy fallback, a name that lost a character, an
unknown field …).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any

from shared.domain.calls import Direction, Service
from shared.domain.errors import CardLoadError
from shared.domain.rating.card import ALWAYS_BAND, load_card

FORMATS = ("csv", "a-z", "open-rate-card", "special-numbers")
ENCODINGS = ("utf-8", "cp1252", "latin-1")
DEFAULT_SECONDS = Decimal(60)

#: the native flat CSV deck's columns (the same list as ``card_files.DECK_COLUMNS``)
NATIVE_COLUMNS = (
    "prefix", "destination", "price", "initial", "increment", "connect_fee", "service",
    "direction", "band", "effective_from", "effective_to",
)

#: bands the special-numbers sheet needs: weekdays 09:00–21:00 versus everything else
SPECIAL_BANDS: dict[str, dict[str, Any]] = {
    "peak": {"days": "mon-fri", "from": "09:00", "to": "21:00", "weight": 10},
    "offpeak": {"days": "*", "from": "00:00", "to": "24:00", "weight": 0},
}


class Severity(StrEnum):
    REJECTED = "rejected"  # the row is not in the card
    SKIPPED = "skipped"  # not a rate on purpose: a note line, an exact duplicate
    WARNING = "warning"  # imported, with something the reader should know


class Reason(StrEnum):
    """Machine-readable reasons in the import report."""

    EMPTY_PREFIX = "empty_prefix"
    BAD_PREFIX = "bad_prefix"
    BAD_PRICE = "bad_price"
    BAD_FIELD = "bad_field"
    MALFORMED = "malformed"
    DUPLICATE = "duplicate"
    DUPLICATE_CONFLICT = "duplicate_conflict"
    INVALID_RATE = "invalid_rate"
    UNSUPPORTED_METHOD = "unsupported_method"
    NOTE = "note"
    ENCODING = "encoding"
    SUSPECT_TEXT = "suspect_text"
    UNKNOWN_FIELD = "unknown_field"
    PATTERN_LENGTH = "pattern_length"
    EFFECTIVE_END = "effective_end"
    IGNORED_COLUMN = "ignored_column"
    IGNORED_SETTING = "ignored_setting"


@dataclass(frozen=True, slots=True)
class RowReport:
    """One finding: the physical line where the record starts, its text, and why."""

    line: int
    severity: Severity
    reason: Reason
    detail: str
    raw: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "severity": self.severity.value,
            "reason": self.reason.value,
            "detail": self.detail,
            "raw": self.raw,
        }


@dataclass(frozen=True, slots=True)
class DeckOptions:
    """How to read a deck. ``initial``/``increment`` are used only where the deck says
    nothing; ``orc_card`` picks one card of an Open Rate Card document holding several."""

    format: str = "auto"
    encoding: str = "utf-8"
    initial: Decimal | None = None
    increment: Decimal | None = None
    currency: str | None = None
    orc_card: str | None = None


@dataclass(slots=True)
class DeckImport:
    """A deck read into native rate documents plus everything worth telling about it."""

    source: str
    format: str
    rows: int = 0
    imported: int = 0
    rates: list[dict[str, Any]] = field(default_factory=list)
    bands: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: card-level settings the deck itself carries (Open Rate Card: name, currency, ...)
    settings: dict[str, Any] = field(default_factory=dict)
    #: row findings, in file order
    reports: list[RowReport] = field(default_factory=list)
    #: findings about the file rather than a row (ignored columns or settings)
    notices: list[RowReport] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        if severity is Severity.WARNING:
            return len({r.line for r in self.reports if r.severity is severity})
        return sum(1 for r in self.reports if r.severity is severity)

    @property
    def warnings(self) -> int:
        """Rows with at least one warning."""
        return self.count(Severity.WARNING)

    @property
    def rejected(self) -> int:
        return self.count(Severity.REJECTED)

    @property
    def skipped(self) -> int:
        return self.count(Severity.SKIPPED)

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for report in self.reports:
            counts[report.reason.value] = counts.get(report.reason.value, 0) + 1
        return dict(sorted(counts.items()))


class _RowError(Exception):
    """A row that cannot become a rate: reason and detail for the report."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


def read_deck(path: Path, options: DeckOptions) -> DeckImport:
    """Read a deck file (any format in :data:`FORMATS`, or ``auto``)."""
    if not path.is_file():
        raise CardLoadError(f"{path}: no such deck file")
    return parse_deck(path.read_bytes(), str(path), options)


def parse_deck(data: bytes, source: str, options: DeckOptions) -> DeckImport:
    """Parse deck bytes; raises CardLoadError when the file as a whole is unusable (empty,
    no recognisable header, not an Open Rate Card); row problems go to the report."""
    if options.encoding not in ENCODINGS:
        raise CardLoadError(f"unknown encoding {options.encoding!r} (use {', '.join(ENCODINGS)})")
    fmt = detect_format(data, source, options.encoding) if options.format == "auto" else (
        options.format
    )
    if fmt == "open-rate-card":
        return _parse_open_rate_card(data, source, options)
    if fmt in ("csv", "a-z", "special-numbers"):
        return _parse_tabular(data, source, options, fmt)
    raise CardLoadError(f"unknown deck format {fmt!r} (use auto, {', '.join(FORMATS)})")


def detect_format(data: bytes, source: str, encoding: str = "utf-8") -> str:
    """``open-rate-card`` for JSON; for CSV, by the header: the special-numbers sheet's
    columns, exactly the native deck's columns (``csv``), else an A–Z deck."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise CardLoadError(f"{source}: empty deck (no header row)")
    if head[:1] in (b"{", b"["):
        return "open-rate-card"
    first = _decode_line(head.split(b"\n", 1)[0], encoding)
    cells = next(csv.reader([first], delimiter=_sniff_delimiter(first)), [])
    names = [_normalise_name(cell) for cell in cells]
    if _special_columns(names) is not None:
        return "special-numbers"
    raw_names = [cell.strip().lower() for cell in cells]
    if raw_names and set(raw_names) <= set(NATIVE_COLUMNS) and {"prefix", "price"} <= set(
        raw_names
    ):
        return "csv"
    return "a-z"


def card_document(
    result: DeckImport,
    *,
    name: str | None = None,
    currency: str | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """The native card document for an import: CLI values first, then what the deck says,
    then defaults (name: the file's stem; timezone UTC). Currency has no default."""
    deck_currency = result.settings.get("currency")
    if currency and deck_currency and currency != deck_currency:
        raise CardLoadError(
            f"{result.source}: the deck says its prices are in {deck_currency}, "
            f"but --currency says {currency}"
        )
    chosen_currency = currency or deck_currency
    if not chosen_currency:
        raise CardLoadError(f"{result.source}: the deck does not name a currency; pass --currency")
    document: dict[str, Any] = {
        "card": name or result.settings.get("card") or Path(result.source).stem,
        "currency": chosen_currency,
        "timezone": timezone or result.settings.get("timezone") or "UTC",
    }
    for key in ("decimals", "rounding"):
        if key in result.settings:
            document[key] = result.settings[key]
    if result.bands:
        document["bands"] = result.bands
    document["rates"] = result.rates
    return document


def dump_card_document(document: dict[str, Any]) -> str:
    """JSON text of a card document, one rate per line (readable, and diffs stay small)."""
    head = {key: value for key, value in document.items() if key != "rates"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "rates": [']
    rates = document.get("rates", [])
    for i, rate in enumerate(rates):
        comma = "," if i < len(rates) - 1 else ""
        lines.append(" " + json.dumps(rate, ensure_ascii=False) + comma)
    lines.append("]}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Text, numbers and dates as decks write them
# --------------------------------------------------------------------------------------

_CP1252_UNDEFINED = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})
_ESCAPED_LOW, _ESCAPED_HIGH = "\udc80", "\udcff"
_AMOUNT = re.compile(r"\d+(?:[.,]\d+)?|[.,]\d+")
# U+FFFD, an inverted question mark inside a word, UTF-8 read as Latin-1 ("SÃ£o")
_SUSPECT = re.compile(r"\ufffd|(?<=\w)\u00bf|[\u00c2\u00c3][\u0080-\u00bf]")


def decode_legacy(data: bytes) -> str:
    """Windows-1252, with its five undefined bytes read as Latin-1 (never fails)."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return "".join(
            chr(b) if b in _CP1252_UNDEFINED else bytes([b]).decode("cp1252") for b in data
        )


def _decode_line(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError:
        return decode_legacy(data).lstrip("\ufeff")


def _undecodable(text: str) -> list[int]:
    """Bytes that ``surrogateescape`` kept as escapes: the ones the codec could not read."""
    if text.isascii():
        return []
    return [ord(c) - 0xDC00 for c in text if _ESCAPED_LOW <= c <= _ESCAPED_HIGH]


def _redecode(text: str, encoding: str) -> str:
    """Text holding surrogate escapes, decoded again from its original bytes as cp1252."""
    return decode_legacy(text.encode(encoding, "surrogateescape"))


def _normalise_name(name: str) -> str:
    """Header name for matching: case, punctuation, units in brackets and spacing ignored."""
    text = name.lstrip("\ufeff").lower()
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text)
    text = re.sub(r"[^0-9a-z]+", " ", text)
    return " ".join(text.split())


def _sniff_delimiter(line: str) -> str:
    counts = {d: 0 for d in ",;\t|"}
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise _RowError(Reason.BAD_FIELD, f"{name}: expected text or a number, got {value}")
    if isinstance(value, (str, int, Decimal)):
        return str(value).strip()
    raise _RowError(Reason.BAD_FIELD, f"{name}: expected text or a number, got {value!r}")


def parse_amount(value: Any, name: str, reason: Reason = Reason.BAD_PRICE) -> Decimal:
    """A non-negative amount as decks write it: ``0,1175``, ``0.1175``, ``.5``, ``1``, or a
    JSON number already read as Decimal. No signs, exponents or thousands separators."""
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        amount = Decimal(value)
        if not amount.is_finite() or amount < 0:
            raise _RowError(reason, f"{name}: {value} is not a non-negative amount")
        return amount
    text = _text(value, name)
    if not text:
        raise _RowError(reason, f"{name} is empty")
    if not _AMOUNT.fullmatch(text):
        raise _RowError(
            reason,
            f"{name} {text!r} is not a number (digits with one ',' or '.' decimal separator; "
            "no sign, exponent or thousands separator)",
        )
    return Decimal(text.replace(",", "."))


def _seconds(value: Any, name: str, *, positive: bool) -> Decimal:
    amount = parse_amount(value, name, Reason.BAD_FIELD)
    if positive and amount == 0:
        raise _RowError(Reason.BAD_FIELD, f"{name} must be positive, got {amount}")
    if amount * 1000 != int(amount * 1000):
        raise _RowError(Reason.BAD_FIELD, f"{name} {amount} s is finer than 1 ms")
    return amount


def _prefix(value: Any, name: str = "prefix") -> str:
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise _RowError(Reason.BAD_PREFIX, f"{name} {value} is not a string of digits")
    text = _text(value, name).replace(" ", "").replace("-", "")
    if text.startswith("+"):
        text = text[1:]
    if not text:
        raise _RowError(
            Reason.EMPTY_PREFIX,
            f"{name} is empty (an empty prefix would be the card's catch-all default rate)",
        )
    if not (text.isascii() and text.isdigit()):
        raise _RowError(Reason.BAD_PREFIX, f"{name} {text!r} is not a string of digits")
    return text


def _day(value: Any, name: str, *, end: bool) -> date | None:
    """A whole day: ``YYYY-MM-DD``, ``YYYY/MM/DD``, or an ISO date-time at midnight. An
    end given as ``23:59:59`` (an inclusive last second) becomes the next day (exclusive)."""
    text = _text(value, name)
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text)
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _RowError(
            Reason.BAD_FIELD, f"{name} {text!r} is not a date (use YYYY-MM-DD)"
        ) from None
    clock = (moment.hour, moment.minute, moment.second)
    if clock == (0, 0, 0) and not moment.microsecond:
        return moment.date()
    if end and clock == (23, 59, 59):
        return moment.date() + timedelta(days=1)
    raise _RowError(
        Reason.BAD_FIELD,
        f"{name} {text!r} is not at midnight; native effective dates are whole days",
    )


def _number(value: Decimal) -> int | str:
    """Seconds for the card document: an integer when whole, else exact text."""
    return int(value) if value == value.to_integral_value() else format(value, "f")


def _money(value: Decimal) -> str:
    return format(value, "f")


# --------------------------------------------------------------------------------------
# Rate documents from canonical field values (shared by the CSV and JSON formats)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Defaults:
    """What a row falls back on: deck-level defaults first, then the CLI's."""

    initial: Decimal | None = None
    increment: Decimal | None = None
    connect_fee: Decimal | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    kinds: tuple[tuple[Service, Direction], ...] = ((Service.VOICE, Direction.OUT),)


def _split_interval(text: str) -> tuple[str, str] | None:
    """``60/6`` in one column: initial 60, then increments of 6."""
    match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*/\s*(\d+(?:[.,]\d+)?)\s*", text)
    return (match[1], match[2]) if match else None


def _rate_documents(values: dict[str, Any], defaults: _Defaults) -> list[dict[str, Any]]:
    """Native rate documents for one row's canonical values, or raise _RowError."""
    prefix = _prefix(values.get("prefix"))
    if values.get("price") in (None, ""):
        raise _RowError(Reason.BAD_PRICE, "price is empty")
    price = parse_amount(values.get("price"), "price")
    kinds = _row_kinds(values, defaults.kinds)
    timed = all(service is Service.VOICE for service, _ in kinds)
    tiers = _row_tiers(values, defaults, price) if timed else [{"price": _money(price)}]
    base: dict[str, Any] = {"prefix": prefix}
    destination = _text(values.get("destination"), "destination")
    if destination:
        base["destination"] = destination
    connect = values.get("connect_fee")
    connect_fee = (
        defaults.connect_fee if connect in (None, "") else parse_amount(connect, "connect fee")
    )
    if connect_fee:
        base["connect_fee"] = _money(connect_fee)
    band = _text(values.get("band"), "band")
    if band:
        base["band"] = band
    starts = _day(values.get("effective_from"), "effective from", end=False)
    ends = _day(values.get("effective_to"), "effective to", end=True)
    starts = starts or defaults.effective_from
    ends = ends or defaults.effective_to
    if starts:
        base["effective_from"] = starts.isoformat()
    if ends:
        base["effective_to"] = ends.isoformat()
    documents = []
    for service, direction in kinds:
        document = dict(base)
        if service is not Service.VOICE:
            document["service"] = service.value
        if direction is not Direction.OUT:
            document["direction"] = direction.value
        document["tiers"] = [dict(tier) for tier in tiers]
        documents.append(document)
    return documents


_SERVICES = {service.value: service for service in Service}
_DIRECTIONS = {direction.value: direction for direction in Direction}


def _row_kinds(
    values: dict[str, Any], kinds: tuple[tuple[Service, Direction], ...]
) -> tuple[tuple[Service, Direction], ...]:
    """The row's (service, direction) pairs: its own columns, else the deck's."""
    service_text = _text(values.get("service"), "service").lower()
    direction_text = _text(values.get("direction"), "direction").lower()
    if service_text and service_text not in _SERVICES:
        raise _RowError(
            Reason.BAD_FIELD, f"service {service_text!r} is not one of {', '.join(_SERVICES)}"
        )
    if direction_text and direction_text not in _DIRECTIONS:
        raise _RowError(Reason.BAD_FIELD, f"direction {direction_text!r} is not in or out")
    chosen = (
        (_SERVICES[service_text] if service_text else service,
         _DIRECTIONS[direction_text] if direction_text else direction)
        for service, direction in kinds
    )
    return tuple(dict.fromkeys(chosen))


def _row_tiers(values: dict[str, Any], defaults: _Defaults, price: Decimal) -> list[dict[str, Any]]:
    """Voice tiers: the row's initial and increment, else the deck's or the CLI's defaults,
    else 60/60. A row with an increment but no initial starts with that increment (no
    minimum beyond it), as the native format does."""
    raw_increment = values.get("increment")
    raw_initial = values.get("initial")
    if isinstance(raw_increment, str) and (pair := _split_interval(raw_increment)):
        if raw_initial not in (None, ""):
            raise _RowError(
                Reason.BAD_FIELD, f"increment {raw_increment!r} and initial both set the initial"
            )
        raw_initial, raw_increment = pair
    row_increment = (
        None if raw_increment in (None, "") else _seconds(raw_increment, "increment", positive=True)
    )
    row_initial = (
        None if raw_initial in (None, "") else _seconds(raw_initial, "initial", positive=False)
    )
    increment = _first(row_increment, defaults.increment, DEFAULT_SECONDS)
    initial = _first(row_initial, defaults.initial, row_increment, DEFAULT_SECONDS)
    included = values.get("included_seconds")
    free = (
        None if included in (None, "") else _seconds(included, "included seconds", positive=False)
    )
    if not free:
        return [
            {"price": _money(price), "initial": _number(initial), "increment": _number(increment)}
        ]
    if row_initial is not None:
        raise _RowError(
            Reason.BAD_FIELD,
            "both included seconds and an initial increment: their combination is not defined",
        )
    # ASTPP: billable = ceil((talk - included) / increment) * increment, plus the connect
    # fee. Exactly: a first increment of the free seconds priced 0, then the increments.
    return [
        {"from": 0, "price": "0", "initial": _number(free), "increment": _number(free)},
        {"from": _number(free), "price": _money(price), "increment": _number(increment)},
    ]


def _first(*values: Decimal | None) -> Decimal:
    for value in values:
        if value is not None:
            return value
    raise AssertionError("a default is always given")


def _suspect_text(destination: str) -> str | None:
    found = _SUSPECT.search(destination)
    if not found:
        return None
    return (
        f"destination {destination!r} contains {found.group()!r}: a character was probably "
        "lost or mis-decoded before this file was written (kept as is)"
    )


class _Collector:
    """Validates each row's documents, de-duplicates prefixes and keeps the counts."""

    def __init__(self, result: DeckImport, currency: str | None) -> None:
        self.result = result
        self.currency = currency if currency and len(currency) == 3 else "XXX"
        # (service, direction, band, prefix, effective_from) -> (line, terms, price text)
        self.seen: dict[tuple[str, ...], tuple[int, str, str]] = {}
        # the same key -> (line, raw, the document as imported)
        self.kept: dict[tuple[str, ...], tuple[int, str, dict[str, Any]]] = {}

    def report(self, line: int, severity: Severity, reason: Reason, detail: str, raw: str) -> None:
        self.result.reports.append(RowReport(line, severity, reason, detail, raw))

    def add(self, line: int, raw: str, documents: list[dict[str, Any]]) -> bool:
        """Take one row's rate documents (the row has been counted by the caller); whether
        the row was imported."""
        try:
            load_card(
                {"card": "row", "currency": self.currency, "bands": self.result.bands,
                 "rates": documents},
                "row",
            )
        except CardLoadError as error:
            detail = str(error).removeprefix("row: ")
            self.report(line, Severity.REJECTED, Reason.INVALID_RATE, detail, raw)
            return False
        fresh: list[tuple[tuple[str, ...], dict[str, Any], str]] = []
        duplicates: list[str] = []
        for document in documents:
            key: tuple[str, ...] = (
                document.get("service", "voice"), document.get("direction", "out"),
                document.get("band", ALWAYS_BAND), document["prefix"],
                document.get("effective_from", ""),
            )
            terms = _terms(document)
            price = _headline(document)
            earlier = self.seen.get(key)
            if earlier is None:
                fresh.append((key, document, terms))
            elif earlier[1] == terms:
                duplicates.append(f"line {earlier[0]}")
            else:
                band = "" if key[2] == ALWAYS_BAND else f" (band {key[2]})"
                self.report(
                    line, Severity.REJECTED, Reason.DUPLICATE_CONFLICT,
                    f"prefix {key[3]}{band} is already priced {earlier[2]} on line {earlier[0]}; "
                    f"this row says {price} (the first row is kept)",
                    raw,
                )
                return False
        if not fresh:
            self.report(
                line, Severity.SKIPPED, Reason.DUPLICATE,
                f"prefix {documents[0]['prefix']} repeats {', '.join(duplicates)} with the "
                "same price and terms",
                raw,
            )
            return False
        for key, document, terms in fresh:
            self.seen[key] = (line, terms, _headline(document))
            self.kept[key] = (line, raw, document)
            self.result.rates.append(document)
        self.result.imported += 1
        destination = documents[0].get("destination", "")
        suspect = _suspect_text(destination)
        if suspect:
            self.report(line, Severity.WARNING, Reason.SUSPECT_TEXT, suspect, raw)
        return True


    def finish(self) -> None:
        """End each effective-dated rate where the next one of its prefix starts.

        A deck listing today's price and next month's for one prefix, neither with an end
        date, means the new price replaces the old one; the native card needs that said
        (two open-ended rates in force at once is a load error), so the earlier rate gets
        ``effective_to`` and its row a warning. Reports are then put in line order."""
        groups: dict[tuple[str, ...], list[tuple[str, int, str, dict[str, Any]]]] = {}
        for key, (line, raw, document) in self.kept.items():
            groups.setdefault(key[:4], []).append((key[4], line, raw, document))
        for base, entries in groups.items():
            entries.sort(key=lambda entry: entry[0])
            for (_, line, raw, document), (next_start, next_line, _, _) in pairwise(entries):
                ends = document.get("effective_to")
                if ends is None or ends > next_start:
                    document["effective_to"] = next_start
                    self.report(
                        line, Severity.WARNING, Reason.EFFECTIVE_END,
                        f"prefix {base[3]} now ends on {next_start}, when the price on line "
                        f"{next_line} starts" + (f" (the deck said {ends})" if ends else ""),
                        raw,
                    )
        self.result.reports.sort(key=lambda report: report.line)


def _terms(document: dict[str, Any]) -> str:
    """A rate document's terms for duplicate detection: amounts compared as numbers."""

    def normal(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [normal(v) for v in value]
        if isinstance(value, str) and _AMOUNT.fullmatch(value):
            return format(Decimal(value).normalize(), "f")
        return value

    return json.dumps(
        normal({k: v for k, v in document.items() if k != "destination"}), sort_keys=True
    )


def _headline(document: dict[str, Any]) -> str:
    tiers = document["tiers"]
    parts = [str(tier["price"]) for tier in tiers]
    text = parts[0] if len(parts) == 1 else " then ".join(parts)
    if document.get("connect_fee"):
        text += f" + connect {document['connect_fee']}"
    return text


# --------------------------------------------------------------------------------------
# CSV decks: native, A–Z and the special-numbers sheet
# --------------------------------------------------------------------------------------

#: A–Z header synonyms, normalised by :func:`_normalise_name`
A_Z_SYNONYMS: dict[str, tuple[str, ...]] = {
    "prefix": ("prefix", "code", "dial code", "dialcode", "dialing code", "dialling code",
               "dial prefix", "destination code", "area code", "e164 prefix"),
    "destination": ("destination", "destination name", "description", "name", "country",
                    "zone", "route", "dest"),
    "price": ("rate", "price", "per minute cost", "cost per minute", "rate per minute",
              "price per minute", "per minute rate", "per minute", "minute rate", "cost",
              "rate min", "rate per min", "price min"),
    "connect_fee": ("connect cost", "connect fee", "connection fee", "connection cost",
                    "connection charge", "connect charge", "setup fee", "setup cost",
                    "connection"),
    "initial": ("initial", "initial increment", "initial interval", "initial period",
                "initial pulse", "first increment", "first interval", "min duration",
                "minimum duration", "mcd"),
    "included_seconds": ("included seconds", "free seconds"),
    "increment": ("increment", "billing increment", "interval", "billing interval", "pulse",
                  "subsequent increment", "next increment", "billing unit"),
    "effective_from": ("effective date", "effective from", "effective", "start date",
                       "valid from", "effective since"),
    "effective_to": ("end date", "effective to", "expiry date", "expiration date", "valid to",
                     "valid until", "effective until"),
    "service": ("service",),
    "direction": ("direction",),
    "band": ("band",),
}
_A_Z_LOOKUP = {name: canonical for canonical, names in A_Z_SYNONYMS.items() for name in names}


def _csv_records(
    data: bytes, encoding: str, delimiter: str
) -> Iterator[tuple[int, str, list[str] | None, list[int]]]:
    """(first physical line, record text, fields or None if unreadable, undecodable bytes)
    for every non-blank record. A record with bytes the codec cannot read is decoded again
    as cp1252 (Latin-1 for its five undefined bytes); the bytes are returned for the report."""
    lines = data.splitlines(keepends=True)
    pending: list[str] = []
    consumed = 0

    def physical() -> Iterator[str]:
        for raw in lines:
            text = raw.decode(encoding, "surrogateescape")
            pending.append(text)
            yield text

    reader = csv.reader(physical(), delimiter=delimiter)
    first = True
    while True:
        fields: list[str] | None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            fields = None
        start = consumed + 1
        consumed += len(pending)
        text = "".join(pending).rstrip("\r\n")
        pending.clear()
        if fields is not None and all(not cell.strip() for cell in fields):
            continue
        bad = _undecodable(text)
        if bad:
            text = _redecode(text, encoding)
            if fields is not None:
                fields = [_redecode(cell, encoding) if _undecodable(cell) else cell
                          for cell in fields]
        if first:
            first = False
            text = text.lstrip("\ufeff")
            if fields:
                fields[0] = fields[0].lstrip("\ufeff")
        yield start, text, fields, bad


def _parse_tabular(data: bytes, source: str, options: DeckOptions, fmt: str) -> DeckImport:
    result = DeckImport(source=source, format=fmt)
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise CardLoadError(f"{source}: empty deck (no header row)")
    delimiter = _sniff_delimiter(_decode_line(head.split(b"\n", 1)[0], options.encoding))
    records = _csv_records(data, options.encoding, delimiter)
    header_record = next(records, None)
    if header_record is None:
        raise CardLoadError(f"{source}: empty deck (no header row)")
    header_line, _, header_fields, _ = header_record
    if header_fields is None:
        raise CardLoadError(f"{source}: line {header_line}: the header is not readable CSV")
    header: list[str] = header_fields
    collector = _Collector(result, options.currency)
    if fmt == "special-numbers":
        _special_rows(result, collector, header, header_line, records, source)
        collector.finish()
        return result
    columns = _tabular_columns(header, header_line, fmt, source, result)
    defaults = _Defaults(initial=options.initial, increment=options.increment)
    width = len(header)
    for line, raw, fields in _readable(records, result, collector):
        if len(fields) < width or any(cell.strip() for cell in fields[width:]):
            collector.report(
                line, Severity.REJECTED, Reason.MALFORMED,
                f"expected {width} fields as in the header, found {len(fields)}", raw,
            )
            continue
        values = {name: fields[i].strip() for i, name in columns.items()}
        try:
            documents = _rate_documents(values, defaults)
        except _RowError as error:
            collector.report(line, Severity.REJECTED, error.reason, error.detail, raw)
            continue
        collector.add(line, raw, documents)
    collector.finish()
    return result


def _encoding_detail(bad: list[int], raw: str) -> str:
    shown = " ".join(f"0x{b:02X}" for b in bad[:8])
    return (
        f"not UTF-8 (byte {shown}); the row was decoded as Windows-1252 and imported: {raw!r}"
    )


def _looks_like_data(cells: Sequence[str]) -> bool:
    return any(_AMOUNT.fullmatch(cell.strip()) for cell in cells)


def _tabular_columns(
    header: list[str], line: int, fmt: str, source: str, result: DeckImport
) -> dict[int, str]:
    """Column index → canonical field name; ignored columns become notices."""
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for i, cell in enumerate(header):
        if fmt == "csv":
            name = cell.strip().lower()
            if name not in NATIVE_COLUMNS:
                raise CardLoadError(
                    f"{source}: line {line}: unknown deck column {cell.strip()!r} "
                    f"(native columns: {', '.join(NATIVE_COLUMNS)})"
                )
            canonical: str | None = name
        else:
            canonical = _A_Z_LOOKUP.get(_normalise_name(cell))
        if canonical is None:
            ignored.append(cell.strip())
            continue
        if canonical in columns.values():
            other = next(header[j] for j, c in columns.items() if c == canonical)
            raise CardLoadError(
                f"{source}: line {line}: columns {other.strip()!r} and {cell.strip()!r} both "
                f"mean {canonical}"
            )
        columns[i] = canonical
    missing = [name for name in ("prefix", "price") if name not in columns.values()]
    if missing:
        if _looks_like_data(header):
            raise CardLoadError(
                f"{source}: line {line} looks like data, not a header "
                f"({', '.join(repr(c) for c in header)}); a deck needs a header naming its "
                "prefix column (PREFIX, Code, Dial Code) and its price column (RATE, Price, "
                "Per Minute Cost)"
            )
        raise CardLoadError(
            f"{source}: line {line}: no {' and no '.join(missing)} column among "
            f"{', '.join(repr(c.strip()) for c in header)} (prefix: PREFIX, Code, Dial Code; "
            "price: RATE, Price, Per Minute Cost)"
        )
    for name in ignored:
        result.notices.append(RowReport(
            line, Severity.WARNING, Reason.IGNORED_COLUMN,
            f"column {name!r} is not a rating field and is ignored", ",".join(header),
        ))
    return columns


# -- the special-numbers sheet ----------------------------------------------------------

#: rate-method code → (seconds the initial cost buys, later increment, free after seconds)
_BLOCK_METHODS: dict[str, tuple[int, int, int | None]] = {
    "1": (60, 1, None),  # rated by second after the first minute
    "2": (30, 1, None),  # rated by second after the first 30 seconds
    "4": (1, 1, None),  # rated by second after the first second
    "8": (10, 1, None),  # rated by second after the first 10 seconds
    "6": (60, 60, None),  # rate by minute
    "5": (60, 60, 300),  # by minute up to the 5th minute, then free
}
_PER_CALL = "3"
_UNSUPPORTED_METHODS = {
    "7": "method 7 ('replaced by the value in the max call price column') does not say what "
         "is charged per call",
    "9": "method 9 ('30 second cycles with the indicated value') does not say whether the "
         "value is per cycle or per minute, so the price cannot be stated exactly",
    "localpt": "method LocalPT is priced 'as a local landline call', which this sheet does not "
               "define",
    "not applied": "method 'not applied' has no rating method",
}


def _special_columns(names: list[str]) -> dict[str, int] | None:
    """Column positions of the special-numbers sheet, or None if this is not one."""
    found: dict[str, int] = {}
    for i, name in enumerate(names):
        if "description" in name:
            key = "description"
        elif "pattern" in name or name.startswith("call number"):
            key = "pattern"
        elif "type of rate" in name or "rate method" in name:
            key = "method"
        elif name.startswith("initial"):
            key = "initial"
        elif "9pm to 9am" in name or "off peak" in name or "offpeak" in name:
            key = "offpeak"
        elif "9am to 9pm" in name or "peak" in name:
            key = "peak"
        elif name.startswith("max"):
            key = "max"
        else:
            continue
        found.setdefault(key, i)
    if not {"pattern", "method"} <= found.keys():
        return None
    return found


def _readable(
    records: Iterator[tuple[int, str, list[str] | None, list[int]]],
    result: DeckImport,
    collector: _Collector,
) -> Iterator[tuple[int, str, list[str]]]:
    """Every data row counted; an encoding fallback warned about; a row the CSV layer cannot
    read rejected: what is left for a deck format to interpret."""
    for line, raw, fields, bad in records:
        result.rows += 1
        if bad:
            collector.report(line, Severity.WARNING, Reason.ENCODING, _encoding_detail(bad, raw),
                             raw)
        if fields is None:
            collector.report(line, Severity.REJECTED, Reason.MALFORMED, "unreadable CSV record",
                             raw)
            continue
        yield line, raw, fields


def _special_rows(
    result: DeckImport,
    collector: _Collector,
    header: list[str],
    header_line: int,
    records: Iterator[tuple[int, str, list[str] | None, list[int]]],
    source: str,
) -> None:
    columns = _special_columns([_normalise_name(cell) for cell in header])
    needed = ("description", "pattern", "method", "initial", "peak", "offpeak", "max")
    if columns is None or any(key not in columns for key in needed):
        raise CardLoadError(
            f"{source}: line {header_line}: not the special-numbers layout (description, "
            "pattern, rate method, initial cost, peak cost, off-peak cost, max cost)"
        )
    for line, raw, fields in _readable(records, result, collector):
        cells = {key: fields[i].strip() if i < len(fields) else "" for key, i in columns.items()}
        if _normalise_name(cells["description"]).endswith("note"):
            collector.report(line, Severity.SKIPPED, Reason.NOTE, "a note line, not a rate", raw)
            continue
        try:
            documents, warnings = _special_documents(cells)
        except _RowError as error:
            collector.report(line, Severity.REJECTED, error.reason, error.detail, raw)
            continue
        if any(doc.get("band", ALWAYS_BAND) != ALWAYS_BAND for doc in documents):
            result.bands.update(SPECIAL_BANDS)
        if not collector.add(line, raw, documents):
            continue
        for detail in warnings:
            collector.report(line, Severity.WARNING, Reason.PATTERN_LENGTH, detail, raw)


def _special_documents(cells: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rate documents for one special-numbers row, and warnings about what is approximated."""
    pattern = cells["pattern"]
    match = re.fullmatch(r"(\d*)([xX]*)", pattern)
    if not match:
        raise _RowError(Reason.BAD_PREFIX, f"pattern {pattern!r} is not digits followed by x's")
    prefix = _prefix(match[1], "pattern")
    warnings = []
    if match[2]:
        warnings.append(
            f"pattern {pattern} means exactly {len(pattern)} digits; the card matches prefix "
            f"{prefix} at any length"
        )
    method = cells["method"].strip().lower()
    if method in _UNSUPPORTED_METHODS:
        raise _RowError(Reason.UNSUPPORTED_METHOD, _UNSUPPORTED_METHODS[method])
    initial = parse_amount(cells["initial"], "initial cost")
    peak = parse_amount(cells["peak"], "peak cost")
    offpeak = parse_amount(cells["offpeak"], "off-peak cost")
    max_text = cells["max"].strip()
    max_cost = None if max_text in ("-1", "") else parse_amount(max_text, "max cost")
    base: dict[str, Any] = {"prefix": prefix}
    if cells["description"]:
        base["destination"] = cells["description"]
    if max_cost is not None:
        base["max_cost"] = _money(max_cost)
        base["max_cost_strategy"] = "free"

    def tiers(price: Decimal) -> list[dict[str, Any]]:
        block, increment, free_after = _BLOCK_METHODS[method]
        out: list[dict[str, Any]] = [
            {"from": 0, "price": _money(initial), "per": block, "initial": block,
             "increment": block},
            {"from": block, "price": _money(price), "per": 60, "increment": increment},
        ]
        if free_after is not None:
            out.append({"from": free_after, "price": "0", "per": 60, "increment": 1})
        return out

    if method == _PER_CALL:
        if peak or offpeak:
            raise _RowError(
                Reason.UNSUPPORTED_METHOD,
                "method 3 (per call) with per-minute prices: the sheet does not say how they "
                "combine",
            )
        return [{**base, "connect_fee": _money(initial), "tiers": [{"price": "0"}]}], warnings
    if method not in _BLOCK_METHODS:
        raise _RowError(Reason.UNSUPPORTED_METHOD, f"unknown rate method {cells['method']!r}")
    if peak == offpeak:
        return [{**base, "tiers": tiers(peak)}], warnings
    return [
        {**base, "band": "peak", "tiers": tiers(peak)},
        {**base, "band": "offpeak", "tiers": tiers(offpeak)},
    ], warnings


# --------------------------------------------------------------------------------------
# ConnexCS Open Rate Card (JSON)
# --------------------------------------------------------------------------------------

#: Open Rate Card column/field names → canonical fields (docs/formats.md has the table)
ORC_FIELDS: dict[str, tuple[str, ...]] = {
    "prefix": ("prefix", "code", "dial_code", "destination_prefix"),
    "destination": ("name", "destination", "description", "destination_name"),
    "price": ("rate", "price", "rate_per_minute", "per_minute_rate", "cost"),
    "connect_fee": ("connection_fee", "connection", "connect_fee", "connect_cost",
                    "setup_fee"),
    "initial": ("initial_interval", "initial", "min", "minimum_duration", "min_duration",
                "initial_pulse"),
    "increment": ("billing_interval", "increment", "pulse", "interval", "billing_increment"),
    "effective_from": ("effective_date", "effective", "effective_from", "start_date"),
    "effective_to": ("expiry_date", "end_date", "effective_to"),
}
#: documented Open Rate Card fields with no rating meaning (read and ignored, not reported)
ORC_INFORMATIONAL = frozenset({
    "country_code", "region", "destination_type", "mcc", "mnc", "carrier", "iso_country_code",
    "country", "notes",
})
_ORC_LOOKUP = {name: canonical for canonical, names in ORC_FIELDS.items() for name in names}
_ORC_ROUNDING = {"up": "up", "down": "down", "half_up": "half_up", "nearest": "half_up"}


def _parse_open_rate_card(data: bytes, source: str, options: DeckOptions) -> DeckImport:
    result = DeckImport(source=source, format="open-rate-card")
    try:
        text = data.decode(options.encoding)
    except UnicodeDecodeError as error:
        raise CardLoadError(
            f"{source}: not {options.encoding} text (byte 0x{data[error.start]:02X} at offset "
            f"{error.start}); JSON files are UTF-8"
        ) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise CardLoadError(f"{source}: empty deck")
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise CardLoadError(f"{source}: invalid JSON at line {error.lineno}: {error.msg}") from None
    except RecursionError:  # "[[[[…" thousands deep: not an Open Rate Card
        raise CardLoadError(f"{source}: JSON nested too deeply to be a rate card") from None
    if not isinstance(document, dict) or not isinstance(document.get("cards"), dict):
        raise CardLoadError(
            f"{source}: not an Open Rate Card document (no 'cards' object at the top level)"
        )
    cards: dict[str, Any] = document["cards"]
    if not cards:
        raise CardLoadError(f"{source}: 'cards' is empty")
    key = options.orc_card
    if key is None:
        if len(cards) > 1:
            raise CardLoadError(
                f"{source}: the document holds cards {', '.join(map(repr, cards))}; "
                "choose one with --orc-card"
            )
        key = next(iter(cards))
    card = cards.get(key)
    if not isinstance(card, dict):
        raise CardLoadError(
            f"{source}: no card {key!r} (cards: {', '.join(map(repr, cards))})"
        )
    where = f"cards.{key}"
    settings: dict[str, Any] = {}
    name = card.get("name") or document.get("name")
    if isinstance(name, str) and name.strip():
        settings["card"] = name.strip()
    if isinstance(card.get("currency"), str):
        settings["currency"] = card["currency"]
    if isinstance(document.get("timezone"), str):
        settings["timezone"] = document["timezone"]
    charge = _mapping(card.get("charge"))
    if "precision" in charge:
        settings["decimals"] = int(charge["precision"])
    if "rounding" in charge:
        rounding = str(charge["rounding"])
        if rounding not in _ORC_ROUNDING:
            raise CardLoadError(
                f"{source}: {where}.charge.rounding {rounding!r} has no native equivalent "
                "(up, down, half_up or nearest)"
            )
        settings["rounding"] = _ORC_ROUNDING[rounding]
    result.settings = settings
    rate_config = _mapping(card.get("rate"))
    try:
        defaults = _Defaults(
            initial=_orc_seconds(rate_config.get("default_initial"), "default_initial")
            or options.initial,
            increment=_orc_seconds(rate_config.get("default_pulse"), "default_pulse")
            or options.increment,
            connect_fee=None if rate_config.get("connection") is None else parse_amount(
                rate_config["connection"], "connection"),
            effective_from=_day(document.get("effective_date"), "effective_date", end=False),
            effective_to=_day(document.get("expiry_date"), "expiry_date", end=True),
            kinds=_orc_kinds(card, source, where),
        )
    except _RowError as error:
        raise CardLoadError(f"{source}: {where}: {error.detail}") from None
    for setting in ("tech_prefix",):
        if card.get(setting):
            result.notices.append(RowReport(
                0, Severity.WARNING, Reason.IGNORED_SETTING,
                f"{where}.{setting} {card[setting]!r} is for routing, not rating; ignored", "",
            ))
    rates = card.get("rates", [])
    if not isinstance(rates, list):
        raise CardLoadError(f"{source}: {where}.rates must be a list")
    fields = card.get("fields", [])
    columns = [f.get("name") if isinstance(f, dict) else f for f in fields] if isinstance(
        fields, list) else []
    spans = _array_spans(text, ("cards", key, "rates"))
    if spans is None or len(spans) != len(rates):
        spans = [(0, 0)] * len(rates)
    collector = _Collector(result, options.currency or settings.get("currency"))
    for entry, (start, end) in zip(rates, spans, strict=True):
        result.rows += 1
        line = text.count("\n", 0, start) + 1 if end else 0
        raw = " ".join(text[start:end].split()) if end else json.dumps(entry, default=str)
        try:
            values, unknown = _orc_values(entry, columns)
            if unknown:
                collector.report(
                    line, Severity.WARNING, Reason.UNKNOWN_FIELD,
                    f"unknown field(s) {', '.join(unknown)} ignored", raw,
                )
            documents = _rate_documents(values, defaults)
        except _RowError as error:
            collector.report(line, Severity.REJECTED, error.reason, error.detail, raw)
            continue
        collector.add(line, raw, documents)
    collector.finish()
    return result


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _orc_seconds(value: Any, name: str) -> Decimal | None:
    return None if value is None else _seconds(value, name, positive=True)


def _orc_kinds(card: dict[str, Any], source: str, where: str) -> tuple[
    tuple[Service, Direction], ...
]:
    traffic = card.get("traffic_type") or ("sms" if card.get("type") == "messaging" else "voice")
    services = {"voice": Service.VOICE, "sms": Service.SMS}
    if traffic not in services:
        raise CardLoadError(
            f"{source}: {where}.traffic_type {traffic!r} has no native service (voice, sms)"
        )
    inbound_types = ("origination", "did", "toll_free")
    direction = card.get("direction") or (
        "inbound" if card.get("type") in inbound_types else "outbound"
    )
    directions = {
        "outbound": (Direction.OUT,),
        "inbound": (Direction.IN,),
        "bidirectional": (Direction.OUT, Direction.IN),
    }
    if direction not in directions:
        raise CardLoadError(f"{source}: {where}.direction {direction!r} is not one of "
                            "outbound, inbound, bidirectional")
    return tuple((services[traffic], d) for d in directions[direction])


def _orc_values(entry: Any, columns: list[Any]) -> tuple[dict[str, Any], list[str]]:
    """Canonical values of one Open Rate Card rate (an array per ``fields``, or an object),
    and the names of fields this importer does not know."""
    if isinstance(entry, list):
        if len(entry) != len(columns):
            raise _RowError(
                Reason.MALFORMED,
                f"the row has {len(entry)} values but 'fields' names {len(columns)}",
            )
        pairs = list(zip(columns, entry, strict=True))
    elif isinstance(entry, dict):
        pairs = list(entry.items())
    else:
        raise _RowError(Reason.MALFORMED, "a rate must be an array (per 'fields') or an object")
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for raw_name, value in pairs:
        name = str(raw_name).strip().lower()
        canonical = _ORC_LOOKUP.get(name)
        if canonical is None:
            if name not in ORC_INFORMATIONAL and value is not None:
                unknown.append(str(raw_name))
            continue
        if canonical in values and values[canonical] not in (None, ""):
            raise _RowError(Reason.MALFORMED, f"two fields give the {canonical}")
        values[canonical] = value
    names = {str(n).strip().lower() for n, _ in pairs}
    if values.get("prefix") in (None, "") and "country_code" in names:
        values["prefix"] = dict((str(n).strip().lower(), v) for n, v in pairs)["country_code"]
    return values, unknown


def _array_spans(text: str, path: tuple[str, ...]) -> list[tuple[int, int]] | None:
    """Character spans of the items of the array at ``path`` (object keys), so each rate
    can be reported with the line it starts on. None if the layout is not as expected."""
    decoder = json.JSONDecoder()
    try:
        pos = _skip_space(text, 0)
        for key in path:
            found = _member(text, pos, key, decoder)
            if found is None:
                return None
            pos = found
        if text[pos] != "[":
            return None
        spans: list[tuple[int, int]] = []
        pos = _skip_space(text, pos + 1)
        if text[pos] == "]":
            return spans
        while True:
            _, end = decoder.raw_decode(text, pos)
            spans.append((pos, end))
            pos = _skip_space(text, end)
            if text[pos] == ",":
                pos = _skip_space(text, pos + 1)
                continue
            return spans if text[pos] == "]" else None
    except (json.JSONDecodeError, IndexError):
        return None


def _member(text: str, pos: int, key: str, decoder: json.JSONDecoder) -> int | None:
    """Where the value of ``key`` starts in the object at ``pos``."""
    if text[pos] != "{":
        return None
    pos = _skip_space(text, pos + 1)
    while text[pos] != "}":
        name, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, pos)
        if text[pos] != ":":
            return None
        pos = _skip_space(text, pos + 1)
        if name == key:
            return pos
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, pos)
        if text[pos] == ",":
            pos = _skip_space(text, pos + 1)
    return None


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
