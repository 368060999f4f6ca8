"""The S3 → ledger pipeline's exactly-once promises, against fakes that enforce DynamoDB's
conditions (SPEC section 5). Every "must not happen twice" has a test that makes it try."""

from __future__ import annotations

import copy
import hashlib
from decimal import Decimal

import pytest

from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.tenants import TenantSettings
from shared.services.ingest import CdrFile, IngestDeps, IngestOptions, ingest_file
from tests.fakes.usage_store import (
    FaultPlan,
    InjectedFault,
    MemoryObjects,
    MemoryUsageStore,
    RecordedEvents,
    seed_credit,
)

BUCKET = "cdrs"
HEADER = "call_id,tenant,callee,start_time,answer_time,billsec,disposition\n"
NOW_MS = 1_793_000_000_000  # 2026-10-26, after every call below
CARD = compile_card(
    load_card(
        {
            "card": "retail",
            "currency": "USD",
            "rates": [
                # 60/6 at 0.0600/min: a 61 s call bills 66 s = 66 × 0.06 / 60 = 0.0660
                {
                    "prefix": "44",
                    "destination": "UK",
                    "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}],
                },
                # 60/60 at 0.1200/min: a 61 s call bills 120 s = 0.2400
                {
                    "prefix": "1",
                    "destination": "USA",
                    "tiers": [{"price": "0.1200", "initial": 60, "increment": 60}],
                },
            ],
        }
    )
)
OPTIONS = IngestOptions(chunk_bytes=700)  # about ten rows a chunk: many chunks per file


def settings(tenant: str = "acme") -> TenantSettings:
    return TenantSettings(
        tenant_id=tenant, card="retail", currency="USD", low_balance_threshold=Decimal("2.00")
    )


def row(
    call_id: str,
    callee: str = "442071234567",
    billsec: int = 61,
    tenant: str = "acme",
    day: int = 5,
) -> str:
    return (
        f"{call_id},{tenant},{callee},2026-10-{day:02d}T10:00:00Z,"
        f"2026-10-{day:02d}T10:00:05Z,{billsec},ANSWERED\n"
    )


def uk_file(count: int, prefix: str = "c", start: int = 0) -> bytes:
    return (HEADER + "".join(row(f"{prefix}{i:04d}") for i in range(start, start + count))).encode()


class World:
    """Stores, objects and deps for one scenario."""

    def __init__(self, faults: FaultPlan | None = None, tenants: tuple[str, ...] = ("acme",)):
        self.faults = faults or FaultPlan()
        self.store = MemoryUsageStore(faults=self.faults)
        self.objects = MemoryObjects(faults=self.faults)
        self.events = RecordedEvents()
        self.settings = {name: settings(name) for name in tenants}

    def deps(self) -> IngestDeps:
        return IngestDeps(
            objects=self.objects,
            outputs=self.objects,
            tenants=self,
            cards=lambda _s: CARD,
            store=self.store,
            events=self.events,
            now_ms=lambda: NOW_MS,
            sleep=lambda _s: None,
        )

    def get(self, tenant: str) -> TenantSettings | None:
        return self.settings.get(tenant)

    def drop(self, key: str, data: bytes) -> CdrFile:
        """Upload ``data`` under ``key``; the event names it by its ETag, as S3's does."""
        self.objects.objects[(BUCKET, key)] = data
        etag = hashlib.md5(data).hexdigest()
        return CdrFile(BUCKET, key, etag, len(data), etag=etag)

    def state(self, tenant: str = "acme") -> tuple[object, ...]:
        store = self.store
        return (
            store.balance(tenant),
            store.ledger_sum(tenant),
            store.breakout_view(tenant),
            sorted(
                (key, item.charged_by.split(":")[0], item.rating.cost)
                for key, item in store.calls.items()
                if key[0] == tenant
            ),
        )


