"""What the daily consistency check reads, on the usage tables and TenantsTable.

Balances, ledgers and breakouts are read per tenant (``GetItem`` / ``Query``, as the usage
store does). Rated calls have no index by tenant and day that includes unanswered attempts
(``by_period`` is sparse: charged calls only), so they are read with one paginated ``Scan``
of RatedCallsTable for all tenants, projected to the breakout fields and filtered to the
look-back window. A Scan reads (and bills) every item, filtered or not: about one read unit
per 4 KB, i.e. a table of 10 million calls of ~1 KB costs some 1.25 million read units a
day at eventual consistency. The job runs once a day at night; ``Segment``/``TotalSegments``
parallel scans are the next step if it ever grows too slow.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from shared.adapters.account_store import DynamoTenantAccounts
from shared.adapters.dynamodb import DynamoUsageStore, UsageTables, _errors, _plain, _values
from shared.domain.consistency import ChargedCall, LedgerFacts
from shared.domain.usage import LEDGER_USAGE, BreakoutDelta

_PROJECTED = (
    "tenant", "charged_by", "status", "start_ms", "answer_ms", "destination", "prefix",
    "billed_ms", "cost", "currency",
)


class DynamoConsistencyReads:
    """``shared.ports.ConsistencyReads``."""

    def __init__(self, client: Any, tables: UsageTables, tenants_table: str) -> None:
        self.client = client
        self.tables = tables
        self.usage = DynamoUsageStore(client, tables)
        self.accounts = DynamoTenantAccounts(client, tenants_table)

    def tenant_ids(self) -> list[str]:
        return self.accounts.tenant_ids()

    def balance(self, tenant: str) -> Decimal:
        return self.usage.balance(tenant)

    def ledger_facts(self, tenant: str) -> LedgerFacts:
        entries = self.usage.ledger_entries(tenant)
        return LedgerFacts(
            total=sum((entry.amount for entry in entries), Decimal(0)),
            applied_chunks=frozenset(
                entry.chunk for entry in entries
                if entry.kind == LEDGER_USAGE and entry.breakouts_applied and entry.chunk
            ),
        )

    def breakout_rows(self, tenant: str, first_day: str) -> dict[tuple[str, str], BreakoutDelta]:
        return {
            (row["day"], row["destination"]): BreakoutDelta(
                row["attempts"], row["answered"], row["billed_ms"], row["cost"]
            )
            for row in self.usage.breakouts(tenant, first_day, None)
        }

    def charged_calls(self, first_start_ms: int) -> Iterator[ChargedCall]:
        names = {f"#p{i}": name for i, name in enumerate(_PROJECTED)}
        request: dict[str, Any] = {
            "TableName": self.tables.rated_calls,
            "ProjectionExpression": ", ".join(names),
            # started in the window; a record with no start time is dated by its answer
            "FilterExpression": "#p3 >= :first OR (attribute_not_exists(#p3) AND #p4 >= :first)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _values(first=first_start_ms),
        }
        while True:
            with _errors(f"Scan {self.tables.rated_calls}"):
                page = self.client.scan(**request)
            for item in page.get("Items", []):
                values = _plain(item)
                yield ChargedCall(
                    tenant=str(values["tenant"]),
                    charged_by=str(values.get("charged_by", "")),
                    status=str(values.get("status", "")),
                    start_ms=_optional_int(values.get("start_ms")),
                    answer_ms=_optional_int(values.get("answer_ms")),
                    destination=str(values.get("destination", "")),
                    prefix=str(values.get("prefix", "")),
                    billed_ms=int(values.get("billed_ms") or 0),
                    cost=Decimal(values.get("cost") or 0),
                    currency=str(values.get("currency", "")),
                )
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
