"""The interfaces services need. Adapters (files, S3, DynamoDB, Stripe) implement them."""

from __future__ import annotations

from typing import Protocol

from shared.domain.calls import CallRecord, RejectReason
from shared.domain.rating.engine import Rating


class RatedSink(Protocol):
    """Receives every rated or unanswered call, in input order."""

    def write(self, call: CallRecord, rating: Rating) -> None: ...


class RejectSink(Protocol):
    """Receives every row that could not be rated, with its physical line and reason."""

    def write(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...
