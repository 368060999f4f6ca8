"""Invoice payments through the signed webhook: ``payment_intent.succeeded`` of an intent
made for an invoice (metadata ``purpose: invoice_payment``) settles the invoice, once, and
never credits the wallet; a top-up's intent still credits the wallet.

globex: postpaid USD; its October invoice INV-000001 is 15.00 (12.50 of calls + 20 % VAT),
issued by the run of 2 November with the fakes of test_invoicing.
"""

from __future__ import annotations

from decimal import Decimal

from shared.adapters.stripe_signature import StripeSignatureVerifier
from shared.services.invoice_payments import INVOICE_PURPOSE, apply_payment
from shared.services.invoicing import run_invoicing
from shared.services.payments_webhook import WebhookDeps, receive_webhook
from tests.fakes.payments import TEST_SECRET, MemoryWallet, event, payment_intent, sign
from tests.unit.services.test_invoicing import World, october_usage


def invoice_intent(pi_id: str, amount: int, number: str | None) -> dict[str, object]:
    intent = payment_intent(pi_id, "globex", amount, currency="usd")
    intent["metadata"] = {"tenant": "globex", "purpose": INVOICE_PURPOSE,
                          **({"invoice": number} if number else {})}
    return intent


def deliver(world: World, wallet: MemoryWallet, payload: bytes) -> str:
    deps = WebhookDeps(
        verifier=StripeSignatureVerifier((TEST_SECRET,)), records=world.store.credits,
        wallet=wallet, tenants=world.tenants,
        invoices=lambda tenant, intent, amount, currency, number: apply_payment(
            tenant, intent, amount, currency, world.store, number),
    )
    return receive_webhook(payload, sign(payload), deps).outcome


def test_an_invoice_payment_delivered_twice_settles_the_invoice_once_and_no_wallet() -> None:
    # Given October's invoice of 15.00, open
    world, wallet = World(), MemoryWallet()
    october_usage(world)
    run_invoicing(world.deps())

    # When Stripe delivers the auto-pay's success (1500 cents) twice
    payload = event("payment_intent.succeeded", invoice_intent("pi_inv1", 1500, "INV-000001"),
                    "evt_inv1")
    outcomes = [deliver(world, wallet, payload), deliver(world, wallet, payload)]
    # and once more under another event id (Stripe may re-send the object)
    again = event("payment_intent.succeeded", invoice_intent("pi_inv1", 1500, "INV-000001"),
                  "evt_inv1b")
    deliver(world, wallet, again)

    # Then the invoice is Paid with 15.00 paid once, and no wallet money moved
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None
    assert outcomes == ["processed", "duplicate"]
    assert (invoice.status, invoice.paid, invoice.balance_due) == (
        "Paid", Decimal("15.00"), Decimal("0.00"))
    assert wallet.entries == {}
    assert world.store.credits.items["payment_intent#pi_inv1"]["invoices"] == "INV-000001"


def test_a_partial_payment_without_an_invoice_goes_to_the_oldest_open_one() -> None:
    world, wallet = World(), MemoryWallet()
    october_usage(world)
    run_invoicing(world.deps())

    # 4.00 paid now (no invoice named): the oldest open invoice takes it
    deliver(world, wallet, event("payment_intent.succeeded",
                                 invoice_intent("pi_now", 400, None), "evt_now"))

    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None
    assert (invoice.status, invoice.paid, invoice.balance_due) == (
        "Partially Paid", Decimal("4.00"), Decimal("11.00"))


def test_a_top_up_intent_still_credits_the_wallet_not_an_invoice() -> None:
    world, wallet = World(), MemoryWallet()
    october_usage(world)
    run_invoicing(world.deps())

    deliver(world, wallet, event("payment_intent.succeeded",
                                 payment_intent("pi_top", "globex", 2000, currency="usd"),
                                 "evt_top"))

    assert wallet.entries == {("globex", "topup#pi_top"): (Decimal("20.00"), "USD")}
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None and invoice.paid == Decimal("0")
