"""Use case: rate one CDR file dropped in S3 into the tenant's ledger, exactly once.

The file is read in byte-range chunks cut at line ends (a 1,000,000-row file never sits in
memory). Each chunk is rated in memory, then charged through the exactly-once protocol of
``shared.domain.usage``: classify against stored calls under the tenant's lease, put the new
calls, commit ledger + balance + checkpoint in one small transaction. A crash or a timeout at
any point resumes from the last committed chunk with the same results as a clean run.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from aws_lambda_powertools.metrics import MetricUnit

from shared.domain.calls import CallRecord, CallStatus, RejectReason
from shared.domain.checkpoint import REASON_PREFIX, FileCheckpoint
from shared.domain.errors import BillingError
from shared.domain.invoicing.periods import BillingPeriod
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating, RatingLimits
from shared.domain.summary import FileSummary
from shared.domain.tenants import BillingMode, TenantSettings
from shared.domain.usage import (
    ChunkCommit,
    Verdict,
    breakouts_of,
    chunk_id,
    classify,
    content_hash,
    crosses_below,
    file_identity,
)
from shared.formats.cdr_formats import (
    ReaderContext,
    detect_format,
    open_records,
    starts_with_header,
)
from shared.formats.chunks import complete_records_end
from shared.formats.csv_safe import safe_row
from shared.formats.records import as_outcome
from shared.observability import logger, metrics
from shared.ports import (
    CdrObjects,
    CommitRefused,
    EventPublisher,
    OutputStore,
    TenantDirectory,
    UsageStore,
)
from shared.services.rate_file import CallIdSet, RatingJob, rate_records

TENANT_PREFIX = "tenants/"
REJECTS_PREFIX = "rejects/"
RESULTS_PREFIX = "results/"
DAY_MS = 86_400_000
_HEAD_BYTES = 64 * 1024  # enough for any header line worth reading


@dataclass(frozen=True, slots=True)
class IngestOptions:
    chunk_bytes: int = 1 << 20  # about 7,000 native CDR rows
    max_line_bytes: int = 1 << 20  # a longer "line" is rejected, never read whole
    lease_ms: int = 60_000
    lease_wait_ms: int = 120_000  # give up (and let SQS retry) after this
    retention_days: int = 400  # rated calls expire after this (DynamoDB TTL)
    safety_ms: int = 30_000  # stop starting chunks this close to the Lambda deadline
    #: invoice_cycle's late-call lookback (``LATE_LOOKBACK_PERIODS``): a postpaid call of an
    #: older period is charged but no invoice will bill it, so it is logged and counted
    late_lookback_periods: int = 12


#: postpaid calls charged whose period is older than the invoices' late-call lookback
BEYOND_LOOKBACK_METRIC = "CallsBeyondInvoiceLookback"


@dataclass(frozen=True, slots=True)
class CdrFile:
    bucket: str
    key: str
    version: str  # object version id, else its ETag: a new upload is a new file
    size: int
    #: read exactly this object version (a re-upload under the same key must never be read
    #: in its place when a file resumes): VersionId when the bucket is versioned, else ETag
    version_id: str | None = None
    etag: str | None = None


@dataclass(slots=True)
class IngestResult:
    file_id: str
    tenant: str
    status: str  # "done", "skipped" (already done), "incomplete" (deadline), "rejected"
    summary: FileSummary
    chunks: int = 0
    balance: Decimal | None = None
    detail: str = ""


class TenantNotFound(BillingError):
    pass


class LeaseUnavailable(BillingError):
    """Another file of the tenant held the lease for too long; SQS will retry this one."""


@dataclass(slots=True)
class IngestDeps:
    objects: CdrObjects
    outputs: OutputStore
    tenants: TenantDirectory
    cards: Callable[[TenantSettings], CompiledCard]  # cached per container by the caller
    store: UsageStore
    events: EventPublisher
    now_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    sleep: Callable[[float], None] = time.sleep


def tenant_of(key: str) -> str | None:
    """``tenants/<tenant>/...`` → tenant; anything else is not a CDR drop."""
    if not key.startswith(TENANT_PREFIX):
        return None
    tenant, _, rest = key[len(TENANT_PREFIX) :].partition("/")
    return tenant if tenant and rest else None


def ingest_file(
    file: CdrFile,
    deps: IngestDeps,
    options: IngestOptions = IngestOptions(),
    deadline_ms: int | None = None,
) -> IngestResult:
    """Rate ``file`` into the ledger; resumable and idempotent (see module docstring)."""
    tenant = tenant_of(file.key)
    file_id = file_identity(file.bucket, file.key, file.version)
    if tenant is None:
        raise BillingError(f"{file.key}: not under {TENANT_PREFIX}<tenant>/")
    settings = deps.tenants.get(tenant)
    if settings is None:
        return _reject_whole_file(file, file_id, tenant, deps)
    card = deps.cards(settings)
    checkpoint = deps.store.checkpoint(file_id)
    if checkpoint is None:
        head = deps.objects.read_range(file.bucket, file.key, 0, min(file.size, _HEAD_BYTES))
        checkpoint = deps.store.start_file(
            _detect(
                FileCheckpoint(file_id, tenant, file.bucket, file.key, currency=card.currency), head
            )
        )
    if checkpoint.done:
        # finish what a crash after the last commit may have left: both steps are idempotent
        _guard_spend(settings, deps.store.apply_breakouts(tenant, file_id), deps)
        _write_summary(file, file_id, tenant, _summary_of(checkpoint), deps)
        return IngestResult(file_id, tenant, "skipped", _summary_of(checkpoint))
    job = RatingJob(
        card=card,
        plan=settings.numbering.plan(),
        tenant=tenant,
        now_ms=deps.now_ms(),
        limits=RatingLimits(),
    )
    seen = CallIdSet()
    owner = f"{file_id}:{uuid.uuid4().hex[:8]}"
    chunks = 0
    balance: Decimal | None = None
    finished = False
    while not finished:
        if deadline_ms is not None and deps.now_ms() > deadline_ms - options.safety_ms:
            return IngestResult(file_id, tenant, "incomplete", _summary_of(checkpoint), chunks)
        chunk = _read_chunk(deps.objects, file, checkpoint.next_offset, options)
        try:
            balance = _charge_chunk(
                chunk,
                checkpoint,
                settings,
                job,
                seen,
                owner,
                deps,
                options,
            )
        except CommitRefused:
            refreshed = deps.store.checkpoint(file_id)
            assert refreshed is not None
            checkpoint, seen = refreshed, CallIdSet()  # someone else moved it: go on from there
            finished = checkpoint.done
            continue
        chunks += 1
        refreshed = deps.store.checkpoint(file_id)
        assert refreshed is not None
        checkpoint = refreshed
        finished = checkpoint.done
    _guard_spend(settings, deps.store.apply_breakouts(tenant, file_id), deps)
    summary = _summary_of(checkpoint)
    _write_summary(file, file_id, tenant, summary, deps)
    return IngestResult(file_id, tenant, "done", summary, chunks, balance)


def _guard_spend(settings: TenantSettings, day_costs: dict[str, Decimal], deps: IngestDeps) -> None:
    """Fraud guard (SPEC 1): alarm once when the breakouts just applied (``day_costs``, the
    cost they added per UTC day) take a day's spend to the cap. Breakouts are applied once
    per chunk, so however many invocations a file took, the crossing is seen once.

    Blocking international calls needs no event: the call status reads the day's spend.
    """
    cap = settings.daily_spend_cap
    if cap is None:
        return
    for day, added in sorted(day_costs.items()):
        spend = deps.store.day_spend(settings.tenant_id, day)
        if spend >= cap > spend - added:
            deps.events.spend_cap_reached(settings.tenant_id, day, spend, cap, settings.currency)


def _detect(checkpoint: FileCheckpoint, data: bytes) -> FileCheckpoint:
    """Name the file's format and keep its header line for later chunks."""
    lines = (line for line in data.split(b"\n") if line.strip())
    first = next(lines, b"").decode("utf-8", "replace")
    try:
        name = detect_format(first) if first.strip() else "native"
    except BillingError:
        name = "native"  # its rows will be rejected one by one, with reasons
    checkpoint.format = name
    checkpoint.header = first.rstrip("\r") if starts_with_header(name, first) else ""
    return checkpoint


