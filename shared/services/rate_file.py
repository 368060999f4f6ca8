"""Use case: rate one stream of CDR records into rated calls, rejects and a summary."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from shared.domain.calls import CallRecord, CallStatus, RejectReason
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import RatingLimits, rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.summary import FileSummary
from shared.formats.records import RowOutcome
from shared.ports import RatedSink, RejectSink


class CallIdSet:
    """In-file dedupe: call id → content fingerprint, both kept as 64-bit hashes.

    An open-addressing table in two ``array('q')`` (16 bytes a slot, at most half full):
    about 32 bytes per distinct call, where a dict of Python ints costs over 100, so the
    memory of rating a 1,000,000-row file stays close to that of a 100,000-row one. A
    64-bit collision between two different ids (odds about n²/2⁶⁵, 3·10⁻⁸ for a million
    calls) would reject the later call as a ``conflict`` for review, never drop it.
    """

    __slots__ = ("_contents", "_count", "_keys", "_mask")

    def __init__(self, capacity: int = 1 << 12) -> None:
        size = 1 << max(4, (capacity * 2 - 1).bit_length())
        self._keys = array("q", bytes(8 * size))  # 0 marks an empty slot
        self._contents = array("q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def check(self, tenant: str, call_id: str, fingerprint: str) -> CallStatus | None:
        """None for a new call; DUPLICATE for the same content; REJECTED for a conflict."""
        key = hash((tenant, call_id)) or 1
        content = hash(fingerprint)
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == 0:
                break
            if found == key:
                return CallStatus.DUPLICATE if self._contents[slot] == content else _CONFLICT
            slot = (slot + 1) & mask
        keys[slot] = key
        self._contents[slot] = content
        self._count += 1
        if self._count * 2 > mask:
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_contents = self._keys, self._contents
        size = (self._mask + 1) * 2
        keys, contents = array("q", bytes(8 * size)), array("q", bytes(8 * size))
        mask = size - 1
        for key, content in zip(old_keys, old_contents, strict=True):
            if key:
                slot = key & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = key
                contents[slot] = content
        self._keys, self._contents, self._mask = keys, contents, mask

    def __len__(self) -> int:
        return self._count


_CONFLICT = CallStatus.REJECTED


@dataclass(slots=True)
class RatingJob:
    """Everything that decides how one file is rated."""

    card: CompiledCard
    plan: NumberingPlan = field(default_factory=NumberingPlan)
    tenant: str | None = None  # when set, rows naming another tenant are rejected
    now_ms: int | None = None
    limits: RatingLimits = field(default_factory=RatingLimits)


def rate_records(
    records: Iterable[RowOutcome | CallRecord],
    job: RatingJob,
    rated: RatedSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
) -> FileSummary:
    """Rate every record; each ends in exactly one bucket of the returned summary.

    Readers yield a bare CallRecord for a call to rate (the common case, one object less per
    row) and a RowOutcome for anything else. Counts are kept in locals: this loop runs once
    per CDR.
    """
    summary = FileSummary(job.card.currency)
    seen = CallIdSet() if seen is None else seen
    card, plan, now_ms, limits, tenant = job.card, job.plan, job.now_ms, job.limits, job.tenant
    check, write_rated, write_reject = seen.check, rated.write, rejects.write
    reasons = summary.reasons
    total = summary.total_cost
    rated_count = unanswered = rejected = duplicates = merged = 0
    for item in records:
        if item.__class__ is CallRecord:
            call = item
        else:
            outcome = cast(RowOutcome, item)
            found = outcome.call
            if found is None:
                status = outcome.status or CallStatus.REJECTED
                if status is CallStatus.REJECTED:
                    reason = outcome.reason or RejectReason.MALFORMED
                    write_reject(outcome.line_no, outcome.raw, reason, outcome.detail)
                    rejected += 1
                    reasons[reason] += 1
                elif status is CallStatus.MERGED:
                    merged += 1
                elif status is CallStatus.DUPLICATE:
                    duplicates += 1
                else:
                    unanswered += 1
                continue
            call = found
            call.line_no, call.raw = outcome.line_no, outcome.raw
        if tenant is not None and call.tenant != tenant:
            detail = f"row names tenant {call.tenant!r} but the file belongs to {tenant!r}"
            write_reject(call.line_no, call.raw, RejectReason.WRONG_TENANT, detail)
            rejected += 1
            reasons[RejectReason.WRONG_TENANT] += 1
            continue
        repeat = check(call.tenant, call.call_id, call.fingerprint)
        if repeat is not None:
            if repeat is CallStatus.DUPLICATE:
                duplicates += 1
            else:
                detail = f"call id {call.call_id!r} seen before with different content"
                write_reject(call.line_no, call.raw, RejectReason.CONFLICT, detail)
                rejected += 1
                reasons[RejectReason.CONFLICT] += 1
            continue
        rating = rate_call(call, card, plan, now_ms, limits=limits)
        status = rating.status
        if status is _RATED:
            rated_count += 1
            total += rating.cost
        elif status is _UNANSWERED:
            unanswered += 1
        else:
            assert rating.reason is not None
            write_reject(call.line_no, call.raw, rating.reason, rating.detail)
            rejected += 1
            reasons[rating.reason] += 1
            continue
        write_rated(call, rating)
    summary.rated, summary.unanswered, summary.rejected = rated_count, unanswered, rejected
    summary.duplicates, summary.merged, summary.total_cost = duplicates, merged, total
    return summary


_RATED, _UNANSWERED = CallStatus.RATED, CallStatus.UNANSWERED
