"""Rate a CDR file (a shared sample or bytes a test writes) through a switch reader and the
rating service, collecting every rated call and every reject, so tests assert on outcomes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.calls import CallRecord, Direction, RejectReason
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.rating.engine import Rating
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.summary import FileSummary
from shared.formats.cdr_formats import ReaderContext, open_records
from shared.services.rate_file import RatingJob, rate_records

#: The repo root is parents[3] of this file; CI clones the repo with shared/ beside it.
SAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "acceptance" / "samples"
ASTERISK_CSV_SAMPLE = SAMPLES / (
    "asterisk_cdr_csv_Master_newcdrcolumns__mineevburyat-dj-asterisk-cdr__pseudonymized.csv"
)
ASTERISK_CUSTOM_SAMPLE = SAMPLES / "asterisk_cdr_custom_Master__KelySaina-cdr.csv"
FREESWITCH_SAMPLE = SAMPLES / "freeswitch_cdr_csv_Master__Kxingyunliushui-freeswitch_tools.csv"
DECK_SAMPLE = (
    SAMPLES / "ratedeck_international_PT_carrier__asterisell-v5_itcenter_fccn_2012-09-06__head.csv"
)

#: processing time: after every call in the samples and in the synthetic files
NOW_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z
UTC = ZoneInfo("UTC")


@dataclass
class Rejected:
    line: int
    raw: str
    reason: RejectReason
    detail: str


@dataclass
class Outcome:
    summary: FileSummary
    format_name: str
    rated: list[tuple[CallRecord, Rating]] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        s = self.summary
        return {
            "rows": s.rows, "rated": s.rated, "unanswered": s.unanswered,
            "rejected": s.rejected, "duplicates": s.duplicates, "merged": s.merged,
        }

    def by_id(self, call_id: str) -> tuple[CallRecord, Rating]:
        matches = [pair for pair in self.rated if pair[0].call_id == call_id]
        assert len(matches) == 1, f"{call_id}: {len(matches)} rated/unanswered calls"
        return matches[0]


class _RatedList:
    def __init__(self, into: list[tuple[CallRecord, Rating]]) -> None:
        self._into = into

    def write(self, call: CallRecord, rating: Rating) -> None:
        self._into.append((call, rating))


class _RejectList:
    def __init__(self, into: list[Rejected]) -> None:
        self._into = into

    def write(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None:
        self._into.append(Rejected(line_no, raw, reason, detail))


def rate_cdrs(
    source: Path | bytes,
    card_doc: dict[str, Any],
    *,
    fmt: str = "auto",
    contexts: dict[str, Direction] | None = None,
    plan: NumberingPlan | None = None,
    columns: tuple[str, ...] | None = None,
    zone: str = "UTC",
) -> Outcome:
    """Read ``source`` with ``fmt`` and rate it against ``card_doc`` (a native card document)."""
    card = compile_card(load_card(card_doc, "test card"), zone)
    plan = plan or NumberingPlan()
    context = ReaderContext(
        tenant="acme", zone=ZoneInfo(zone), contexts=contexts or {}, plan=plan, columns=columns
    )
    data = source.read_bytes() if isinstance(source, Path) else source
    stream = io.BytesIO(data)
    format_name, _lines, records = open_records(stream, fmt, context)
    outcome = Outcome(FileSummary(card.currency), format_name)
    job = RatingJob(card=card, plan=plan, tenant="acme", now_ms=NOW_MS)
    outcome.summary = rate_records(
        records, job, _RatedList(outcome.rated), _RejectList(outcome.rejects)
    )
    return outcome


def physical_rows(data: bytes) -> int:
    """Non-blank lines (every sample and synthetic row here is one physical line)."""
    return sum(1 for line in data.splitlines() if line.strip())


def minute_rate(prefix: str, price: str, increment: int, **extra: Any) -> dict[str, Any]:
    """A voice rate per minute with ``increment``/``increment`` seconds (60/60 or 1/1)."""
    tier = {"from": 0, "price": price, "per": 60, "initial": increment, "increment": increment}
    return {"prefix": prefix, "tiers": [tier], **extra}


def card_doc(*rates: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"card": "test", "currency": "EUR", "timezone": "UTC", "rates": list(rates), **settings}


def deck_rates(*prefixes: str) -> dict[str, str]:
    """The per-minute rate of each prefix in the shared A–Z deck sample, as the deck writes it
    (comma decimal separator turned into a dot)."""
    wanted = set(prefixes)
    found: dict[str, str] = {}
    with DECK_SAMPLE.open(encoding="utf-8", errors="surrogateescape", newline="") as deck:
        for row in csv.reader(deck):
            if len(row) == 3 and row[1] in wanted:
                found[row[1]] = row[2].replace(",", ".")
    assert set(found) == wanted, f"prefixes not in the deck: {sorted(wanted - set(found))}"
    return found
