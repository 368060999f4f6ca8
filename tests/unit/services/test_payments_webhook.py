"""The Stripe webhook service with fakes and the real signature check (a test secret).

Expected amounts are hand-computed next to each test: Stripe sends integer minor units, so
2000 EUR cents = 20.00 EUR.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from shared.adapters.stripe_signature import StripeSignatureVerifier
from shared.domain.money import from_minor_units
from shared.domain.payments import InvalidWebhook, PayloadTooLarge
from shared.domain.tenants import TenantSettings
from shared.services.payments_webhook import (
    WebhookDeps,
    receive_webhook,
    webhook_body,
)
from tests.fakes.payments import (
    TEST_SECRET,
    MemoryPaymentRecords,
    MemoryWallet,
    event,
    fixture,
    payment_intent,
    refunded_charge,
    sign,
)


@dataclass
class Tenants:
    known: dict[str, TenantSettings] = field(default_factory=dict)

    def get(self, tenant: str) -> TenantSettings | None:
        return self.known.get(tenant)


@dataclass
class World:
    records: MemoryPaymentRecords = field(default_factory=MemoryPaymentRecords)
    wallet: MemoryWallet = field(default_factory=MemoryWallet)
    tenants: Tenants = field(default_factory=Tenants)

    def __post_init__(self) -> None:
        for name, currency in (("acme", "EUR"), ("globex", "JPY")):
            self.tenants.known[name] = TenantSettings(tenant_id=name, card="c", currency=currency)

    def deps(self) -> WebhookDeps:
        return WebhookDeps(
            verifier=StripeSignatureVerifier((TEST_SECRET,)),
            records=self.records,
            wallet=self.wallet,
            tenants=self.tenants,
        )

    def deliver(self, payload: bytes, signature: str | None = None) -> str:
        header = sign(payload) if signature is None else signature
        return receive_webhook(payload, header, self.deps()).outcome

    def snapshot(self) -> tuple[object, object]:
        return (dict(self.records.items), dict(self.wallet.entries))


def test_a_success_delivered_three_times_among_a_late_failure_credits_once() -> None:
    # Given pi_1 for acme: 2000 cents EUR = 20.00 EUR; a payment_failed of the same intent
    world = World()
    now = int(time.time())
    succeeded = event("payment_intent.succeeded",
                      payment_intent("pi_1", "acme", 2000, charge="ch_1"), "evt_s", now)
    failed = event("payment_intent.payment_failed",
                   payment_intent("pi_1", "acme", 2000, status="requires_payment_method"),
                   "evt_f", now - 5)

    # When the success is delivered three times, the (older) failure in between
    outcomes = [world.deliver(p) for p in (succeeded, failed, succeeded, succeeded)]

    # Then the wallet is credited once and the intent stays succeeded
    assert outcomes == ["processed", "processed", "duplicate", "duplicate"]
    assert world.wallet.entries == {("acme", "topup#pi_1"): (Decimal("20.00"), "EUR")}
    assert world.records.get("payment_intent#pi_1")["status"] == "succeeded"  # type: ignore[index]
    assert world.records.get("charge#ch_1")["tenant"] == "acme"  # type: ignore[index]


def test_a_failure_after_success_changes_nothing_even_with_a_new_event_id() -> None:
    world = World()
    world.deliver(event("payment_intent.succeeded", payment_intent("pi_2", "acme", 500), "evt_1"))
    before = world.wallet.entries.copy()

    world.deliver(event("payment_intent.payment_failed",
                        payment_intent("pi_2", "acme", 500, status="requires_payment_method"),
                        "evt_2"))
    world.deliver(event("payment_intent.requires_action",
                        payment_intent("pi_2", "acme", 500, status="requires_action"), "evt_3"))

    assert world.records.get("payment_intent#pi_2")["status"] == "succeeded"  # type: ignore[index]
    assert world.wallet.entries == before


def test_a_retried_success_after_a_crash_before_the_event_record_credits_once() -> None:
    # Given the credit was written but the Lambda died before the event was recorded
    world = World()
    payload = event("payment_intent.succeeded", payment_intent("pi_3", "acme", 999), "evt_c")
    world.deliver(payload)
    del world.records.items["event#evt_c"]

    # When Stripe redelivers it
    outcome = world.deliver(payload)

    # Then it is processed again but the ledger entry exists: still one credit of 9.99
    assert outcome == "processed"
    assert world.wallet.balance("acme") == Decimal("9.99")


def test_a_failed_payment_records_the_decline_and_moves_no_money() -> None:
    world = World()
    world.deliver(event("payment_intent.payment_failed",
                        payment_intent("pi_4", "acme", 5000, status="requires_payment_method"),
                        "evt_4"))

    record = world.records.get("payment_intent#pi_4")
    assert record is not None
    assert (record["status"], record["decline_code"]) == ("failed", "insufficient_funds")
    assert world.wallet.entries == {}


def good_payload() -> bytes:
    return event("payment_intent.succeeded", payment_intent("pi_x", "acme", 2000), "evt_x")


@pytest.mark.parametrize(
    ("case", "payload", "header"),
    [
        ("tampered body", good_payload().replace(b"2000", b"9000"), sign(good_payload())),
        ("wrong secret", good_payload(), sign(good_payload(), secret="whsec_someone_else")),
        ("expired timestamp", good_payload(),
         sign(good_payload(), timestamp=int(time.time()) - 301)),
        ("missing header", good_payload(), ""),
        ("malformed header", good_payload(), "v1=abc"),
        ("signed non-JSON", b"not json {", sign(b"not json {")),
        ("signed JSON that is not an event", b'{"object": "charge", "id": "ch_1"}',
         sign(b'{"object": "charge", "id": "ch_1"}')),
        ("signed event without data.object", b'{"object":"event","id":"evt_1","type":"x",'
         b'"created":1,"data":{}}', sign(b'{"object":"event","id":"evt_1","type":"x",'
                                         b'"created":1,"data":{}}')),
        ("signed non-UTF-8", b"\xff\xfe", sign(b"\xff\xfe")),
    ],
)
def test_anything_not_a_genuine_recent_event_is_refused_and_changes_nothing(
    case: str, payload: bytes, header: str
) -> None:
    world = World()
    before = world.snapshot()

    with pytest.raises(InvalidWebhook):
        world.deliver(payload, header)

    assert world.snapshot() == before, case


def test_a_body_over_the_limit_is_refused_before_the_signature_is_read() -> None:
    world = World()
    payload = b"{" + b" " * (64 * 1024) + b"}"

    with pytest.raises(PayloadTooLarge):
        receive_webhook(payload, sign(payload), world.deps())
    with pytest.raises(PayloadTooLarge):
        webhook_body(payload.decode(), False, 64 * 1024)


def test_a_base64_body_is_decoded_to_the_bytes_stripe_signed() -> None:
    payload = good_payload()

    assert webhook_body(base64.b64encode(payload).decode(), True, 64 * 1024) == payload
    with pytest.raises(InvalidWebhook):
        webhook_body("***", True, 64 * 1024)


def test_a_refund_delivered_twice_reduces_the_balance_once() -> None:
    # Given acme paid 20.00 EUR with pi_r / ch_r, and 7.50 EUR of it is refunded to the card
    world = World()
    world.deliver(event("payment_intent.succeeded",
                        payment_intent("pi_r", "acme", 2000, charge="ch_r"), "evt_p"))
    refund = event("charge.refunded", refunded_charge("ch_r", "pi_r", [("re_1", 750)]), "evt_r")

    # When charge.refunded arrives twice, and the refund's own update once more
    world.deliver(refund)
    world.deliver(refund)
    refund_object = refunded_charge("ch_r", "pi_r", [("re_1", 750)])["refunds"]["data"][0]
    world.deliver(event("charge.refund.updated", refund_object, "evt_u"))

    # Then the balance is 20.00 - 7.50 = 12.50, one refund entry
    assert world.wallet.balance("acme") == Decimal("12.50")
    assert world.wallet.entries[("acme", "refund#re_1")] == (Decimal("-7.50"), "EUR")


def test_a_second_partial_refund_is_its_own_entry() -> None:
    world = World()
    world.deliver(event("payment_intent.succeeded",
                        payment_intent("pi_q", "acme", 2000, charge="ch_q"), "evt_p"))
    world.deliver(event("charge.refunded",
                        refunded_charge("ch_q", "pi_q", [("re_a", 500)]), "evt_1"))
    world.deliver(event("charge.refunded",
                        refunded_charge("ch_q", "pi_q", [("re_a", 500), ("re_b", 300)]), "evt_2"))

    # 20.00 - 5.00 - 3.00 = 12.00
    assert world.wallet.balance("acme") == Decimal("12.00")


def test_a_payment_for_an_unknown_tenant_or_currency_credits_nothing() -> None:
    world = World()

    unknown = world.deliver(event("payment_intent.succeeded",
                                  payment_intent("pi_u", "nobody", 2000), "evt_u"))
    wrong_currency = world.deliver(event("payment_intent.succeeded",
                                         payment_intent("pi_v", "acme", 2000, currency="usd"),
                                         "evt_v"))

    assert (unknown, wrong_currency) == ("unmatched", "unmatched")
    assert world.wallet.entries == {}


def test_zero_decimal_currencies_keep_their_units() -> None:
    # JPY has no minor unit: 500 from Stripe is 500 yen
    world = World()
    world.deliver(event("payment_intent.succeeded",
                        payment_intent("pi_j", "globex", 500, currency="jpy"), "evt_j"))

    assert world.wallet.balance("globex") == Decimal("500")
    assert from_minor_units(1234, "KWD") == Decimal("1.234")


def dispute(dispute_id: str, charge: str, status: str) -> dict[str, object]:
    found = fixture("dispute")
    found.update(id=dispute_id, charge=charge, status=status, currency="eur")
    return found


def test_a_dispute_flags_the_account_until_it_closes_in_any_order() -> None:
    world = World()
    world.deliver(event("payment_intent.succeeded",
                        payment_intent("pi_d", "acme", 2000, charge="ch_d"), "evt_p"))

    world.deliver(event("charge.dispute.created", dispute("dp_1", "ch_d", "needs_response"),
                        "evt_d1"))
    assert world.records.open_disputes("acme") == {"dp_1"}

    world.deliver(event("charge.dispute.closed", dispute("dp_1", "ch_d", "won"), "evt_d2"))
    assert world.records.open_disputes("acme") == set()

    # a second dispute whose close arrives before its creation never stays flagged
    world.deliver(event("charge.dispute.closed", dispute("dp_2", "ch_d", "lost"), "evt_d3"))
    world.deliver(event("charge.dispute.created", dispute("dp_2", "ch_d", "needs_response"),
                        "evt_d4"))
    assert world.records.open_disputes("acme") == set()
    assert world.records.get("dispute#dp_2")["stripe_status"] == "lost"  # type: ignore[index]
    assert world.wallet.balance("acme") == Decimal("20.00")  # disputes move no wallet money


def test_setup_intents_and_payment_methods_are_recorded_forward_only() -> None:
    world = World()
    setup = fixture("setup_intent")
    setup.update(id="seti_1", status="succeeded", customer="cus_1", payment_method="pm_1",
                 metadata={"tenant": "acme"})
    method = fixture("payment_method")
    method.update(id="pm_1", customer="cus_1")
    detached = {**method, "customer": None}

    now = int(time.time())
    world.deliver(event("setup_intent.succeeded", setup, "evt_s1"))
    world.deliver(event("payment_method.attached", method, "evt_m1", now - 10))
    world.deliver(event("payment_method.detached", detached, "evt_m2", now))

    record = world.records.get("payment_method#pm_1")
    assert record is not None
    assert (record["status"], record["brand"], record["last4"]) == ("detached", "visa", "4242")
    assert record["tenant"] == "acme"  # through customer#cus_1, linked by the setup intent

    # out of order: a detach seen before its attach stays detached
    world.deliver(event("payment_method.detached", {**detached, "id": "pm_2"}, "evt_m3", now))
    world.deliver(event("payment_method.attached", {**method, "id": "pm_2"}, "evt_m4", now - 9))
    assert world.records.get("payment_method#pm_2")["status"] == "detached"  # type: ignore[index]


def test_events_of_other_types_are_acknowledged_and_ignored() -> None:
    world = World()
    payload = json.dumps(fixture("event")).encode()  # plan.created

    assert world.deliver(payload) == "ignored"
    assert world.wallet.entries == {}