def test_a_clean_run_charges_every_call_once_across_many_chunks() -> None:
    # Given 40 answered UK calls of 61 s (0.0660 each) in a file cut into ~10-row chunks
    world = World()
    file = world.drop("tenants/acme/2026-10-05.csv", uk_file(40))
    # When the file is ingested
    result = world.deps() and ingest_file(file, world.deps(), OPTIONS)
    # Then 40 × 0.0660 = 2.6400 is debited once, the balance equals the ledger sum
    assert result.status == "done" and result.chunks > 3
    assert result.summary.rated == 40 and result.summary.rows == 40
    assert result.summary.total_cost == Decimal("2.6400")
    assert world.store.balance("acme") == Decimal("-2.6400") == world.store.ledger_sum("acme")
    # and the breakout for (2026-10-05, UK) counts 40 attempts, 40 answered, 40 × 66 s
    assert world.store.breakout_view("acme") == {
        ("2026-10-05", "UK"): (40, 40, 40 * 66_000, Decimal("2.6400"))
    }


def test_the_same_s3_event_delivered_twice_is_skipped_the_second_time() -> None:
    world = World()
    file = world.drop("tenants/acme/a.csv", uk_file(12))
    ingest_file(file, world.deps(), OPTIONS)
    before = world.state()
    # When the same object version arrives again
    again = ingest_file(file, world.deps(), OPTIONS)
    # Then nothing changes
    assert again.status == "skipped"
    assert world.state() == before


def test_the_same_file_under_two_keys_charges_nothing_the_second_time() -> None:
    world = World()
    data = uk_file(12)
    ingest_file(world.drop("tenants/acme/a.csv", data), world.deps(), OPTIONS)
    before = world.state()
    second = ingest_file(world.drop("tenants/acme/copy-of-a.csv", data), world.deps(), OPTIONS)
    # Then every call is a duplicate: 12 × 0.0660 = 0.7920 charged once only
    assert second.summary.duplicates == 12 and second.summary.rated == 0
    assert world.state()[:2] == before[:2] == (Decimal("-0.7920"), Decimal("-0.7920"))


def test_two_files_sharing_calls_charge_the_shared_ones_once_and_flag_changed_ones() -> None:
    world = World()
    ingest_file(world.drop("tenants/acme/a.csv", uk_file(10)), world.deps(), OPTIONS)
    # Given a second file repeating c0005..c0009 and adding c0010..c0014, where c0009 now
    # claims 300 s (different content for a call already charged)
    rows = [row(f"c{i:04d}") for i in range(5, 9)] + [row("c0009", billsec=300)]
    rows += [row(f"c{i:04d}") for i in range(10, 15)]
    second = ingest_file(
        world.drop("tenants/acme/b.csv", (HEADER + "".join(rows)).encode()), world.deps(), OPTIONS
    )
    # Then 4 duplicates, 1 conflict (rejected, kept for review), 5 new calls
    assert (second.summary.duplicates, second.summary.rejected, second.summary.rated) == (4, 1, 5)
    # and 15 distinct calls × 0.0660 = 0.9900 in total
    assert world.store.balance("acme") == Decimal("-0.9900") == world.store.ledger_sum("acme")
    rejects = [
        text
        for (bucket, key), text in world.objects.texts.items()
        if key.startswith("rejects/acme/")
    ]
    assert any("conflict" in text and "c0009" in text for text in rejects)


def _clean_state(data: bytes) -> tuple[object, ...]:
    world = World()
    ingest_file(world.drop("tenants/acme/f.csv", data), world.deps(), OPTIONS)
    return world.state()


