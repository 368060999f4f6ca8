"""Use case: build the two sides of a reconciliation and run it.

A side comes from a CDR file in any supported format, rated with the card given for that side
(so a carrier's file is priced by the carrier's deck, imported with ``billing import-deck``),
or from our rated calls of one billing period (``CallDetail``, the ``by_period`` index).
Cost columns some exports carry are not read by the CDR readers, so a file side is always
priced by our engine with that side's card: every cost in the report then has a receipt that
re-derives it, and a price difference names the rate term that differs.

Only voice calls are reconciled; messages, emails and fees are counted as skipped. A row that
cannot be read (or a repeated call id) is skipped with its reason and listed in the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from shared.domain.calls import CallRecord, CallStatus, Direction, RejectReason, Service
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating, rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.rating.receipt import Receipt
from shared.domain.reconcile import ReconCall, Side
from shared.domain.reconcile.model import Explainer
from shared.formats.records import RowOutcome, as_outcome


def side_from_records(
    label: str,
    records: Iterable[RowOutcome | CallRecord],
    card: CompiledCard,
    plan: NumberingPlan,
    *,
    answered_only: bool = False,
) -> Side:
    """Rate every voice call of a CDR reader's output with ``card``; skip and count the rest.

    ``answered_only`` drops unanswered attempts (counted as skipped), for comparing with a
    source that holds answered calls only.
    """
    calls: list[ReconCall] = []
    skipped: Counter[str] = Counter()
    seen: dict[str, str] = {}
    for item in records:
        outcome = as_outcome(item)
        call = outcome.call
        if call is None:
            status = outcome.status or CallStatus.REJECTED
            reason = outcome.reason or RejectReason.MALFORMED
            skipped[str(reason) if status is CallStatus.REJECTED else str(status)] += 1
            continue
        if call.service is not Service.VOICE:
            skipped[f"not voice ({call.service})"] += 1
            continue
        previous = seen.get(call.call_id)
        if previous is not None:
            skipped["duplicate" if previous == call.fingerprint else "conflict"] += 1
            continue
        seen[call.call_id] = call.fingerprint
        call.line_no = call.line_no or outcome.line_no
        found = _recon_call(call, rate_call(call, card, plan))
        if found is None:
            skipped["no time"] += 1
        elif answered_only and not found.connected:
            skipped["unanswered (not in the other source)"] += 1
        else:
            calls.append(found)
    return Side(label, card.currency, calls, _explainer(card, plan), dict(sorted(skipped.items())))


def side_from_rated_calls(
    label: str,
    rows: Iterable[Mapping[str, Any]],
    currency: str,
    card: CompiledCard | None = None,
    plan: NumberingPlan | None = None,
) -> Side:
    """Our rated calls as stored (``CallDetail.period_call_detail`` rows): the stored cost is
    what the tenant was charged. With ``card``, the largest difference is re-rated for its
    receipt."""
    calls: list[ReconCall] = []
    skipped: Counter[str] = Counter()
    for row in rows:
        if str(row.get("service") or "voice") != Service.VOICE:
            skipped[f"not voice ({row.get('service')})"] += 1
            continue
        if str(row.get("currency") or currency) != currency:
            skipped[f"currency {row.get('currency')}"] += 1
            continue
        start, answer = _optional_int(row.get("start_ms")), _optional_int(row.get("answer_ms"))
        time_ms = start if start is not None else answer
        if time_ms is None:
            skipped["no time"] += 1
            continue
        talk = int(row.get("talk_ms") or 0)
        record = CallRecord(
            call_id=str(row["call_id"]),
            tenant=str(row.get("tenant", "")),
            callee=str(row.get("callee", "")),
            direction=Direction(str(row.get("direction") or "out")),
            caller=str(row.get("caller", "")),
            start_ms=start,
            answer_ms=answer,
            end_ms=_optional_int(row.get("end_ms")),
            talk_ms=talk,
        )
        calls.append(
            ReconCall(
                call_id=record.call_id,
                callee=record.callee,
                time_ms=time_ms,
                talk_ms=talk,
                connected=talk > 0,
                billed_ms=int(row.get("billed_ms") or 0),
                cost=Decimal(str(row.get("cost") or "0")),
                prefix=str(row.get("prefix", "")),
                destination=str(row.get("destination", "")),
                caller=record.caller,
                start_ms=start,
                answer_ms=answer,
                end_ms=record.end_ms,
                line_no=int(row.get("line_no") or 0),
                record=record,
            )
        )
    calls.sort(key=lambda call: (call.time_ms, call.call_id))
    explain = _explainer(card, plan or NumberingPlan()) if card is not None else None
    return Side(label, currency, calls, explain, dict(sorted(skipped.items())))


def _recon_call(call: CallRecord, rating: Rating) -> ReconCall | None:
    time_ms = call.start_ms if call.start_ms is not None else call.answer_ms
    if time_ms is None:
        return None
    rated = rating.status is CallStatus.RATED
    return ReconCall(
        call_id=call.call_id,
        callee=call.callee,
        time_ms=time_ms,
        talk_ms=call.talk_ms if call.answered else 0,
        connected=call.answered and call.talk_ms > 0,
        billed_ms=rating.billed_ms if rated else 0,
        cost=rating.cost if rated else Decimal(0),
        prefix=rating.prefix,
        destination=rating.destination,
        caller=call.caller,
        start_ms=call.start_ms,
        answer_ms=call.answer_ms,
        end_ms=call.end_ms,
        line_no=call.line_no,
        problem=str(rating.reason) if rating.status is CallStatus.REJECTED else "",
        record=call,
    )


def _explainer(card: CompiledCard, plan: NumberingPlan) -> Explainer:
    def explain(call: ReconCall) -> Receipt | None:
        if call.record is None:
            return None
        return rate_call(call.record, card, plan, explain=True).receipt

    return explain


def _optional_int(value: object) -> int | None:
    return None if value is None or value == "" else int(str(value))
