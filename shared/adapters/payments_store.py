"""PaymentsTable: processed Stripe events and payment state that only moves forward.

One item per ``record_key`` (docs/data-model.md): ``event#<evt id>`` (expires after
``EVENT_RETENTION_DAYS``), ``payment_intent#<pi>``, ``refund#<re>``, ``dispute#<dp>``,
``setup_intent#<seti>``, ``payment_method#<pm>``, the links ``charge#<ch>`` and
``customer#<cus>`` (→ tenant), ``account#<tenant>`` (open disputes), the pending credits
``invoice_credit#<tenant>#<id>`` and the operator's fees ``fee#<balance transaction>``.
The ``by_tenant`` index (tenant, created) is sparse: only records with both, i.e. payment
intents, refunds, disputes, credits and fees, appear in the payment history.

``advance`` is one conditional ``UpdateItem`` implementing
``shared.domain.payments.may_advance``; ``tests/fakes/payments.py`` mirrors it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from shared.adapters.dynamodb import Conflict, _av, _errors, _item, _plain, _values
from shared.domain.payments import FINAL_RANK

#: Stripe retries a delivery for up to three days; event records are kept longer than that
EVENT_RETENTION_DAYS = 30
#: the payment history index: tenant (hash) and created (range, epoch seconds)
BY_TENANT_INDEX = "by_tenant"
_DAY = 86_400


class DynamoPaymentRecords:
    """``shared.ports.PaymentRecords`` on PaymentsTable."""

    def __init__(
        self, client: Any, table: str, *, now: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.table = table
        self._now = now

    def event_seen(self, event_id: str) -> bool:
        return self.get(f"event#{event_id}") is not None

    def mark_event(self, event_id: str, event_type: str, created: int) -> None:
        try:
            with _errors(f"PutItem {self.table} (event)"):
                self.client.put_item(
                    TableName=self.table,
                    Item=_item({
                        "record_key": f"event#{event_id}",
                        "event_type": event_type,
                        "created": created,
                        "expires_at": int(self._now()) + EVENT_RETENTION_DAYS * _DAY,
                    }),
                    ConditionExpression="attribute_not_exists(record_key)",
                )
        except Conflict:
            pass  # a concurrent delivery recorded it first

    def get(self, key: str) -> dict[str, Any] | None:
        with _errors(f"GetItem {self.table}"):
            found = self.client.get_item(
                TableName=self.table, Key=_item({"record_key": key}), ConsistentRead=True
            ).get("Item")
        return _plain(found) if found else None

    def advance(
        self, key: str, rank: int, created: int, tenant: str | None, values: Mapping[str, Any]
    ) -> bool:
        fields = [(name, value) for name, value in values.items() if value is not None]
        names = {f"#f{i}": name for i, (name, _) in enumerate(fields)}
        names |= {"#rank": "rank", "#created": "created"}
        attribute_values = {f":f{i}": _av(value) for i, (_, value) in enumerate(fields)}
        attribute_values |= _values(rank=rank, created=created, final=FINAL_RANK)
        sets = [f"#f{i} = :f{i}" for i in range(len(fields))]
        sets += ["#rank = :rank", "#created = :created"]
        if tenant is not None:  # the first tenant recorded stays (tenant isolation)
            sets.append("#tenant = if_not_exists(#tenant, :tenant)")
            names["#tenant"] = "tenant"
            attribute_values |= _values(tenant=tenant)
        try:
            with _errors(f"UpdateItem {self.table} ({key})"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_item({"record_key": key}),
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=(
                        "attribute_not_exists(#rank) OR #rank < :rank OR "
                        "(#rank = :rank AND #rank < :final AND #created <= :created)"
                    ),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=attribute_values,
                )
        except Conflict:
            return False
        return True

    def create(self, key: str, tenant: str | None, values: Mapping[str, Any]) -> bool:
        """Put the record unless ``key`` exists (exactly once); False when it did."""
        item = {k: v for k, v in values.items() if v is not None}
        try:
            with _errors(f"PutItem {self.table} ({key})"):
                self.client.put_item(
                    TableName=self.table,
                    Item=_item({**item, "record_key": key}
                               | ({"tenant": tenant} if tenant is not None else {})),
                    ConditionExpression="attribute_not_exists(record_key)",
                )
        except Conflict:
            return False
        return True

    def by_tenant(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's records on the ``by_tenant`` index, oldest first (eventually
        consistent: a record written a moment ago may show on the next read)."""
        found: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_TENANT_INDEX,
            "KeyConditionExpression": "#tenant = :tenant",
            "ExpressionAttributeNames": {"#tenant": "tenant"},
            "ExpressionAttributeValues": _values(tenant=tenant),
        }
        while True:
            with _errors(f"Query {self.table} ({BY_TENANT_INDEX})"):
                page = self.client.query(**query)
            found.extend(_plain(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def link(self, key: str, tenant: str, values: Mapping[str, Any]) -> None:
        fields = [(name, value) for name, value in values.items() if value is not None]
        names = {f"#f{i}": name for i, (name, _) in enumerate(fields)} | {"#tenant": "tenant"}
        attribute_values = {f":f{i}": _av(value) for i, (_, value) in enumerate(fields)}
        sets = [f"#f{i} = if_not_exists(#f{i}, :f{i})" for i in range(len(fields))]
        sets.append("#tenant = if_not_exists(#tenant, :tenant)")
        with _errors(f"UpdateItem {self.table} ({key})"):
            self.client.update_item(
                TableName=self.table,
                Key=_item({"record_key": key}),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attribute_values | _values(tenant=tenant),
            )

    def flag_dispute(self, tenant: str, dispute_id: str, is_open: bool) -> None:
        action = "ADD" if is_open else "DELETE"
        with _errors(f"UpdateItem {self.table} (account#{tenant})"):
            self.client.update_item(
                TableName=self.table,
                Key=_item({"record_key": f"account#{tenant}"}),
                UpdateExpression=f"{action} #open :dispute",
                ExpressionAttributeNames={"#open": "open_disputes"},
                ExpressionAttributeValues=_values(dispute={dispute_id}),
            )

    def open_disputes(self, tenant: str) -> set[str]:
        found = self.get(f"account#{tenant}") or {}
        return set(found.get("open_disputes") or set())

    # -- the recharge slot (shared.ports.RechargeRecords) ------------------------------------

    def customer_of(self, tenant: str) -> str | None:
        found = self.get(f"stripe#{tenant}") or {}
        customer = found.get("customer")
        return str(customer) if customer else None

    def slot(self, tenant: str) -> dict[str, Any] | None:
        return self.get(f"recharge#{tenant}")

    def claim(self, tenant: str, trigger: str, now: int) -> dict[str, Any] | None:
        key = f"recharge#{tenant}"
        try:
            with _errors(f"UpdateItem {self.table} ({key} claim)"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_item({"record_key": key}),
                    UpdateExpression=(
                        "SET #trigger = :trigger, #state = :pending, #claimed = :now "
                        "REMOVE #intent_id, #outcome"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(record_key) OR "
                        "(#state = :done AND #retry_after <= :now AND #trigger <> :trigger)"
                    ),
                    ExpressionAttributeNames={
                        "#trigger": "trigger", "#state": "state", "#claimed": "claimed_at",
                        "#intent_id": "intent_id", "#outcome": "outcome",
                        "#retry_after": "retry_after",
                    },
                    ExpressionAttributeValues=_values(
                        trigger=trigger, pending="pending", done="done", now=now
                    ),
                )
        except Conflict:
            pass  # someone holds it: ours if it carries our trigger
        found = self.get(key)
        return found if found is not None and found.get("trigger") == trigger else None

    def settle(self, tenant: str, trigger: str, values: Mapping[str, Any]) -> None:
        fields = [(name, value) for name, value in values.items() if value is not None]
        names = {f"#f{i}": name for i, (name, _) in enumerate(fields)} | {"#trigger": "trigger"}
        attribute_values = {f":f{i}": _av(value) for i, (_, value) in enumerate(fields)}
        with _errors(f"UpdateItem {self.table} (recharge#{tenant} settle)"):
            self.client.update_item(
                TableName=self.table,
                Key=_item({"record_key": f"recharge#{tenant}"}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression="#trigger = :trigger",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attribute_values | _values(trigger=trigger),
            )
