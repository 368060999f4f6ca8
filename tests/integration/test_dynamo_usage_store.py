"""The DynamoDB usage store keeps every exactly-once promise the fake keeps (SPEC section 5),
against moto's server over HTTP: the ingest service runs unchanged on ``DynamoUsageStore``.

The stack is shared by the module, so every test uses its own tenant ids. S3 is the in-memory
double of ``tests/fakes`` (the S3 adapter has its own tests); every DynamoDB request is real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.dynamodb import (
    DynamoCardStore,
    DynamoTenantDirectory,
    DynamoUsageStore,
    UsageTables,
)
from shared.domain.checkpoint import FileCheckpoint
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.tenants import TenantSettings
from shared.domain.usage import BreakoutDelta, ChunkCommit
from shared.local.stack import LocalStack
from shared.ports import CommitRefused
from shared.services.ingest import CdrFile, IngestDeps, IngestOptions, IngestResult, ingest_file
from tests.fakes.usage_store import InjectedFault, MemoryObjects, RecordedEvents

pytestmark = pytest.mark.integration

BUCKET = "cdrs"
HEADER = "call_id,tenant,callee,start_time,answer_time,billsec,disposition\n"
NOW_MS = 1_793_000_000_000  # 2026-10-26, after every call below
LEASE_MS = 60_000
CARD_DOCUMENT: dict[str, Any] = {
    "card": "retail", "currency": "USD",
    "rates": [
        # 60/6 at 0.0600/min: a 61 s call bills 66 s = 66 × 0.06 / 60 = 0.0660
        {"prefix": "44", "destination": "UK",
         "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}]},
        # 60/60 at 0.1200/min: a 61 s call bills 120 s = 0.2400
        {"prefix": "1", "destination": "USA",
         "tiers": [{"price": "0.1200", "initial": 60, "increment": 60}]},
    ],
}
CARD = compile_card(load_card(CARD_DOCUMENT))
OPTIONS = IngestOptions(chunk_bytes=700)  # about ten rows a chunk: many chunks per file
WRITES = frozenset({"put_item", "update_item", "batch_write_item", "transact_write_items",
                    "delete_item"})


def row(call_id: str, tenant: str, callee: str = "442071234567", billsec: int = 61) -> str:
    return (f"{call_id},{tenant},{callee},2026-10-05T10:00:00Z,"
            f"2026-10-05T10:00:05Z,{billsec},ANSWERED\n")


def uk_file(tenant: str, count: int, start: int = 0) -> bytes:
    return (HEADER + "".join(row(f"c{i:04d}", tenant) for i in range(start, start + count))
            ).encode()


def mixed_file(tenant: str) -> bytes:
    """34 rows over 4 chunks: 25 UK calls, an in-file duplicate, an unanswered attempt and 8
    US calls. Charged: 25 × 0.0660 + 8 × 0.2400 = 1.6500 + 1.9200 = 3.5700."""
    rows = [row(f"c{i:04d}", tenant) for i in range(25)]
    rows += [row("c0003", tenant), row("u1", tenant, billsec=0)]
    rows += [row(f"d{i:04d}", tenant, callee="12125550100") for i in range(8)]
    return (HEADER + "".join(rows)).encode()


MIXED_IDS = [f"c{i:04d}" for i in range(25)] + ["u1"] + [f"d{i:04d}" for i in range(8)]


class CrashingClient:
    """The boto3 client, except that its ``fail_at``-th write raises InjectedFault: before
    the request is sent, or (``after``) once DynamoDB has applied it, as a Lambda dying
    between a write and its answer would."""

    def __init__(self, client: Any, fail_at: int | None = None, after: bool = False) -> None:
        self._client = client
        self.fail_at = fail_at
        self.after = after
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in WRITES:
            return method

        def write(**request: Any) -> Any:
            self.writes += 1
            hit = self.writes == self.fail_at
            if hit and not self.after:
                raise InjectedFault(f"crash before write {self.writes} ({name})")
            response = method(**request)
            if hit:
                raise InjectedFault(f"crash after write {self.writes} ({name})")
            return response

        return write


class World:
    """One tenant on the shared stack: its settings in TenantsTable, files in memory."""

    def __init__(self, stack: LocalStack, tenant: str, client: Any = None,
                 now_ms: int = NOW_MS) -> None:
        self.env = stack.function_environment("RateCallFunction")
        self.raw = stack.client("dynamodb")
        self.client = client if client is not None else self.raw
        self.tenant = tenant
        self.store = DynamoUsageStore(self.client, UsageTables.from_env(self.env),
                                      sleep=lambda _s: None)
        self.objects = MemoryObjects()
        self.events = RecordedEvents()
        self.now_ms = now_ms
        self.directory = DynamoTenantDirectory(self.raw, self.env["TENANTS_TABLE"])
        if self.directory.get(tenant) is None:
            self.directory.put(TenantSettings(tenant_id=tenant, card="retail", currency="USD",
                                              low_balance_threshold=Decimal("2.00")))

    def deps(self, sleep: Callable[[float], None] = lambda _s: None) -> IngestDeps:
        return IngestDeps(
            objects=self.objects, outputs=self.objects,
            tenants=DynamoTenantDirectory(self.client, self.env["TENANTS_TABLE"]),
            cards=lambda _s: CARD, store=self.store, events=self.events,
            now_ms=lambda: self.now_ms, sleep=sleep,
        )

    def drop(self, name: str, data: bytes, version: str = "v1") -> CdrFile:
        key = f"tenants/{self.tenant}/{name}"
        self.objects.objects[(BUCKET, key)] = data
        return CdrFile(BUCKET, key, version, len(data))

    def ingest(self, file: CdrFile, options: IngestOptions = OPTIONS) -> IngestResult:
        return ingest_file(file, self.deps(), options)

    def state(self, call_ids: list[str]) -> tuple[object, ...]:
        """Balance, ledger sum, breakouts, ledger amount per chunk number and the chunk number
        that charged each stored call: what must not depend on the tenant's name (the file id
        and the calls' content hashes do)."""
        store = DynamoUsageStore(self.raw, self.store.tables)
        entries = {entry.chunk.rsplit(":", 1)[-1]: entry.amount
                   for entry in store.ledger_entries(self.tenant)}
        stored = {call_id: found.charged_by.rsplit(":", 1)[-1]
                  for call_id, found in store.stored_calls(self.tenant, call_ids).items()}
        breakouts = [tuple(item.values()) for item in store.breakouts(self.tenant)]
        return (store.balance(self.tenant), store.ledger_sum(self.tenant), breakouts, entries,
                stored)