def test_a_crash_at_every_write_then_a_retry_ends_exactly_like_a_clean_run() -> None:
    # Given a file with answered, unanswered and in-file duplicate calls over several chunks
    rows = [row(f"c{i:04d}") for i in range(25)] + [row("c0003"), row("u1", billsec=0)]
    rows += [row(f"d{i:04d}", callee="12125550100") for i in range(8)]
    data = (HEADER + "".join(rows)).encode()
    clean = _clean_state(data)
    counting = World()
    ingest_file(counting.drop("tenants/acme/f.csv", data), counting.deps(), OPTIONS)
    total_writes = counting.faults.writes
    assert total_writes > 10
    # When the run crashes at write N (for every N) and the message is retried
    for fail_at in range(1, total_writes + 1):
        world = World(FaultPlan(fail_at=fail_at))
        file = world.drop("tenants/acme/f.csv", data)
        with pytest.raises(InjectedFault):
            ingest_file(file, world.deps(), OPTIONS)
        world.store.leases.clear()  # the crashed run's lease expires
        retry = ingest_file(file, world.deps(), OPTIONS)
        # Then balances, ledger, breakouts and stored calls equal the clean run's
        assert retry.status in ("done", "skipped"), fail_at
        assert world.state() == clean, f"crash at write {fail_at}"
    # and the clean run itself: 25 UK (0.0660) + 8 US (0.2400) = 1.6500 + 1.9200 = 3.5700
    assert clean[0] == Decimal("-3.5700")


def test_an_orphaned_call_from_a_crashed_file_is_taken_over_by_the_next_file() -> None:
    # Given file A crashed after writing its first chunk's calls but before committing
    data = uk_file(5)
    world = World(FaultPlan())
    file_a = world.drop("tenants/acme/a.csv", data)
    writes_before_commit = 2  # start_file, acquire_lease, then put_calls is write 3
    world.faults.fail_at = writes_before_commit + 2  # the commit
    with pytest.raises(InjectedFault):
        ingest_file(file_a, world.deps(), IngestOptions())
    world.faults.fail_at = None
    world.store.leases.clear()
    # When file B with the same calls is rated, then A is retried
    ingest_file(world.drop("tenants/acme/b.csv", data), world.deps(), IngestOptions())
    retry = ingest_file(file_a, world.deps(), IngestOptions())
    # Then B charged the 5 calls (5 × 0.0660 = 0.3300) and A's retry found them duplicates
    assert world.store.balance("acme") == Decimal("-0.3300") == world.store.ledger_sum("acme")
    assert retry.summary.duplicates == 5


def test_rows_naming_another_tenant_are_rejected_and_never_touch_its_wallet() -> None:
    world = World(tenants=("acme", "globex"))
    seed_credit(world.store, "globex", "topup#seed", Decimal("5.00"))
    data = (HEADER + row("a1") + row("g1", tenant="globex")).encode()
    result = ingest_file(world.drop("tenants/acme/mixed.csv", data), world.deps(), OPTIONS)
    assert (result.summary.rated, result.summary.rejected) == (1, 1)
    assert result.summary.reasons["wrong_tenant"] == 1
    assert world.store.balance("globex") == Decimal("5.00")
    assert world.store.balance("acme") == Decimal("-0.0660")


def test_an_unknown_tenant_charges_nothing_and_says_why() -> None:
    world = World()
    result = ingest_file(world.drop("tenants/nobody/x.csv", uk_file(3)), world.deps(), OPTIONS)
    assert result.status == "rejected" and "nobody" in result.detail
    assert world.store.ledger == {}
    assert any("unknown_tenant" in text for text in world.objects.texts.values())


def test_a_prepaid_balance_crossing_the_threshold_raises_one_low_balance_event() -> None:
    # Given 2.50 credit and a 2.00 threshold: the 8th call (8 × 0.0660 = 0.5280) crosses it
    world = World()
    seed_credit(world.store, "acme", "topup#seed", Decimal("2.50"))
    ingest_file(world.drop("tenants/acme/a.csv", uk_file(30)), world.deps(), OPTIONS)
    # Then exactly one event, with the balance after the crossing chunk
    assert len(world.events.low_balance_events) == 1
    tenant, balance, threshold, currency = world.events.low_balance_events[0]
    assert (tenant, threshold, currency) == ("acme", Decimal("2.00"), "USD")
    assert balance < Decimal("2.00")
    assert world.store.balance("acme") == Decimal("2.50") - Decimal("1.9800")


