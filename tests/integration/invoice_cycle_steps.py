"""What the invoice_cycle tests on the local stack share: a postpaid tenant with October's
two calls stored as rate_call stores them, and the scheduled events EventBridge delivers.

The tenant is USD in UTC on ``retail-usd`` with a 10.00 call answered on 5 October 2026 and
a 2.50 call on 20 October; without a buyer country the seller's GB rules apply (VAT 20 %),
so its October invoice is 12.50 + 2.50 = 15.00.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.adapters.dynamodb import DynamoTenantDirectory
from shared.domain.tenants import BillingMode, TenantSettings
from shared.local.stack import LocalStack

EVENTS = Path(__file__).resolve().parents[2] / "functions" / "invoice_cycle" / "events"
OCT_5 = 1_791_194_400_000  # 2026-10-05T10:00:00Z
OCT_20 = 1_792_490_400_000  # 2026-10-20T10:00:00Z


def postpaid_tenant_with_october_calls(dynamodb: Any, env: dict[str, str], tenant: str) -> None:
    """``tenant`` in TenantsTable and its two October calls in RatedCallsTable (``env``: a
    function environment naming both tables)."""
    DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"]).put(TenantSettings(
        tenant_id=tenant, card="retail-usd", currency="USD", mode=BillingMode.POSTPAID))
    for call_id, cost, answered in (("c1", "10.00", OCT_5), ("c2", "2.50", OCT_20)):
        dynamodb.put_item(TableName=env["RATED_CALLS_TABLE"], Item={
            "call_key": {"S": f"{tenant}#{call_id}"}, "tenant": {"S": tenant},
            "call_id": {"S": call_id}, "status": {"S": "rated"}, "cost": {"N": cost},
            "currency": {"S": "USD"}, "service": {"S": "voice"}, "direction": {"S": "out"},
            "billed_ms": {"N": "60000"}, "quantity": {"N": "1"},
            "answer_ms": {"N": str(answered)}, "start_ms": {"N": str(answered - 5000)},
            "tenant_period": {"S": f"{tenant}#2026-10"},
            "answered_at": {"S": f"{answered}#{call_id}"},
        })


def scheduled(job: str, stack: LocalStack, time: str = "2026-11-02T02:00:00Z") -> dict[str, Any]:
    """The event EventBridge delivers when the rule named for ``job`` fires at ``time``."""
    event: dict[str, Any] = json.loads(
        (EVENTS / f"{job.replace('-', '_')}.json").read_text(encoding="utf-8")
    )
    rule = f"telecom-billing-local-{job}"
    event["resources"] = [f"arn:aws:events:{stack.region}:{stack.account_id}:rule/{rule}"]
    event["time"] = time
    return event