def test_a_clean_run_charges_every_call_once_across_many_chunks(local_stack: LocalStack) -> None:
    # Given 40 answered UK calls of 61 s (0.0660 each) in a file cut into ~10-row chunks
    world = World(local_stack, "clean-run")
    file = world.drop("2026-10-05.csv", uk_file("clean-run", 40))
    # When the file is ingested on DynamoDB
    result = world.ingest(file)
    # Then 40 × 0.0660 = 2.6400 is debited once, the balance equals the ledger sum
    store = world.store
    assert result.status == "done" and result.chunks > 3
    assert result.summary.rated == 40 and result.summary.total_cost == Decimal("2.6400")
    assert store.balance("clean-run") == Decimal("-2.6400") == store.ledger_sum("clean-run")
    # one ledger entry per chunk, each with its breakouts applied
    entries = store.ledger_entries("clean-run")
    assert len(entries) == result.chunks and all(entry.breakouts_applied for entry in entries)
    assert sum(entry.calls for entry in entries) == 40
    # and the breakout for (2026-10-05, UK) counts 40 attempts, 40 answered, 40 × 66 s
    assert store.breakouts("clean-run") == [{
        "day": "2026-10-05", "destination": "UK", "attempts": 40, "answered": 40,
        "billed_ms": 40 * 66_000, "cost": Decimal("2.6400"),
    }]
    assert store.breakouts("clean-run", "2026-10-06") == []
    assert len(store.breakouts("clean-run", "2026-10-05", "2026-10-05")) == 1
    # the checkpoint says done with the file's counts
    checkpoint = store.checkpoint(result.file_id)
    assert checkpoint is not None and checkpoint.done
    assert checkpoint.counts["rated"] == 40 and checkpoint.total_cost == Decimal("2.6400")
    # the month's calls come back from by_period in answer order, costs exact
    calls = store.rated_calls("clean-run", "2026-10")
    assert [call.call_id for call in calls] == [f"c{i:04d}" for i in range(40)]
    assert {call.cost for call in calls} == {Decimal("0.0660")}
    assert calls[0].answered_at == "2026-10-05T10:00:05.000Z#c0000"
    assert calls[0].billed_ms == 66_000 and calls[0].destination == "UK"


