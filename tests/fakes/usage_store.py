"""In-memory UsageStore and S3 doubles that enforce the same conditions as DynamoDB/S3.

Fakes, not mocks: the lease, the ledger entry's "must not exist", the checkpoint's "this
chunk is next" and the per-chunk breakout guard behave as the DynamoDB adapter's conditions
do, so the exactly-once tests exercise real rules. ``FaultPlan`` makes the Nth write raise.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal

from shared.domain.calls import CallRecord
from shared.domain.checkpoint import FileCheckpoint
from shared.domain.rating.engine import Rating
from shared.domain.usage import BreakoutDelta, ChunkCommit, StoredCall
from shared.ports import CommitRefused


def _etag(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()  # S3's ETag of a single-part upload


class ObjectReplaced(RuntimeError):
    """What S3 answers (412) when the object under a key is no longer the one asked for."""


class InjectedFault(RuntimeError):
    """A crash injected at a write, standing in for a Lambda dying mid-file."""


@dataclass
class FaultPlan:
    """Raise at the ``fail_at``-th write (1-based) across all stores sharing the plan."""

    fail_at: int | None = None
    writes: int = 0

    def write(self, what: str) -> None:
        self.writes += 1
        if self.fail_at is not None and self.writes == self.fail_at:
            raise InjectedFault(f"injected crash at write {self.writes} ({what})")


@dataclass
class StoredRatedCall:
    call: CallRecord
    rating: Rating
    content: str
    charged_by: str
    expires_at: int


@dataclass
class LedgerRow:
    tenant: str
    entry_id: str
    file_id: str
    chunk: str
    amount: Decimal
    calls: int
    breakouts: dict[tuple[str, str], BreakoutDelta]
    breakouts_applied: bool = False


@dataclass
class BreakoutRow:
    delta: BreakoutDelta = field(default_factory=BreakoutDelta)
    applied: set[str] = field(default_factory=set)


@dataclass
class MemoryUsageStore:
    faults: FaultPlan = field(default_factory=FaultPlan)
    checkpoints: dict[str, FileCheckpoint] = field(default_factory=dict)
    leases: dict[str, tuple[str, int]] = field(default_factory=dict)
    calls: dict[tuple[str, str], StoredRatedCall] = field(default_factory=dict)
    ledger: dict[tuple[str, str], LedgerRow] = field(default_factory=dict)
    balances: dict[str, Decimal] = field(default_factory=dict)
    breakouts: dict[tuple[str, str, str], BreakoutRow] = field(default_factory=dict)

    def checkpoint(self, file_id: str) -> FileCheckpoint | None:
        found = self.checkpoints.get(file_id)
        return copy.deepcopy(found) if found else None

    def start_file(self, checkpoint: FileCheckpoint) -> FileCheckpoint:
        self.faults.write("start_file")
        self.checkpoints.setdefault(checkpoint.file_id, copy.deepcopy(checkpoint))
        return copy.deepcopy(self.checkpoints[checkpoint.file_id])

    def acquire_lease(self, tenant: str, owner: str, now_ms: int, ttl_ms: int) -> bool:
        self.faults.write("acquire_lease")
        holder = self.leases.get(tenant)
        if holder is None or holder[1] < now_ms or holder[0] == owner:
            self.leases[tenant] = (owner, now_ms + ttl_ms)
            return True
        return False

    def stored_calls(self, tenant: str, call_ids: list[str]) -> dict[str, StoredCall]:
        found: dict[str, StoredCall] = {}
        for call_id in call_ids:
            item = self.calls.get((tenant, call_id))
            if item is not None:
                found[call_id] = StoredCall(item.content, item.charged_by)
        return found

    def committed(self, tenant: str, chunks: set[str]) -> set[str]:
        return {chunk for chunk in chunks if (tenant, f"usage#{chunk}") in self.ledger}

    def put_calls(
        self,
        tenant: str,
        calls: list[tuple[CallRecord, Rating, str]],
        chunk: str,
        expires_at: int,
    ) -> None:
        for start in range(0, len(calls), 25):  # one "write" per BatchWriteItem of 25
            self.faults.write("put_calls")
            for call, rating, content in calls[start : start + 25]:
                self.calls[(tenant, call.call_id)] = StoredRatedCall(
                    call, rating, content, chunk, expires_at
                )

    def commit(self, commit: ChunkCommit, owner: str) -> Decimal:
        self.faults.write("commit")
        holder = self.leases.get(commit.tenant)
        checkpoint = self.checkpoints.get(commit.file_id)
        key = (commit.tenant, commit.entry_id)
        if holder is None or holder[0] != owner:
            raise CommitRefused("lease lost")
        if checkpoint is None or checkpoint.next_chunk != commit.chunk_no or key in self.ledger:
            raise CommitRefused("checkpoint moved")
        self.ledger[key] = LedgerRow(
            commit.tenant,
            commit.entry_id,
            commit.file_id,
            commit.chunk,
            commit.amount,
            commit.calls,
            copy.deepcopy(commit.breakouts),
        )
        balance = self.balances.get(commit.tenant, Decimal(0)) + commit.amount
        self.balances[commit.tenant] = balance
        checkpoint.next_chunk += 1
        checkpoint.next_offset = commit.next_offset
        checkpoint.next_line = commit.next_line
        for name, count in commit.counts.items():
            checkpoint.counts[name] = checkpoint.counts.get(name, 0) + count
        checkpoint.total_cost -= commit.amount
        checkpoint.done = commit.last
        del self.leases[commit.tenant]
        return balance

    def apply_breakouts(self, tenant: str, file_id: str) -> dict[str, Decimal]:
        applied: dict[str, Decimal] = {}
        for row in list(self.ledger.values()):
            if row.tenant != tenant or row.file_id != file_id or row.breakouts_applied:
                continue
            for (day, destination), delta in row.breakouts.items():
                self.faults.write("breakout")
                item = self.breakouts.setdefault((tenant, day, destination), BreakoutRow())
                if row.chunk not in item.applied:
                    item.delta.add(delta)
                    item.applied.add(row.chunk)
                    applied[day] = applied.get(day, Decimal(0)) + delta.cost
            self.faults.write("breakouts_applied")
            row.breakouts_applied = True
        return applied

    def balance(self, tenant: str) -> Decimal:
        return self.balances.get(tenant, Decimal(0))

    def day_spend(self, tenant: str, day: str) -> Decimal:
        return sum(
            (
                row.delta.cost
                for (owner, row_day, _d), row in self.breakouts.items()
                if owner == tenant and row_day == day
            ),
            Decimal(0),
        )

    # -- for assertions --------------------------------------------------------------------

    def ledger_sum(self, tenant: str) -> Decimal:
        return sum((row.amount for row in self.ledger.values() if row.tenant == tenant), Decimal(0))

    def breakout_view(self, tenant: str) -> dict[tuple[str, str], tuple[int, int, int, Decimal]]:
        return {
            (day, destination): (
                row.delta.attempts,
                row.delta.answered,
                row.delta.billed_ms,
                row.delta.cost,
            )
            for (owner, day, destination), row in self.breakouts.items()
            if owner == tenant
        }


@dataclass
class MemoryObjects:
    """S3 objects by (bucket, key), read by range; outputs written as text."""

    faults: FaultPlan = field(default_factory=FaultPlan)
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    texts: dict[tuple[str, str], str] = field(default_factory=dict)

    def read_range(
        self,
        bucket: str,
        key: str,
        start: int,
        end: int,
        version_id: str | None = None,
        etag: str | None = None,
    ) -> bytes:
        data = self.objects[(bucket, key)]
        if etag is not None and etag != _etag(data):
            raise ObjectReplaced(f"{key}: the object was replaced")
        return data[start:end]

    def put_text(self, bucket: str, key: str, text: str) -> None:
        self.faults.write("put_text")
        self.texts[(bucket, key)] = text


@dataclass
class RecordedEvents:
    low_balance_events: list[tuple[str, Decimal, Decimal, str]] = field(default_factory=list)
    spend_cap_events: list[tuple[str, str, Decimal, Decimal]] = field(default_factory=list)

    def low_balance(self, tenant: str, balance: Decimal, threshold: Decimal, currency: str) -> None:
        self.low_balance_events.append((tenant, balance, threshold, currency))

    def spend_cap_reached(
        self, tenant: str, day: str, spend: Decimal, cap: Decimal, currency: str
    ) -> None:
        self.spend_cap_events.append((tenant, day, spend, cap))


def seed_credit(store: MemoryUsageStore, tenant: str, entry_id: str, amount: Decimal) -> None:
    """A top-up already in the ledger (wallet_recharge's job), so balance = ledger sum."""
    store.ledger[(tenant, entry_id)] = LedgerRow(tenant, entry_id, "", "", amount, 0, {}, True)
    store.balances[tenant] = store.balances.get(tenant, Decimal(0)) + amount
