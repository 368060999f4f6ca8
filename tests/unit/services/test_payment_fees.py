"""Stripe's processing fee and a dispute's fee are the operator's cost: recorded once per
balance transaction (``fee#<txn>``), never a ledger entry, never in the tenant's history.

Amounts are minor units: a 2000-cent charge with a 88-cent fee → 0.88 EUR fee."""

from __future__ import annotations

from decimal import Decimal

from shared.services.invoice_credits import payment_history
from tests.fakes.payments import balance_transaction, event, fixture, payment_intent
from tests.unit.services.test_payments_webhook import World, dispute


def _charge(charge_id: str, pi_id: str, txn: object) -> dict[str, object]:
    charge = fixture("charge")
    charge.update(id=charge_id, payment_intent=pi_id, currency="eur", amount=2000,
                  balance_transaction=txn, metadata={})
    return charge


def test_a_charge_with_its_fee_delivered_twice_records_the_fee_once_outside_the_ledger() -> None:
    world = World()
    world.deliver(event("payment_intent.succeeded",
                        payment_intent("pi_f1", "acme", 2000, charge="ch_f1"), "evt_f1"))
    updated = event("charge.updated",
                    _charge("ch_f1", "pi_f1", balance_transaction("txn_f1", 2000, 88)),
                    "evt_f2")
    updated_again = event("charge.updated",
                          _charge("ch_f1", "pi_f1", balance_transaction("txn_f1", 2000, 88)),
                          "evt_f3")

    outcomes = [world.deliver(updated), world.deliver(updated_again)]

    assert outcomes == ["processed", "processed"]
    fees = {k: v for k, v in world.records.items.items() if k.startswith("fee#")}
    assert list(fees) == ["fee#txn_f1"]
    fee = fees["fee#txn_f1"]
    assert (fee["kind"], fee["amount"], fee["currency"], fee["source"], fee["tenant"]) == (
        "stripe_fee", Decimal("0.88"), "EUR", "ch_f1", "acme"
    )
    # the tenant paid 20.00 and keeps 20.00: the fee is not theirs
    assert world.wallet.entries == {("acme", "topup#pi_f1"): (Decimal("20.00"), "EUR")}
    assert [e.status for e in payment_history("acme", world.records)] == ["Succeeded"]


def test_a_success_carrying_the_expanded_charge_records_its_fee() -> None:
    world = World()
    intent = payment_intent("pi_f2", "acme", 1000)
    intent["latest_charge"] = _charge("ch_f2", "pi_f2", balance_transaction("txn_f2", 1000, 59))

    world.deliver(event("payment_intent.succeeded", intent, "evt_f4"))

    assert world.records.get("fee#txn_f2")["amount"] == Decimal("0.59")  # type: ignore[index]
    assert world.records.get("payment_intent#pi_f2")["charge"] == "ch_f2"  # type: ignore[index]
    assert world.wallet.balance("acme") == Decimal("10.00")


def test_a_charge_without_an_expanded_balance_transaction_is_ignored() -> None:
    world = World()

    outcome = world.deliver(event("charge.succeeded", _charge("ch_f3", "pi_f3", "txn_f3"),
                                  "evt_f5"))

    assert outcome == "ignored"
    assert not any(key.startswith("fee#") for key in world.records.items)


def test_a_dispute_fee_is_recorded_once_for_the_operator_and_not_charged() -> None:
    world = World()
    world.deliver(event("payment_intent.succeeded",
                        payment_intent("pi_f4", "acme", 2000, charge="ch_f4"), "evt_f6"))
    opened = dispute("dp_f", "ch_f4", "needs_response")
    opened["balance_transactions"] = [
        balance_transaction("txn_dp", -2000, 1500, kind="adjustment", fee_type="stripe_fee")
    ]
    closed = {**opened, "status": "lost"}

    world.deliver(event("charge.dispute.created", opened, "evt_f7"))
    world.deliver(event("charge.dispute.closed", closed, "evt_f8"))

    fee = world.records.get("fee#txn_dp")
    assert fee is not None
    assert (fee["kind"], fee["amount"], fee["source"]) == ("dispute_fee", Decimal("15.00"), "dp_f")
    assert [key for key in world.records.items if key.startswith("fee#")] == ["fee#txn_dp"]
    assert world.wallet.balance("acme") == Decimal("20.00")