def test_the_same_s3_event_delivered_twice_is_skipped_the_second_time(
    local_stack: LocalStack,
) -> None:
    world = World(local_stack, "twice")
    file = world.drop("a.csv", uk_file("twice", 12))
    world.ingest(file)
    ids = [f"c{i:04d}" for i in range(12)]
    before = world.state(ids)
    # When the same object version arrives again
    again = world.ingest(file)
    # Then nothing changes: 12 × 0.0660 = 0.7920 once
    assert again.status == "skipped"
    assert world.state(ids) == before
    assert before[:2] == (Decimal("-0.7920"), Decimal("-0.7920"))


def test_the_same_file_under_two_keys_charges_nothing_the_second_time(
    local_stack: LocalStack,
) -> None:
    world = World(local_stack, "two-keys")
    data = uk_file("two-keys", 12)
    world.ingest(world.drop("a.csv", data))
    second = world.ingest(world.drop("copy-of-a.csv", data))
    # Then every call is a duplicate: 12 × 0.0660 = 0.7920 charged once only
    assert second.summary.duplicates == 12 and second.summary.rated == 0
    assert world.store.balance("two-keys") == Decimal("-0.7920")
    assert world.store.ledger_sum("two-keys") == Decimal("-0.7920")


def test_two_files_sharing_calls_charge_the_shared_ones_once_and_flag_changed_ones(
    local_stack: LocalStack,
) -> None:
    tenant = "sharing"
    world = World(local_stack, tenant)
    first = world.ingest(world.drop("a.csv", uk_file(tenant, 10)))
    # Given a second file repeating c0005..c0009 and adding c0010..c0014, where c0009 now
    # claims 300 s (different content for a call already charged)
    rows = [row(f"c{i:04d}", tenant) for i in range(5, 9)] + [row("c0009", tenant, billsec=300)]
    rows += [row(f"c{i:04d}", tenant) for i in range(10, 15)]
    second = world.ingest(world.drop("b.csv", (HEADER + "".join(rows)).encode()))
    # Then 4 duplicates, 1 conflict (rejected, kept for review), 5 new calls
    assert (second.summary.duplicates, second.summary.rejected, second.summary.rated) == (4, 1, 5)
    # and 15 distinct calls × 0.0660 = 0.9900 in total
    assert world.store.balance(tenant) == Decimal("-0.9900") == world.store.ledger_sum(tenant)
    rejects = [text for (_bucket, key), text in world.objects.texts.items()
               if key.startswith(f"rejects/{tenant}/")]
    assert any("conflict" in text and "c0009" in text for text in rejects)
    # the conflicting call keeps the content and the chunk of its first, charged, delivery
    stored = world.store.stored_calls(tenant, ["c0009"])["c0009"]
    assert stored.charged_by.startswith(first.file_id)


def _count_writes(stack: LocalStack, tenant: str, data: bytes) -> tuple[int, tuple[object, ...]]:
    counting = World(stack, tenant, CrashingClient(stack.client("dynamodb")))
    result = counting.ingest(counting.drop("f.csv", data))
    assert result.status == "done"
    assert isinstance(counting.client, CrashingClient)
    return counting.client.writes, counting.state(MIXED_IDS)


