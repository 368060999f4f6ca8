"""Faults combined at random (hypothesis) at the service level, against fakes that enforce
DynamoDB's conditions (``tests/fakes``): many more fault × order combinations than the local
stack could run in the time budget.

* Ingest: three CDR files of one tenant (a.csv; a copy of it under another key; b.csv
  sharing ten calls with it) and a repeated notification, delivered in any order, with one
  fault somewhere (a crash at the Nth write, an S3 read error at the Nth read, or a Lambda
  deadline reached after N clock readings); every failed delivery is retried, as SQS does.
* Recharge: low-balance triggers for one prepaid wallet, each of whose Stripe calls may time
  out before Stripe saw it or after Stripe created the PaymentIntent (the answer lost), with
  SQS retries, hours passing and ``payment_intent.succeeded`` webhooks delivered any number
  of times in between.

The expected end state is computed by hand, never read from a clean run of the same code:
30 distinct UK calls of 61 s at 0.0600/min, 60/6 (66 s = 0.0660 each) = 1.9800; one
recharge of 50.00 EUR on a wallet at 4.00 = 54.00.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.stripe_signature import StripeSignatureVerifier
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.tenants import BillingMode, TenantSettings
from shared.services.ingest import CdrFile, IngestDeps, IngestOptions, ingest_file
from shared.services.payments_webhook import WebhookDeps, receive_webhook
from shared.services.recharge import STALE_CLAIM_SECONDS, RechargeDeps, RechargeRequest, recharge
from tests.fakes.payments import (
    TEST_SECRET,
    FakeGateway,
    MemoryRechargeRecords,
    MemoryWallet,
    RecordingNotifier,
    event,
    payment_intent,
    sign,
)
from tests.fakes.usage_store import (
    FaultPlan,
    InjectedFault,
    MemoryObjects,
    MemoryUsageStore,
    RecordedEvents,
)
from tests.hostile.budget import PURE

# ------------------------------------------------------------------------------ ingest

BUCKET = "cdrs"
NOW_MS = 1_793_000_000_000  # 2026-10-26, after every call
HEADER = "call_id,tenant,caller,callee,start_time,answer_time,billsec\n"
CARD = compile_card(load_card({
    "card": "retail", "currency": "USD",
    "rates": [{"prefix": "44", "destination": "UK",
               "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}]}],
}))
OPTIONS = IngestOptions(chunk_bytes=600, safety_ms=30_000)


def _file(ids: range) -> bytes:
    rows = "".join(
        f"c{i:03d},acme,+351912345678,442071234567,2026-10-05T10:00:00Z,"
        "2026-10-05T10:00:02Z,61\n" for i in ids
    )
    return (HEADER + rows).encode()


class ReadFault(RuntimeError):
    """An S3 GetObject whose stream broke (ResponseStreamingError in AWS)."""


@dataclass
class FlakyObjects(MemoryObjects):
    """MemoryObjects whose ``fail_read``-th ranged read (1-based, counted across every
    invocation) raises once."""

    fail_read: int | None = None
    reads: int = 0

    def read_range(self, bucket: str, key: str, start: int, end: int,
                   version_id: str | None = None, etag: str | None = None) -> bytes:
        self.reads += 1
        if self.reads == self.fail_read:
            raise ReadFault(f"injected: read {self.reads} broke mid-stream")
        return super().read_range(bucket, key, start, end, version_id, etag)


class Tenants:
    def get(self, tenant: str) -> TenantSettings | None:
        return TenantSettings(tenant_id="acme", card="retail", currency="USD") if (
            tenant == "acme") else None


@dataclass
class Pipeline:
    faults: FaultPlan
    objects: FlakyObjects
    store: MemoryUsageStore = field(init=False)
    deadline_after: int | None = None  # clock readings an invocation gets before its deadline
    failures: int = 0  # what the handler reports as batch item failures (FailedMessages)

    def __post_init__(self) -> None:
        self.store = MemoryUsageStore(faults=self.faults)

    def drop(self, key: str, data: bytes) -> CdrFile:
        self.objects.objects[(BUCKET, key)] = data
        etag = hashlib.md5(data).hexdigest()
        return CdrFile(BUCKET, key, etag, len(data), etag=etag)

    def invoke(self, file: CdrFile) -> bool:
        """One delivery of the file's message: True when the message may be deleted."""
        clock = iter(range(NOW_MS, NOW_MS + 10**12, 1_000))
        deps = IngestDeps(
            objects=self.objects, outputs=self.objects, tenants=Tenants(),
            cards=lambda _s: CARD, store=self.store, events=RecordedEvents(),
            now_ms=lambda: next(clock), sleep=lambda _s: None,
        )
        deadline = None
        if self.deadline_after is not None:
            deadline = NOW_MS + OPTIONS.safety_ms + self.deadline_after * 1_000
        try:
            result = ingest_file(file, deps, OPTIONS, deadline)
        except (InjectedFault, ReadFault):
            self.failures += 1
            self.store.leases.clear()  # the dead invocation's lease runs out before SQS retries
            return False
        if result.status == "incomplete":
            self.failures += 1
            return False
        return True


