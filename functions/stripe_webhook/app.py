"""stripe_webhook: Stripe events (payments, refunds, disputes, payment methods) reach the wallet.

Event: an API Gateway HTTP API request, payload format 2.0, on ``POST /stripe/webhook`` (see
``events/webhook_request.json``). The body goes to ``shared.services.payments_webhook``
byte for byte (base64 decoded when API Gateway encoded it), because the signature covers
the raw bytes.

Answers: 200 for a verified event (processed, repeated or of a type we ignore); 400 for
anything not signed with our secret within 300 s or not a Stripe event, and nothing is
written; 413 for a body over the limit. An infrastructure failure (DynamoDB unreachable)
raises (counted as ``WebhookFailures``), API Gateway answers 500 and Stripe retries the
delivery. The body and the
Stripe-Signature header are never logged: they carry customer data.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.domain.payments import InvalidWebhook, PayloadTooLarge
from shared.observability import logger, metrics, tracer
from shared.services.payments_webhook import receive_webhook, webhook_body
from shared.wiring import stripe_webhook_deps, stripe_webhook_settings


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayProxyEventV2(event)
    settings = stripe_webhook_settings()
    try:
        raw = webhook_body(
            request.body, bool(request.is_base64_encoded), settings.max_body_bytes
        )
        signature = request.headers.get("stripe-signature")  # HTTP APIs lower-case names
        result = receive_webhook(raw, signature, stripe_webhook_deps(), settings.max_body_bytes)
    except PayloadTooLarge as refused:
        logger.warning("stripe webhook refused", extra={"reason": str(refused), "status": 413})
        metrics.add_metric("WebhooksRefused", MetricUnit.Count, 1)
        return _answer(413, {"error": str(refused)})
    except InvalidWebhook as refused:
        logger.warning("stripe webhook refused", extra={"reason": str(refused), "status": 400})
        metrics.add_metric("WebhooksRefused", MetricUnit.Count, 1)
        return _answer(400, {"error": str(refused)})
    except Exception:
        # DynamoDB throttled or unreachable: a 500, and Stripe retries the delivery; the
        # metric (flushed by log_metrics even now) makes the failure visible before then
        metrics.add_metric("WebhookFailures", MetricUnit.Count, 1)
        raise
    logger.info(
        "stripe webhook",
        extra={
            "route": request.route_key,
            "event_id": result.event_id,
            "event_type": result.event_type,
            "outcome": result.outcome,
            "tenant": result.tenant,
            "ledger_entries": result.entries,
        },
    )
    metrics.add_metric("WebhooksReceived", MetricUnit.Count, 1)
    return _answer(200, {"received": True, "outcome": result.outcome})
