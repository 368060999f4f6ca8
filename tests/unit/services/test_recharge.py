"""Auto-recharge with fakes: the gateway, like localstripe, ignores Idempotency-Key, so every
"no double charge" here is proven by our own recharge slot.

acme: prepaid EUR, threshold 10.00, recharge 50.00 (5000 cents).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from shared.domain.errors import ValidationError
from shared.domain.tenants import BillingMode, TenantSettings
from shared.services.recharge import (
    STALE_CLAIM_SECONDS,
    RechargeDeps,
    RechargeRequest,
    recharge,
)
from tests.fakes.payments import (
    FakeGateway,
    MemoryRechargeRecords,
    MemoryWallet,
    RecordingNotifier,
)


@dataclass
class World:
    records: MemoryRechargeRecords = field(default_factory=MemoryRechargeRecords)
    wallet: MemoryWallet = field(default_factory=MemoryWallet)
    gateway: FakeGateway = field(default_factory=FakeGateway)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    clock: list[int] = field(default_factory=lambda: [1_000_000])
    start_balance: Decimal = Decimal("4.00")

    def __post_init__(self) -> None:
        self.records.items["stripe#acme"] = {"customer": "cus_acme", "tenant": "acme"}

    def get(self, tenant: str) -> TenantSettings | None:
        modes = {"acme": BillingMode.PREPAID, "initech": BillingMode.POSTPAID}
        if tenant not in modes:
            return None
        return TenantSettings(tenant_id=tenant, card="c", currency="EUR", mode=modes[tenant],
                              low_balance_threshold=Decimal("10.00"),
                              recharge_amount=Decimal("50.00"))

    def balance(self, tenant: str) -> Decimal:
        return self.start_balance + self.wallet.balance(tenant)

    def deps(self) -> RechargeDeps:
        return RechargeDeps(self, self, self.wallet, self.records, self.gateway, self.notifier,
                            now=lambda: self.clock[0])

    def run(self, trigger: str, amount: Decimal | None = None) -> str:
        return recharge(RechargeRequest("acme", trigger, amount), self.deps()).outcome


def test_a_low_balance_charges_the_recharge_amount_once_and_credits_it() -> None:
    world = World()

    # When the same trigger is delivered three times
    outcomes = [world.run("evt-1") for _ in range(3)]

    # Then one PaymentIntent of 5000 cents, one credit: 4.00 + 50.00 = 54.00
    assert outcomes == ["succeeded", "not_needed", "not_needed"]
    assert len(world.gateway.intents) == 1
    assert world.balance("acme") == Decimal("54.00")


def test_concurrent_triggers_while_one_is_in_flight_create_one_intent() -> None:
    # Given a recharge still processing at the bank (the pending top-up)
    world = World()
    world.gateway.outcome = "processing"
    first = world.run("evt-a")

    # When two more low-balance events arrive for the same tenant
    others = [world.run("evt-b"), world.run("evt-c")]

    # Then they find the slot taken: still one PaymentIntent, nothing credited yet
    assert (first, others) == ("processing", ["busy", "busy"])
    assert len(world.gateway.intents) == 1
    assert world.wallet.entries == {}


def test_a_retry_after_a_crash_past_the_intent_record_reads_it_instead_of_charging() -> None:
    # Given the intent was created and recorded, then the Lambda died before the credit
    world = World()
    world.gateway.outcome = "processing"
    world.run("evt-x")
    world.gateway.intents["pi_fake_1"] = world.gateway.intents["pi_fake_1"].__class__(
        "pi_fake_1", "succeeded", 5000, "eur"
    )

    # When SQS redelivers the same trigger
    outcome = world.run("evt-x")

    # Then the existing intent is read (a verified API read) and credited once, no new intent
    assert outcome == "succeeded"
    assert len(world.gateway.intents) == 1
    assert world.balance("acme") == Decimal("54.00")


def test_a_decline_backs_off_and_notifies_then_retries_after_the_wait() -> None:
    world = World()
    world.gateway.outcome, world.gateway.decline_code = "declined", "insufficient_funds"

    assert world.run("evt-1") == "declined"
    assert world.notifier.sent == [("acme", "declined")]

    # a new low-balance event within the hour is refused (backing off)
    world.clock[0] += 1800
    assert world.run("evt-2") == "busy"
    # after the 1 h backoff it tries again, once
    world.clock[0] += 1801
    world.gateway.outcome = "succeeded"
    assert world.run("evt-3") == "succeeded"
    assert len(world.gateway.intents) == 2
    assert world.balance("acme") == Decimal("54.00")


def test_authentication_required_notifies_and_does_not_retry_blindly() -> None:
    world = World()
    world.gateway.outcome = "authentication_required"

    assert world.run("evt-1") == "authentication_required"
    world.clock[0] += 24 * 3600
    assert world.run("evt-2") == "busy"  # held: the tenant must authenticate or change card

    assert world.notifier.sent == [("acme", "authentication_required")]
    assert len(world.gateway.intents) == 1


def test_no_card_on_file_notifies_and_charges_nothing() -> None:
    world = World()
    del world.records.items["stripe#acme"]

    assert world.run("evt-1") == "no_card"
    assert world.gateway.intents == {}
    assert world.notifier.sent == [("acme", "no_card")]


def test_postpaid_and_unknown_tenants_are_skipped_and_healthy_balances_not_charged() -> None:
    world = World()
    for tenant in ("initech", "nobody"):
        assert recharge(RechargeRequest(tenant, "e"), world.deps()).outcome == "skipped"
    world.start_balance = Decimal("10.00")  # at the threshold, not below
    assert world.run("evt-1") == "not_needed"
    assert world.gateway.intents == {}


def test_a_manual_top_up_has_a_minimum_of_5_00() -> None:
    world = World()
    world.start_balance = Decimal("100")

    with pytest.raises(ValidationError, match=r"at least 5\.00 EUR"):
        world.run("manual-1", Decimal("4.99"))
    assert world.run("manual-2", Decimal("5.00")) == "succeeded"
    assert world.balance("acme") == Decimal("105.00")


@pytest.mark.parametrize(("amount", "message"), [
    # Stripe takes whole cents: 20.005 was charged as 20.00 (not what was asked)
    ("20.005", "more than 2 decimal places for EUR"),
    # beyond Decimal's 28 digits: the quantize at the gateway edge raised InvalidOperation
    ("1e400", "at most 999999999"),
])
def test_a_manual_top_up_the_gateway_cannot_charge_exactly_is_refused(
    amount: str, message: str
) -> None:
    world = World()
    world.start_balance = Decimal("100")

    with pytest.raises(ValidationError, match=message):
        world.run("manual-1", Decimal(amount))

    assert world.gateway.intents == {}
    assert world.balance("acme") == Decimal("100")


def test_a_trigger_that_read_the_balance_before_another_recharge_landed_charges_nothing() -> None:
    # Given evt-1 read acme's 4.00 balance, then evt-2's whole recharge ran (credited 50.00,
    # slot released) before evt-1 claimed the slot
    world = World()

    class LateBalances:
        reads = 0

        def balance(self, tenant: str) -> Decimal:
            self.reads += 1
            if self.reads == 1:
                assert world.run("evt-2") == "succeeded"
                return Decimal("4.00")
            return world.balance(tenant)

    deps = world.deps()
    late = RechargeDeps(deps.tenants, LateBalances(), deps.wallet, deps.records, deps.gateway,
                        deps.notifier, deps.now)

    # When evt-1 goes on
    outcome = recharge(RechargeRequest("acme", "evt-1"), late).outcome

    # Then it reads the balance again once the slot is its own: one intent, 54.00
    assert outcome == "not_needed"
    assert len(world.gateway.intents) == 1
    assert world.balance("acme") == Decimal("54.00")


def test_a_retry_after_a_crash_before_the_intent_was_recorded_finds_it_instead_of_charging(
) -> None:
    # Given Stripe created the intent but the Lambda died before our record had its id (and
    # the gateway, like localstripe, ignores Idempotency-Key)
    world = World()
    world.gateway.fail_after_create = True
    with pytest.raises(ConnectionError):
        world.run("evt-lost")

    # When SQS redelivers the same trigger
    outcome = world.run("evt-lost")

    # Then the intent is found by its trigger, not created again: one charge, one credit
    assert outcome == "succeeded"
    assert len(world.gateway.intents) == 1
    assert world.balance("acme") == Decimal("54.00")


def test_a_recharge_still_processing_when_its_message_was_dead_lettered_is_finished_later(
) -> None:
    # Given evt-1's intent was processing when its message left the queue for good
    world = World()
    world.gateway.outcome = "processing"
    assert world.run("evt-1") == "processing"
    assert world.run("evt-2") == "busy"  # in flight: the pending top-up counts

    # When the bank settles it, and an hour later (the slot is stale) evt-3 arrives
    world.gateway.intents["pi_fake_1"] = world.gateway.intents["pi_fake_1"].__class__(
        "pi_fake_1", "succeeded", 5000, "eur"
    )
    world.clock[0] += STALE_CLAIM_SECONDS
    outcome = world.run("evt-3")

    # Then evt-1's intent is read and credited once, and evt-3 needs no second charge
    assert outcome == "not_needed"
    assert len(world.gateway.intents) == 1
    assert world.balance("acme") == Decimal("54.00")
    assert world.records.items["recharge#acme"]["trigger"] == "evt-3"


def test_a_stale_claim_that_never_reached_stripe_is_released_for_the_next_trigger() -> None:
    # Given evt-dead claimed the slot and crashed on every delivery before calling Stripe
    world = World()
    world.records.claim("acme", "evt-dead", world.clock[0])
    assert world.run("evt-early") == "busy"

    # When the next trigger comes once the claim is stale
    world.clock[0] += STALE_CLAIM_SECONDS
    outcome = world.run("evt-next")

    # Then it is released and the recharge happens, once
    assert outcome == "succeeded"
    assert len(world.gateway.intents) == 1
    assert world.balance("acme") == Decimal("54.00")


def test_a_stale_intent_still_processing_keeps_the_slot() -> None:
    world = World()
    world.gateway.outcome = "processing"
    world.run("evt-1")
    world.clock[0] += STALE_CLAIM_SECONDS

    assert world.run("evt-2") == "busy"
    assert len(world.gateway.intents) == 1
