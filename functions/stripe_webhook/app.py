"""stripe_webhook: Stripe events (payments, refunds, disputes, payment methods) reach the wallet.

Event: an API Gateway HTTP API request, payload format 2.0, on ``POST /stripe/webhook`` (see
``events/webhook_request.json``).

Signature checks and the event router arrive with the Stripe wallet issue. Until then the
handler answers ``501 Not Implemented`` without reading the body. Stripe treats any non-2xx
answer as a failed delivery and retries it for up to three days, so no event is lost in the
meantime; nothing is acknowledged that was not processed.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.observability import logger, tracer

NOT_IMPLEMENTED = 501


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayProxyEventV2(event)
    # The body and the Stripe-Signature header are never logged: they carry customer data.
    logger.warning(
        "stripe_webhook has no webhook service yet; asking Stripe to retry later",
        extra={"event_type": "http_api", "route": request.route_key},
    )
    return {
        "statusCode": NOT_IMPLEMENTED,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": "stripe webhooks are not processed yet; retry later"}),
    }
