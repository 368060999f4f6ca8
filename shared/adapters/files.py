"""File sinks for offline rating: rated calls as CSV or JSON lines, rejects as CSV."""

from __future__ import annotations

import csv
import json
from typing import IO

from shared.domain.calls import CallRecord, RejectReason
from shared.domain.rating.engine import Rating

RATED_COLUMNS = (
    "call_id", "tenant", "account", "service", "direction", "caller", "callee",
    "prefix", "destination", "band", "billed_seconds", "quantity", "cost", "currency", "card",
    "status", "reason", "flags",
)
REJECT_COLUMNS = ("line", "reason", "detail", "original")


def _billed_seconds(rating: Rating) -> str:
    whole, fraction = divmod(rating.billed_ms, 1000)
    return f"{whole}.{fraction:03d}" if fraction else str(whole)


def _row(call: CallRecord, rating: Rating) -> list[str]:
    return [
        call.call_id, call.tenant, call.account, call.service, call.direction, call.caller,
        call.callee, rating.prefix, rating.destination, rating.band, _billed_seconds(rating),
        str(rating.quantity) if rating.quantity else "", str(rating.cost), rating.currency,
        rating.card, rating.status, "", ";".join(rating.flags),
    ]


class CsvRatedSink:
    def __init__(self, stream: IO[str]) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(RATED_COLUMNS)

    def write(self, call: CallRecord, rating: Rating) -> None:
        self._writer.writerow(_row(call, rating))


class JsonLinesRatedSink:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, call: CallRecord, rating: Rating) -> None:
        record = dict(zip(RATED_COLUMNS, _row(call, rating), strict=True))
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")


class NullRatedSink:
    def write(self, call: CallRecord, rating: Rating) -> None:
        return None


class CsvRejectSink:
    """Rejects keep the original bytes: write to a stream opened with surrogateescape."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._writer = csv.writer(stream, lineterminator="\n") if stream else None
        if self._writer:
            self._writer.writerow(REJECT_COLUMNS)

    def write(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None:
        if self._writer:
            self._writer.writerow([line_no, str(reason), detail, raw])