@dataclass(frozen=True, slots=True)
class _Chunk:
    data: bytes
    next_offset: int
    last: bool
    oversized: bool = False  # one line longer than max_line_bytes: ``data`` is its start


def _read_chunk(objects: CdrObjects, file: CdrFile, offset: int, options: IngestOptions) -> _Chunk:
    """Bytes from ``offset`` up to the end of the last complete record within
    ``chunk_bytes`` (or EOF), so no record, quoted line breaks included, is ever split."""
    end = min(file.size, offset + options.chunk_bytes)
    data = _read(objects, file, offset, end)
    if end >= file.size:
        return _Chunk(data, offset + len(data), True)
    cut = complete_records_end(data)
    while cut == 0:  # the first record does not end within the chunk: read on
        if len(data) >= options.max_line_bytes:
            newline = data.find(b"\n")
            if newline >= 0:
                cut = newline + 1  # an unclosed quote: its line alone, which is rejected
                break
            skip_to = _after_next_newline(objects, file, offset + len(data), options)
            return _Chunk(data[: options.max_line_bytes], skip_to, skip_to >= file.size, True)
        more_end = min(file.size, end + options.chunk_bytes)
        data += _read(objects, file, end, more_end)
        end = more_end
        if end >= file.size:
            return _Chunk(data, offset + len(data), True)
        cut = complete_records_end(data)
    return _Chunk(data[:cut], offset + cut, offset + cut >= file.size)


