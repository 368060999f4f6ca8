"""``billing local up``'s webhook endpoint: real HTTP on 127.0.0.1 → an HTTP API payload 2.0
event → the real stripe_webhook handler → DynamoDB on the local stack."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import load_handler
from shared.local.stack import LocalStack
from shared.local.webhook_endpoint import WebhookEndpoint
from tests.fakes.payments import TEST_SECRET, event, payment_intent, sign

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def endpoint(local_stack: LocalStack) -> Iterator[WebhookEndpoint]:
    environment = {
        **local_stack.function_environment("StripeWebhookFunction"),
        **local_stack.aws_environment(),
        "STRIPE_WEBHOOK_SECRET": TEST_SECRET,
    }
    handler = load_handler(local_stack, "StripeWebhookFunction")
    with WebhookEndpoint(handler, environment) as running:
        yield running


@pytest.fixture(scope="module")
def store(local_stack: LocalStack) -> DynamoUsageStore:
    env = local_stack.function_environment("StripeWebhookFunction")
    return DynamoUsageStore(local_stack.client("dynamodb"), UsageTables(
        rated_calls="", ledger=env["LEDGER_TABLE"], balances=env["BALANCES_TABLE"],
        breakouts="", files="",
    ))


def _tenant(stack: LocalStack, name: str) -> str:
    env = stack.function_environment("StripeWebhookFunction")
    DynamoTenantDirectory(stack.client("dynamodb"), env["TENANTS_TABLE"]).put(
        TenantSettings(tenant_id=name, card="any", currency="EUR")
    )
    return name


def _post(url: str, body: bytes, signature: str, content_type: str = "application/json") -> (
    tuple[int, dict[str, object]]
):
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": content_type, "Stripe-Signature": signature,
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_signed_success_credits_once_however_often_it_is_posted(
    local_stack: LocalStack, endpoint: WebhookEndpoint, store: DynamoUsageStore
) -> None:
    # Given tenant ep-acme and a signed payment_intent.succeeded of 2000 cents EUR
    tenant = _tenant(local_stack, "ep-acme")
    payload = event("payment_intent.succeeded", payment_intent("pi_ep1", tenant, 2000), "evt_ep1")

    # When Stripe posts it twice
    first = _post(endpoint.url, payload, sign(payload))
    second = _post(endpoint.url, payload, sign(payload))

    # Then both are acknowledged and the wallet holds 20.00 from one ledger entry
    assert first == (200, {"received": True, "outcome": "processed"})
    assert second == (200, {"received": True, "outcome": "duplicate"})
    assert store.balance(tenant) == Decimal("20.00")
    assert [e.entry_id for e in store.ledger_entries(tenant)] == ["topup#pi_ep1"]


def test_a_tampered_body_gets_400_and_credits_nothing(
    local_stack: LocalStack, endpoint: WebhookEndpoint, store: DynamoUsageStore
) -> None:
    tenant = _tenant(local_stack, "ep-hostile")
    payload = event("payment_intent.succeeded", payment_intent("pi_ep2", tenant, 500), "evt_ep2")

    status, body = _post(endpoint.url, payload.replace(b"500", b"50000"), sign(payload))

    assert status == 400
    assert "signature" in str(body["error"]).lower()
    assert store.balance(tenant) == Decimal("0")


def test_a_binary_body_reaches_the_handler_base64_encoded_byte_for_byte(
    local_stack: LocalStack, endpoint: WebhookEndpoint, store: DynamoUsageStore
) -> None:
    # an octet-stream body is base64-encoded by the endpoint, decoded by the handler, and the
    # signature over the raw bytes still holds
    tenant = _tenant(local_stack, "ep-binary")
    payload = event("payment_intent.succeeded", payment_intent("pi_ep3", tenant, 750), "evt_ep3")

    status, _ = _post(endpoint.url, payload, sign(payload), "application/octet-stream")

    assert status == 200
    assert store.balance(tenant) == Decimal("7.50")


def test_other_routes_get_404(endpoint: WebhookEndpoint) -> None:
    request = urllib.request.Request(endpoint.url.replace("/webhook", "/other"), data=b"{}",
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 404


def test_a_malformed_content_length_gets_400(endpoint: WebhookEndpoint) -> None:
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(endpoint.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    connection.putrequest("POST", address.path)
    connection.putheader("Content-Length", "-5")
    connection.endheaders()
    assert connection.getresponse().status == 400
    connection.close()


def test_billing_local_up_serves_the_webhook_with_the_secret_it_records(tmp_path: Path) -> None:
    # Given `billing local up` started in another process without STRIPE_WEBHOOK_SECRET
    state_path = tmp_path / "state.json"
    # (nor STRIPE_API_BASE, which another module's in-process handlers may have left set)
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"}}
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli.main", "local", "up", "--no-dispatch",
         "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**environment, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not state_path.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        stripe = json.loads(state_path.read_text(encoding="utf-8"))["stripe"]

        # Then it generated a secret and a webhook on 127.0.0.1 that checks signatures with it
        assert stripe["webhook_secret"].startswith("whsec_local_")
        assert stripe["webhook_url"].startswith("http://127.0.0.1:")
        assert stripe["webhook_url"].endswith("/stripe/webhook")
        payload = event("payment_intent.payment_failed",
                        payment_intent("pi_up1", "up-t", 100, status="requires_payment_method"),
                        "evt_up1")
        ours = _post(stripe["webhook_url"], payload, sign(payload, stripe["webhook_secret"]))
        other = _post(stripe["webhook_url"], payload, sign(payload))
        assert (ours[0], other[0]) == (200, 400)
        # localstripe started (when installed, as the dev extra does): its events arrive too
        assert bool(stripe["api_base"]) == (importlib.util.find_spec("localstripe") is not None)
        if stripe["api_base"]:
            _top_up_and_wait_for_localstripes_event(tmp_path, stripe["api_base"])
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert f"signing secret {stripe['webhook_secret']}, generated" in out


def _billing(*argv: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "STRIPE_API_BASE"}
    return subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *argv], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=60, env={**environment, "PYTHONPATH": str(REPO_ROOT)},
    )


def _top_up_and_wait_for_localstripes_event(state_dir: Path, api_base: str) -> None:
    """A CLI top-up credits the wallet at once (a verified API read); localstripe's signed
    payment_intent.succeeded then reaches the webhook, which records the intent and finds
    its ledger entry already written: one credit."""
    flags = ["--state-dir", str(state_dir)]
    assert _billing("local", "add-tenant", "--tenant", "up-wallet", "--card", "any",
                    "--currency", "EUR", *flags).returncode == 0
    request = urllib.request.Request(api_base + "/v1/payment_methods", method="POST", data=(
        b"type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034"
        b"&card[cvc]=123"), headers={"Authorization": "Bearer sk_test_local"})
    with urllib.request.urlopen(request, timeout=10) as response:
        method = json.loads(response.read())["id"]
    added = _billing("cards", "add", "--tenant", "up-wallet", "--payment-method", method, *flags)
    assert added.returncode == 0, added.stderr
    topup = _billing("topup", "--tenant", "up-wallet", "--amount", "20.00", "--json", *flags)
    assert topup.returncode == 0, topup.stderr
    intent = json.loads(topup.stdout.splitlines()[-1])["payment_intent"]

    state = json.loads((state_dir / "state.json").read_text(encoding="utf-8"))
    env = state["functions"]["StripeWebhookFunction"]["environment"]
    import boto3

    from shared.local.stack import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

    dynamodb = boto3.client("dynamodb", endpoint_url=state["endpoint"],
                            region_name=state["region"], aws_access_key_id=FAKE_ACCESS_KEY_ID,
                            aws_secret_access_key=FAKE_SECRET_ACCESS_KEY)
    deadline = time.monotonic() + 20  # localstripe waits 1 s before it delivers
    record = None
    while record is None:
        assert time.monotonic() < deadline, "localstripe's webhook never arrived"
        record = dynamodb.get_item(TableName=env["PAYMENTS_TABLE"],
                                   Key={"record_key": {"S": f"payment_intent#{intent}"}}
                                   ).get("Item")
        time.sleep(0.2)
    assert record["status"]["S"] == "succeeded"
    balance = _billing("balance", "--tenant", "up-wallet", "--json", *flags)
    assert json.loads(balance.stdout)["balance"] == "20.00"
