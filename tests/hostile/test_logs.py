"""What reaches the logs across a hostile rating run and a hostile webhook run, on the local
stack with the real handlers: no secret (webhook signing secret, Stripe API key), no card
number, no full phone number.

Two captures, both at INFO (the template's ``LOG_LEVEL``): the exact JSON lines the shared
Powertools logger writes (a handler with its own formatter attached to it for the run), and
every other logger's records (botocore, Powertools utilities) through ``caplog``; plus
stdout, where the metrics are printed.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoCardStore, DynamoTenantDirectory
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import (
    LocalDispatcher,
    LocalLambdaContext,
    function_environment,
    load_handler,
)
from shared.local.stack import LocalStack
from shared.observability import logger
from tests.fakes.payments import TEST_SECRET, event, payment_intent, sign

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEY = "sk_test_51HostileSuiteNotARealKey0123456789"  # valid nowhere
PAN = "4242424242424242"
NUMBERS = ["+351912345678", "351912345678", "442071234567", "+14155550123", "0049301234567"]
SECRETS = [TEST_SECRET, STRIPE_KEY, PAN]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    local = LocalStack()
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The shared logger's JSON lines, formatted by its own formatter, for one run."""
    caplog.set_level(logging.INFO)
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield sink
    finally:
        logger.removeHandler(handler)


def _leaks(text: str) -> list[str]:
    found = [secret for secret in SECRETS if secret in text]
    found += [number for number in NUMBERS if number in text]
    # anything shaped like a Stripe secret key, restricted key or webhook signing secret
    found += re.findall(r"\b(?:sk|rk)_(?:test|live)_\w+|\bwhsec_\w+", text)
    return found


def _everything(sink: io.StringIO, caplog: pytest.LogCaptureFixture,
                capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr()
    others = "".join(
        record.getMessage() + json.dumps(record.__dict__, default=str)
        for record in caplog.get_records("call") if record.name != logger.name
    )
    return sink.getvalue() + others + out.out + out.err


def test_a_hostile_rating_run_logs_no_full_phone_number(
    stack: LocalStack, captured: io.StringIO, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a tenant and a file of good rows, malformed rows, a row naming another tenant,
    # an undecodable byte and a line too long to read, all full of subscriber numbers
    env = {**stack.function_environment("RateCallFunction"), **stack.aws_environment(),
           "STRIPE_API_KEY": STRIPE_KEY}
    dynamodb, s3, sqs = (stack.client(name) for name in ("dynamodb", "s3", "sqs"))
    DynamoCardStore(dynamodb, env["RATE_CARDS_TABLE"]).put({
        "card": "logs-usd", "currency": "USD",
        "rates": [{"prefix": "44", "tiers": [{"price": "0.0600"}]}],
    })
    DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"]).put(
        TenantSettings(tenant_id="logs", card="logs-usd", currency="USD"))
    header = "call_id,tenant,caller,callee,start_time,answer_time,billsec\n"
    rows = [
        "c1,logs,+351912345678,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61",
        "c2,logs,+14155550123,442071234567,not-a-time,2026-10-05T10:00:02Z,61",
        "c3,other,0049301234567,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61",
        "c4,logs,+351912345678,4420\xe9,2026-10-05T10:00:00Z,,",
        '"c5,logs,+351912345678,442071234567',
        "c6,logs,+351912345678," + "442071234567" * 10_000 + ",2026-10-05T10:00:00Z,,1",
    ]
    data = (header + "\n".join(rows) + "\n").encode("utf-8", "surrogateescape")
    s3.put_object(Bucket=stack.resources["CdrBucket"].ref, Key="tenants/logs/f.csv", Body=data)

    # When the real rate_call handler rates it
    with function_environment(env):
        from shared.wiring import rate_call_deps

        rate_call_deps.cache_clear()
        handler = load_handler(stack, "RateCallFunction")
        queue = stack.resources["CdrQueue"]
        try:
            stats = LocalDispatcher(sqs, queue.ref, queue.arn or "", stack.region,
                                    handler).drain(max_batches=10)
        finally:
            rate_call_deps.cache_clear()

    # Then the run logged its summary, and nothing of the above leaked
    assert stats.failed == 0
    text = _everything(captured, caplog, capsys)
    assert '"message":"cdr file rated"' in text
    assert _leaks(text) == []


def test_a_hostile_webhook_run_logs_no_secret_card_or_number(
    stack: LocalStack, captured: io.StringIO, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a webhook handler with its signing secret (and a Stripe key in the environment)
    env = {**stack.function_environment("StripeWebhookFunction"), **stack.aws_environment(),
           "STRIPE_WEBHOOK_SECRET": TEST_SECRET, "STRIPE_API_KEY": STRIPE_KEY}
    DynamoTenantDirectory(stack.client("dynamodb"), env["TENANTS_TABLE"]).put(
        TenantSettings(tenant_id="logs-pay", card="x", currency="EUR"))
    intent = payment_intent("pi_logs", "logs-pay", 2000)
    intent["metadata"].update(phone="+351912345678", note=f"card {PAN}")
    good = event("payment_intent.succeeded", intent, "evt_logs")
    sample = json.loads((ROOT / "functions/stripe_webhook/events/webhook_request.json")
                        .read_text(encoding="utf-8"))
    requests: list[tuple[bytes, str, bool]] = [
        (good, sign(good), False),                                   # genuine
        (good, sign(good), True),                                    # replayed, base64
        (good, sign(good, secret="whsec_forged" + PAN), False),      # forged
        (good, sign(good, timestamp=int(time.time()) - 301), False),  # stale
        (good.replace(b"2000", b"9000"), sign(good), False),         # tampered
        (b"[" * 30_000 + b"]" * 30_000, sign(b"[]"), False),         # nested, wrong sig
        (b"x" * (70 * 1024), sign(b"x"), False),                     # oversized
        (good, f"t={int(time.time())},v1={PAN}{TEST_SECRET}", False),  # garbage header
    ]

    # When each reaches the real handler
    statuses: list[int] = []
    with function_environment(env):
        from shared.wiring import stripe_webhook_deps, stripe_webhook_settings

        stripe_webhook_deps.cache_clear()
        stripe_webhook_settings.cache_clear()
        handler = load_handler(stack, "StripeWebhookFunction")
        try:
            for body, signature, as_b64 in requests:
                request: dict[str, Any] = copy.deepcopy(sample)
                request["headers"]["stripe-signature"] = signature
                request["body"] = (base64.b64encode(body).decode() if as_b64
                                   else body.decode("utf-8", "replace"))
                request["isBase64Encoded"] = as_b64
                statuses.append(handler(request, LocalLambdaContext())["statusCode"])
        finally:
            stripe_webhook_deps.cache_clear()
            stripe_webhook_settings.cache_clear()

    # Then the genuine event was taken once, everything else refused, and no secret, card
    # number or phone number is in any log line
    assert statuses == [200, 200, 400, 400, 400, 400, 413, 400]
    text = _everything(captured, caplog, capsys)
    assert '"outcome":"duplicate"' in text
    assert _leaks(text) == []
