"""Suspension on the local stack: the daily check against the real TenantsTable and
PaymentsTable with an injected clock, and the restore made by the signed payment webhook
itself (real signature check, real ledger credit, real status compare-and-set).

The invoice store is engineer D's; here ``WalletBackedInvoices`` stands in for it: invoice
INV-7 of 42.00 EUR due 2026-03-01 owes 42.00 minus what the tenant's ledger has received, so
the webhook's own credit is what settles it (as D's store marking the invoice paid would).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.account_store import DynamoPaymentsInFlight, DynamoTenantAccounts
from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
from shared.adapters.payments_store import DynamoPaymentRecords
from shared.adapters.stripe_signature import StripeSignatureVerifier
from shared.domain.suspension import OpenInvoice
from shared.domain.tenants import AccountStatus, BillingMode, TenantSettings
from shared.local.dispatcher import LocalLambdaContext, function_environment, load_handler
from shared.local.stack import LocalStack
from shared.services.payments_webhook import WebhookDeps, receive_webhook
from shared.services.suspension import (
    RestoreDeps,
    SuspensionDeps,
    check_tenant,
    restore_if_settled,
)
from tests.fakes.payments import TEST_SECRET, RecordingNotifier, event, payment_intent, sign

pytestmark = pytest.mark.integration

DUE = date(2026, 3, 1)
START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # the 06:00 UTC schedule on the due date


@dataclass
class WalletBackedInvoices:
    usage: DynamoUsageStore

    def open_invoices(self, tenant: str) -> list[OpenInvoice]:
        due = Decimal("42.00") - max(self.usage.ledger_sum(tenant), Decimal(0))
        return [OpenInvoice("INV-7", DUE, due, "EUR")] if due > 0 else []


class World:
    def __init__(self, stack: LocalStack) -> None:
        env = stack.function_environment("StripeWebhookFunction")
        dynamodb = stack.client("dynamodb")
        self.tenants_table = env["TENANTS_TABLE"]
        self.directory = DynamoTenantDirectory(dynamodb, self.tenants_table)
        self.payments_table = env["PAYMENTS_TABLE"]
        self.accounts = DynamoTenantAccounts(dynamodb, self.tenants_table, self.payments_table)
        self.records = DynamoPaymentRecords(dynamodb, env["PAYMENTS_TABLE"])
        self.usage = DynamoUsageStore(dynamodb, UsageTables(
            rated_calls="", ledger=env["LEDGER_TABLE"], balances=env["BALANCES_TABLE"],
            breakouts="", files="",
        ))
        self.invoices = WalletBackedInvoices(self.usage)
        self.notifier = RecordingNotifier()
        self.now = START

    def tenant(self, name: str) -> TenantSettings:
        settings = TenantSettings(
            tenant_id=name, card="any", currency="EUR", mode=BillingMode.POSTPAID
        )
        self.directory.put(settings)
        return settings

    def check(self, name: str, day: int) -> str:
        self.now = START + timedelta(days=day)
        deps = SuspensionDeps(
            self.directory, self.accounts, self.invoices, DynamoPaymentsInFlight(self.records),
            self.records, self.notifier, lambda: self.now,
        )
        settings = self.directory.get(name)
        assert settings is not None
        return check_tenant(settings, deps).outcome

    def status(self, name: str) -> AccountStatus:
        settings = self.directory.get(name)
        assert settings is not None
        return settings.status

    def webhook(self) -> WebhookDeps:
        restore = RestoreDeps(self.directory, self.accounts, self.invoices, self.records,
                              lambda: self.now)
        return WebhookDeps(
            verifier=StripeSignatureVerifier((TEST_SECRET,)),
            records=self.records,
            wallet=self.usage,
            tenants=self.directory,
            restore=lambda tenant: restore_if_settled(tenant, restore),
        )


@pytest.fixture(scope="module")
def world(local_stack: LocalStack) -> Iterator[World]:
    yield World(local_stack)


def test_warned_on_days_7_and_13_suspended_on_14_and_restored_by_the_webhook_call(
    world: World,
) -> None:
    # Given a postpaid tenant whose invoice INV-7 (42.00 EUR) fell due on 2026-03-01
    world.tenant("sus-acme")
    outcomes, again = {}, ""
    # When the daily check runs every day from the due date to day 14, twice on day 7
    for day in range(0, 15):
        outcomes[day] = world.check("sus-acme", day)
        if day == 7:
            again = world.check("sus-acme", day)
    # Then warnings went out on days 7 and 13 only (day 8's run found the day-7 record),
    # the doubled day-7 run sent nothing, and day 14 suspended the account in TenantsTable
    warned = [day for day, outcome in outcomes.items() if outcome == "warned"]
    assert warned == [7, 13] and again == "current"
    assert outcomes[14] == "suspended"
    assert world.notifier.sent == [
        ("sus-acme", "dunning_warning"), ("sus-acme", "dunning_warning"),
        ("sus-acme", "suspended"),
    ]
    assert world.records.get("dunning#sus-acme#INV-7#7") is not None
    assert world.records.get("dunning#sus-acme#INV-7#13") is not None
    assert world.status("sus-acme") is AccountStatus.SUSPENDED

    # When the tenant pays 42.00 EUR (4200 cents) and Stripe's signed
    # payment_intent.succeeded arrives on day 15
    world.now = START + timedelta(days=15)
    payload = event("payment_intent.succeeded", payment_intent("pi_sus1", "sus-acme", 4200),
                    "evt_sus1", int(time.time()))
    result = receive_webhook(payload, sign(payload), world.webhook())
    # Then that same call credited the ledger and restored the account
    assert (result.outcome, result.entries) == ("processed", 1)
    assert world.usage.ledger_sum("sus-acme") == Decimal("42.00")
    assert world.status("sus-acme") is AccountStatus.ACTIVE


def test_a_partial_payment_leaves_the_account_suspended(world: World) -> None:
    world.tenant("sus-partial")
    assert world.check("sus-partial", 14) == "suspended"
    # 10.00 of 42.00 paid: INV-7 still owes 32.00 and is 15 days past due
    payload = event("payment_intent.succeeded", payment_intent("pi_sus2", "sus-partial", 1000),
                    "evt_sus2", int(time.time()))
    receive_webhook(payload, sign(payload), world.webhook())
    assert world.status("sus-partial") is AccountStatus.SUSPENDED


def test_a_pending_recharge_holds_the_suspension(world: World) -> None:
    # Given a recharge in flight (the slot claimed and pending) on day 14
    world.tenant("sus-inflight")
    world.records.claim("sus-inflight", "evt-low-balance", int((START + timedelta(14)).timestamp()))
    # Then the account is not suspended; once the slot is done, the next run suspends it
    assert world.check("sus-inflight", 14) == "held_by_payment"
    assert world.status("sus-inflight") is AccountStatus.ACTIVE
    world.records.settle("sus-inflight", "evt-low-balance", {"state": "done"})
    assert world.check("sus-inflight", 15) == "suspended"


def test_the_real_handler_restores_when_its_invoice_store_shows_nothing_past_due(
    local_stack: LocalStack, world: World,
) -> None:
    # Given the stripe_webhook function wired with the invoice store (INVOICES_TABLE), which
    # holds no unpaid invoice of the tenant, and a tenant suspended by the daily check
    env = {
        **local_stack.function_environment("StripeWebhookFunction"),
        **local_stack.aws_environment(),
        "STRIPE_WEBHOOK_SECRET": TEST_SECRET,
        "INVOICES_TABLE": local_stack.function_environment("InvoiceCycleFunction")[
            "INVOICES_TABLE"
        ],
    }
    world.tenant("sus-handler")
    assert world.check("sus-handler", 14) == "suspended"  # the stand-in's INV-7 on day 14
    sample = Path(__file__).resolve().parents[2] / (
        "functions/stripe_webhook/events/webhook_request.json"
    )
    payload = event("payment_intent.succeeded", payment_intent("pi_sus3", "sus-handler", 500),
                    "evt_sus3", int(time.time()))
    request = copy.deepcopy(json.loads(sample.read_text(encoding="utf-8")))
    request["headers"]["stripe-signature"] = sign(payload)
    request["headers"]["content-length"] = str(len(payload))
    request["body"], request["isBase64Encoded"] = payload.decode(), False
    request["requestContext"]["timeEpoch"] = int(time.time() * 1000)
    from shared.wiring import stripe_webhook_deps, stripe_webhook_settings

    with function_environment(env):
        stripe_webhook_deps.cache_clear()
        stripe_webhook_settings.cache_clear()
        try:
            # When Stripe's signed payment_intent.succeeded reaches the real handler
            response = load_handler(local_stack, "StripeWebhookFunction")(
                request, LocalLambdaContext()
            )
        finally:
            stripe_webhook_deps.cache_clear()
            stripe_webhook_settings.cache_clear()
    # Then that request restored the account
    assert response["statusCode"] == 200
    assert world.status("sus-handler") is AccountStatus.ACTIVE


def test_a_payment_awaiting_authentication_holds_the_suspension(world: World) -> None:
    # Given day 14 and a PaymentIntent of the tenant awaiting 3-D Secure (requires_action),
    # recorded by the webhook a day earlier: in flight, found on the by_tenant index
    world.tenant("sus-3ds")
    day_13 = int((START + timedelta(days=13)).timestamp())
    world.records.advance("payment_intent#pi_sus_3ds", 1, day_13, "sus-3ds",
                          {"status": "requires_action", "amount": Decimal("42.00")})
    assert world.check("sus-3ds", 14) == "held_by_payment"
    # When it is still unfinished 7 days later, it no longer holds the account open
    assert world.check("sus-3ds", 20) == "suspended"


class _DiesOnWrite:
    """A DynamoDB client whose process dies at the first write that touches ``table``
    (alone or in a transaction): that write never happens, nor anything after it."""

    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _dies(self, request: dict[str, Any]) -> None:
        tables = {request.get("TableName")} | {
            next(iter(item.values()))["TableName"] for item in request.get("TransactItems", [])
        }
        if self.table in tables:
            raise RuntimeError(f"killed before a write to {self.table}")

    def update_item(self, **request: Any) -> Any:
        self._dies(request)
        return self.client.update_item(**request)

    def put_item(self, **request: Any) -> Any:
        self._dies(request)
        return self.client.put_item(**request)

    def transact_write_items(self, **request: Any) -> Any:
        self._dies(request)
        return self.client.transact_write_items(**request)


def _dying(world: World, table: str) -> tuple[DynamoTenantAccounts, DynamoPaymentRecords]:
    """The accounts and the payment records on one client that dies writing ``table``."""
    client = _DiesOnWrite(world.accounts.client, table)
    return (DynamoTenantAccounts(client, world.tenants_table, world.payments_table),
            DynamoPaymentRecords(client, world.payments_table))


def _restore(
    world: World, tenant: str,
    dying: tuple[DynamoTenantAccounts, DynamoPaymentRecords] | None = None,
) -> bool:
    accounts, records = dying or (world.accounts, world.records)
    deps = RestoreDeps(world.directory, accounts, world.invoices, records, lambda: world.now)
    return restore_if_settled(tenant, deps)


def _pay(world: World, tenant: str) -> None:
    """INV-7 settled: the wallet receives its 42.00 (WalletBackedInvoices)."""
    world.usage.credit(tenant, f"topup#pi_{tenant}", Decimal("42.00"), "EUR")


def test_a_suspension_that_dies_before_its_status_leaves_no_reason_behind(
    world: World,
) -> None:
    # Given an account 14 days past due, whose daily check dies at the status move
    world.tenant("sus-crash")
    world.now = START + timedelta(days=14)
    settings = world.directory.get("sus-crash")
    assert settings is not None
    accounts, records = _dying(world, world.tenants_table)
    deps = SuspensionDeps(
        world.directory, accounts, world.invoices, DynamoPaymentsInFlight(world.records),
        records, world.notifier, lambda: world.now,
    )
    with pytest.raises(RuntimeError, match="killed"):
        check_tenant(settings, deps)
    # Then neither the status nor the reason was written
    assert world.status("sus-crash") is AccountStatus.ACTIVE
    assert world.records.get("suspension#sus-crash") is None
    # When an operator then suspends it by hand (fraud) and the invoice is paid
    assert world.accounts.set_status("sus-crash", AccountStatus.ACTIVE, AccountStatus.SUSPENDED)
    _pay(world, "sus-crash")
    # Then the payment does not reopen the operator's suspension
    assert _restore(world, "sus-crash") is False
    assert world.status("sus-crash") is AccountStatus.SUSPENDED


def test_a_restore_that_dies_before_its_record_is_all_or_nothing(world: World) -> None:
    # Given an account suspended for non-payment on day 14, then paid
    world.tenant("sus-rcrash")
    assert world.check("sus-rcrash", 14) == "suspended"
    assert world.records.get("suspension#sus-rcrash")["state"] == "suspended"  # type: ignore[index]
    _pay(world, "sus-rcrash")
    # When the restore dies at the record write (PaymentsTable)
    with pytest.raises(RuntimeError, match="killed"):
        _restore(world, "sus-rcrash", _dying(world, world.payments_table))
    # Then the status did not move without it: still suspended for non-payment
    assert world.status("sus-rcrash") is AccountStatus.SUSPENDED
    assert world.records.get("suspension#sus-rcrash")["state"] == "suspended"  # type: ignore[index]
    # and the webhook's retry restores it, record and status together
    assert _restore(world, "sus-rcrash") is True
    assert world.status("sus-rcrash") is AccountStatus.ACTIVE
    assert world.records.get("suspension#sus-rcrash")["state"] == "restored"  # type: ignore[index]
    # When an operator later suspends it by hand and another payment arrives
    assert world.accounts.set_status("sus-rcrash", AccountStatus.ACTIVE,
                                     AccountStatus.SUSPENDED)
    world.usage.credit("sus-rcrash", "topup#pi_more", Decimal("5.00"), "EUR")
    # Then the operator's suspension survives
    assert _restore(world, "sus-rcrash") is False
    assert world.status("sus-rcrash") is AccountStatus.SUSPENDED


def test_an_operator_edit_between_the_check_and_its_move_writes_no_reason(
    world: World,
) -> None:
    # Given an account the daily check reads as active and 14 days past due
    world.tenant("sus-race")
    world.now = START + timedelta(days=14)
    settings = world.directory.get("sus-race")
    assert settings is not None
    # When an operator suspends it by hand after the read, before the check's move
    assert world.accounts.set_status("sus-race", AccountStatus.ACTIVE, AccountStatus.SUSPENDED)
    deps = SuspensionDeps(
        world.directory, world.accounts, world.invoices, DynamoPaymentsInFlight(world.records),
        world.records, world.notifier, lambda: world.now,
    )
    # Then the check's compare-and-set is refused and no non-payment reason is written
    assert check_tenant(settings, deps).outcome == "already_suspended"
    assert world.records.get("suspension#sus-race") is None
    _pay(world, "sus-race")
    assert _restore(world, "sus-race") is False
    assert world.status("sus-race") is AccountStatus.SUSPENDED
