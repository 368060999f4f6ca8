"""Invoice payments through the signed webhook: ``payment_intent.succeeded`` of an intent
made for an invoice (metadata ``purpose: invoice_payment``) settles the invoice, once, and
never credits the wallet; a top-up's intent still credits the wallet. A refund of an invoice
payment takes the money back off the invoices it paid (newest first), once per refund id,
and never touches the wallet.

globex: postpaid USD; its October invoice INV-000001 is 15.00 (12.50 of calls + 20 % VAT),
issued by the run of 2 November with the fakes of test_invoicing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.adapters.stripe_signature import StripeSignatureVerifier
from shared.services.invoice_payments import INVOICE_PURPOSE, apply_payment, reverse_refund
from shared.services.invoicing import run_invoicing
from shared.services.payments_webhook import RefundBeforePayment, WebhookDeps, receive_webhook
from tests.fakes.payments import (
    TEST_SECRET,
    MemoryWallet,
    event,
    fixture,
    payment_intent,
    refunded_charge,
    sign,
)
from tests.unit.services.test_invoicing import Row, World, ms, october_usage


def invoice_intent(
    pi_id: str, amount: int, number: str | None, charge: str | None = None
) -> dict[str, object]:
    intent = payment_intent(pi_id, "globex", amount, currency="usd", charge=charge)
    intent["metadata"] = {"tenant": "globex", "purpose": INVOICE_PURPOSE,
                          **({"invoice": number} if number else {})}
    return intent


def deliver(world: World, wallet: MemoryWallet, payload: bytes) -> str:
    deps = WebhookDeps(
        verifier=StripeSignatureVerifier((TEST_SECRET,)), records=world.store.credits,
        wallet=wallet, tenants=world.tenants,
        invoices=lambda tenant, intent, amount, currency, number: apply_payment(
            tenant, intent, amount, currency, world.store, number),
        refund_invoices=lambda tenant, intent, refund, amount, currency, on: reverse_refund(
            tenant, intent, refund, amount, currency, on, world.store, sleep=lambda s: None),
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


def at(text: str) -> int:
    """Epoch seconds of a UTC time (an event's ``created``)."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def refund_event(charge: str, intent: str, refunds: list[tuple[str, int]], event_id: str,
                 when: str) -> bytes:
    return event("charge.refunded", refunded_charge(charge, intent, refunds, currency="usd"),
                 event_id, at(when))


def test_a_refund_of_an_invoice_payment_reopens_the_invoice_once_and_leaves_the_wallet() -> None:
    # Given October's invoice of 15.00 (due 16 November) paid in full by auto-pay pi_inv1
    world, wallet = World(), MemoryWallet()
    october_usage(world)
    run_invoicing(world.deps())
    deliver(world, wallet, event("payment_intent.succeeded",
                                 invoice_intent("pi_inv1", 1500, "INV-000001", "ch_inv1"),
                                 "evt_pay"))

    # When 400 cents (4.00 USD) of it is refunded to the card on 5 November, delivered twice,
    # and once more under another event id
    refund = refund_event("ch_inv1", "pi_inv1", [("re_inv1", 400)], "evt_re1",
                          "2026-11-05T12:00:00")
    outcomes = [deliver(world, wallet, refund), deliver(world, wallet, refund),
                deliver(world, wallet, refund_event("ch_inv1", "pi_inv1", [("re_inv1", 400)],
                                                    "evt_re1b", "2026-11-05T12:00:01"))]

    # Then paid 15.00 - 4.00 = 11.00, due 0.00 + 4.00 = 4.00, before the due date: Partially
    # Paid; taken off once; the wallet never saw the payment nor the refund
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None
    assert outcomes == ["processed", "duplicate", "processed"]
    assert (invoice.status, invoice.paid, invoice.balance_due) == (
        "Partially Paid", Decimal("11.00"), Decimal("4.00"))
    assert invoice.reversals == {"re_inv1": ("pi_inv1", Decimal("4.00"))}
    assert wallet.entries == {}
    record = world.store.credits.items["refund#re_inv1"]
    assert (record["status"], record["amount"], record["invoices"]) == (
        "succeeded", Decimal("4.00"), "INV-000001")


