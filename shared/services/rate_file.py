"""Use case: rate one stream of CDR records into rated calls, rejects and a summary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.domain.calls import CallStatus, RejectReason
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import RatingLimits, rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.summary import FileSummary
from shared.formats.records import RowOutcome
from shared.ports import RatedSink, RejectSink


@dataclass(slots=True)
class CallIdSet:
    """In-file dedupe: call id → content fingerprint, both kept as 64-bit hashes.

    Costs one dict entry of two ints per distinct call (about 100 bytes), not the ids
    themselves. A 64-bit collision between two different ids (odds about n²/2⁶⁵, 3·10⁻⁸ for a
    million calls) would reject the later call as a ``conflict`` for review, never drop it.
    """

    _seen: dict[int, int] = field(default_factory=dict)

    def check(self, tenant: str, call_id: str, fingerprint: str) -> CallStatus | None:
        """None for a new call; DUPLICATE for the same content; REJECTED for a conflict."""
        key = hash((tenant, call_id))
        content = hash(fingerprint)
        previous = self._seen.get(key)
        if previous is None:
            self._seen[key] = content
            return None
        return CallStatus.DUPLICATE if previous == content else CallStatus.REJECTED

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(slots=True)
class RatingJob:
    """Everything that decides how one file is rated."""

    card: CompiledCard
    plan: NumberingPlan = field(default_factory=NumberingPlan)
    tenant: str | None = None  # when set, rows naming another tenant are rejected
    now_ms: int | None = None
    limits: RatingLimits = field(default_factory=RatingLimits)


def rate_records(
    records: Iterable[RowOutcome],
    job: RatingJob,
    rated: RatedSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
) -> FileSummary:
    """Rate every record; each ends in exactly one bucket of the returned summary."""
    summary = FileSummary(job.card.currency)
    seen = CallIdSet() if seen is None else seen
    card, plan, now_ms, limits, tenant = job.card, job.plan, job.now_ms, job.limits, job.tenant
    total = summary.total_cost
    for outcome in records:
        call = outcome.call
        if call is None:
            status = outcome.status or CallStatus.REJECTED
            if status is CallStatus.REJECTED:
                reason = outcome.reason or RejectReason.MALFORMED
                rejects.write(outcome.line_no, outcome.raw, reason, outcome.detail)
                summary.count(status, reason)
            else:
                summary.count(status)
            continue
        if tenant is not None and call.tenant != tenant:
            detail = f"row names tenant {call.tenant!r} but the file belongs to {tenant!r}"
            rejects.write(outcome.line_no, outcome.raw, RejectReason.WRONG_TENANT, detail)
            summary.count(CallStatus.REJECTED, RejectReason.WRONG_TENANT)
            continue
        repeat = seen.check(call.tenant, call.call_id, call.fingerprint)
        if repeat is CallStatus.DUPLICATE:
            summary.count(CallStatus.DUPLICATE)
            continue
        if repeat is CallStatus.REJECTED:
            detail = f"call id {call.call_id!r} seen before with different content"
            rejects.write(outcome.line_no, outcome.raw, RejectReason.CONFLICT, detail)
            summary.count(CallStatus.REJECTED, RejectReason.CONFLICT)
            continue
        rating = rate_call(call, card, plan, now_ms, limits=limits)
        if rating.status is CallStatus.REJECTED:
            assert rating.reason is not None
            rejects.write(outcome.line_no, outcome.raw, rating.reason, rating.detail)
            summary.count(CallStatus.REJECTED, rating.reason)
            continue
        total += rating.cost
        summary.count(rating.status)
        rated.write(call, rating)
    summary.total_cost = total
    return summary
