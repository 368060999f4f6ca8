"""The daily consistency check (SPEC 5): balances equal ledger sums, breakouts equal calls.

invoice_cycle runs it on its ``consistency-check`` schedule. Nothing is repaired here: a
difference means a bug or a hand edit, and an operator must look. Each difference is logged
(tenant, row, field, expected and found; no phone numbers exist in these figures), the
count is the metric ``ConsistencyDifferences`` (namespace ``TelecomBilling``, dimension
``service=billing``; zero on a clean day, so an alarm on ``Sum > 0`` also sees the job ran),
and the job returns them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from shared.domain.consistency import (
    DEFAULT_LOOKBACK_DAYS,
    ChargedCall,
    Difference,
    balance_differences,
    breakout_differences,
    expected_breakouts,
)
from shared.domain.errors import BillingError
from shared.observability import logger, metrics
from shared.ports import ConsistencyReads

METRIC = "ConsistencyDifferences"


class ConsistencyCheckFailed(BillingError):
    """Some tenants could not be read (after the others were checked and their differences
    logged and counted): the invocation fails and is retried."""


@dataclass(frozen=True, slots=True)
class ConsistencyReport:
    tenants: int
    first_day: str
    differences: tuple[Difference, ...]

    @property
    def consistent(self) -> bool:
        return not self.differences


def run_consistency_check(
    reads: ConsistencyReads,
    now: Callable[[], datetime],
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> ConsistencyReport:
    """Every tenant: balance against the ledger, breakouts (the last ``lookback_days`` UTC
    days) against the rated calls charged by chunks whose breakouts are applied."""
    start = (now().astimezone(UTC) - timedelta(days=lookback_days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    first_day = start.strftime("%Y-%m-%d")
    calls: dict[str, list[ChargedCall]] = defaultdict(list)
    for call in reads.charged_calls(int(start.timestamp() * 1000)):  # one pass for all tenants
        calls[call.tenant].append(call)
    tenants = sorted(set(reads.tenant_ids()) | set(calls))  # a tenant with calls, unlisted
    differences: list[Difference] = []
    failed: list[str] = []
    for tenant in tenants:
        try:
            ledger = reads.ledger_facts(tenant)
            differences += balance_differences(tenant, reads.balance(tenant), ledger)
            expected = expected_breakouts(calls.get(tenant, []), ledger.applied_chunks)
            stored = reads.breakout_rows(tenant, first_day)
            differences += breakout_differences(tenant, stored, expected, first_day)
        except Exception as error:  # reported below; the other tenants are still checked
            logger.exception("consistency check failed", extra={"tenant": tenant})
            failed.append(f"{tenant} ({type(error).__name__}: {error})")
    for difference in differences:
        logger.error("consistency difference", extra={
            "tenant": difference.tenant, "kind": difference.kind, "key": difference.key,
            "field": difference.field, "expected": difference.expected,
            "found": difference.found,
        })
    metrics.add_metric(METRIC, MetricUnit.Count, len(differences))
    logger.info("consistency check done", extra={
        "tenants": len(tenants), "first_day": first_day, "differences": len(differences),
    })
    if failed:
        raise ConsistencyCheckFailed(
            "the consistency check could not read " + ", ".join(failed)
        )
    return ConsistencyReport(len(tenants), first_day, tuple(differences))
