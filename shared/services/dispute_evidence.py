"""The evidence pack of a dispute: the disputed period's call detail with rating receipts.

On ``charge.dispute.created`` the webhook writes one JSON object,
``evidence/<tenant>/<dispute id>.json`` in the CDR bucket (outside ``tenants/``, so it is
never taken for a CDR file to rate), holding every charged call of the disputed period as
rated (``RatedCallsTable``'s ``by_period`` index): caller, callee, times, the card, prefix,
destination and band that priced it, billed duration, quantity and cost. The operator
attaches it to the dispute's evidence in the Stripe dashboard.

The disputed period runs from the billing month in which the disputed charge was paid
(the payment intent's success; else the dispute's own date) to the month the dispute was
opened, at most ``MAX_PERIODS`` months: a top-up pays for the calls after it, and a
postpaid charge for the month before it, so the month before the payment is included too.
Months follow the tenant's zone (UTC when it has none), as ``by_period`` does.

Exactly once: the record ``evidence#<dispute id>`` in PaymentsTable is created (a
conditional put) after the object is written; a repeated or concurrent delivery finds it and
writes nothing, and a crash between the two is repaired by the redelivery, which rewrites the
same key: there is only ever one object per dispute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.ports import CallDetail, OutputStore, PaymentRecords

#: a dispute may be opened months after the payment; the pack covers at most this many months
MAX_PERIODS = 4
EVIDENCE_PREFIX = "evidence/"

#: the rating receipt of one call: the fields that explain its price
CALL_FIELDS = (
    "call_id", "status", "service", "direction", "account", "caller", "callee",
    "start_ms", "answer_ms", "end_ms", "talk_ms", "billed_ms", "quantity",
    "card", "prefix", "destination", "band", "cost", "currency", "flags", "line_no",
    "charged_by", "content",
)


@dataclass(frozen=True, slots=True)
class EvidenceDeps:
    calls: CallDetail
    outputs: OutputStore
    bucket: str


def evidence_key(tenant: str, dispute_id: str) -> str:
    return f"{EVIDENCE_PREFIX}{tenant}/{dispute_id}.json"


def _month(epoch_s: int, zone: ZoneInfo) -> tuple[int, int]:
    moment = datetime.fromtimestamp(epoch_s, UTC).astimezone(zone)
    return moment.year, moment.month


def disputed_periods(paid_at: int, disputed_at: int, zone: ZoneInfo) -> list[str]:
    """"YYYY-MM" from the month before the payment to the dispute's month (at most
    ``MAX_PERIODS``, the latest kept)."""
    year, month = _month(min(paid_at, disputed_at), zone)
    last = _month(max(paid_at, disputed_at), zone)
    year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    periods = []
    while (year, month) <= last:
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods[-MAX_PERIODS:]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_plain(item) for item in value]
    return value


def _iso(ms: Any) -> str | None:
    if isinstance(ms, bool) or not isinstance(ms, int | Decimal):
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="milliseconds")


def build_evidence_pack(
    tenant: str,
    dispute: dict[str, Any],
    paid_at: int,
    disputed_at: int,
    zone_name: str | None,
    calls: CallDetail,
) -> dict[str, Any]:
    """The pack as a JSON-ready document (amounts as strings, times as ISO 8601 UTC)."""
    periods = disputed_periods(paid_at, disputed_at, _zone(zone_name))
    rows = []
    total = Decimal(0)
    currencies = set()
    for period in periods:
        for call in calls.period_call_detail(tenant, period):
            receipt = {name: _plain(call.get(name)) for name in CALL_FIELDS}
            receipt["period"] = period
            receipt["answered_at"] = _iso(call.get("answer_ms"))
            receipt["started_at"] = _iso(call.get("start_ms"))
            rows.append(receipt)
            total += Decimal(str(call.get("cost") or 0))
            currencies.add(str(call.get("currency") or ""))
    return {
        "kind": "dispute_evidence",
        "tenant": tenant,
        "dispute": dispute.get("id"),
        "charge": dispute.get("charge") if isinstance(dispute.get("charge"), str) else None,
        "reason": dispute.get("reason"),
        "dispute_amount_minor": dispute.get("amount"),
        "dispute_currency": str(dispute.get("currency") or "").upper() or None,
        "paid_at": datetime.fromtimestamp(paid_at, UTC).isoformat(),
        "disputed_at": datetime.fromtimestamp(disputed_at, UTC).isoformat(),
        "periods": periods,
        "source": "RatedCallsTable by_period (charged calls as rated)",
        "summary": {
            "calls": len(rows),
            "cost": str(total),
            "currencies": sorted(c for c in currencies if c),
            "billed_ms": sum(int(r.get("billed_ms") or 0) for r in rows),
        },
        "calls": rows,
    }


def write_evidence_once(
    tenant: str,
    dispute: dict[str, Any],
    paid_at: int,
    disputed_at: int,
    zone_name: str | None,
    records: PaymentRecords,
    evidence: EvidenceDeps,
) -> bool:
    """Build and store the pack unless this dispute already has one; True when written."""
    marker = f"evidence#{dispute['id']}"
    if records.get(marker) is not None:
        return False
    pack = build_evidence_pack(tenant, dispute, paid_at, disputed_at, zone_name, evidence.calls)
    key = evidence_key(tenant, str(dispute["id"]))
    evidence.outputs.put_text(
        evidence.bucket, key, json.dumps(pack, indent=1, sort_keys=True) + "\n"
    )
    return records.create(marker, tenant, {
        "kind": "dispute_evidence", "bucket": evidence.bucket, "key": key,
        "calls": len(pack["calls"]), "periods": ",".join(pack["periods"]),
    })
