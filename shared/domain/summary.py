"""Per-file accounting: every input row ends in exactly one bucket."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.domain.calls import CallStatus, RejectReason


@dataclass(slots=True)
class FileSummary:
    """Counts per outcome and the exact total; ``rows`` always equals the sum of buckets."""

    currency: str
    rated: int = 0
    unanswered: int = 0
    rejected: int = 0
    duplicates: int = 0
    merged: int = 0
    total_cost: Decimal = Decimal(0)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return self.rated + self.unanswered + self.rejected + self.duplicates + self.merged

    def count(self, status: CallStatus, reason: RejectReason | None = None) -> None:
        if status is CallStatus.RATED:
            self.rated += 1
        elif status is CallStatus.UNANSWERED:
            self.unanswered += 1
        elif status is CallStatus.REJECTED:
            self.rejected += 1
            self.reasons[str(reason)] += 1
        elif status is CallStatus.DUPLICATE:
            self.duplicates += 1
        else:
            self.merged += 1

    def merge(self, other: FileSummary) -> FileSummary:
        """The summary of two files rated one after the other (same currency)."""
        if other.currency != self.currency:
            raise ValueError(f"cannot add a {other.currency} summary to a {self.currency} one")
        return FileSummary(
            self.currency,
            self.rated + other.rated,
            self.unanswered + other.unanswered,
            self.rejected + other.rejected,
            self.duplicates + other.duplicates,
            self.merged + other.merged,
            self.total_cost + other.total_cost,
            self.reasons + other.reasons,
        )

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape of SPEC section 9: counts as numbers, amounts as strings."""
        return {
            "rows": self.rows,
            "rated": self.rated,
            "unanswered": self.unanswered,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "merged": self.merged,
            "total_cost": str(self.total_cost),
            "currency": self.currency,
            "reject_reasons": dict(sorted(self.reasons.items())),
        }