@PURE
@given(
    order=st.permutations(["a", "copy", "b", "a-again"]),
    fault=st.one_of(
        st.tuples(st.just("write"), st.integers(1, 120)),
        st.tuples(st.just("read"), st.integers(1, 40)),
        st.tuples(st.just("deadline"), st.integers(2, 8)),
        st.just(("none", 0)),
    ),
)
def test_any_delivery_order_with_any_one_fault_charges_each_call_once(
    order: list[str], fault: tuple[str, int]
) -> None:
    # Given a.csv (c000-c019), the same bytes as copy.csv, b.csv (c010-c029: ten calls
    # shared with a.csv) and a.csv's notification delivered twice
    kind, at = fault
    pipeline = Pipeline(
        FaultPlan(fail_at=at if kind == "write" else None),
        FlakyObjects(fail_read=at if kind == "read" else None),
        deadline_after=at if kind == "deadline" else None,
    )
    a = pipeline.drop("tenants/acme/a.csv", _file(range(20)))
    files = {"a": a, "a-again": a, "copy": pipeline.drop("tenants/acme/copy.csv", _file(range(20))),
             "b": pipeline.drop("tenants/acme/b.csv", _file(range(10, 30)))}

    # When each message is delivered until it succeeds (SQS redelivery), in that order
    for name in order:
        for _attempt in range(20):
            if pipeline.invoke(files[name]):
                break
        else:
            raise AssertionError(f"{name} never finished")

    # Then 30 distinct calls × 0.0660 = 1.9800, once, whatever failed on the way; and a
    # fault that fired was reported as a failed delivery
    store = pipeline.store
    assert store.balance("acme") == Decimal("-1.9800") == store.ledger_sum("acme")
    assert sorted(call_id for _t, call_id in store.calls) == [f"c{i:03d}" for i in range(30)]
    assert {item.rating.cost for item in store.calls.values()} == {Decimal("0.0660")}
    if kind in ("write", "read"):
        fired = pipeline.faults.writes >= at if kind == "write" else pipeline.objects.reads >= at
        assert (pipeline.failures > 0) == fired


# ------------------------------------------------------------------------------ recharge


@dataclass
class FlakyGateway(FakeGateway):
    """FakeGateway (it ignores Idempotency-Key, like localstripe) whose next call may time
    out before Stripe saw it or after Stripe created the intent."""

    next_fault: str | None = None

    def charge_off_session(self, customer: str, amount_minor: int, currency: str,
                           idempotency_key: str, metadata: Any) -> Any:
        fault, self.next_fault = self.next_fault, None
        if fault == "before":
            raise TimeoutError("injected: Stripe timed out before it saw the request")
        self.fail_after_create = fault == "after"
        return super().charge_off_session(customer, amount_minor, currency, idempotency_key,
                                          metadata)


@dataclass
class Wallet:
    records: MemoryRechargeRecords = field(default_factory=MemoryRechargeRecords)
    wallet: MemoryWallet = field(default_factory=MemoryWallet)
    gateway: FlakyGateway = field(default_factory=FlakyGateway)
    clock: list[int] = field(default_factory=lambda: [1_790_000_000])
    failed: list[str] = field(default_factory=list)  # triggers whose message SQS will retry

    def __post_init__(self) -> None:
        self.records.items["stripe#acme"] = {"customer": "cus_acme", "tenant": "acme"}

    def get(self, tenant: str) -> TenantSettings | None:
        return TenantSettings(
            tenant_id="acme", card="c", currency="EUR", mode=BillingMode.PREPAID,
            low_balance_threshold=Decimal("10.00"), recharge_amount=Decimal("50.00"),
        ) if tenant == "acme" else None

    def balance(self, tenant: str) -> Decimal:
        return Decimal("4.00") + self.wallet.balance(tenant)

    def trigger(self, name: str, fault: str | None) -> None:
        self.gateway.next_fault = fault
        deps = RechargeDeps(self, self, self.wallet, self.records, self.gateway,
                            RecordingNotifier(), now=lambda: self.clock[0])
        try:
            recharge(RechargeRequest("acme", name), deps)
        except (TimeoutError, ConnectionError):
            self.failed.append(name)  # a batch item failure: SQS delivers it again
        finally:
            self.gateway.next_fault = None

    def webhooks(self, copies: int) -> None:
        deps = WebhookDeps(StripeSignatureVerifier((TEST_SECRET,)), self.records, self.wallet,
                           self)
        for intent in list(self.gateway.intents.values()):
            payload = event("payment_intent.succeeded",
                            payment_intent(intent.intent_id, "acme", intent.amount_minor),
                            f"evt_{intent.intent_id}", int(time.time()))
            for _ in range(copies):
                receive_webhook(payload, sign(payload), deps)


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("trigger"), st.sampled_from([None, "before", "after"])),
        st.tuples(st.just("retry"), st.none()),
        st.tuples(st.just("webhook"), st.integers(1, 3)),
        st.tuples(st.just("hour"), st.none()),
    ),
    min_size=1, max_size=10,
)


@PURE
@given(steps=_steps)
def test_stripe_timeouts_retries_and_webhooks_in_any_order_charge_the_card_once(
    steps: list[tuple[str, Any]],
) -> None:
    # Given a prepaid wallet at 4.00 EUR under its 10.00 threshold, recharging 50.00
    world = Wallet()
    number = 0
    for step, arg in steps:
        if step == "trigger":
            number += 1
            world.trigger(f"evt-{number}", arg)
        elif step == "retry" and world.failed:
            world.trigger(world.failed.pop(0), None)
        elif step == "webhook":
            world.webhooks(arg)
        elif step == "hour":
            world.clock[0] += STALE_CLAIM_SECONDS
    # When every failed message is finally retried without a fault, Stripe's webhooks
    # arrive, and a later low-balance event comes in after the stale window
    while world.failed:
        world.trigger(world.failed.pop(0), None)
    world.webhooks(2)
    world.clock[0] += STALE_CLAIM_SECONDS
    world.trigger("evt-late", None)
    world.webhooks(1)

    # Then the card was charged exactly once and credited once: 4.00 + 50.00 = 54.00
    assert len(world.gateway.intents) == 1, world.gateway.intents
    assert world.balance("acme") == Decimal("54.00")
    assert list(world.wallet.entries) == [("acme", "topup#pi_fake_1")]
