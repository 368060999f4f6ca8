"""Accounts for the daily jobs: every tenant id, the status compare-and-set, payments in flight.

``set_status`` rewrites the tenant's settings document (TenantsTable ``settings``, the
pydantic model as JSON) with the condition that the stored document is the one just read, so
two runs (a doubled schedule, the daily check racing the payment webhook) cannot both move
the status, and an admin edit made in between is never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.adapters.dynamodb import (
    Conflict,
    DynamoTenantDirectory,
    _errors,
    _item,
    _plain,
    _values,
)
from shared.adapters.payments_store import DynamoPaymentRecords
from shared.domain.suspension import payment_in_flight
from shared.domain.tenants import AccountStatus, TenantSettings


class DynamoTenantAccounts:
    """``shared.ports.TenantAccounts`` on TenantsTable."""

    def __init__(self, client: Any, table: str, payments_table: str = "") -> None:
        self.client = client
        self.table = table
        #: PaymentsTable, for ``move_status``'s record (the suspension reason)
        self.payments_table = payments_table

    def tenant_ids(self) -> list[str]:
        """Every tenant (a Scan of the keys only: one item per tenant, a small table)."""
        found: list[str] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "#id",
            "ExpressionAttributeNames": {"#id": "tenant_id"},
        }
        while True:
            with _errors(f"Scan {self.table}"):
                page = self.client.scan(**request)
            found.extend(str(_plain(item)["tenant_id"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(found)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def set_status(self, tenant: str, expected: AccountStatus, status: AccountStatus) -> bool:
        update = self._status_update(tenant, expected, status)
        if update is None:
            return False
        try:
            with _errors(f"UpdateItem {self.table} ({tenant} status)"):
                self.client.update_item(**update)
        except Conflict:
            return False
        return True

    def move_status(
        self, tenant: str, expected: AccountStatus, status: AccountStatus, record_key: str,
        record: Mapping[str, Any], *, record_state: str | None = None,
    ) -> bool:
        """The status compare-and-set and the PaymentsTable record in one
        ``TransactWriteItems`` across the two tables: a crash, a lost race or an admin edit
        leaves both as they were, never a suspension reason without its status (which would
        let a payment reopen an account an operator suspended by hand)."""
        if not self.payments_table:
            raise ValueError("DynamoTenantAccounts.move_status needs the payments table")
        update = self._status_update(tenant, expected, status)
        if update is None:
            return False
        item = {name: value for name, value in record.items() if value is not None}
        put: dict[str, Any] = {
            "TableName": self.payments_table,
            "Item": _item({**item, "record_key": record_key}),
        }
        if record_state is not None:
            put["ConditionExpression"] = "#state = :state"
            put["ExpressionAttributeNames"] = {"#state": "state"}
            put["ExpressionAttributeValues"] = _values(state=record_state)
        try:
            with _errors(f"TransactWriteItems ({tenant} status and {record_key})"):
                self.client.transact_write_items(
                    TransactItems=[{"Update": update}, {"Put": put}]
                )
        except Conflict:
            return False
        return True

    def _status_update(
        self, tenant: str, expected: AccountStatus, status: AccountStatus
    ) -> dict[str, Any] | None:
        """The conditional update of the settings document (it must still be the one read
        here), or None when the stored status is not ``expected``."""
        stored = DynamoTenantDirectory(self.client, self.table).settings_document(tenant)
        if stored is None:
            return None
        settings = TenantSettings.model_validate_json(stored)
        if settings.status is not expected:
            return None
        updated = settings.model_copy(update={"status": status}).model_dump_json()
        return {
            "TableName": self.table,
            "Key": _item({"tenant_id": tenant}),
            "UpdateExpression": "SET #settings = :new",
            "ConditionExpression": "#settings = :old",
            "ExpressionAttributeNames": {"#settings": "settings"},
            "ExpressionAttributeValues": _values(new=updated, old=stored),
        }


class DynamoPaymentsInFlight:
    """``shared.ports.PaymentsInFlight`` on PaymentsTable: the recharge slot and the
    tenant's payment intents on the ``by_tenant`` index."""

    def __init__(self, records: DynamoPaymentRecords) -> None:
        self.records = records

    def payment_in_flight(self, tenant: str, now: int) -> bool:
        intents = [
            item for item in self.records.by_tenant(tenant)
            if str(item.get("record_key", "")).startswith("payment_intent#")
        ]
        return payment_in_flight(self.records.slot(tenant), intents, now)