@pytest.mark.parametrize("after", [False, True], ids=["before-the-write", "after-the-write"])
def test_a_crash_at_every_dynamodb_write_then_a_retry_ends_exactly_like_a_clean_run(
    local_stack: LocalStack, after: bool,
) -> None:
    # Given a clean run of a 4-chunk file, counting its DynamoDB writes
    reference = f"clean-{int(after)}"
    total, clean = _count_writes(local_stack, reference, mixed_file(reference))
    assert total > 15
    # 25 UK (0.0660) + 8 US (0.2400) = 1.6500 + 1.9200 = 3.5700, balance = ledger sum
    assert clean[0] == clean[1] == Decimal("-3.5700")
    # When a run crashes at write N (for every N) and the message is retried once the
    # crashed run's lease has expired
    for fail_at in range(1, total + 1):
        tenant = f"crash-{int(after)}-{fail_at:02d}"
        data = mixed_file(tenant)
        crashing = World(local_stack, tenant, CrashingClient(local_stack.client("dynamodb"),
                                                             fail_at, after))
        with pytest.raises(InjectedFault):
            crashing.ingest(crashing.drop("f.csv", data))
        retry = World(local_stack, tenant, now_ms=NOW_MS + LEASE_MS + 1)
        result = retry.ingest(retry.drop("f.csv", data))
        # Then ledger, balance, breakouts and stored calls equal the clean run's exactly
        assert result.status in ("done", "skipped"), fail_at
        when = "after" if after else "before"
        assert retry.state(MIXED_IDS) == clean, f"crash {when} write {fail_at}"


