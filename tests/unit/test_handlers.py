"""Handlers with real-shaped sample events; until their services exist they lose nothing.

Each handler is called with the real-shaped sample event from its ``events/`` folder.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.observability import logger

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FakeLambdaContext:
    """The attributes Powertools' ``inject_lambda_context`` reads from a real context."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the shared logger writes during one test (it keeps the stdout of import time)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def handler_module(name: str) -> ModuleType:
    return importlib.import_module(f"functions.{name}.app")


def sample_event(function: str, name: str) -> dict[str, Any]:
    path = REPO_ROOT / "functions" / function / "events" / f"{name}.json"
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event


def sqs_batch(*message_ids: str) -> dict[str, Any]:
    record = sample_event("rate_call", "cdr_file_created")["Records"][0]
    return {"Records": [{**record, "messageId": message_id} for message_id in message_ids]}


@pytest.mark.parametrize("function", ["wallet_recharge"])
def test_sqs_handlers_return_messages_they_cannot_read_to_the_queue(function: str) -> None:
    # Given a batch of three messages that are not EventBridge events (S3 notifications)
    event = sqs_batch("m-1", "m-2", "m-3")

    # When the handler receives it
    response = handler_module(function).handler(event, FakeLambdaContext())

    # Then all three are reported failed: SQS redelivers them, then parks them in the DLQ
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "m-1"},
            {"itemIdentifier": "m-2"},
            {"itemIdentifier": "m-3"},
        ]
    }


def test_rate_call_rates_the_file_named_by_the_s3_notification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the sample notification for tenants/acme/2025/03/cdr-2025-03-01.csv, and that
    # object holding two 61 s UK calls on a 0.0600/min 60/6 card (66 s → 0.0660 each)
    event = sample_event("rate_call", "cdr_file_created")
    body = json.loads(event["Records"][0]["body"])
    s3 = body["Records"][0]["s3"]
    world = _ingest_world()
    data = (
        b"call_id,callee,start_time,answer_time,billsec\n"
        b"c1,442071234567,2025-03-01T00:00:00Z,2025-03-01T00:00:02Z,61\n"
        b"c2,442071234567,2025-03-01T00:01:00Z,2025-03-01T00:01:02Z,61\n"
    )
    world.objects.objects[(s3["bucket"]["name"], s3["object"]["key"])] = data
    body["Records"][0]["s3"]["object"]["size"] = len(data)
    body["Records"][0]["s3"]["object"]["eTag"] = hashlib.md5(data).hexdigest()
    event["Records"][0]["body"] = json.dumps(body)
    module = handler_module("rate_call")
    monkeypatch.setattr(module, "rate_call_deps", lambda: world.deps())
    monkeypatch.setattr(module, "rate_call_settings", _settings)

    # When the handler receives it
    response = module.handler(event, FakeLambdaContext())

    # Then the message is acknowledged and acme's wallet is debited 2 × 0.0660
    assert response == {"batchItemFailures": []}
    assert world.store.balance("acme") == Decimal("-0.1320")


