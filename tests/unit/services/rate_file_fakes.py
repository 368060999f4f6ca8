"""In-memory sinks for the rate_file service, and a one-call helper to rate CSV bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.calls import CallRecord, RejectReason
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.summary import FileSummary
from shared.formats.cdr_formats import ReaderContext, open_records
from shared.services.rate_file import RatingJob, rate_records
from tests.unit.builders import NOW, ms


@dataclass
class RatedList:
    rows: list[tuple[CallRecord, Rating]] = field(default_factory=list)

    def write(self, call: CallRecord, rating: Rating) -> None:
        self.rows.append((call, rating))


@dataclass(frozen=True)
class Reject:
    line: int
    raw: str
    reason: RejectReason
    detail: str


@dataclass
class RejectList:
    rows: list[Reject] = field(default_factory=list)

    def write(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None:
        self.rows.append(Reject(line_no, raw, reason, detail))


@dataclass
class FileResult:
    summary: FileSummary
    rated: RatedList
    rejects: RejectList


def rate_bytes(
    data: bytes,
    card: CompiledCard,
    *,
    tenant: str | None = "acme",
    plan: NumberingPlan | None = None,
) -> FileResult:
    """Rate a whole CSV file held in memory, as ``billing rate`` would, into the fakes."""
    context = ReaderContext(tenant=tenant or "", zone=card.zone)
    _name, _lines, records = open_records(data.splitlines(keepends=True), "auto", context)
    job = RatingJob(card=card, plan=plan or NumberingPlan(), tenant=tenant, now_ms=ms(NOW))
    rated, rejects = RatedList(), RejectList()
    summary = rate_records(records, job, rated, rejects)
    return FileResult(summary, rated, rejects)
