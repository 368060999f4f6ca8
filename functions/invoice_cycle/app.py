"""invoice_cycle: the scheduled billing jobs, routed by the EventBridge rule that fired.

Event: an EventBridge scheduled event (``events/*.json``). Each of the three rules of
template.yaml is named ``telecom-billing-<stage>-<job>``; the job is the end of the rule's
ARN in ``resources``:

* ``invoice-run`` (daily): every tenant whose period ended and whose settlement lag passed
  is invoiced exactly once, the PDF stored and emailed, auto-pay charged; overdue invoices
  marked (``shared.services.invoicing``);
* ``suspension-check`` (daily): dunning warnings and suspensions
  (``shared.services.suspension``);
* ``consistency-check`` (daily): ledger sums against balances, breakouts against rated calls
  (``shared.services.consistency_check``).

The event's ``time`` is the jobs' clock, so a retried invocation decides exactly as the first
one did. Every job is idempotent: a schedule firing twice, or Lambda's two retries of a failed
asynchronous invocation, issue, warn or suspend nothing twice. A job that fails for some
tenants raises after trying all of them, so the invocation shows as an error and is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.domain.errors import BillingError
from shared.observability import logger, metrics, tracer


class UnknownSchedule(BillingError):
    """The event names no rule of invoice_cycle: nothing was run."""


def job_of(event: EventBridgeEvent) -> str:
    """The job a scheduled event asks for: the suffix of the rule name that fired."""
    for arn in event.resources or []:
        rule = str(arn).rsplit("/", 1)[-1]
        for job in JOBS:
            if rule.endswith(f"-{job}"):
                return job
    raise UnknownSchedule(
        f"invoice_cycle runs the rules ending in {', '.join(JOBS)}; got {event.resources}"
    )


def event_time(event: EventBridgeEvent) -> datetime:
    return datetime.fromisoformat(event.time.replace("Z", "+00:00")).astimezone(UTC)


# Each job imports its own service and wiring when it runs: the daily checks never load the
# invoice PDF renderer (reportlab) a cold invoice run needs.


def _invoice_run(now: datetime) -> dict[str, Any]:
    from shared.services.invoicing import InvoiceRunFailed, run_invoicing
    from shared.wiring import invoice_cycle_deps

    report = run_invoicing(invoice_cycle_deps(int(now.timestamp() * 1000)))
    issued = report.with_outcome("issued")
    metrics.add_metric("InvoicesIssued", MetricUnit.Count, len(issued))
    metrics.add_metric("InvoiceRunFailures", MetricUnit.Count, len(report.failed))
    if report.failed:
        raise InvoiceRunFailed(
            "invoicing failed for " + ", ".join(f"{r.tenant} ({r.error})" for r in report.failed)
        )
    return {"issued": [r.number for r in issued], "tenants": len(report.tenants)}


def _suspension_check(now: datetime) -> dict[str, Any]:
    from shared.services.suspension import run_suspension_check
    from shared.wiring import invoice_cycle_suspension_deps

    report = run_suspension_check(invoice_cycle_suspension_deps(now))
    return {"suspended": report.tenants("suspended"), "warned": report.tenants("warned")}


def _consistency_check(now: datetime) -> dict[str, Any]:
    from shared.wiring import invoice_cycle_consistency

    report = invoice_cycle_consistency(now)
    return {"tenants": report.tenants, "differences": len(report.differences)}


JOBS: dict[str, Callable[[datetime], dict[str, Any]]] = {
    "invoice-run": _invoice_run,
    "suspension-check": _suspension_check,
    "consistency-check": _consistency_check,
}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    schedule = EventBridgeEvent(event)
    job = job_of(schedule)
    now = event_time(schedule)
    logger.append_keys(job=job, scheduled_at=now.isoformat())
    result = JOBS[job](now)
    logger.info("scheduled job done", extra={"result": result})
    return {"job": job, **result}
