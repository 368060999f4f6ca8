"""invoice_cycle: scheduled jobs (monthly invoices, later the daily suspension and consistency
checks), routed by the EventBridge rule that fired.

Event: an EventBridge scheduled event (see ``events/monthly_schedule.json``).

The invoicing service arrives with the invoices issue. Until then the handler raises, so the
invocation shows up as an error (Lambda ``Errors`` metric, retried twice by the asynchronous
invoke) instead of pretending a billing run happened.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.observability import logger, tracer


class JobNotImplementedError(RuntimeError):
    """A scheduled job fired before the service that runs it exists."""


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    schedule = EventBridgeEvent(event)
    logger.error(
        "invoice_cycle has no invoicing service yet",
        extra={"event_type": schedule.detail_type, "rules": schedule.resources},
    )
    raise JobNotImplementedError(
        f"invoice_cycle cannot run {schedule.detail_type!r} from {schedule.resources}: "
        "the invoicing service is not implemented yet, so no invoice was issued"
    )