def _read(objects: CdrObjects, file: CdrFile, start: int, end: int) -> bytes:
    return objects.read_range(file.bucket, file.key, start, end, file.version_id, file.etag)


def _after_next_newline(
    objects: CdrObjects, file: CdrFile, offset: int, options: IngestOptions
) -> int:
    """Offset just past the next line break (or EOF), reading without keeping the bytes."""
    while offset < file.size:
        end = min(file.size, offset + options.chunk_bytes)
        block = _read(objects, file, offset, end)
        newline = block.find(b"\n")
        if newline >= 0:
            return offset + newline + 1
        offset = end
    return file.size


class _Collect:
    def __init__(self) -> None:
        self.rated: list[tuple[CallRecord, Rating]] = []
        self.rejects: list[tuple[int, str, RejectReason, str]] = []

    def write(self, *args: object) -> None:  # both sink shapes: (call, rating) and rejects
        if len(args) == 2:
            self.rated.append(args)  # type: ignore[arg-type]
        else:
            self.rejects.append(args)  # type: ignore[arg-type]


def _charge_chunk(
    chunk: _Chunk,
    checkpoint: FileCheckpoint,
    settings: TenantSettings,
    job: RatingJob,
    seen: CallIdSet,
    owner: str,
    deps: IngestDeps,
    options: IngestOptions,
) -> Decimal:
    """Rate one chunk in memory, then charge it exactly once. Returns the balance after."""
    tenant, store = checkpoint.tenant, deps.store
    this_chunk = chunk_id(checkpoint.file_id, checkpoint.next_chunk)
    data = chunk.data
    payload = data
    first_line = checkpoint.next_line
    if checkpoint.next_chunk > 0 and checkpoint.header:
        payload = checkpoint.header.encode("utf-8", "surrogateescape") + b"\n" + data
        first_line -= 1  # the re-read header takes the number before the chunk's first line
    context = ReaderContext(
        tenant=tenant, zone=job.card.zone, contexts=settings.contexts, plan=job.plan
    )
    _name, _lines, records = open_records(
        io.BytesIO(payload), checkpoint.format or "native", context, first_line
    )
    collected = _Collect()
    if chunk.oversized:
        summary = _reject_oversized(chunk, checkpoint, options, job, collected)
    else:
        try:
            summary = rate_records(
                (as_outcome(record) for record in records), job, collected, collected, seen
            )
        except ValueError as unreadable:  # a header the reader refuses: every row says so
            collected = _Collect()
            summary = _reject_lines(
                data,
                checkpoint.next_line,
                str(unreadable),
                job,
                collected,
                skip_header=checkpoint.next_chunk == 0,
            )
    _acquire(store, tenant, owner, deps, options)
    ids = [call.call_id for call, _rating in collected.rated]
    stored = store.stored_calls(tenant, ids)
    committed = store.committed(tenant, {found.charged_by for found in stored.values()})
    charged: list[tuple[CallRecord, Rating, str]] = []
    for call, rating in collected.rated:
        content = content_hash(call.fingerprint)
        verdict = classify(content, stored.get(call.call_id), this_chunk, committed)
        if verdict is Verdict.NEW:
            charged.append((call, rating, content))
            continue
        _uncount(summary, rating)
        if verdict is Verdict.DUPLICATE:
            summary.duplicates += 1
        else:
            detail = f"call id {call.call_id!r} was charged before with different content"
            collected.rejects.append((call.line_no, call.raw, RejectReason.CONFLICT, detail))
            summary.rejected += 1
            summary.reasons[RejectReason.CONFLICT] += 1
    if settings.mode is BillingMode.POSTPAID:
        _flag_beyond_lookback(settings, charged, this_chunk, deps.now_ms(), options)
    expires = (deps.now_ms() + options.retention_days * DAY_MS) // 1000
    store.put_calls(tenant, charged, this_chunk, expires)
    if collected.rejects:
        deps.outputs.put_text(
            checkpoint.bucket,
            f"{REJECTS_PREFIX}{tenant}/{checkpoint.file_id}/chunk-{checkpoint.next_chunk:06d}.csv",
            _rejects_csv(collected.rejects),
        )
    total = sum((rating.cost for _call, rating, _content in charged), Decimal(0))
    commit = ChunkCommit(
        tenant=tenant,
        file_id=checkpoint.file_id,
        chunk_no=checkpoint.next_chunk,
        next_offset=chunk.next_offset,
        amount=-total,
        currency=job.card.currency,
        calls=len(charged),
        counts={
            "rated": summary.rated,
            "unanswered": summary.unanswered,
            "rejected": summary.rejected,
            "duplicates": summary.duplicates,
            "merged": summary.merged,
            **{f"{REASON_PREFIX}{reason}": count for reason, count in summary.reasons.items()},
        },
        breakouts=breakouts_of((call, rating) for call, rating, _content in charged),
        last=chunk.last,
        next_line=checkpoint.next_line + (1 if chunk.oversized else data.count(b"\n")),
    )
    before = store.balance(tenant)
    after = store.commit(commit, owner)
    if settings.mode is BillingMode.PREPAID and crosses_below(
        before, after, settings.low_balance_threshold
    ):
        deps.events.low_balance(tenant, after, settings.low_balance_threshold, job.card.currency)
    return after


