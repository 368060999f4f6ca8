"""Hostile requests to ``POST /stripe/webhook``: the real handler, then the service behind it.

1. The real ``stripe_webhook`` handler gets API Gateway HTTP API (payload 2.0) events built
   from ``functions/stripe_webhook/events/webhook_request.json`` with hostile bodies and
   headers: forged and malformed signatures, a valid signature over another body, stale
   timestamps (older than 300 s), random bytes (as text and base64), invalid base64, wrong
   content types, oversized bodies. Its AWS endpoint is a closed port and sockets are
   disabled (pytest-socket), so *any* read or write of state would raise: every answer must
   be 400 (413 for a body over the limit) and nothing can have been touched.
2. With a valid signature (the test secret, fakes that enforce DynamoDB's conditions):
   replays, duplicates and out-of-order deliveries never credit twice; deeply nested JSON and
   signed non-events are 400 with nothing written.
3. The local endpoint's request → event translation keeps the exact bytes Stripe signed,
   whatever the content type or encoding.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_socket
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.stripe_signature import StripeSignatureVerifier
from shared.domain.payments import InvalidWebhook, PayloadTooLarge
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import LocalLambdaContext, function_environment, load_handler
from shared.local.webhook_endpoint import http_api_event
from shared.services.payments_webhook import WebhookDeps, receive_webhook, webhook_body
from tests.fakes.payments import (
    TEST_SECRET,
    MemoryPaymentRecords,
    MemoryWallet,
    event,
    payment_intent,
    sign,
)
from tests.hostile.budget import FLOW, PURE

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "functions/stripe_webhook/events/webhook_request.json"
MAX_BODY = 64 * 1024
#: every table and the AWS endpoint named, the endpoint a port nothing listens on
UNREACHABLE_STATE = {
    "PAYMENTS_TABLE": "payments", "TENANTS_TABLE": "tenants", "LEDGER_TABLE": "ledger",
    "BALANCES_TABLE": "balances", "RATED_CALLS_TABLE": "rated", "EVIDENCE_BUCKET": "evidence",
    "STRIPE_WEBHOOK_SECRET": TEST_SECRET, "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_MAX_ATTEMPTS": "1",
}


# ------------------------------------------------------------------ 1. the real handler


class Handler:
    def __init__(self) -> None:
        self.sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
        with function_environment(UNREACHABLE_STATE):
            from shared.wiring import stripe_webhook_deps, stripe_webhook_settings

            stripe_webhook_deps.cache_clear()
            stripe_webhook_settings.cache_clear()
            stack = type("Stack", (), {})()
            stack.template_path = str(ROOT / "template.yaml")
            stack.functions = {"StripeWebhookFunction": type("F", (), {
                "handler": "app.handler", "code_uri": "functions/stripe_webhook/"})()}
            self.handler = load_handler(stack, "StripeWebhookFunction")

    def post(
        self, body: str | None, headers: dict[str, str], *, base64_body: bool = False
    ) -> dict[str, Any]:
        request = copy.deepcopy(self.sample)
        request["headers"].pop("stripe-signature")
        request["headers"].update(headers)
        request["body"] = body
        request["isBase64Encoded"] = base64_body
        with function_environment(UNREACHABLE_STATE):
            response: dict[str, Any] = self.handler(request, LocalLambdaContext())
        return response


@pytest.fixture(scope="module")
def handler() -> Iterator[Handler]:
    from shared.wiring import stripe_webhook_deps, stripe_webhook_settings

    pytest_socket.disable_socket()  # any attempt to reach a table fails the test
    try:
        yield Handler()
    finally:
        pytest_socket.enable_socket()
        stripe_webhook_deps.cache_clear()  # the next module builds its own "container"
        stripe_webhook_settings.cache_clear()


def _good_body() -> bytes:
    return event("payment_intent.succeeded", payment_intent("pi_h1", "acme", 2000), "evt_h1")


_signatures = st.one_of(
    st.none(),
    st.text(max_size=120),
    st.builds(lambda t, d: f"t={t},v1={d}", st.integers(-10**12, 10**12),
              st.text(alphabet="0123456789abcdef", min_size=0, max_size=70)),
    # a well-formed header signed with someone else's secret
    st.builds(lambda secret: sign(_good_body(), secret=secret),
              st.text(min_size=1, max_size=30).filter(lambda s: s != TEST_SECRET)),
    # our secret, but older than the 300 s tolerance
    st.builds(lambda age: sign(_good_body(), timestamp=int(time.time()) - age),
              st.integers(301, 10**9)),
    # our secret over another body than the one sent (tampered in transit)
    st.just("other-body"),
)
_bodies = st.one_of(
    st.just(_good_body()),
    st.binary(max_size=400),
    st.builds(lambda depth: b"[" * depth + b"]" * depth, st.integers(1, 20_000)),
    st.just(_good_body().replace(b"2000", b"200000")),
)
_content_types = st.sampled_from([
    "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
    "application/octet-stream", "", "application/json; charset=latin-1",
])


@PURE
@given(body=_bodies, signature=_signatures, content_type=_content_types, as_b64=st.booleans())
def test_a_request_without_a_valid_recent_signature_gets_400_and_reaches_no_state(
    handler: Handler, body: bytes, signature: str | None, content_type: str, as_b64: bool
) -> None:
    headers = {"content-type": content_type}
    if signature == "other-body":
        signature = sign(body + b" ")
    if signature is not None:
        headers["stripe-signature"] = signature
    text = base64.b64encode(body).decode() if as_b64 else body.decode("utf-8", "replace")

    response = handler.post(text, headers, base64_body=as_b64)

    # sockets are disabled: had the handler read or written any table it would have raised
    assert response["statusCode"] == 400, response
    assert "error" in json.loads(response["body"])


@pytest.mark.filterwarnings("ignore::UserWarning")  # pytest-socket and an empty metrics flush
def test_the_guard_is_real_a_genuine_event_does_reach_for_state(handler: Handler) -> None:
    # Control for the test above: a correctly signed event gets past the checks and tries
    # to read PaymentsTable, which the disabled sockets refuse (API Gateway would answer 500)
    body = _good_body()

    with pytest.raises(Exception, match=r"(?i)socket|connect"):
        handler.post(body.decode(), {"stripe-signature": sign(body)})


@pytest.mark.parametrize(
    ("case", "body", "as_b64", "status"),
    [
        ("over the limit as text", "x" * (MAX_BODY + 1), False, 413),
        ("over the limit as base64", base64.b64encode(b"x" * (MAX_BODY + 1)).decode(), True, 413),
        ("a 10 MB body", "{" * (10 * 1024 * 1024), False, 413),
        ("base64 that is not base64", "%%%not base64%%%", True, 400),
        ("no body at all", None, False, 400),
        ("a lone surrogate in the text body", '{"id":"evt_\ud800"}', False, 400),
    ],
)
def test_oversized_or_undecodable_bodies_are_refused_before_the_signature(
    handler: Handler, case: str, body: str | None, as_b64: bool, status: int
) -> None:
    response = handler.post(body, {"stripe-signature": sign(b"{}")}, base64_body=as_b64)

    assert response["statusCode"] == status, case


# ------------------------------------------------------------------ 2. the service, signed


class Tenants:
    def get(self, tenant: str) -> TenantSettings | None:
        if tenant == "acme":
            return TenantSettings(tenant_id="acme", card="c", currency="EUR")
        return None


class World:
    def __init__(self) -> None:
        self.records = MemoryPaymentRecords()
        self.wallet = MemoryWallet()
        self.deps = WebhookDeps(
            verifier=StripeSignatureVerifier((TEST_SECRET,)),
            records=self.records, wallet=self.wallet, tenants=Tenants(),
        )

    def deliver(self, payload: bytes, signature: str | None = None) -> str:
        header = sign(payload) if signature is None else signature
        return receive_webhook(payload, header, self.deps).outcome

    def snapshot(self) -> tuple[object, object]:
        return copy.deepcopy(self.records.items), copy.deepcopy(self.wallet.entries)


#: pi_1 … pi_4 with their amounts in EUR cents; each may succeed, fail, or both
_AMOUNTS = {"pi_1": 2000, "pi_2": 1234, "pi_3": 5, "pi_4": 99_999}


@FLOW
@given(
    outcomes=st.fixed_dictionaries({
        pi: st.sampled_from(["succeeded", "failed", "failed then succeeded"]) for pi in _AMOUNTS
    }),
    data=st.data(),
)
def test_any_order_and_any_repetition_of_deliveries_credits_each_success_once(
    outcomes: dict[str, str], data: st.DataObject
) -> None:
    # Given each PaymentIntent's events, every event delivered 1-3 times, in any order, some
    # under a second event id (Stripe re-sends an event under a new id after a resend)
    now = int(time.time())
    deliveries: list[bytes] = []
    for number, (pi, outcome) in enumerate(sorted(outcomes.items())):
        events = []
        if "failed" in outcome:
            failed = payment_intent(pi, "acme", _AMOUNTS[pi], status="requires_payment_method")
            events.append(event("payment_intent.payment_failed", failed, f"evt_f{number}",
                                now - 10))
        if "succeeded" in outcome:
            for copy_id in ("a", "b"):
                events.append(event("payment_intent.succeeded",
                                    payment_intent(pi, "acme", _AMOUNTS[pi]),
                                    f"evt_s{number}{copy_id}", now))
        for payload in events:
            deliveries += [payload] * data.draw(st.integers(1, 3))
    order = data.draw(st.permutations(deliveries))
    world = World()

    # When they all arrive
    outcomes_seen = [world.deliver(payload) for payload in order]

    # Then each succeeded intent is credited once: the hand sum of their amounts in EUR
    expected = sum(
        (Decimal(_AMOUNTS[pi]) / 100 for pi, o in outcomes.items() if "succeeded" in o),
        Decimal(0),
    )
    assert world.wallet.balance("acme") == expected
    assert sorted(k[1] for k in world.wallet.entries) == sorted(
        f"topup#{pi}" for pi, o in outcomes.items() if "succeeded" in o
    )
    assert set(outcomes_seen) <= {"processed", "duplicate"}
    for pi, outcome in outcomes.items():  # a late failure never moves a success back
        record = world.records.get(f"payment_intent#{pi}")
        assert record is not None
        assert record["status"] == ("succeeded" if "succeeded" in outcome else "failed")


def test_a_replay_within_the_tolerance_is_a_duplicate_and_after_it_a_400() -> None:
    world = World()
    payload = event("payment_intent.succeeded", payment_intent("pi_r", "acme", 2000), "evt_r")
    captured = sign(payload)
    assert world.deliver(payload, captured) == "processed"

    # an attacker (or Stripe) replays the captured request at once: deduplicated by event id
    assert world.deliver(payload, captured) == "duplicate"
    # and 301 s later the same request is stale: refused before anything is read
    old = sign(payload, timestamp=int(time.time()) - 301)
    before = world.snapshot()
    with pytest.raises(InvalidWebhook, match="older than 300"):
        world.deliver(payload, old)
    assert world.snapshot() == before
    assert world.wallet.balance("acme") == Decimal("20.00")  # 2000 cents, credited once


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 30_000 + b"]" * 30_000,  # deeper than the JSON decoder's recursion limit
        json.dumps({"object": "event", "id": "evt_n", "type": "payment_intent.succeeded",
                    "created": 1, "data": {"object": {"id": "pi_n", "metadata": "x"}}})
        .replace('"x"', "[" * 20_000 + "]" * 20_000).encode(),
        b'{"object":"event","id":"evt_x","type":"payment_intent.succeeded","created":1.5,'
        b'"data":{"object":{"id":"pi_x"}}}',  # created is not an integer
        b'{"object":"event","id":"x_1","type":"t","created":1,"data":{"object":{"id":"o"}}}',
        b'{"object":"event","id":"evt_y","type":"payment_intent.succeeded","created":1,'
        b'"data":{"object":{"id":"pi_y","amount_received":-5,"currency":"eur",'
        b'"metadata":{"tenant":"acme"}}}}',  # a negative amount
        b'{"object":"event","id":"evt_z","type":"payment_intent.succeeded","created":1,'
        b'"data":{"object":{"id":"pi_z","amount_received":1e400,"currency":"eur",'
        b'"metadata":{"tenant":"acme"}}}}',  # a float amount
    ],
    ids=["nested array", "nested inside an event", "float created", "id not evt_",
         "negative amount", "float amount"],
)
def test_signed_but_not_a_usable_event_is_400_and_writes_nothing(payload: bytes) -> None:
    world = World()
    before = world.snapshot()

    with pytest.raises(InvalidWebhook):
        world.deliver(payload)

    assert world.snapshot() == before


def test_a_body_over_the_limit_is_refused_before_its_signature_is_checked() -> None:
    world = World()
    with pytest.raises(PayloadTooLarge):
        world.deliver(b"{" * (MAX_BODY + 1), "not even a signature")


# ------------------------------------------------------------------ 3. the local endpoint


@PURE
@given(
    body=st.binary(max_size=300) | st.text(max_size=100).map(str.encode),
    content_type=_content_types | st.text(max_size=20),
)
def test_the_local_endpoint_hands_the_handler_the_exact_bytes_stripe_signed(
    body: bytes, content_type: str
) -> None:
    headers = [("Content-Type", content_type), ("Stripe-Signature", "t=1,v1=00")]

    request = http_api_event("POST", "/stripe/webhook", headers, body, "127.0.0.1:1")

    raw = webhook_body(request.get("body"), request["isBase64Encoded"], MAX_BODY)
    assert raw == body
    assert request["headers"]["stripe-signature"] == "t=1,v1=00"
