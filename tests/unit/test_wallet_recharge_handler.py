"""wallet_recharge's handler and the low-balance message contract, with the service's fakes
(tests/fakes/payments.py): the real-shaped sample in functions/wallet_recharge/events/."""

from __future__ import annotations

import copy
import importlib
import json
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.contracts.low_balance import low_balance_request
from shared.domain.errors import ValidationError
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import LocalLambdaContext
from shared.services.recharge import RechargeDeps, RechargeRequest
from tests.fakes.payments import (
    FakeGateway,
    MemoryRechargeRecords,
    MemoryWallet,
    RecordingNotifier,
)

# imported at collection, before pytest-socket blocks sockets (the X-Ray SDK opens its UDP
# emitter when shared.observability is first imported)
HANDLER = importlib.import_module("functions.wallet_recharge.app")
SAMPLE = Path(__file__).resolve().parents[2] / (
    "functions/wallet_recharge/events/low_balance_message.json"
)


def sample() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return event


def body_of(event: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(event["Records"][0]["body"])
    return body


class World:
    """acme: prepaid EUR, threshold 10.00, recharge 50.00, balance 4.00, card on file."""

    def __init__(self) -> None:
        self.records = MemoryRechargeRecords()
        self.records.items["stripe#acme"] = {"customer": "cus_acme", "tenant": "acme"}
        self.wallet = MemoryWallet()
        self.gateway = FakeGateway()
        self.notifier = RecordingNotifier()

    def get(self, tenant: str) -> TenantSettings | None:
        return TenantSettings(tenant_id=tenant, card="c", currency="EUR",
                              low_balance_threshold=Decimal("10.00"),
                              recharge_amount=Decimal("50.00")) if tenant == "acme" else None

    def balance(self, tenant: str) -> Decimal:
        return Decimal("4.00") + self.wallet.balance(tenant)

    def deps(self) -> RechargeDeps:
        return RechargeDeps(self, self, self.wallet, self.records, self.gateway, self.notifier,
                            now=lambda: 1_000_000)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[World, ModuleType]:
    found = World()
    monkeypatch.setattr(HANDLER, "wallet_recharge_deps", found.deps)
    return found, HANDLER


def test_the_sample_message_is_acme_s_low_balance_event() -> None:
    body = body_of(sample())

    request = low_balance_request(json.dumps(body))

    assert request == RechargeRequest("acme", f"evt-{body['id']}")


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", '{"Records": []}', json.dumps({"detail-type": "WalletLowBalance",
     "source": "telecom.billing", "id": "e1", "detail": {}})],
)
def test_a_message_that_is_not_a_low_balance_event_is_refused(body: str) -> None:
    with pytest.raises(ValidationError):
        low_balance_request(body)


def test_other_events_of_the_bus_are_ignored() -> None:
    body = body_of(sample()) | {"detail-type": "DailySpendCapReached"}

    assert low_balance_request(json.dumps(body)) is None


def test_the_handler_recharges_once_however_often_the_event_is_delivered(
    world: tuple[World, ModuleType],
) -> None:
    state, module = world
    event = sample()
    event["Records"].append(copy.deepcopy(event["Records"][0]) | {"messageId": "m-2"})

    first = module.handler(event, LocalLambdaContext())
    again = module.handler(sample(), LocalLambdaContext())

    assert first == again == {"batchItemFailures": []}
    assert len(state.gateway.intents) == 1
    assert state.balance("acme") == Decimal("54.00")


def test_a_payment_still_processing_returns_the_message_to_the_queue(
    world: tuple[World, ModuleType],
) -> None:
    state, module = world
    state.gateway.outcome = "processing"
    event = sample()

    response = module.handler(event, LocalLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(state.gateway.intents) == 1


def test_a_decline_is_final_for_the_event_and_notifies(world: tuple[World, ModuleType]) -> None:
    state, module = world
    state.gateway.outcome = "declined"

    response = module.handler(sample(), LocalLambdaContext())

    assert response == {"batchItemFailures": []}
    assert state.notifier.sent == [("acme", "declined")]


def test_a_crash_returns_the_message_and_the_retry_charges_nothing_more(
    world: tuple[World, ModuleType],
) -> None:
    state, module = world
    state.gateway.outcome = "processing"
    event = sample()
    assert module.handler(event, LocalLambdaContext())["batchItemFailures"]
    intent = state.gateway.intents["pi_fake_1"]
    state.gateway.intents["pi_fake_1"] = type(intent)("pi_fake_1", "succeeded", 5000, "eur")

    response = module.handler(event, LocalLambdaContext())

    assert response == {"batchItemFailures": []}
    assert len(state.gateway.intents) == 1
    assert state.balance("acme") == Decimal("54.00")
