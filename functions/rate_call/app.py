"""rate_call: CDR files written to S3 under ``tenants/<tenant>/`` are rated into the ledger.

Event: an SQS batch (``ReportBatchItemFailures``); each message body is the S3 event
notification for one CDR file (see ``events/cdr_file_created.json``).

The rating service arrives with the issue that builds the S3 → ledger pipeline. Until then the
handler rates nothing and reports every message of the batch as failed: SQS delivers each one
again and, after five receives, parks it in the dead-letter queue. No CDR file is dropped,
and none is half-rated.
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
        "rate_call has no rating service yet; returning every message to the queue",
        extra={"event_type": "sqs_batch", "messages": len(failures)},
    )
    return {"batchItemFailures": failures}
