"""wallet_recharge: a low-balance event charges the tenant's saved card off-session (Stripe).

Event: an SQS batch (``ReportBatchItemFailures``) fed by the EventBridge rule that matches
low-balance events; each message body is one EventBridge event.

The recharge service arrives with the Stripe wallet issue, which also adds the queue, the rule
and this function's event source to ``template.yaml``. Until then the handler charges nothing
and reports every message as failed, so SQS retries it and finally parks it in the
dead-letter queue: a low-balance signal is never silently dropped.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = SQSEvent(event)
    failures = [{"itemIdentifier": record.message_id} for record in batch.records]
    logger.warning(
        "wallet_recharge has no recharge service yet; returning every message to the queue",
        extra={"event_type": "sqs_batch", "messages": len(failures)},
    )
    return {"batchItemFailures": failures}
