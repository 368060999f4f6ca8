"""rate_call: CDR files written to S3 under ``tenants/<tenant>/`` are rated into the ledger.

Event: an SQS batch (``ReportBatchItemFailures``); each message body is the S3 event
notification for one CDR file (see ``events/cdr_file_created.json``). Each file goes to the
ingest service; a message whose file could not be finished (an error, or the Lambda deadline
reached mid-file) is reported as failed, so SQS delivers it again and the service resumes at
its last committed chunk. After five receives the message lands in the dead-letter queue.
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

from shared.contracts.s3_notifications import cdr_files
from shared.observability import logger, metrics, tracer
from shared.services.ingest import ingest_file
from shared.wiring import ingest_options, rate_call_deps, rate_call_settings

# A batch whose every message failed is still answered with the list of failures (not an
# exception), so the same redelivery and dead-letter rules apply to every message.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class FileNotFinished(Exception):
    """The file is only partly rated (deadline); SQS redelivers the message to resume."""


def _context_deadline(context: LambdaContext, now_ms: int) -> int | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return now_ms + int(remaining()) if callable(remaining) else None


def record_handler(record: SQSRecord, context: LambdaContext | None = None) -> None:
    deps = rate_call_deps()
    options = ingest_options(rate_call_settings())
    for file in cdr_files(record.body):
        deadline = _context_deadline(context, deps.now_ms()) if context else None
        result = ingest_file(file, deps, options, deadline)
        summary = result.summary
        logger.info(
            "cdr file rated",
            extra={
                "file_id": result.file_id,
                "tenant": result.tenant,
                "status": result.status,
                "chunks": result.chunks,
                **summary.as_dict(),
            },
        )
        metrics.add_metric("RatedCalls", MetricUnit.Count, summary.rated)
        metrics.add_metric("RejectedRows", MetricUnit.Count, summary.rejected)
        metrics.add_metric("DuplicateCalls", MetricUnit.Count, summary.duplicates)
        if result.status == "incomplete":
            metrics.add_metric("FilesResumedLater", MetricUnit.Count, 1)
            raise FileNotFinished(f"{file.key}: deadline reached, resumes on redelivery")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def handle(record: SQSRecord) -> None:
        record_handler(record, context)

    response = process_partial_response(
        event=event, record_handler=handle, processor=processor, context=context
    )
    failures = response.get("batchItemFailures", [])
    if failures:
        metrics.add_metric("FailedMessages", MetricUnit.Count, len(failures))
    return dict(response)
