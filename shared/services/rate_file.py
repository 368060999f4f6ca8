"""Use case: rate one stream of CDR records into rated calls, rejects and a summary."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib.machinery import ExtensionFileLoader, SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

from shared.domain.calls import CallRecord, CallStatus, RejectReason
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating, RatingLimits, rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.summary import FileSummary
from shared.formats.native_cdr import NativeRows
from shared.formats.records import RecordBatch, RowOutcome
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
    row) and a RowOutcome for anything else.
    """
    tally = _Tally(job, rated.write, rejects, CallIdSet() if seen is None else seen)
    one = tally.one
    for item in records:
        one(item)
    return tally.summary()


class _Tally:
    """The general path: one record at a time, counted into one summary."""

    __slots__ = (
        "card",
        "check",
        "duplicates",
        "job",
        "merged",
        "rated",
        "reasons",
        "rejected",
        "total",
        "unanswered",
        "write_rated",
        "write_reject",
    )

    def __init__(
        self,
        job: RatingJob,
        write_rated: Callable[[CallRecord, Rating], None],
        rejects: RejectSink,
        seen: CallIdSet,
    ) -> None:
        self.job = job
        self.card = job.card
        self.write_rated = write_rated
        self.write_reject = rejects.write
        self.check = seen.check
        self.reasons: Counter[RejectReason] = Counter()
        self.total = Decimal(0)
        self.rated = self.unanswered = self.rejected = self.duplicates = self.merged = 0

    def summary(self) -> FileSummary:
        summary = FileSummary(self.card.currency)
        summary.reasons.update(self.reasons)
        summary.rated, summary.unanswered, summary.rejected = (
            self.rated,
            self.unanswered,
            self.rejected,
        )
        summary.duplicates, summary.merged = self.duplicates, self.merged
        summary.total_cost = self.total
        return summary

    def reject(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None:
        self.write_reject(line_no, raw, reason, detail)
        self.rejected += 1
        self.reasons[reason] += 1

    def repeat(self, repeat: CallStatus, line_no: int, raw: str, call_id: str) -> None:
        """A call id seen before in the file: a duplicate, or a conflict to review."""
        if repeat is CallStatus.DUPLICATE:
            self.duplicates += 1
        else:
            detail = f"call id {call_id!r} seen before with different content"
            self.reject(line_no, raw, RejectReason.CONFLICT, detail)

    def one(self, item: RowOutcome | CallRecord) -> None:
        if item.__class__ is CallRecord:
            call = item
        else:
            outcome = cast(RowOutcome, item)
            found = outcome.call
            if found is None:
                status = outcome.status or CallStatus.REJECTED
                if status is CallStatus.REJECTED:
                    reason = outcome.reason or RejectReason.MALFORMED
                    self.reject(outcome.line_no, outcome.raw, reason, outcome.detail)
                elif status is CallStatus.MERGED:
                    self.merged += 1
                elif status is CallStatus.DUPLICATE:
                    self.duplicates += 1
                else:
                    self.unanswered += 1
                return
            call = found
            call.line_no, call.raw = outcome.line_no, outcome.raw
        job = self.job
        tenant = job.tenant
        if tenant is not None and call.tenant != tenant:
            detail = f"row names tenant {call.tenant!r} but the file belongs to {tenant!r}"
            self.reject(call.line_no, call.raw, RejectReason.WRONG_TENANT, detail)
            return
        repeat = self.check(call.tenant, call.call_id, call.fingerprint)
        if repeat is not None:
            self.repeat(repeat, call.line_no, call.raw, call.call_id)
            return
        rating = rate_call(call, self.card, job.plan, job.now_ms, limits=job.limits)
        status = rating.status
        if status is _RATED:
            self.rated += 1
            self.total += rating.cost
        elif status is _UNANSWERED:
            self.unanswered += 1
        else:
            assert rating.reason is not None
            self.reject(call.line_no, call.raw, rating.reason, rating.detail)
            return
        self.write_rated(call, rating)


_RATED, _UNANSWERED = CallStatus.RATED, CallStatus.UNANSWERED


# -- the bulk fast path for native files --------------------------------------------------


class RatedTextSink(Protocol):
    """A rated sink that also takes ready CSV text (RATED_COLUMNS order, neutralised)."""

    def line(self, call: CallRecord, rating: Rating) -> str:
        """The call's row as the sink would write it."""
        ...

    def write_text(self, text: str) -> None: ...


#: rate_native_batches' signature, shared by its pure and compiled implementations
NativeBatchRater = Callable[
    [Iterable[RecordBatch], NativeRows, RatingJob, RatedTextSink, RejectSink, CallIdSet | None],
    FileSummary,
]


def native_batch_raters() -> dict[str, NativeBatchRater]:
    """The fast path's implementations on this install, preferred first: "compiled" when
    setup.py's optional Cython build of ``native_batches.py`` is there (``pip install -e .``
    with a C compiler), then always "pure", that same file run as Python: the reference the
    compiled build must match byte for byte."""
    from shared.services import native_batches  # it imports this module: not at the top

    if not isinstance(native_batches.__spec__.loader, ExtensionFileLoader):
        return {"pure": native_batches.rate_native_batches}
    # the compiled module shadows its source on import: the pure one is loaded by path
    return {
        "compiled": native_batches.rate_native_batches,
        "pure": _pure_native_batches().rate_native_batches,
    }


@cache
def _pure_native_batches() -> ModuleType:
    """``native_batches.py`` run as Python, beside the compiled module of the same name."""
    name = "shared.services._native_batches_pure"
    loader = SourceFileLoader(name, str(Path(__file__).with_name("native_batches.py")))
    module = ModuleType(name)
    module.__file__, module.__loader__ = loader.path, loader
    loader.exec_module(module)
    return module


def rate_native_batches(
    batches: Iterable[RecordBatch],
    rows: NativeRows,
    job: RatingJob,
    rated: RatedTextSink,
    rejects: RejectSink,
    seen: CallIdSet | None = None,
    *,
    pure: bool = False,
) -> FileSummary:
    """:func:`shared.services.native_batches.rate_native_batches`, by its compiled build when
    there is one and ``pure`` is not asked for (``BILLING_PURE_PYTHON=1`` for ``billing
    rate``)."""
    raters = native_batch_raters()
    rater = raters["pure"] if pure else next(iter(raters.values()))
    return rater(batches, rows, job, rated, rejects, seen)