def _flag_beyond_lookback(
    settings: TenantSettings,
    charged: list[tuple[CallRecord, Rating, str]],
    chunk: str,
    now_ms: int,
    options: IngestOptions,
) -> int:
    """Postpaid calls whose billing period (answer time, tenant's zone) is older than the
    invoices' late-call lookback, counted from the current period: invoice_cycle will never
    look for them, so they are still charged (and stay in the tenant's unbilled usage) but
    logged and counted as ``CallsBeyondInvoiceLookback`` for the operator to bill by hand
    (``billing charge``) rather than lost silently. A crashed chunk's retry counts its calls
    again (an over-count, never a miss)."""
    oldest = BillingPeriod.containing(now_ms, settings.timezone)
    for _ in range(options.late_lookback_periods):
        oldest = oldest.previous()
    beyond: dict[str, list[str]] = {}
    for call, rating, _content in charged:
        stamp = call.answer_ms if call.answer_ms is not None else call.start_ms
        if rating.status is not CallStatus.RATED or stamp is None:
            continue
        period = BillingPeriod.containing(stamp, settings.timezone).key
        if period < oldest.key:
            beyond.setdefault(period, []).append(call.call_id)
    count = sum(len(ids) for ids in beyond.values())
    if count:
        logger.warning("calls beyond the invoice lookback: charged, never invoiced", extra={
            "tenant": settings.tenant_id, "chunk": chunk, "calls": count,
            "oldest_invoiced_period": oldest.key,
            "periods": {key: len(ids) for key, ids in sorted(beyond.items())},
            "call_ids": [i for ids in beyond.values() for i in ids][:20],
        })
        metrics.add_metric(BEYOND_LOOKBACK_METRIC, MetricUnit.Count, count)
    return count


