"""Suspension end to end on the local stack with the real handlers and the real invoice
store: invoice_cycle issues an October invoice on 2 November (due 16 November, 14 days of
payment terms), its suspension-check schedule warns on days 7 and 13 and suspends on day 14,
and the signed payment_intent.succeeded paying the invoice restores the account in that
same webhook request.

The tenant is postpaid USD in UTC with a 10.00 and a 2.50 call in October; no buyer
country, so the seller's rules apply (VAT 20 %): 12.50 + 2.50 = 15.00 due. No card is saved,
so auto-pay at issue charges nothing and the invoice stays open.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoTenantDirectory
from shared.adapters.invoice_store import DynamoInvoiceStore
from shared.adapters.payments_store import DynamoPaymentRecords
from shared.domain.tenants import AccountStatus
from shared.local.dispatcher import LocalLambdaContext, function_environment, load_handler
from shared.local.fake_stripe import FAKE_API_KEY, FakeStripe
from shared.local.stack import LocalStack
from tests.fakes.payments import TEST_SECRET, event, payment_intent, sign
from tests.integration.invoice_cycle_steps import postpaid_tenant_with_october_calls, scheduled

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TENANT = "e2e-overdue"


class Stack:
    def __init__(self, stack: LocalStack, stripe: FakeStripe) -> None:
        self.stack = stack
        self.cycle_env = {
            **stack.function_environment("InvoiceCycleFunction"),
            **stack.aws_environment(),
            "STRIPE_API_KEY": FAKE_API_KEY,
            "STRIPE_API_BASE": stripe.api_base,
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        self.webhook_env = {
            **stack.function_environment("StripeWebhookFunction"),
            **stack.aws_environment(),
            "STRIPE_WEBHOOK_SECRET": TEST_SECRET,
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        dynamodb = stack.client("dynamodb")
        self.dynamodb = dynamodb
        self.store = DynamoInvoiceStore(dynamodb, self.cycle_env["INVOICES_TABLE"],
                                        self.cycle_env["PAYMENTS_TABLE"])
        self.directory = DynamoTenantDirectory(dynamodb, self.cycle_env["TENANTS_TABLE"])
        self.records = DynamoPaymentRecords(dynamodb, self.cycle_env["PAYMENTS_TABLE"])

    def tenant(self) -> None:
        postpaid_tenant_with_october_calls(self.dynamodb, self.cycle_env, TENANT)

    def scheduled(self, job: str, when: str) -> dict[str, Any]:
        found = scheduled(job, self.stack, when)
        with function_environment(self.cycle_env):
            result: dict[str, Any] = load_handler(self.stack, "InvoiceCycleFunction")(
                found, LocalLambdaContext(function_name="invoice_cycle"))
        return result

    def pay(self, payload: bytes) -> dict[str, Any]:
        sample = ROOT / "functions" / "stripe_webhook" / "events" / "webhook_request.json"
        request = copy.deepcopy(json.loads(sample.read_text(encoding="utf-8")))
        request["headers"]["stripe-signature"] = sign(payload)
        request["headers"]["content-length"] = str(len(payload))
        request["body"], request["isBase64Encoded"] = payload.decode(), False
        request["requestContext"]["timeEpoch"] = int(time.time() * 1000)
        with function_environment(self.webhook_env):
            response: dict[str, Any] = load_handler(self.stack, "StripeWebhookFunction")(
                request, LocalLambdaContext())
        return response

    def status(self) -> AccountStatus:
        settings = self.directory.get(TENANT)
        assert settings is not None
        return settings.status


@pytest.fixture
def world(local_stack: LocalStack, fake_stripe: FakeStripe) -> Iterator[Stack]:
    made = Stack(local_stack, fake_stripe)
    from shared.wiring import (
        _invoice_cycle_base,
        invoice_cycle_settings,
        stripe_webhook_deps,
        stripe_webhook_settings,
    )

    caches = (_invoice_cycle_base, invoice_cycle_settings, stripe_webhook_deps,
              stripe_webhook_settings)
    for cache in caches:
        cache.cache_clear()  # cold containers on this stack
    yield made
    for cache in caches:
        cache.cache_clear()


def test_issued_warned_suspended_then_restored_by_the_payment_request(world: Stack) -> None:
    # Given October's invoice issued on 2 November: 15.00 USD due 16 November
    world.tenant()
    world.scheduled("invoice-run", "2026-11-02T02:00:00Z")
    invoice = world.store.get(TENANT, "2026-10")
    assert invoice is not None
    assert (invoice.total, invoice.due_date) == (Decimal("15.00"), "2026-11-16")

    # When the suspension-check schedule fires daily at 06:00 UTC from 16 to 30 November
    warned, suspended = [], []
    for day in range(16, 31):
        result = world.scheduled("suspension-check", f"2026-11-{day:02d}T06:00:00Z")
        if TENANT in result["warned"]:
            warned.append(day)
        if TENANT in result["suspended"]:
            suspended.append(day)
    # Then warned on the 23rd (day 7) and 29th (day 13), suspended on the 30th (day 14)
    assert (warned, suspended) == ([23, 29], [30])
    assert world.status() is AccountStatus.SUSPENDED
    assert world.records.get(f"dunning#{TENANT}#{invoice.number}#7") is not None

    # When the tenant pays the invoice: Stripe's signed payment_intent.succeeded for an
    # intent made for it (1500 cents, metadata purpose invoice_payment, the invoice number)
    intent = payment_intent("pi_e2e_overdue", TENANT, 1500, currency="usd")
    intent["metadata"] = {"tenant": TENANT, "purpose": "invoice_payment",
                          "invoice": invoice.number}
    response = world.pay(event("payment_intent.succeeded", intent, "evt_e2e_overdue",
                               int(time.time())))
    # Then that request paid the invoice and restored the account
    assert response["statusCode"] == 200
    paid = world.store.get(TENANT, "2026-10")
    assert paid is not None and paid.balance_due == 0
    assert world.status() is AccountStatus.ACTIVE
