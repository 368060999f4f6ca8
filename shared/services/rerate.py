"""Re-rate a tenant's rated calls of a date range with a fixed card (``billing rerate``).

Reads the period's charged calls (``CallDetail``: the ``by_period`` index), rates each
again with the engine, and hands every price change to the ledger as an adjustment with
its receipt (``RerateLedger``, ``DynamoUsageStore.apply_rerate``). Issued invoices are not
touched: an adjustment carries the call's billing ``period``, and invoicing puts those of an
already invoiced period on the next invoice as late adjustments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from shared.domain.calls import CallStatus
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating, rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.rerate import (
    RerateChange,
    RerateSummary,
    call_of_detail,
    change_of,
    local_day,
    periods_between,
    rerate_run_id,
)
from shared.ports import CallDetail


class Applied(StrEnum):
    WRITTEN = "written"  # entry, balance and call written now
    ALREADY = "already"  # the same move was written by another run (or a crashed try of
    # this one): finished now if its call update never happened
    RETRY = "retry"  # another move of the call took this version (finished now): read the
    # call again and re-rate it from its new cost
    CONFLICT = "conflict"  # the call changed outside re-rating: left for an operator


#: a call's re-reads after a collision before it is left as a conflict (each retry means
#: another writer moved the call in between)
MAX_TRIES = 5


class RerateLedger(Protocol):
    """Writes one adjustment: the ledger entry ``rerate#<call>#v<version>`` and the balance
    in one transaction (the entry must not exist), then the rated call's new cost with the
    old one kept. A collision finishes the entry already there before answering."""

    def apply_rerate(self, change: RerateChange) -> Applied: ...

    def rated_call_detail(self, tenant: str, call_id: str) -> dict[str, Any] | None:
        """One rated call as ``CallDetail`` values, read consistently (after a RETRY)."""
        ...


@dataclass(frozen=True, slots=True)
class RerateRequest:
    tenant: str
    day_from: date
    day_to: date
    card: CompiledCard  # compiled in the tenant's rating zone
    card_hash: str  # sha256 of the card's canonical JSON (its stored version)
    plan: NumberingPlan
    dry_run: bool = False


def rerate(request: RerateRequest, calls: CallDetail, ledger: RerateLedger) -> RerateSummary:
    """Re-rate the range; with ``dry_run`` nothing is written and the summary says what
    would be. Calls the fixed card cannot rate are counted by reason and left as they are."""
    run_id = rerate_run_id(request.tenant, request.day_from, request.day_to, request.card_hash)
    periods = periods_between(request.day_from, request.day_to)
    summary = RerateSummary(
        request.tenant, run_id, request.card.currency, periods, request.dry_run
    )
    zone = request.card.zone
    for period in periods:
        for values in calls.period_call_detail(request.tenant, period):
            call = call_of_detail(values)
            when = call.answer_ms if call.answer_ms is not None else call.start_ms
            if when is None or not request.day_from <= local_day(when, zone) <= request.day_to:
                continue
            summary.considered += 1
            rating = rate_call(call, request.card, request.plan, explain=True)
            if rating.status is not CallStatus.RATED:
                why = str(rating.reason or rating.status)
                summary.failed[why] = summary.failed.get(why, 0) + 1
                continue
            change = change_of(values, rating, run_id, period)
            if change is None:
                summary.unchanged += 1
                continue
            summary.add(change)
            if request.dry_run:
                continue
            outcome = _apply(change, rating, ledger, request.tenant, run_id, period)
            if outcome is Applied.WRITTEN:
                summary.written += 1
            elif outcome is Applied.ALREADY:
                summary.already += 1
            else:
                summary.conflicts += 1
    return summary


def _apply(
    change: RerateChange, rating: Rating, ledger: RerateLedger, tenant: str, run_id: str,
    period: str,
) -> Applied:
    """Apply one change; after a collision with another move of the call (finished by the
    ledger), read the call again and apply what is left of ours, if anything."""
    for _ in range(MAX_TRIES):
        outcome = ledger.apply_rerate(change)
        if outcome is not Applied.RETRY:
            return outcome
        values = ledger.rated_call_detail(tenant, change.call_id)
        if values is None:
            return Applied.CONFLICT
        moved = change_of(values, rating, run_id, period)
        if moved is None:
            return Applied.ALREADY  # the other move took the call to our price
        change = moved
    return Applied.CONFLICT
