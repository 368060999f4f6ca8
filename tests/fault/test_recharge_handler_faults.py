"""A Stripe timeout through the real wallet_recharge handler: visible as a batch item failure
and a metric, and the redelivery charges nothing more.

The handler's container deps are the service's fakes (``tests/fakes/payments.py``), handed
in where the composition root would build them, as the handler's own unit tests do. The
gateway, like localstripe, ignores Idempotency-Key: only our recharge slot prevents a second
PaymentIntent.
"""

from __future__ import annotations

import importlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.domain.tenants import BillingMode, TenantSettings
from shared.local.dispatcher import LocalLambdaContext
from shared.services.recharge import RechargeDeps
from tests.fakes.payments import FakeGateway, MemoryRechargeRecords, MemoryWallet, RecordingNotifier
from tests.fault.emf import emf_metrics

HANDLER = importlib.import_module("functions.wallet_recharge.app")
SAMPLE = Path(__file__).resolve().parents[2] / (
    "functions/wallet_recharge/events/low_balance_message.json"
)


class TimesOut(FakeGateway):
    """Creates the PaymentIntent, then the answer is lost (a read timeout), ``times`` times."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def charge_off_session(self, *args: Any, **kwargs: Any) -> Any:
        if self.times > 0:
            self.times -= 1
            self.fail_after_create = True
        return super().charge_off_session(*args, **kwargs)


class World:
    """acme: prepaid EUR at 4.00, threshold 10.00, recharge 50.00, a card on file."""

    def __init__(self, gateway: FakeGateway) -> None:
        self.records = MemoryRechargeRecords()
        self.records.items["stripe#acme"] = {"customer": "cus_acme", "tenant": "acme"}
        self.wallet, self.gateway = MemoryWallet(), gateway

    def get(self, tenant: str) -> TenantSettings | None:
        return TenantSettings(
            tenant_id="acme", card="c", currency="EUR", mode=BillingMode.PREPAID,
            low_balance_threshold=Decimal("10.00"), recharge_amount=Decimal("50.00"),
        ) if tenant == "acme" else None

    def balance(self, tenant: str) -> Decimal:
        return Decimal("4.00") + self.wallet.balance(tenant)

    def deps(self) -> RechargeDeps:
        return RechargeDeps(self, self, self.wallet, self.records, self.gateway,
                            RecordingNotifier(), now=lambda: 1_790_000_000)


def test_a_stripe_timeout_fails_the_message_visibly_and_the_retry_charges_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given acme's low-balance message and a Stripe answer lost after the intent was created
    world = World(TimesOut(1))
    monkeypatch.setattr(HANDLER, "wallet_recharge_deps", world.deps)
    event = json.loads(SAMPLE.read_text(encoding="utf-8"))
    message_id = event["Records"][0]["messageId"]

    # When the message is delivered, fails, and SQS delivers it again (twice: at least once)
    first = HANDLER.handler(event, LocalLambdaContext())
    failed_metrics = emf_metrics(capsys.readouterr().out)
    second = HANDLER.handler(event, LocalLambdaContext())
    third = HANDLER.handler(event, LocalLambdaContext())
    later_metrics = emf_metrics(capsys.readouterr().out)

    # Then the timeout is a batch item failure and a FailedMessages metric; the retry finds
    # the intent Stripe made instead of creating another: one charge, 4.00 + 50.00 = 54.00
    assert first["batchItemFailures"] == [{"itemIdentifier": message_id}]
    assert failed_metrics.get("FailedMessages") == 1
    assert second["batchItemFailures"] == third["batchItemFailures"] == []
    assert later_metrics.get("Recharge_succeeded") == 1
    assert len(world.gateway.intents) == 1
    assert world.balance("acme") == Decimal("54.00")