def test_two_files_of_one_tenant_rated_at_the_same_time_charge_each_call_once(
    local_stack: LocalStack,
) -> None:
    # Given two files sharing half their calls: A = c0000..c0039, B = c0020..c0059
    tenant = "concurrent"
    env = local_stack.function_environment("RateCallFunction")
    clients = [local_stack.session.client("dynamodb", endpoint_url=local_stack.endpoint_url)
               for _ in range(2)]
    worlds = [World(local_stack, tenant, client) for client in clients]
    files = [worlds[0].drop("a.csv", uk_file(tenant, 40)),
             worlds[1].drop("b.csv", uk_file(tenant, 40, start=20))]
    options = IngestOptions(chunk_bytes=700, lease_wait_ms=10**9)
    results: list[IngestResult | BaseException] = [RuntimeError("not run")] * 2
    start = threading.Barrier(2)

    def rate(index: int) -> None:
        try:
            start.wait()
            deps = worlds[index].deps(sleep=lambda _s: time.sleep(0.002))
            results[index] = ingest_file(files[index], deps, options)
        except BaseException as error:  # reported below
            results[index] = error

    # When both are ingested at the same time from two threads, each with its own client
    threads = [threading.Thread(target=rate, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    done = [result for result in results if isinstance(result, IngestResult)]
    assert len(done) == 2, results
    # Then the 60 distinct calls are charged once: 60 × 0.0660 = 3.9600
    store = DynamoUsageStore(local_stack.client("dynamodb"), UsageTables.from_env(env))
    assert store.balance(tenant) == Decimal("-3.9600") == store.ledger_sum(tenant)
    assert sum(result.summary.rated for result in done) == 60
    assert sum(result.summary.duplicates for result in done) == 20
    assert store.breakouts(tenant) == [{
        "day": "2026-10-05", "destination": "UK", "attempts": 60, "answered": 60,
        "billed_ms": 60 * 66_000, "cost": Decimal("3.9600"),
    }]


@pytest.fixture()
def bare_store(local_stack: LocalStack) -> Iterator[DynamoUsageStore]:
    env = local_stack.function_environment("RateCallFunction")
    yield DynamoUsageStore(local_stack.client("dynamodb"), UsageTables.from_env(env))


def _commit(tenant: str, file_id: str, chunk_no: int = 0, amount: str = "-1.00") -> ChunkCommit:
    return ChunkCommit(
        tenant=tenant, file_id=file_id, chunk_no=chunk_no, next_offset=100 * (chunk_no + 1),
        amount=Decimal(amount), currency="USD", calls=1, counts={"rated": 1},
        breakouts={("2026-10-05", "UK"): BreakoutDelta(1, 1, 66_000, -Decimal(amount))},
    )


def test_a_second_owner_cannot_commit_while_the_first_holds_the_lease(
    bare_store: DynamoUsageStore,
) -> None:
    store, tenant = bare_store, "lease"
    store.start_file(FileCheckpoint("lease-file", tenant, BUCKET, "k"))
    # Given owner A holds the lease until NOW + 60 s
    assert store.acquire_lease(tenant, "A", NOW_MS, LEASE_MS)
    # Then B can neither take it nor commit under it
    assert not store.acquire_lease(tenant, "B", NOW_MS + 1, LEASE_MS)
    with pytest.raises(CommitRefused):
        store.commit(_commit(tenant, "lease-file"), "B")
    # and nothing of B's commit was written
    assert store.ledger_entries(tenant) == [] and store.balance(tenant) == Decimal(0)
    checkpoint = store.checkpoint("lease-file")
    assert checkpoint is not None and checkpoint.next_chunk == 0
    # A commits; the commit releases the lease, so B may take it now
    assert store.commit(_commit(tenant, "lease-file"), "A") == Decimal("-1.00")
    assert store.acquire_lease(tenant, "B", NOW_MS + 2, LEASE_MS)
    # and the same chunk cannot commit twice, even for the lease holder
    with pytest.raises(CommitRefused):
        store.commit(_commit(tenant, "lease-file"), "B")
    # an expired lease is taken over
    assert store.acquire_lease(tenant, "C", NOW_MS + 2 + LEASE_MS + 1, LEASE_MS)
    assert store.balance(tenant) == Decimal("-1.00") == store.ledger_sum(tenant)


def test_a_top_up_landing_inside_a_commit_refuses_it_and_the_retry_is_exact(
    local_stack: LocalStack,
) -> None:
    # Given a commit whose balance read is followed by a top-up before its transaction
    tenant, raw = "topup-race", local_stack.client("dynamodb")
    tables = UsageTables.from_env(local_stack.function_environment("RateCallFunction"))
    other = DynamoUsageStore(raw, tables)

    class TopUpFirst(CrashingClient):
        raced = False

        def transact_write_items(self, **request: Any) -> Any:
            if not self.raced:
                self.raced = True
                other.credit(tenant, "topup#race", Decimal("5.00"), "USD")
            return self._client.transact_write_items(**request)

    store = DynamoUsageStore(TopUpFirst(raw), tables)
    store.start_file(FileCheckpoint("race-file", tenant, BUCKET, "k"))
    assert store.acquire_lease(tenant, "A", NOW_MS, LEASE_MS)
    # Then the first try is refused (nothing written) and the second returns the exact balance
    with pytest.raises(CommitRefused):
        store.commit(_commit(tenant, "race-file", amount="-1.25"), "A")
    assert store.commit(_commit(tenant, "race-file", amount="-1.25"), "A") == Decimal("3.75")
    assert store.balance(tenant) == Decimal("3.75") == store.ledger_sum(tenant)


def test_credits_are_idempotent_by_entry_id(bare_store: DynamoUsageStore) -> None:
    store, tenant = bare_store, "credits"
    assert store.credit(tenant, "topup#pi_1", Decimal("10.50"), "USD")
    assert not store.credit(tenant, "topup#pi_1", Decimal("10.50"), "USD")
    assert store.credit(tenant, "refund#re_1", Decimal("-0.25"), "USD")
    # 10.50 - 0.25 = 10.25, once
    assert store.balance(tenant) == Decimal("10.25") == store.ledger_sum(tenant)
    assert [entry.kind for entry in store.ledger_entries(tenant)] == ["refund", "topup"]


def test_a_prepaid_balance_crossing_the_threshold_raises_one_low_balance_event(
    local_stack: LocalStack,
) -> None:
    # Given 2.50 credit and a 2.00 threshold: the 8th call (8 × 0.0660 = 0.5280) crosses it
    world = World(local_stack, "low-balance")
    world.store.credit("low-balance", "topup#seed", Decimal("2.50"), "USD")
    world.ingest(world.drop("a.csv", uk_file("low-balance", 30)))
    # Then exactly one event; 2.50 - 30 × 0.0660 = 2.50 - 1.9800 = 0.5200
    assert len(world.events.low_balance_events) == 1
    assert world.events.low_balance_events[0][1] < Decimal("2.00")
    assert world.store.balance("low-balance") == Decimal("0.5200")


class DeferringClient(CrashingClient):
    """Answers every batch request by doing only its first half and returning the rest as
    unprocessed, as DynamoDB does under throttling."""

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        ((table, requests),) = RequestItems.items()
        half = max(1, len(requests) // 2)
        self._client.batch_write_item(RequestItems={table: requests[:half]})
        self.writes += 1
        return {"UnprocessedItems": {table: requests[half:]} if requests[half:] else {}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        half = max(1, len(keys) // 2)
        response = self._client.batch_get_item(RequestItems={table: {**request,
                                                                     "Keys": keys[:half]}})
        rest = keys[half:]
        return {"Responses": response["Responses"],
                "UnprocessedKeys": {table: {**request, "Keys": rest}} if rest else {}}


def test_big_chunks_page_their_batch_reads_and_writes_and_retry_unprocessed_items(
    local_stack: LocalStack,
) -> None:
    # Given one chunk of 230 calls, and a client that leaves half of every batch unprocessed
    tenant = "big-chunk"
    world = World(local_stack, tenant, DeferringClient(local_stack.client("dynamodb")))
    result = world.ingest(world.drop("big.csv", uk_file(tenant, 230)), IngestOptions())
    # Then all 230 calls are stored and charged once: 230 × 0.0660 = 15.1800
    assert result.chunks == 1 and result.summary.rated == 230
    assert world.store.balance(tenant) == Decimal("-15.1800")
    ids = [f"c{i:04d}" for i in range(230)]
    # and a lookup with repeated ids (BatchGetItem refuses those) finds each call once
    found = world.store.stored_calls(tenant, ids + ids[:50] + ["nope"])
    assert sorted(found) == ids
    assert len(world.store.rated_calls(tenant, "2026-10")) == 230


def test_tenant_settings_round_trip_with_exact_amounts(local_stack: LocalStack) -> None:
    env = local_stack.function_environment("RateCallFunction")
    directory = DynamoTenantDirectory(local_stack.client("dynamodb"), env["TENANTS_TABLE"])
    settings = TenantSettings(tenant_id="settings-rt", card="retail", currency="EUR",
                              timezone="Europe/Paris", low_balance_threshold=Decimal("12.3456"),
                              credit_limit=Decimal("1000.10"))
    directory.put(settings)
    assert directory.get("settings-rt") == settings
    assert directory.get("settings-missing") is None


def test_a_card_larger_than_an_item_is_stored_in_chunks_and_read_back(
    local_stack: LocalStack,
) -> None:
    # Given a 24,000-prefix card (about 410 KB gzip'd: more than one 300 KB chunk)
    env = local_stack.function_environment("RateCallFunction")
    cards = DynamoCardStore(local_stack.client("dynamodb"), env["RATE_CARDS_TABLE"])
    rates = [{"prefix": str(100000 + i * 7919 % 899999), "destination": f"D{i * 2654435761:x}",
              "tiers": [{"price": f"0.{i * 7919 % 10**6:06d}", "initial": 1, "increment": 1}]}
             for i in range(24_000)]
    document = {"card": "big-card", "currency": "USD", "rates": rates}
    version = cards.put(document)
    # Then the meta item counts the chunks and the card comes back equal to the original
    meta = local_stack.client("dynamodb").get_item(
        TableName=env["RATE_CARDS_TABLE"], Key={"card": {"S": "big-card"}, "part": {"S": "meta"}}
    )["Item"]
    assert int(meta["chunks"]["N"]) >= 2
    assert cards.version("big-card") == version
    assert cards.get("big-card") == load_card(document)
    # storing it again writes nothing new; a smaller card replaces it (and its extra chunks)
    assert cards.put(document) == version
    small = {**CARD_DOCUMENT, "card": "big-card"}
    assert cards.put(small) != version
    assert cards.get("big-card") == load_card(small)
    assert cards.get("no-such-card") is None and cards.version("no-such-card") is None
