"""Signed Stripe webhooks → the real stripe_webhook handler → DynamoDB, on the local stack.

Requests have the exact API Gateway HTTP API (payload format 2.0) shape of
``functions/stripe_webhook/events/webhook_request.json``; payloads are built from Stripe's
published fixtures and signed with a test secret, so the signature check really runs.
Nothing of our own code is mocked, and no request leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
from shared.adapters.invoice_store import DynamoInvoiceStore
from shared.adapters.payments_store import DynamoPaymentRecords
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import LocalLambdaContext, function_environment, load_handler
from shared.local.fake_stripe import FAKE_API_KEY, FakeStripe
from shared.local.stack import LocalStack
from shared.services.invoice_credits import payment_history
from tests.fakes.payments import (
    TEST_SECRET,
    event,
    payment_intent,
    refunded_charge,
    sign,
)
from tests.integration.invoice_cycle_steps import postpaid_tenant_with_october_calls, scheduled

pytestmark = pytest.mark.integration

SAMPLE = (
    Path(__file__).resolve().parents[2] / "functions/stripe_webhook/events/webhook_request.json"
)


class Webhook:
    def __init__(self, stack: LocalStack) -> None:
        self.env = {
            **stack.function_environment("StripeWebhookFunction"),
            **stack.aws_environment(),
            "STRIPE_WEBHOOK_SECRET": TEST_SECRET,
        }
        dynamodb = stack.client("dynamodb")
        self.dynamodb = dynamodb
        self.store = DynamoUsageStore(dynamodb, UsageTables(
            rated_calls="", ledger=self.env["LEDGER_TABLE"],
            balances=self.env["BALANCES_TABLE"], breakouts="", files="",
        ))
        self.records = DynamoPaymentRecords(dynamodb, self.env["PAYMENTS_TABLE"])
        self.directory = DynamoTenantDirectory(dynamodb, self.env["TENANTS_TABLE"])
        with function_environment(self.env):
            from shared.wiring import stripe_webhook_deps, stripe_webhook_settings

            stripe_webhook_deps.cache_clear()  # a fresh container for this stack
            stripe_webhook_settings.cache_clear()
            self.handler = load_handler(stack, "StripeWebhookFunction")

    def tenant(self, name: str, currency: str = "EUR") -> str:
        self.directory.put(TenantSettings(tenant_id=name, card="any", currency=currency))
        return name

    def post(
        self, payload: bytes, signature: str | None = None, *, base64_body: bool = False
    ) -> dict[str, Any]:
        request = copy.deepcopy(json.loads(SAMPLE.read_text(encoding="utf-8")))
        request["headers"]["stripe-signature"] = sign(payload) if signature is None else signature
        request["headers"]["content-length"] = str(len(payload))
        request["body"] = base64.b64encode(payload).decode() if base64_body else payload.decode(
            "utf-8", errors="replace"
        )
        request["isBase64Encoded"] = base64_body
        request["requestContext"]["timeEpoch"] = int(time.time() * 1000)
        with function_environment(self.env):
            response: dict[str, Any] = self.handler(request, LocalLambdaContext())
        return response

    def state(self, tenant: str) -> tuple[Decimal, list[Any], list[dict[str, Any]]]:
        """Balance, ledger and every payment record: what "nothing changed" compares."""
        items = self.dynamodb.scan(TableName=self.env["PAYMENTS_TABLE"])["Items"]
        return self.store.balance(tenant), self.store.ledger_entries(tenant), items


@pytest.fixture(scope="module")
def webhook(local_stack: LocalStack) -> Iterator[Webhook]:
    yield Webhook(local_stack)


def test_a_success_delivered_three_times_among_a_failure_credits_exactly_once(
    webhook: Webhook,
) -> None:
    # Given acme's top-up pi_w1 of 2000 cents EUR = 20.00 EUR, and a payment_failed for it
    tenant = webhook.tenant("wh-acme")
    now = int(time.time())
    success = event("payment_intent.succeeded",
                    payment_intent("pi_w1", tenant, 2000, charge="ch_w1"), "evt_w1", now)
    failure = event("payment_intent.payment_failed",
                    payment_intent("pi_w1", tenant, 2000, status="requires_payment_method"),
                    "evt_w2", now + 1)

    # When Stripe delivers success, failure, success (base64), success
    statuses = [
        webhook.post(success)["statusCode"],
        webhook.post(failure)["statusCode"],
        webhook.post(success, base64_body=True)["statusCode"],
        webhook.post(success)["statusCode"],
    ]

    # Then every delivery is acknowledged, the wallet is credited 20.00 once, and the late
    # failure did not move the intent back
    assert statuses == [200, 200, 200, 200]
    assert webhook.store.balance(tenant) == Decimal("20.00")
    assert [(e.entry_id, e.amount) for e in webhook.store.ledger_entries(tenant)] == [
        ("topup#pi_w1", Decimal("20.00"))
    ]
    assert webhook.records.get("payment_intent#pi_w1")["status"] == "succeeded"  # type: ignore[index]


def test_concurrent_deliveries_of_one_success_credit_once(webhook: Webhook) -> None:
    tenant = webhook.tenant("wh-race")
    payload = event("payment_intent.succeeded", payment_intent("pi_w9", tenant, 1250), "evt_w9")

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: webhook.post(payload)["statusCode"], range(4)))

    assert statuses == [200] * 4
    assert webhook.store.balance(tenant) == Decimal("12.50")
    assert webhook.store.ledger_sum(tenant) == Decimal("12.50")


def _good(tenant: str) -> bytes:
    return event("payment_intent.succeeded", payment_intent("pi_bad", tenant, 9900), "evt_bad")


@pytest.mark.parametrize(
    "case",
    ["tampered body", "wrong secret", "expired timestamp", "missing header",
     "signed non-JSON", "signed non-event"],
)
def test_a_request_that_is_not_a_genuine_event_gets_400_and_changes_nothing(
    webhook: Webhook, case: str
) -> None:
    tenant = webhook.tenant("wh-hostile")
    good = _good(tenant)
    payload, signature = {
        "tampered body": (good.replace(b"9900", b"99000"), sign(good)),
        "wrong secret": (good, sign(good, secret="whsec_not_ours")),
        "expired timestamp": (good, sign(good, timestamp=int(time.time()) - 600)),
        "missing header": (good, ""),
        "signed non-JSON": (b"<xml>hello</xml>", sign(b"<xml>hello</xml>")),
        "signed non-event": (b'{"object":"charge","id":"ch_1"}',
                             sign(b'{"object":"charge","id":"ch_1"}')),
    }[case]
    before = webhook.state(tenant)

    response = webhook.post(payload, signature)

    assert response["statusCode"] == 400, case
    assert webhook.state(tenant) == before, case


def test_a_body_over_64_kib_gets_413(webhook: Webhook) -> None:
    payload = b'{"pad":"' + b"x" * (64 * 1024) + b'"}'

    assert webhook.post(payload)["statusCode"] == 413


def test_a_refund_to_the_card_delivered_twice_reduces_the_balance_once(webhook: Webhook) -> None:
    # Given globex paid 30.00 EUR (pi_w3 / ch_w3), then 12.34 EUR was refunded to the card
    tenant = webhook.tenant("wh-globex")
    webhook.post(event("payment_intent.succeeded",
                       payment_intent("pi_w3", tenant, 3000, charge="ch_w3"), "evt_w30"))
    refund = event("charge.refunded", refunded_charge("ch_w3", "pi_w3", [("re_w3", 1234)]),
                   "evt_w31")

    # When charge.refunded is delivered twice (a retry gets a new delivery, same event id)
    first, second = webhook.post(refund), webhook.post(refund)

    # Then 30.00 - 12.34 = 17.66, one refund entry, and the ledger still sums to the balance
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    assert webhook.store.balance(tenant) == Decimal("17.66")
    assert webhook.store.ledger_sum(tenant) == Decimal("17.66")
    refunds = [e for e in webhook.store.ledger_entries(tenant) if e.kind == "refund"]
    assert [(e.entry_id, e.amount) for e in refunds] == [("refund#re_w3", Decimal("-12.34"))]


def test_a_refund_of_an_invoice_payment_reopens_the_invoice_once_and_leaves_the_ledger(
    webhook: Webhook, local_stack: LocalStack, fake_stripe: FakeStripe
) -> None:
    # Given a postpaid USD tenant whose October invoice (12.50 of calls + 20 % VAT = 15.00,
    # issued 2 November, due 16 November) was issued by the real invoice_cycle handler
    tenant = "wh-inv-refund"
    cycle_env = {
        **local_stack.function_environment("InvoiceCycleFunction"),
        **local_stack.aws_environment(),
        "STRIPE_API_KEY": FAKE_API_KEY, "STRIPE_API_BASE": fake_stripe.api_base,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    postpaid_tenant_with_october_calls(webhook.dynamodb, cycle_env, tenant)
    with function_environment(cycle_env):
        from shared.wiring import _invoice_cycle_base, invoice_cycle_settings

        _invoice_cycle_base.cache_clear()
        invoice_cycle_settings.cache_clear()
        load_handler(local_stack, "InvoiceCycleFunction")(
            scheduled("invoice-run", local_stack), LocalLambdaContext(function_name="cycle"))
        _invoice_cycle_base.cache_clear()
        invoice_cycle_settings.cache_clear()
    invoices = DynamoInvoiceStore(webhook.dynamodb, webhook.env["INVOICES_TABLE"],
                                  webhook.env["PAYMENTS_TABLE"])
    issued = invoices.get(tenant, "2026-10")
    assert issued is not None and issued.total == Decimal("15.00")
    # and paid in full by its auto-pay intent (1500 cents, metadata purpose invoice_payment)
    intent = payment_intent("pi_ir", tenant, 1500, currency="usd", charge="ch_ir")
    intent["metadata"] = {"tenant": tenant, "purpose": "invoice_payment",
                          "invoice": issued.number}
    assert webhook.post(event("payment_intent.succeeded", intent, "evt_ir0"))["statusCode"] == 200
    paid = invoices.get(tenant, "2026-10")
    assert paid is not None and (paid.status, paid.balance_due) == ("Paid", Decimal("0.00"))
    balance, ledger = webhook.store.balance(tenant), webhook.store.ledger_entries(tenant)

    # When 400 cents (4.00 USD) of that payment is refunded to the card on 5 November
    # (before the due date) and charge.refunded is delivered twice
    refund = event("charge.refunded",
                   refunded_charge("ch_ir", "pi_ir", [("re_ir", 400)], currency="usd"),
                   "evt_ir1", 1_793_880_000)  # 2026-11-05T12:00:00Z
    statuses = [webhook.post(refund)["statusCode"], webhook.post(refund)["statusCode"]]

    # Then paid 15.00 - 4.00 = 11.00 and due 0.00 + 4.00 = 4.00 (Partially Paid), once
    assert statuses == [200, 200]
    after = invoices.get(tenant, "2026-10")
    assert after is not None
    assert (after.status, after.paid, after.balance_due) == (
        "Partially Paid", Decimal("11.00"), Decimal("4.00"))
    assert after.reversals == {"re_ir": ("pi_ir", Decimal("4.00"))}
    # and the ledger is untouched: no refund entry, same balance, ledger sum == balance
    assert webhook.store.ledger_entries(tenant) == ledger
    assert webhook.store.balance(tenant) == balance == webhook.store.ledger_sum(tenant)
    # and the payment history shows the payment and the refund
    history = payment_history(tenant, webhook.records)
    assert [(e.status, e.reference, e.amount) for e in history if e.reference == "re_ir"] == [
        ("Refunded", "re_ir", Decimal("4.00"))]
    assert webhook.records.get("refund#re_ir")["invoices"] == issued.number  # type: ignore[index]


def test_a_dispute_flags_the_account_until_closed_even_out_of_order(webhook: Webhook) -> None:
    from tests.fakes.payments import fixture

    tenant = webhook.tenant("wh-dispute")
    webhook.post(event("payment_intent.succeeded",
                       payment_intent("pi_w4", tenant, 1000, charge="ch_w4"), "evt_w40"))

    def dispute(status: str, dispute_id: str = "dp_w4") -> dict[str, Any]:
        found = fixture("dispute")
        found.update(id=dispute_id, charge="ch_w4", status=status, currency="eur")
        return found

    webhook.post(event("charge.dispute.created", dispute("needs_response"), "evt_w41"))
    assert webhook.records.open_disputes(tenant) == {"dp_w4"}
    webhook.post(event("charge.dispute.closed", dispute("won"), "evt_w42"))
    webhook.post(event("charge.dispute.closed", dispute("lost", "dp_w5"), "evt_w43"))
    webhook.post(event("charge.dispute.created", dispute("needs_response", "dp_w5"), "evt_w44"))

    assert webhook.records.open_disputes(tenant) == set()
    assert webhook.records.get("dispute#dp_w5")["status"] == "closed"  # type: ignore[index]
    assert webhook.store.balance(tenant) == Decimal("10.00")


def test_a_stripe_fee_is_recorded_once_for_the_operator_and_never_charged(
    webhook: Webhook,
) -> None:
    from tests.fakes.payments import balance_transaction, fixture

    # Given umbrella paid 20.00 EUR (pi_w6 / ch_w6); Stripe kept a 0.88 EUR fee (txn_w6)
    tenant = webhook.tenant("wh-fee")
    webhook.post(event("payment_intent.succeeded",
                       payment_intent("pi_w6", tenant, 2000, charge="ch_w6"), "evt_w60"))
    charge = fixture("charge")
    charge.update(id="ch_w6", payment_intent="pi_w6", currency="eur", amount=2000, metadata={},
                  balance_transaction=balance_transaction("txn_w6", 2000, 88))

    # When charge.updated carries the expanded balance transaction, delivered under two ids
    first = webhook.post(event("charge.updated", charge, "evt_w61"))
    second = webhook.post(event("charge.updated", charge, "evt_w62"))

    # Then one fee record of 0.88 EUR, and the tenant's wallet and ledger are untouched
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    fee = webhook.records.get("fee#txn_w6")
    assert fee is not None
    assert (fee["kind"], fee["amount"], fee["currency"], fee["tenant"]) == (
        "stripe_fee", Decimal("0.88"), "EUR", tenant
    )
    assert webhook.store.balance(tenant) == Decimal("20.00")
    assert [e.entry_id for e in webhook.store.ledger_entries(tenant)] == ["topup#pi_w6"]


def test_a_dispute_builds_one_evidence_pack_of_the_disputed_periods_rated_calls(
    webhook: Webhook, local_stack: LocalStack
) -> None:
    from datetime import UTC, datetime

    from tests.fakes.payments import fixture

    def epoch(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())

    # Given hooli paid 10.00 EUR on 2026-10-05 and made one rated call on 2026-10-07 (as
    # rate_call stores it, in by_period), and one in August, outside the disputed period
    tenant = webhook.tenant("wh-evidence")
    webhook.post(event("payment_intent.succeeded",
                       payment_intent("pi_w7", tenant, 1000, charge="ch_w7"), "evt_w70",
                       epoch("2026-10-05T08:00:00")))
    for call_id, answered in (("c-oct", "2026-10-07T09:30:00"), ("c-aug", "2026-08-07T09:30:00")):
        answer_ms = epoch(answered) * 1000
        webhook.dynamodb.put_item(TableName=webhook.env["RATED_CALLS_TABLE"], Item={
            "call_key": {"S": f"{tenant}#{call_id}"}, "tenant": {"S": tenant},
            "call_id": {"S": call_id}, "status": {"S": "rated"}, "cost": {"N": "0.4200"},
            "currency": {"S": "EUR"}, "content": {"S": "h"}, "charged_by": {"S": "f#0"},
            "caller": {"S": "+3225550100"}, "callee": {"S": "+447700900123"},
            "card": {"S": "retail-eur"}, "prefix": {"S": "4477"}, "band": {"S": "peak"},
            "destination": {"S": "UK mobile"}, "billed_ms": {"N": "60000"},
            "quantity": {"N": "1"}, "answer_ms": {"N": str(answer_ms)},
            "tenant_period": {"S": f"{tenant}#{answered[:7]}"},
            "answered_at": {"S": f"{answered}.000Z#{call_id}"},
        })
    disputed = fixture("dispute")
    disputed.update(id="dp_w7", charge="ch_w7", status="needs_response", currency="eur",
                    created=epoch("2026-10-20T00:00:00"))

    # When charge.dispute.created is delivered under two event ids
    first = webhook.post(event("charge.dispute.created", disputed, "evt_w71"))
    second = webhook.post(event("charge.dispute.created", disputed, "evt_w72"))

    # Then one object evidence/<tenant>/dp_w7.json with the October call and its rating
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    s3 = local_stack.client("s3")
    bucket = webhook.env["EVIDENCE_BUCKET"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="evidence/")["Contents"]
            if o["Key"].startswith(f"evidence/{tenant}/")]
    assert keys == [f"evidence/{tenant}/dp_w7.json"]
    pack = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
    assert pack["periods"] == ["2026-09", "2026-10"]
    assert [(c["call_id"], c["cost"], c["prefix"], c["band"]) for c in pack["calls"]] == [
        ("c-oct", "0.4200", "4477", "peak")
    ]
    assert webhook.records.get("evidence#dp_w7")["key"] == keys[0]  # type: ignore[index]
    assert webhook.records.open_disputes(tenant) == {"dp_w7"}
