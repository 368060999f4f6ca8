"""The local webhook endpoint's requests as API Gateway HTTP API payload 2.0 events."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from shared.local.webhook_endpoint import http_api_event

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "functions/stripe_webhook/events/webhook_request.json"


def test_a_json_request_has_the_sample_events_shape_with_lower_cased_headers() -> None:
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))

    event = http_api_event(
        "POST", "/stripe/webhook", [("Content-Type", "application/json"),
                                    ("Stripe-Signature", "t=1,v1=ab"), ("X-Many", "a"),
                                    ("x-many", "b")],
        b'{"id":"evt_1"}', "127.0.0.1:8080", now_ms=1740787512400,
    )

    assert set(event) == set(sample)
    assert set(event["requestContext"]) == set(sample["requestContext"])
    assert set(event["requestContext"]["http"]) == set(sample["requestContext"]["http"])
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /stripe/webhook"
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/stripe/webhook"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"] == {"content-type": "application/json",
                                "stripe-signature": "t=1,v1=ab", "x-many": "a,b"}
    assert (event["body"], event["isBase64Encoded"]) == ('{"id":"evt_1"}', False)
    assert event["requestContext"]["timeEpoch"] == 1740787512400


def test_a_binary_body_is_base64_and_a_query_string_is_kept() -> None:
    raw = b"\xff\x00binary"

    event = http_api_event("POST", "/stripe/webhook?x=1&y=", [("Content-Type", "image/png")],
                           raw, "localhost")

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
    assert event["rawQueryString"] == "x=1&y="
    assert event["queryStringParameters"] == {"x": "1", "y": ""}


def test_invalid_utf8_declared_as_json_is_still_base64() -> None:
    event = http_api_event("POST", "/stripe/webhook", [("content-type", "application/json")],
                           b"\xc3\x28", "localhost")

    assert event["isBase64Encoded"] is True
