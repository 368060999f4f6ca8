"""Exactly-once usage charging: chunk identity, classification against what is stored,
ledger amounts, breakout deltas and tenant call status. Pure rules; the store is a port.

How a chunk of a CDR file is charged exactly once (docs/data-model.md tells the whole story):

1. every call of the chunk is rated in memory;
2. under the tenant's lease, the calls already stored are looked up; a stored call counts as
   charged only if the chunk that wrote it is committed (its ledger entry exists);
3. new calls are written with ``charged_by`` = this chunk's id (idempotent puts);
4. one small transaction commits the chunk: the ledger entry (condition: absent), the
   balance (fenced by the lease), the file checkpoint (condition: this chunk is next).

A crash anywhere before 4 leaves no ledger entry, so the retry (or another file holding the
same calls) takes those calls over; a crash after 4 finds the checkpoint moved on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from shared.domain.calls import CallRecord, CallStatus
from shared.domain.rating.engine import Rating

LEDGER_USAGE = "usage"


def file_identity(bucket: str, key: str, version: str) -> str:
    """A file's id: the same object version always gets the same id (so a redelivered S3
    event resumes or skips it); another key or version is another file."""
    digest = hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()
    return digest[:32]


def chunk_id(file_id: str, chunk_no: int) -> str:
    return f"{file_id}:{chunk_no:06d}"


def usage_entry_id(chunk: str) -> str:
    """Ledger entry id for a chunk's usage: derived from its cause, never random."""
    return f"{LEDGER_USAGE}#{chunk}"


def content_hash(fingerprint: str) -> str:
    """Stable across processes (Python's hash() is salted), short enough to store per call."""
    return hashlib.blake2b(
        fingerprint.encode("utf-8", "surrogateescape"), digest_size=12
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredCall:
    """What the store says about a call id: its content hash and the chunk that charged it."""

    content: str
    charged_by: str


class Verdict(StrEnum):
    NEW = "new"  # charge it in this chunk
    DUPLICATE = "duplicate"  # already charged with the same content
    CONFLICT = "conflict"  # already charged with different content: reject for review


def classify(
    content: str, stored: StoredCall | None, this_chunk: str, committed: set[str]
) -> Verdict:
    """Decide a call's fate against the store (step 2 above)."""
    if stored is None or stored.charged_by == this_chunk or stored.charged_by not in committed:
        return Verdict.NEW  # never stored, ours from a crashed try, or an orphan to take over
    return Verdict.DUPLICATE if stored.content == content else Verdict.CONFLICT


@dataclass(slots=True)
class BreakoutDelta:
    """Counters for one (UTC day of start, destination): SPEC 5 breakouts."""

    attempts: int = 0
    answered: int = 0
    billed_ms: int = 0
    cost: Decimal = Decimal(0)

    def add(self, other: BreakoutDelta) -> None:
        self.attempts += other.attempts
        self.answered += other.answered
        self.billed_ms += other.billed_ms
        self.cost += other.cost


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def breakout_key(call: CallRecord, rating: Rating) -> tuple[str, str]:
    """(UTC day by start time, destination): attempts count on the day they were made."""
    when = call.start_ms if call.start_ms is not None else call.answer_ms
    day = utc_day(when) if when is not None else "unknown"
    return day, rating.destination or (rating.prefix and f"+{rating.prefix}") or "unrated"


def breakouts_of(
    charged: Iterable[tuple[CallRecord, Rating]],
) -> dict[tuple[str, str], BreakoutDelta]:
    deltas: dict[tuple[str, str], BreakoutDelta] = {}
    for call, rating in charged:
        delta = deltas.setdefault(breakout_key(call, rating), BreakoutDelta())
        delta.attempts += 1
        if rating.status is CallStatus.RATED:
            delta.answered += 1
            delta.billed_ms += rating.billed_ms
            delta.cost += rating.cost
    return deltas


@dataclass(slots=True)
class ChunkCommit:
    """Everything step 4 writes atomically for one chunk."""

    tenant: str
    file_id: str
    chunk_no: int
    next_offset: int  # byte offset where the next chunk starts
    amount: Decimal  # signed: usage is negative
    currency: str
    calls: int
    counts: dict[str, int] = field(default_factory=dict)  # summary counters of the chunk
    breakouts: dict[tuple[str, str], BreakoutDelta] = field(default_factory=dict)
    last: bool = False  # the file's final chunk
    next_line: int = 1  # physical line number at next_offset

    @property
    def chunk(self) -> str:
        return chunk_id(self.file_id, self.chunk_no)

    @property
    def entry_id(self) -> str:
        return usage_entry_id(self.chunk)


def crosses_below(before: Decimal, after: Decimal, threshold: Decimal) -> bool:
    """A prepaid balance crossing the low-balance threshold (once, on the way down)."""
    return before >= threshold > after