def test_a_run_that_hits_its_deadline_stops_and_the_next_one_resumes() -> None:
    world = World()
    file = world.drop("tenants/acme/a.csv", uk_file(40))
    clock = iter(range(NOW_MS, NOW_MS + 10**9, 20_000))  # 20 s per reading
    deps = world.deps()
    deps.now_ms = lambda: next(clock)
    first = ingest_file(file, deps, OPTIONS, deadline_ms=NOW_MS + 140_000)
    assert first.status == "incomplete"
    second = ingest_file(file, world.deps(), OPTIONS)
    assert second.status == "done" and second.summary.rated == 40
    assert world.store.balance("acme") == Decimal("-2.6400")


def test_rejects_keep_their_physical_line_numbers_across_chunks() -> None:
    world = World()
    rows = [row(f"c{i:04d}") for i in range(20)]
    rows[14] = "c0014,acme,442071234567,not-a-time,2026-10-05T10:00:05Z,61,ANSWERED\n"
    data = (HEADER + "".join(rows)).encode()
    ingest_file(world.drop("tenants/acme/a.csv", data), world.deps(), OPTIONS)
    texts = "".join(
        text for (_b, key), text in world.objects.texts.items() if key.startswith("rejects/")
    )
    # the header is line 1, so rows[14] is physical line 16
    assert "\n16,malformed," in texts


def test_the_summary_identity_holds_for_the_file() -> None:
    world = World()
    rows = [row(f"c{i:04d}") for i in range(12)] + [row("c0001"), "junk\n", row("u", billsec=0)]
    result = ingest_file(
        world.drop("tenants/acme/a.csv", (HEADER + "".join(rows)).encode()), world.deps(), OPTIONS
    )
    s = result.summary
    assert s.rows == 15 == s.rated + s.unanswered + s.rejected + s.duplicates + s.merged
    assert (s.rated, s.unanswered, s.rejected, s.duplicates) == (12, 1, 1, 1)
    stored = copy.deepcopy(world.objects.texts)
    assert any(key.startswith("results/acme/") for (_b, key) in stored)


def test_the_fraud_guard_alarms_once_when_a_file_takes_a_day_to_its_spend_cap() -> None:
    # Given a 1.00 daily cap: 20 UK calls of 0.0660 = 1.3200 on 2026-10-05 cross it
    world = World()
    world.settings["acme"] = settings().model_copy(update={"daily_spend_cap": Decimal("1.00")})
    ingest_file(world.drop("tenants/acme/a.csv", uk_file(20)), world.deps(), OPTIONS)
    assert world.events.spend_cap_events == [
        ("acme", "2026-10-05", Decimal("1.3200"), Decimal("1.00"))
    ]
    # When another file adds calls to the same day, already over the cap: no second alarm
    ingest_file(world.drop("tenants/acme/b.csv", uk_file(3, prefix="b")), world.deps(), OPTIONS)
    assert len(world.events.spend_cap_events) == 1


def test_no_alarm_while_the_day_stays_under_the_cap() -> None:
    world = World()
    world.settings["acme"] = settings().model_copy(update={"daily_spend_cap": Decimal("1.00")})
    # 15 × 0.0660 = 0.9900 < 1.00
    ingest_file(world.drop("tenants/acme/a.csv", uk_file(15)), world.deps(), OPTIONS)
    assert world.events.spend_cap_events == []


# -- findings of review: each was a wrong result before its fix ----------------------------


def test_a_leading_blank_line_does_not_lose_the_header_for_later_chunks() -> None:
    world = World()
    data = ("\n" + HEADER + "".join(row(f"c{i:04d}") for i in range(30))).encode()
    result = ingest_file(world.drop("tenants/acme/a.csv", data), world.deps(), OPTIONS)
    # 30 × 0.0660 = 1.9800, nothing rejected, whatever chunk a row falls in
    assert (result.summary.rated, result.summary.rejected) == (30, 0)
    assert world.store.balance("acme") == Decimal("-1.9800")


