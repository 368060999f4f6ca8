"""wallet_recharge: a low-balance event charges the tenant's saved card off-session (Stripe).

Event: an SQS batch (``ReportBatchItemFailures``) from RechargeQueue, which the EventBridge
rule ``LowBalanceRule`` fills; each message body is one EventBridge event (see
``events/low_balance_message.json``). Each goes to ``shared.services.recharge``, whose own
per-tenant record makes redeliveries, concurrent events and retried Lambdas charge at most
once.

A message is reported failed (SQS delivers it again, after five receives the dead-letter
queue) when the service raised (Stripe or DynamoDB unreachable) or when the PaymentIntent is
still ``processing`` at the bank: the redelivery reads it again and credits it once it
succeeded. Every other outcome (charged, not needed, busy with another recharge, declined and
backing off, authentication required) is final for that event.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.contracts.low_balance import low_balance_request
from shared.observability import logger, metrics, tracer
from shared.services.recharge import recharge
from shared.wiring import wallet_recharge_deps

# A batch whose every message failed is still answered with the list of failures (not an
# exception), so the same redelivery and dead-letter rules apply to every message.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class StillProcessing(Exception):
    """The PaymentIntent is processing at the bank; the redelivery reads it again."""


def record_handler(record: SQSRecord) -> None:
    request = low_balance_request(record.body)
    if request is None:
        logger.info("not a low-balance event; ignored", extra={"message_id": record.message_id})
        return
    result = recharge(request, wallet_recharge_deps())
    logger.info(
        "wallet recharge",
        extra={
            "tenant": request.tenant,
            "trigger": request.trigger,
            "outcome": result.outcome,
            "payment_intent": result.intent_id,
        },
    )
    metrics.add_metric(f"Recharge_{result.outcome}", MetricUnit.Count, 1)
    if result.outcome == "processing":
        raise StillProcessing(f"{result.intent_id} is processing; read again on redelivery")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failures = response.get("batchItemFailures", [])
    if failures:
        metrics.add_metric("FailedMessages", MetricUnit.Count, len(failures))
    return dict(response)
