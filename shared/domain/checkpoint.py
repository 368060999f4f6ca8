"""Per-file progress: where rating resumes after a crash or a Lambda timeout."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

SUMMARY_KEYS = ("rated", "unanswered", "rejected", "duplicates", "merged")
#: counts named "reason:<reject reason>" break ``rejected`` down by reason
REASON_PREFIX = "reason:"


@dataclass(slots=True)
class FileCheckpoint:
    """Committed progress through one CDR file. Moves only by chunk commits."""

    file_id: str
    tenant: str
    bucket: str
    key: str
    format: str = ""
    header: str = ""  # the file's header line, re-read before each resumed chunk
    next_chunk: int = 0
    next_offset: int = 0  # byte offset where the next chunk starts
    next_line: int = 1  # physical line number at next_offset
    done: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUMMARY_KEYS, 0))
    total_cost: Decimal = Decimal(0)
    currency: str = ""

    @property
    def rows(self) -> int:
        return sum(self.counts.get(key, 0) for key in SUMMARY_KEYS)