def test_a_quoted_line_break_is_never_cut_by_a_chunk_boundary() -> None:
    world = World()
    header = "call_id,account,callee,start_time,answer_time,billsec\n"
    rows = [
        f'c{i:04d},"ext\n{i}",442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:05Z,61\n'
        for i in range(30)
    ]
    data = (header + "".join(rows)).encode()
    result = ingest_file(world.drop("tenants/acme/a.csv", data), world.deps(), OPTIONS)
    assert (result.summary.rows, result.summary.rated) == (30, 30)
    assert world.store.balance("acme") == Decimal("-1.9800")


def test_an_over_long_line_is_one_reject_and_what_follows_it_is_read_normally() -> None:
    world = World()
    data = (HEADER + "J" * 1_400 + row("tail1") + row("ok1")).encode()
    options = IngestOptions(chunk_bytes=700, max_line_bytes=1_000)
    result = ingest_file(world.drop("tenants/acme/a.csv", data), world.deps(), options)
    # the 1,400 Js and the row glued to them are one physical line: one reject, line 2
    assert (result.summary.rows, result.summary.rejected, result.summary.rated) == (2, 1, 1)
    rejects = "".join(t for (_b, k), t in world.objects.texts.items() if k.startswith("rejects/"))
    assert "\n2,malformed,\"line longer than 1,000 bytes\"" in rejects
    assert world.store.balance("acme") == Decimal("-0.0660")  # ok1 only


def test_a_timestamp_out_of_range_rejects_its_row_not_the_file() -> None:
    world = World()
    bad = "b1,acme,442071234567,0001-01-01T00:30:00+01:00,0001-01-01T00:30:05+01:00,61,ANSWERED\n"
    data = (HEADER + bad + row("ok1")).encode()
    result = ingest_file(world.drop("tenants/acme/a.csv", data), world.deps(), OPTIONS)
    assert (result.summary.rejected, result.summary.rated) == (1, 1)


def test_a_replaced_object_is_never_read_in_place_of_the_version_being_resumed() -> None:
    world = World()
    first = world.drop("tenants/acme/Master.csv", uk_file(40))
    clock = iter(range(NOW_MS, NOW_MS + 10**9, 20_000))
    deps = world.deps()
    deps.now_ms = lambda: next(clock)
    assert ingest_file(first, deps, OPTIONS, deadline_ms=NOW_MS + 140_000).status == "incomplete"
    # the key is overwritten with other calls before the first version is resumed
    world.drop("tenants/acme/Master.csv", uk_file(40, prefix="v2-"))
    with pytest.raises(RuntimeError, match="replaced"):
        ingest_file(first, world.deps(), OPTIONS)


def test_the_spend_alarm_fires_once_even_when_the_file_takes_two_invocations() -> None:
    world = World()
    world.settings["acme"] = settings().model_copy(update={"daily_spend_cap": Decimal("0.50")})
    file = world.drop("tenants/acme/a.csv", uk_file(40))
    clock = iter(range(NOW_MS, NOW_MS + 10**9, 20_000))
    deps = world.deps()
    deps.now_ms = lambda: next(clock)
    assert ingest_file(file, deps, OPTIONS, deadline_ms=NOW_MS + 140_000).status == "incomplete"
    ingest_file(file, world.deps(), OPTIONS)
    # 40 × 0.0660 = 2.6400 on 2026-10-05, past the 0.50 cap: one alarm
    assert world.events.spend_cap_events == [
        ("acme", "2026-10-05", Decimal("2.6400"), Decimal("0.50"))
    ]


def test_an_unreadable_header_is_not_counted_as_a_row() -> None:
    world = World()
    data = b"hello,world\nthis is,not a cdr\nnor,this\n"
    result = ingest_file(world.drop("tenants/acme/a.csv", data), world.deps(), OPTIONS)
    assert (result.summary.rows, result.summary.rejected) == (2, 2)