def test_rate_call_returns_a_message_it_cannot_read_to_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = sqs_batch("m-1")
    event["Records"][0]["body"] = "not json"
    module = handler_module("rate_call")
    world = _ingest_world()
    monkeypatch.setattr(module, "rate_call_deps", lambda: world.deps())
    monkeypatch.setattr(module, "rate_call_settings", _settings)

    response = module.handler(event, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert world.store.ledger == {}


def _ingest_world() -> Any:
    from tests.unit.services.test_ingest import World

    return World()


def _settings() -> Any:
    from shared.config import RateCallSettings

    tables = ("TENANTS", "RATE_CARDS", "RATED_CALLS", "LEDGER", "BALANCES", "BREAKOUTS", "FILES")
    return RateCallSettings.model_validate({f"{name}_TABLE": name.lower() for name in tables})


def _webhook_world(monkeypatch: pytest.MonkeyPatch) -> Any:
    from shared.config import StripeWebhookSettings
    from tests.unit.services.test_payments_webhook import World

    world = World()
    module = handler_module("stripe_webhook")
    settings = StripeWebhookSettings.model_validate(
        {"PAYMENTS_TABLE": "p", "TENANTS_TABLE": "t", "LEDGER_TABLE": "l", "BALANCES_TABLE": "b"}
    )
    monkeypatch.setattr(module, "stripe_webhook_settings", lambda: settings)
    monkeypatch.setattr(module, "stripe_webhook_deps", world.deps)
    return world


def test_stripe_webhook_credits_a_signed_success_and_answers_200(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fakes.payments import event, payment_intent, sign

    # Given the sample request carrying a correctly signed payment_intent.succeeded (base64,
    # as API Gateway sends binary bodies): 2000 cents = 20.00 EUR for acme
    world = _webhook_world(monkeypatch)
    payload = event("payment_intent.succeeded", payment_intent("pi_h", "acme", 2000), "evt_h")
    request = sample_event("stripe_webhook", "webhook_request")
    request["headers"]["stripe-signature"] = sign(payload)
    request["body"] = base64.b64encode(payload).decode()
    request["isBase64Encoded"] = True

    response = handler_module("stripe_webhook").handler(request, FakeLambdaContext())

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"received": True, "outcome": "processed"}
    assert world.wallet.balance("acme") == Decimal("20.00")


def test_stripe_webhook_answers_400_to_a_bad_signature_and_413_to_a_huge_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = _webhook_world(monkeypatch)
    request = sample_event("stripe_webhook", "webhook_request")  # its signature is zeros
    huge = {**request, "body": "x" * (65 * 1024)}

    bad = handler_module("stripe_webhook").handler(request, FakeLambdaContext())
    too_large = handler_module("stripe_webhook").handler(huge, FakeLambdaContext())

    assert bad["statusCode"] == 400
    assert "signature" in json.loads(bad["body"])["error"]
    assert too_large["statusCode"] == 413
    assert world.snapshot() == ({}, {})


def test_stripe_webhook_never_logs_the_signature_or_the_body(
    monkeypatch: pytest.MonkeyPatch, log_output: io.StringIO
) -> None:
    from tests.fakes.payments import TEST_SECRET, event, payment_intent, sign

    _webhook_world(monkeypatch)
    payload = event("payment_intent.succeeded", payment_intent("pi_l", "acme", 2000), "evt_l")
    refused = sample_event("stripe_webhook", "webhook_request")
    accepted = {**refused, "body": payload.decode(),
                "headers": {**refused["headers"], "stripe-signature": sign(payload)}}

    for request in (refused, accepted):
        handler_module("stripe_webhook").handler(request, FakeLambdaContext())

    logged = log_output.getvalue()
    assert "POST /stripe/webhook" in logged
    assert "evt_l" in logged  # ids are logged
    for secret in (refused["headers"]["stripe-signature"],
                   accepted["headers"]["stripe-signature"], TEST_SECRET, "pi_1Example",
                   '"amount_received"'):
        assert secret not in logged


def test_invoice_cycle_routes_each_schedule_by_the_rule_that_fired() -> None:
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

    module = handler_module("invoice_cycle")
    for job in ("invoice_run", "suspension_check", "consistency_check"):
        event = EventBridgeEvent(sample_event("invoice_cycle", job))
        assert module.job_of(event) == job.replace("_", "-")
    # the event's time is the jobs' clock
    event = EventBridgeEvent(sample_event("invoice_cycle", "invoice_run"))
    assert module.event_time(event).isoformat() == "2026-11-02T02:00:00+00:00"


def test_invoice_cycle_refuses_a_rule_it_does_not_know_without_running_anything() -> None:
    module = handler_module("invoice_cycle")
    event = sample_event("invoice_cycle", "invoice_run")
    event["resources"] = ["arn:aws:events:eu-west-1:123456789012:rule/someone-elses-rule"]

    with pytest.raises(module.UnknownSchedule, match="invoice-run, suspension-check"):
        module.handler(event, FakeLambdaContext())


def test_tenant_settings_are_cached_per_container_for_a_minute() -> None:
    from shared.domain.tenants import TenantSettings
    from shared.wiring import CachedTenants

    class Directory:
        reads = 0

        def get(self, tenant: str) -> TenantSettings | None:
            Directory.reads += 1
            return TenantSettings(tenant_id=tenant, card="c", currency="USD")

    now = [0.0]
    cached = CachedTenants(Directory(), ttl_s=60, clock=lambda: now[0])  # type: ignore[arg-type]
    cached.get("acme")
    now[0] = 59.9
    cached.get("acme")
    assert Directory.reads == 1
    now[0] = 60.0
    cached.get("acme")
    assert Directory.reads == 2


def test_only_invoice_cycle_loads_the_pdf_renderer_on_a_cold_start() -> None:
    import subprocess
    import sys

    # A fresh interpreter imports the three other handlers and the composition root, as
    # their cold starts do: reportlab (invoice PDFs) must not come with them
    probe = (
        "import sys; sys.path.insert(0, '.'); import shared.wiring; "
        "import functions.rate_call.app, functions.wallet_recharge.app, "
        "functions.stripe_webhook.app, functions.invoice_cycle.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'reportlab')[:1])"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True,
                         text=True, check=True, env={"PATH": "", "POWERTOOLS_TRACE_DISABLED": "1"})
    assert out.stdout.strip() == "[]"