def _reject_lines(
    data: bytes,
    first_line: int,
    detail: str,
    job: RatingJob,
    collected: _Collect,
    skip_header: bool,
) -> FileSummary:
    """Every non-blank line of an unreadable chunk becomes a malformed reject (the file's
    header line, in its first chunk, is not a row)."""
    summary = FileSummary(job.card.currency)
    for number, raw in enumerate(data.split(b"\n"), start=first_line):
        text = raw.decode("utf-8", "surrogateescape").rstrip("\r")
        if not text.strip():
            continue
        if skip_header:
            skip_header = False
            continue
        collected.rejects.append((number, text, RejectReason.MALFORMED, detail))
        summary.count(CallStatus.REJECTED, RejectReason.MALFORMED)
    return summary


def _reject_oversized(
    chunk: _Chunk,
    checkpoint: FileCheckpoint,
    options: IngestOptions,
    job: RatingJob,
    collected: _Collect,
) -> FileSummary:
    """A line longer than ``max_line_bytes`` is one malformed row, never read whole; its
    reject keeps the first kilobyte of it."""
    summary = FileSummary(job.card.currency)
    start = chunk.data[:1024].decode("utf-8", "surrogateescape")
    detail = f"line longer than {options.max_line_bytes:,} bytes"
    collected.rejects.append((checkpoint.next_line, start + "…", RejectReason.MALFORMED, detail))
    summary.count(CallStatus.REJECTED, RejectReason.MALFORMED)
    return summary


def _uncount(summary: FileSummary, rating: Rating) -> None:
    """Take a call out of the bucket rating put it in (the store found it charged)."""
    if rating.status is CallStatus.RATED:
        summary.rated -= 1
        summary.total_cost -= rating.cost
    else:
        summary.unanswered -= 1


def _acquire(
    store: UsageStore, tenant: str, owner: str, deps: IngestDeps, options: IngestOptions
) -> None:
    waited = 0.0
    pause = 0.05
    while not store.acquire_lease(tenant, owner, deps.now_ms(), options.lease_ms):
        if waited * 1000 >= options.lease_wait_ms:
            raise LeaseUnavailable(f"tenant {tenant}: another file holds the rating lease")
        deps.sleep(pause)
        waited += pause
        pause = min(pause * 2, 2.0)


def _rejects_csv(rejects: list[tuple[int, str, RejectReason, str]]) -> str:
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("line", "reason", "detail", "original"))
    for line_no, raw, reason, detail in sorted(rejects, key=lambda item: item[0]):
        # a hostile CDR line must not become a spreadsheet formula (csv_safe)
        writer.writerow(safe_row((line_no, str(reason), detail, raw)))
    return out.getvalue()


def _summary_of(checkpoint: FileCheckpoint) -> FileSummary:
    counts = checkpoint.counts
    summary = FileSummary(
        checkpoint.currency,
        counts.get("rated", 0),
        counts.get("unanswered", 0),
        counts.get("rejected", 0),
        counts.get("duplicates", 0),
        counts.get("merged", 0),
        checkpoint.total_cost,
    )
    for name, count in counts.items():
        if name.startswith(REASON_PREFIX) and count:
            summary.reasons[name[len(REASON_PREFIX) :]] = count
    return summary


def _write_summary(
    file: CdrFile, file_id: str, tenant: str, summary: FileSummary, deps: IngestDeps
) -> None:
    document = {
        "file_id": file_id,
        "tenant": tenant,
        "bucket": file.bucket,
        "key": file.key,
        **summary.as_dict(),
    }
    deps.outputs.put_text(
        file.bucket, f"{RESULTS_PREFIX}{tenant}/{file_id}.json", json.dumps(document, indent=1)
    )


def _reject_whole_file(file: CdrFile, file_id: str, tenant: str, deps: IngestDeps) -> IngestResult:
    """No such tenant: nothing is charged; the file's summary says why."""
    summary = FileSummary("")
    detail = f"tenant {tenant!r} is not configured"
    deps.outputs.put_text(
        file.bucket,
        f"{RESULTS_PREFIX}{tenant}/{file_id}.json",
        json.dumps(
            {
                "file_id": file_id,
                "tenant": tenant,
                "key": file.key,
                "status": "rejected",
                "reason": str(RejectReason.UNKNOWN_TENANT),
                "detail": detail,
            }
        ),
    )
    return IngestResult(file_id, tenant, "rejected", summary, detail=detail)