def test_a_refund_of_a_split_payment_is_taken_off_the_newest_invoice_first() -> None:
    # Given October (15.00, due 16 Nov) and November (6.00 = 5.00 + 20 % VAT, due 16 Dec)
    # open, and one payment pi_split of 18.00: October 15.00 (Paid), November 3.00
    world, wallet = World(), MemoryWallet()
    october_usage(world)
    world.usage.add("globex", "2026-11", Row("n1", Decimal("5.00"), ms("2026-11-05T00:00:00")))
    run_invoicing(world.deps())
    world.run_on("2026-12-02T00:00:00")
    deliver(world, wallet, event("payment_intent.succeeded",
                                 invoice_intent("pi_split", 1800, None, "ch_split"), "evt_s"))

    # When 5.00 of it is refunded on 5 December
    deliver(world, wallet, refund_event("ch_split", "pi_split", [("re_s1", 500)], "evt_s1",
                                        "2026-12-05T00:00:00"))

    # Then November (newest) gives back all it got, 3.00: paid 0.00, due 6.00, Sent; the
    # other 2.00 comes off October: paid 13.00, due 2.00, past its due date: Overdue
    october, november = world.issued("2026-10", "2026-11")
    assert (november.status, november.paid, november.balance_due) == (
        "Sent", Decimal("0.00"), Decimal("6.00"))
    assert (october.status, october.paid, october.balance_due) == (
        "Overdue", Decimal("13.00"), Decimal("2.00"))
    assert world.store.credits.items["refund#re_s1"]["invoices"] == "INV-000002,INV-000001"

    # And a second refund of the rest (13.00) finds November already given back by re_s1
    # and takes 13.00 off October: paid 0.00, due 15.00
    deliver(world, wallet, refund_event("ch_split", "pi_split", [("re_s2", 1300)], "evt_s2",
                                        "2026-12-06T00:00:00"))
    october, november = world.issued("2026-10", "2026-11")
    assert (october.status, october.paid, october.balance_due) == (
        "Overdue", Decimal("0.00"), Decimal("15.00"))
    assert november.paid == Decimal("0.00")
    assert wallet.entries == {}


def refund_object(refund_id: str, charge: str, intent: str, amount: int, status: str
                  ) -> dict[str, object]:
    refund = fixture("refund")
    refund.update(id=refund_id, amount=amount, charge=charge, payment_intent=intent,
                  currency="usd", status=status)
    return refund


def test_a_refund_that_fails_after_succeeding_changes_nothing_more() -> None:
    # Given 15.00 paid and 4.00 of it refunded (succeeded): 11.00 paid
    world, wallet = World(), MemoryWallet()
    october_usage(world)
    run_invoicing(world.deps())
    deliver(world, wallet, event("payment_intent.succeeded",
                                 invoice_intent("pi_f", 1500, "INV-000001", "ch_f"), "evt_f"))
    deliver(world, wallet, event("charge.refund.updated",
                                 refund_object("re_f", "ch_f", "pi_f", 400, "succeeded"),
                                 "evt_f1", at("2026-11-05T00:00:00")))

    # When Stripe then reports the refund failed (succeeded is final: forward only)
    deliver(world, wallet, event("charge.refund.updated",
                                 refund_object("re_f", "ch_f", "pi_f", 400, "failed"),
                                 "evt_f2", at("2026-11-06T00:00:00")))

    # Then the invoice still shows the refund once and the record stays succeeded
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None
    assert (invoice.paid, invoice.balance_due) == (Decimal("11.00"), Decimal("4.00"))
    assert world.store.credits.items["refund#re_f"]["status"] == "succeeded"
    assert wallet.entries == {}


def test_a_refund_of_an_invoice_payment_before_the_payment_fails_and_writes_nothing() -> None:
    # Given October's invoice open and no payment applied yet
    world, wallet = World(), MemoryWallet()
    october_usage(world)
    run_invoicing(world.deps())
    charge = refunded_charge("ch_early", "pi_early", [("re_early", 400)], currency="usd")
    charge["metadata"] = {"tenant": "globex", "purpose": INVOICE_PURPOSE}
    before = dict(world.store.credits.items)

    # When its refund arrives first (out of order), Then the delivery fails (500: Stripe
    # retries it) and nothing is written: no ledger debit, no record, no event mark
    with pytest.raises(RefundBeforePayment):
        deliver(world, wallet, event("charge.refunded", charge, "evt_early"))
    assert world.store.credits.items == before
    assert wallet.entries == {}


def test_a_refund_of_a_top_up_still_leaves_the_wallet() -> None:
    world, wallet = World(), MemoryWallet()
    deliver(world, wallet, event("payment_intent.succeeded",
                                 payment_intent("pi_t", "globex", 2000, currency="usd",
                                                charge="ch_t"), "evt_t"))

    deliver(world, wallet, refund_event("ch_t", "pi_t", [("re_t", 500)], "evt_t1",
                                        "2026-11-05T00:00:00"))

    # 20.00 - 5.00: the top-up credit and the refund debit
    assert wallet.entries == {("globex", "topup#pi_t"): (Decimal("20.00"), "USD"),
                              ("globex", "refund#re_t"): (Decimal("-5.00"), "USD")}
