"""Auto-recharge end to end on the local stack and the fake Stripe server (localstripe).

A low-balance event goes on the local stack's default bus exactly as rate_call publishes it
(``EventBridgePublisher``); moto's EventBridge rule (template.yaml ``LowBalanceRule``) puts it
on RechargeQueue; ``LocalDispatcher`` hands the queue to the real wallet_recharge handler;
the handler charges the tenant's default card on localstripe through the real Stripe SDK.
localstripe ignores ``Idempotency-Key``, so every "one PaymentIntent" below is proven by our
own recharge record in PaymentsTable. Notifications are SES emails from a verified identity.

Each tenant here: prepaid EUR, threshold 10.00, recharge 50.00, balance 4.00.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
from shared.adapters.events import EventBridgePublisher
from shared.adapters.payments_store import DynamoPaymentRecords
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import (
    DispatchStats,
    LocalDispatcher,
    LocalLambdaContext,
    function_environment,
    load_handler,
    sqs_record,
)
from shared.local.fake_stripe import (
    CARD_AUTHENTICATION,
    CARD_DECLINED,
    CARD_OK,
    FAKE_API_KEY,
    FakeStripe,
)
from shared.local.stack import LocalStack
from shared.services.recharge import STALE_CLAIM_SECONDS

pytestmark = pytest.mark.integration

SENDER = "billing@telecom-billing.test"


class Recharge:
    def __init__(self, stack: LocalStack, stripe: FakeStripe) -> None:
        self.stack = stack
        self.stripe = stripe
        self.env = {
            **stack.function_environment("WalletRechargeFunction"),
            **stack.aws_environment(),
            "STRIPE_API_KEY": FAKE_API_KEY,  # wins over STRIPE_API_KEY_PARAMETER locally
            "STRIPE_API_BASE": stripe.api_base,
            "NOTIFICATION_SENDER": SENDER,
        }
        dynamodb = stack.client("dynamodb")
        self.store = DynamoUsageStore(dynamodb, UsageTables(
            rated_calls="", ledger=self.env["LEDGER_TABLE"],
            balances=self.env["BALANCES_TABLE"], breakouts="", files="",
        ))
        self.records = DynamoPaymentRecords(dynamodb, self.env["PAYMENTS_TABLE"])
        self.directory = DynamoTenantDirectory(dynamodb, self.env["TENANTS_TABLE"])
        self.sqs = stack.client("sqs")
        self.ses = stack.client("ses")
        self.ses.verify_email_identity(EmailAddress=SENDER)
        self.publisher = EventBridgePublisher(stack.client("events"), "default")
        queue = stack.resources["RechargeQueue"]
        self.queue_url, self.queue_arn = queue.ref, str(queue.arn)
        with function_environment(self.env):
            from shared.wiring import wallet_recharge_deps, wallet_recharge_settings

            wallet_recharge_deps.cache_clear()  # a fresh container for this stack
            wallet_recharge_settings.cache_clear()
            self.handler = load_handler(stack, "WalletRechargeFunction")
        self.module: ModuleType = __import__(
            "functions.wallet_recharge.app", fromlist=["handler"]
        )

    def tenant(self, name: str, card: str = CARD_OK) -> str:
        """A prepaid tenant at 4.00 (threshold 10.00) whose default card is ``card``."""
        self.directory.put(TenantSettings(
            tenant_id=name, card="any", currency="EUR",
            low_balance_threshold=Decimal("10.00"), recharge_amount=Decimal("50.00"),
        ))
        self.store.credit(name, "adjustment#opening", Decimal("4.00"), "EUR")
        customer = self.stripe.customer_with_card(card)
        self.records.link(f"stripe#{name}", name, {
            "customer": customer, "email": f"billing@{name}.test",
        })
        return name

    def customer(self, tenant: str) -> str:
        customer = self.records.customer_of(tenant)
        assert customer is not None
        return customer

    def intents(self, tenant: str) -> list[dict[str, Any]]:
        return self.stripe.payment_intents(self.customer(tenant))

    def low_balance(self, tenant: str) -> None:
        """What rate_call publishes when a commit takes the balance under the threshold."""
        self.publisher.low_balance(tenant, Decimal("4.00"), Decimal("10.00"), "EUR")

    def drain(self) -> DispatchStats:
        dispatcher = LocalDispatcher(
            self.sqs, self.queue_url, self.queue_arn, self.stack.region, self.handler,
            function_name="WalletRechargeFunction",
        )
        with function_environment(self.env):
            return dispatcher.drain()

    def receive(self, count: int) -> list[dict[str, Any]]:
        """Take ``count`` messages off the queue (to hand them to handlers ourselves)."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while len(found) < count and time.monotonic() < deadline:
            found += self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=count - len(found),
                AttributeNames=["All"],
            ).get("Messages", [])
        assert len(found) == count
        for message in found:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def invoke(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        event = {"Records": [sqs_record(m, self.queue_arn, self.stack.region) for m in messages]}
        with function_environment(self.env):
            response: dict[str, Any] = self.handler(event, LocalLambdaContext())
        return response

    def emails_sent(self) -> int:
        return int(self.ses.get_send_quota()["SentLast24Hours"])

    def slot(self, tenant: str) -> dict[str, Any]:
        found = self.records.get(f"recharge#{tenant}")
        assert found is not None
        return found


@pytest.fixture(scope="module")
def world(local_stack: LocalStack, fake_stripe: FakeStripe) -> Iterator[Recharge]:
    yield Recharge(local_stack, fake_stripe)


def test_a_low_balance_event_on_the_bus_charges_the_default_card_once(world: Recharge) -> None:
    # Given acme at 4.00 with a good card, and its low-balance event on the default bus
    tenant = world.tenant("rc-acme")
    world.low_balance(tenant)

    # When the queue the rule fills is delivered to the handler
    stats = world.drain()

    # Then one message, one PaymentIntent of 5000 cents EUR on the default card, credited once
    assert (stats.delivered, stats.failed) == (1, 0)
    (intent,) = world.intents(tenant)
    assert (intent["amount"], intent["currency"], intent["status"]) == (5000, "eur", "succeeded")
    assert intent["metadata"]["tenant"] == tenant
    default = world.stripe.request("GET", f"/v1/customers/{world.customer(tenant)}")
    assert intent["payment_method"] == default["invoice_settings"]["default_payment_method"]
    assert world.store.balance(tenant) == Decimal("54.00")
    assert [(e.entry_id, e.amount) for e in world.store.ledger_entries(tenant)
            if e.kind == "topup"] == [(f"topup#{intent['id']}", Decimal("50.00"))]
    assert world.slot(tenant)["outcome"] == "succeeded"


def test_several_low_balance_events_for_one_tenant_create_one_payment_intent(
    world: Recharge,
) -> None:
    # Given four low-balance events for globex in the queue (files rated in quick succession)
    tenant = world.tenant("rc-globex")
    for _ in range(4):
        world.low_balance(tenant)

    # When they are delivered (one batch)
    stats = world.drain()

    # Then all four are acknowledged and only one recharge happened
    assert (stats.delivered, stats.failed) == (4, 0)
    assert len(world.intents(tenant)) == 1
    assert world.store.balance(tenant) == Decimal("54.00")


def test_two_lambdas_racing_on_one_tenant_create_one_payment_intent(world: Recharge) -> None:
    # Given two low-balance events for initech, each taken by its own concurrent invocation
    tenant = world.tenant("rc-initech")
    world.low_balance(tenant)
    world.low_balance(tenant)
    first, second = world.receive(2)
    start = threading.Barrier(2)
    responses: list[dict[str, Any]] = []

    def run(message: dict[str, Any]) -> None:
        start.wait()
        responses.append(world.invoke([message]))

    # When both run at once
    threads = [threading.Thread(target=run, args=(m,)) for m in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then both are acknowledged and one PaymentIntent was created and credited
    assert responses == [{"batchItemFailures": []}] * 2
    assert len(world.intents(tenant)) == 1
    assert world.store.balance(tenant) == Decimal("54.00")


def test_a_lambda_retried_after_a_crash_does_not_charge_twice(
    world: Recharge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given hooli's recharge whose Lambda dies after Stripe created the PaymentIntent (and we
    # recorded its id) but before the wallet was credited
    tenant = world.tenant("rc-hooli")
    with function_environment(world.env):
        real = world.module.wallet_recharge_deps()

    class CrashOnce:
        crashed = False

        def credit(self, *args: Any) -> bool:
            if not self.crashed:
                self.crashed = True
                raise RuntimeError("injected: the Lambda died before the credit")
            return bool(real.wallet.credit(*args))

    crashing = dataclasses.replace(real, wallet=CrashOnce())
    monkeypatch.setattr(world.module, "wallet_recharge_deps", lambda: crashing)
    world.low_balance(tenant)

    # When SQS delivers the message, the handler fails it, and SQS delivers it again
    stats = world.drain()

    # Then the retry read the intent it had created instead of creating another: one charge,
    # one credit
    assert (stats.failed, stats.delivered) == (1, 1)
    assert len(world.intents(tenant)) == 1
    assert world.store.balance(tenant) == Decimal("54.00")
    assert len([e for e in world.store.ledger_entries(tenant) if e.kind == "topup"]) == 1


def test_a_lambda_that_died_before_recording_stripe_s_answer_does_not_charge_twice(
    world: Recharge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given dunder's recharge whose Lambda dies right after Stripe created the PaymentIntent,
    # before our record has its id; localstripe ignores Idempotency-Key, so a second create
    # would be a second charge
    tenant = world.tenant("rc-dunder")
    with function_environment(world.env):
        real = world.module.wallet_recharge_deps()

    class DiesAfterStripeAnswers:
        died = False

        def charge_off_session(self, *args: Any) -> Any:
            charge = real.gateway.charge_off_session(*args)
            if not self.died:
                self.died = True
                raise ConnectionError("injected: the answer was lost after Stripe created it")
            return charge

        def retrieve(self, intent_id: str) -> Any:
            return real.gateway.retrieve(intent_id)

        def find_charge(self, customer: str, trigger: str) -> Any:
            return real.gateway.find_charge(customer, trigger)

    dying = dataclasses.replace(real, gateway=DiesAfterStripeAnswers())
    monkeypatch.setattr(world.module, "wallet_recharge_deps", lambda: dying)
    world.low_balance(tenant)

    # When SQS delivers the message, the handler fails it, and SQS delivers it again
    stats = world.drain()

    # Then the retry found the intent by its trigger on Stripe: one charge, one credit
    assert (stats.failed, stats.delivered) == (1, 1)
    (intent,) = world.intents(tenant)
    assert world.slot(tenant)["intent_id"] == intent["id"]
    assert world.store.balance(tenant) == Decimal("54.00")


def test_a_slot_left_pending_by_a_dead_lettered_message_does_not_block_the_wallet(
    world: Recharge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given stark's slot claimed by a trigger that crashed on every delivery before Stripe
    tenant = world.tenant("rc-stark")
    world.records.claim(tenant, "evt-dead", int(time.time()))
    world.low_balance(tenant)
    assert world.drain().delivered == 1 and world.intents(tenant) == []  # busy meanwhile

    # When a low-balance event arrives an hour later
    with function_environment(world.env):
        real = world.module.wallet_recharge_deps()
    later = dataclasses.replace(real, now=lambda: int(time.time()) + STALE_CLAIM_SECONDS)
    monkeypatch.setattr(world.module, "wallet_recharge_deps", lambda: later)
    world.low_balance(tenant)
    stats = world.drain()

    # Then the stale claim is released and the wallet recharged, once
    assert (stats.delivered, stats.failed) == (1, 0)
    assert len(world.intents(tenant)) == 1
    assert world.store.balance(tenant) == Decimal("54.00")


def test_a_declined_card_backs_off_and_notifies(world: Recharge) -> None:
    # Given umbrella's card is declined by its issuer
    tenant = world.tenant("rc-umbrella", card=CARD_DECLINED)
    emails = world.emails_sent()
    world.low_balance(tenant)

    # When its low-balance event is delivered
    stats = world.drain()

    # Then the message is done with (no blind retry), nothing is credited, the tenant is
    # emailed once and the slot backs off for an hour
    assert (stats.delivered, stats.failed) == (1, 0)
    assert world.store.balance(tenant) == Decimal("4.00")
    slot = world.slot(tenant)
    assert (slot["outcome"], slot["declines"]) == ("declined", 1)
    assert int(slot["retry_after"]) >= time.time() + 3600 - 60
    assert world.emails_sent() == emails + 1

    # And another low-balance event during the back-off charges nothing and sends nothing
    attempts = len(world.intents(tenant))
    world.low_balance(tenant)
    assert (world.drain().delivered, len(world.intents(tenant))) == (1, attempts)
    assert world.emails_sent() == emails + 1


def test_a_card_needing_authentication_notifies_and_is_not_retried(world: Recharge) -> None:
    tenant = world.tenant("rc-wayne", card=CARD_AUTHENTICATION)
    emails = world.emails_sent()
    world.low_balance(tenant)

    stats = world.drain()
    world.low_balance(tenant)
    again = world.drain()

    (intent,) = world.intents(tenant)
    assert intent["status"] == "requires_action"
    assert (stats.delivered, again.delivered, stats.failed + again.failed) == (1, 1, 0)
    assert world.slot(tenant)["outcome"] == "authentication_required"
    assert world.store.balance(tenant) == Decimal("4.00")
    assert world.emails_sent() == emails + 1


def test_the_event_shape_on_the_queue_is_the_eventbridge_envelope(world: Recharge) -> None:
    tenant = world.tenant("rc-shape")
    world.low_balance(tenant)

    (message,) = world.receive(1)

    body = json.loads(message["Body"])
    assert body["source"] == "telecom.billing"
    assert body["detail-type"] == "WalletLowBalance"
    assert body["detail"] == {"tenant": tenant, "balance": "4.00", "threshold": "10.00",
                              "currency": "EUR"}
