"""InvoicesTable: issued invoices, gapless number counters and payment allocations.

Items (one string key ``invoice_key``; docs/data-model.md):

- ``counter#<issuer>``: ``last``, the last invoice number the issuer used;
- ``invoice#<tenant>#<YYYY-MM>``: one issued invoice. The key *is* the (tenant, period), so a
  second invoice for the same period cannot exist; ``tenant``/``period`` and ``number`` feed
  the sparse indexes ``by_tenant`` and ``by_number``;
- ``allocation#<payment id>``: how one payment was split over a tenant's invoices.

A refund of an invoice payment is taken off the invoices it paid by ``reverse_payment``:
one conditional ``UpdateItem`` per invoice (``paid`` unchanged since read), recording the
refund id in ``reversals`` so it is taken off once.

The issue is ONE ``TransactWriteItems``: the counter moves from n-1 to n (condition: it is
still n-1), the invoice is put (condition: absent), each consumed credit in PaymentsTable
moves pending → applied (condition: still pending) and, for a postpaid tenant, the ledger
entry ``invoiced#<number>`` (condition: absent) credits the usage the invoice billed, with
the same ``ADD`` to the cached balance (as ``DynamoUsageStore.credit``). A number is used
exactly when an invoice takes it, so numbers are gapless even when issues race, retry or crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb import (
    Conflict,
    DynamoClient,
    _cancellation_codes,
    _errors,
    _item,
    _names,
    _plain,
    _query,
    _values,
)
from shared.domain.suspension import OpenInvoice
from shared.services.invoice_credits import INVOICE_CREDIT_RANKS
from shared.services.invoice_records import (
    OPEN_STATUSES,
    Allocation,
    CounterMoved,
    CreditTaken,
    PaymentRaced,
    PendingCharge,
    StoredInvoice,
    UsageInvoiced,
)

BY_TENANT_INDEX = "by_tenant"
BY_NUMBER_INDEX = "by_number"


def invoice_key(tenant: str, period: str) -> str:
    return f"invoice#{tenant}#{period}"


def counter_key(issuer: str) -> str:
    return f"counter#{issuer}"


class DynamoInvoiceStore:
    """``shared.services.invoice_records.InvoiceStore`` and ``shared.ports.OpenInvoices``."""

    def __init__(
        self, client: DynamoClient, table: str, payments_table: str = "",
        ledger_table: str = "", balances_table: str = "",
    ) -> None:
        self.client = client
        self.table = table
        #: PaymentsTable, where consumed invoice credits move to applied in the issue
        self.payments_table = payments_table
        #: LedgerTable and BalancesTable, where a postpaid issue credits the usage it billed
        self.ledger_table = ledger_table
        self.balances_table = balances_table

    # -- issue ---------------------------------------------------------------------------

    def last_number(self, issuer: str) -> int:
        with _errors(f"GetItem {self.table} (counter)"):
            found = self.client.get_item(
                TableName=self.table, Key=_item({"invoice_key": counter_key(issuer)}),
                ConsistentRead=True,
            ).get("Item")
        return int(_plain(found).get("last", 0)) if found else 0

    def issue(
        self, invoice: StoredInvoice, sequence: int, credit_keys: Sequence[str],
        charge_keys: Sequence[str] = (),
        remainders: Sequence[tuple[str, Mapping[str, Any]]] = (),
        usage_invoiced: UsageInvoiced | None = None,
    ) -> bool:
        counter: dict[str, Any] = {
            "TableName": self.table,
            "Key": _item({"invoice_key": counter_key(invoice.issuer)}),
            "UpdateExpression": "SET #last = :next",
            "ExpressionAttributeNames": _names("last"),
        }
        if sequence == 1:
            counter["ConditionExpression"] = "attribute_not_exists(#last)"
            counter["ExpressionAttributeValues"] = _values(next=sequence)
        else:
            counter["ConditionExpression"] = "#last = :previous"
            counter["ExpressionAttributeValues"] = _values(next=sequence, previous=sequence - 1)
        items: list[dict[str, Any]] = [
            {"Update": counter},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": _item(_values_of(invoice)),
                    "ConditionExpression": "attribute_not_exists(invoice_key)",
                }
            },
        ]
        for key in credit_keys:
            items.append({
                "Update": {
                    "TableName": self.payments_table,
                    "Key": _item({"record_key": key}),
                    "UpdateExpression": "SET #status = :applied, #rank = :rank, #invoice = :n",
                    "ConditionExpression": "#status = :pending",
                    "ExpressionAttributeNames": _names("status", "rank", "invoice"),
                    "ExpressionAttributeValues": _values(
                        applied="applied", pending="pending", n=invoice.number,
                        rank=INVOICE_CREDIT_RANKS["applied"],
                    ),
                }
            })
        for key in charge_keys:
            items.append({
                "Update": {
                    "TableName": self.table,
                    "Key": _item({"invoice_key": key}),
                    "UpdateExpression": "SET #billed_by = :n",
                    "ConditionExpression": "attribute_exists(invoice_key) AND "
                                           "attribute_not_exists(#billed_by)",
                    "ExpressionAttributeNames": _names("billed_by"),
                    "ExpressionAttributeValues": _values(n=invoice.number),
                }
            })
        for key, values in remainders:
            items.append({
                "Put": {
                    "TableName": self.payments_table,
                    "Item": _item({**values, "record_key": key}),
                    "ConditionExpression": "attribute_not_exists(record_key)",
                }
            })
        pending = len(items)
        if usage_invoiced is not None:
            items += self._ledger_credit(usage_invoiced)
        try:
            with _errors(f"TransactWriteItems {self.table} (issue {invoice.number})"):
                self.client.transact_write_items(TransactItems=items)
        except Conflict as refused:
            cause = refused.__cause__
            codes = _cancellation_codes(cause) if isinstance(cause, ClientError) else []
            if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                return False  # the tenant's invoice of this period exists
            if any(code == "ConditionalCheckFailed" for code in codes[2:pending]):
                raise CreditTaken(
                    f"an invoice credit or one-time charge of {invoice.tenant} is no longer "
                    "pending"
                ) from refused
            raise CounterMoved(
                f"number {invoice.number} of {invoice.issuer} was taken first"
            ) from refused
        return True

    def _ledger_credit(self, credit: UsageInvoiced) -> list[dict[str, Any]]:
        """The ledger entry ``invoiced#<number>`` and the balance ``ADD``, exactly as
        ``DynamoUsageStore.credit`` writes a credit, so ledger sum == balance holds."""
        if not self.ledger_table or not self.balances_table:
            raise ValueError("a postpaid issue needs LEDGER_TABLE and BALANCES_TABLE")
        return [
            {
                "Put": {
                    "TableName": self.ledger_table,
                    "Item": _item({
                        "tenant": credit.tenant, "entry_id": credit.entry_id,
                        "kind": "invoiced", "amount": credit.amount,
                        "currency": credit.currency, "calls": 0, "breakouts_applied": True,
                        "invoice": credit.number, "period": credit.period,
                    }),
                    # the number is the invoice's (taken by the counter above): never twice
                    "ConditionExpression": "attribute_not_exists(#entry_id)",
                    "ExpressionAttributeNames": _names("entry_id"),
                }
            },
            {
                "Update": {
                    "TableName": self.balances_table,
                    "Key": _item({"tenant": credit.tenant}),
                    "UpdateExpression": "ADD #balance :amount",
                    "ExpressionAttributeNames": _names("balance"),
                    "ExpressionAttributeValues": _values(amount=credit.amount),
                }
            },
        ]

    # -- reads ---------------------------------------------------------------------------

    def get(self, tenant: str, period: str) -> StoredInvoice | None:
        with _errors(f"GetItem {self.table} (invoice)"):
            found = self.client.get_item(
                TableName=self.table, Key=_item({"invoice_key": invoice_key(tenant, period)}),
                ConsistentRead=True,
            ).get("Item")
        return _invoice(_plain(found)) if found else None

    def by_number(self, number: str) -> StoredInvoice | None:
        for item in _query(
            self.client, self.table, IndexName=BY_NUMBER_INDEX,
            KeyConditionExpression="#number = :number",
            ExpressionAttributeNames=_names("number"), ExpressionAttributeValues=_values(
                number=number),
        ):
            found = _plain(item)
            # the index is eventually consistent: the item itself is the truth
            return self.get(str(found["tenant"]), str(found["period"]))
        return None

    def of_tenant(self, tenant: str) -> list[StoredInvoice]:
        return [
            _invoice(values) for values in self._tenant_items(tenant)
            if str(values["invoice_key"]).startswith("invoice#")
        ]

    def _tenant_items(self, tenant: str) -> list[dict[str, Any]]:
        """Invoices and one-time charges of the tenant (both on ``by_tenant``)."""
        return [
            _plain(item) for item in _query(
                self.client, self.table, IndexName=BY_TENANT_INDEX,
                KeyConditionExpression="#tenant = :tenant",
                ExpressionAttributeNames=_names("tenant"),
                ExpressionAttributeValues=_values(tenant=tenant),
            )
        ]

    # -- one-time charges ----------------------------------------------------------------

    def add_charge(self, charge: PendingCharge) -> bool:
        try:
            with _errors(f"PutItem {self.table} (charge)"):
                self.client.put_item(
                    TableName=self.table,
                    Item=_item({
                        "invoice_key": charge.key, "tenant": charge.tenant,
                        "period": charge.period, "charge_id": charge.charge_id,
                        "description": charge.description, "unit_price": charge.unit_price,
                        "quantity": charge.quantity,
                    }),
                    ConditionExpression="attribute_not_exists(invoice_key)",
                )
        except Conflict:
            return False
        return True

    def charge(self, tenant: str, charge_id: str) -> PendingCharge | None:
        with _errors(f"GetItem {self.table} (charge)"):
            found = self.client.get_item(
                TableName=self.table,
                Key=_item({"invoice_key": f"charge#{tenant}#{charge_id}"}),
                ConsistentRead=True,
            ).get("Item")
        return _charge(_plain(found)) if found else None

    def pending_charges(self, tenant: str) -> list[PendingCharge]:
        listed = [
            _charge(values) for values in self._tenant_items(tenant)
            if str(values["invoice_key"]).startswith("charge#")
        ]
        # read each from the table: the index may lag behind a charge just billed
        found = [self.charge(c.tenant, c.charge_id) or c for c in listed]
        return [charge for charge in found if charge.billed_by is None]

    def all_invoices(self) -> list[StoredInvoice]:
        """Every invoice (the operator's listing), by tenant then period."""
        found = [_invoice(_plain(item)) for item in self._scan_invoices()]
        return sorted(found, key=lambda invoice: (invoice.tenant, invoice.period))

    def _scan_invoices(self) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(invoice_key, :prefix)",
            "ExpressionAttributeValues": _values(prefix="invoice#"),
        }
        while True:
            with _errors(f"Scan {self.table}"):
                page = self.client.scan(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def open_invoices(self, tenant: str) -> list[OpenInvoice]:
        """``shared.ports.OpenInvoices``: issued, not fully paid, oldest due first. Read
        consistently from the items (the index only names them)."""
        found = []
        for listed in self.of_tenant(tenant):
            invoice = self.get(listed.tenant, listed.period) or listed
            if invoice.status in OPEN_STATUSES and invoice.balance_due > 0:
                found.append(OpenInvoice(
                    number=invoice.number,
                    due_date=_date(invoice.due_date),
                    balance_due=invoice.balance_due,
                    currency=invoice.currency,
                ))
        return sorted(found, key=lambda item: (item.due_date, item.number))

    # -- settlement ----------------------------------------------------------------------

    def mark(self, tenant: str, period: str, values: Mapping[str, Any]) -> None:
        allowed = {"pdf_key", "emailed", "autopay"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"an issued invoice's {sorted(unknown)} never change")
        fields = [(name, _stored(name, value)) for name, value in values.items()]
        names = {f"#f{i}": name for i, (name, _) in enumerate(fields)}
        attribute_values = {f":f{i}": value for i, (_, value) in enumerate(fields)}
        with _errors(f"UpdateItem {self.table} (invoice {tenant} {period})"):
            self.client.update_item(
                TableName=self.table,
                Key=_item({"invoice_key": invoice_key(tenant, period)}),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression="attribute_exists(invoice_key)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_item(attribute_values),
            )

    def set_status(self, tenant: str, period: str, expected: str, status: str) -> bool:
        try:
            with _errors(f"UpdateItem {self.table} (status {tenant} {period})"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_item({"invoice_key": invoice_key(tenant, period)}),
                    UpdateExpression="SET #status = :status",
                    ConditionExpression="#status = :expected",
                    ExpressionAttributeNames=_names("status"),
                    ExpressionAttributeValues=_values(status=status, expected=expected),
                )
        except Conflict:
            return False
        return True

    def apply_payment(
        self, invoice: StoredInvoice, payment_id: str, amount: Decimal, status: str
    ) -> bool:
        try:
            with _errors(f"UpdateItem {self.table} (payment {invoice.number})"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_item({"invoice_key": invoice_key(invoice.tenant, invoice.period)}),
                    UpdateExpression=(
                        "SET #paid = :paid, #balance = :balance, #status = :status "
                        "ADD #payments :payment"
                    ),
                    ConditionExpression=(
                        "#paid = :before AND "
                        "(attribute_not_exists(#payments) OR NOT contains(#payments, :id))"
                    ),
                    ExpressionAttributeNames=_names("paid", "payments", "status") | {
                        "#balance": "balance_due"},
                    ExpressionAttributeValues=_values(
                        paid=invoice.paid + amount, balance=invoice.balance_due - amount,
                        status=status, before=invoice.paid, payment={payment_id}, id=payment_id,
                    ),
                )
        except Conflict:
            now = self.get(invoice.tenant, invoice.period)
            if now is not None and payment_id in now.payments:
                return False
            raise PaymentRaced(f"invoice {invoice.number} moved while paying it") from None
        return True

    def reverse_payment(
        self, invoice: StoredInvoice, refund_id: str, payment_id: str, amount: Decimal,
        status: str,
    ) -> bool:
        reversals = {**invoice.reversals, refund_id: (payment_id, amount)}
        try:
            with _errors(f"UpdateItem {self.table} (refund {invoice.number})"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_item({"invoice_key": invoice_key(invoice.tenant, invoice.period)}),
                    UpdateExpression=(
                        "SET #paid = :paid, #balance = :balance, #status = :status, "
                        "#reversals = :reversals"
                    ),
                    # paid unchanged since read: no other payment or refund came between, so
                    # the reversals read are the stored ones (this refund not among them)
                    ConditionExpression="#paid = :before",
                    ExpressionAttributeNames=_names("paid", "status", "reversals") | {
                        "#balance": "balance_due"},
                    ExpressionAttributeValues=_values(
                        paid=invoice.paid - amount, balance=invoice.balance_due + amount,
                        status=status, before=invoice.paid,
                        reversals=_reversals_json(reversals),
                    ),
                )
        except Conflict:
            now = self.get(invoice.tenant, invoice.period)
            if now is not None and refund_id in now.reversals:
                return False
            raise PaymentRaced(f"invoice {invoice.number} moved while refunding it") from None
        return True

    def allocation(self, payment_id: str) -> Allocation | None:
        with _errors(f"GetItem {self.table} (allocation)"):
            found = self.client.get_item(
                TableName=self.table, Key=_item({"invoice_key": f"allocation#{payment_id}"}),
                ConsistentRead=True,
            ).get("Item")
        if not found:
            return None
        values = _plain(found)
        return Allocation(
            payment_id=payment_id,
            tenant=str(values["payer"]),
            currency=str(values["currency"]),
            amount=Decimal(str(values["amount"])),
            parts=tuple((str(p), Decimal(a)) for p, a in json.loads(str(values["parts"]))),
            unallocated=Decimal(str(values["unallocated"])),
        )

    def save_allocation(self, allocation: Allocation) -> Allocation:
        try:
            with _errors(f"PutItem {self.table} (allocation)"):
                self.client.put_item(
                    TableName=self.table,
                    Item=_item({
                        "invoice_key": f"allocation#{allocation.payment_id}",
                        # not "tenant": allocations stay out of the by_tenant index
                        "payer": allocation.tenant,
                        "currency": allocation.currency,
                        "amount": allocation.amount,
                        "parts": json.dumps([[p, str(a)] for p, a in allocation.parts]),
                        "unallocated": allocation.unallocated,
                    }),
                    ConditionExpression="attribute_not_exists(invoice_key)",
                )
        except Conflict:
            stored = self.allocation(allocation.payment_id)
            if stored is None:  # pragma: no cover - the condition failed, so it exists
                raise
            return stored
        return allocation


def _reversals_json(reversals: Mapping[str, tuple[str, Decimal]]) -> str:
    return json.dumps({r: [p, str(a)] for r, (p, a) in reversals.items()}, sort_keys=True)


def _charge(values: Mapping[str, Any]) -> PendingCharge:
    return PendingCharge(
        tenant=str(values["tenant"]), charge_id=str(values["charge_id"]),
        period=str(values["period"]), description=str(values["description"]),
        unit_price=Decimal(values["unit_price"]), quantity=Decimal(values["quantity"]),
        billed_by=str(values["billed_by"]) if values.get("billed_by") else None,
    )


def _date(text: str) -> date:
    return date.fromisoformat(text)


def _stored(name: str, value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if name == "autopay" else value


def _values_of(invoice: StoredInvoice) -> dict[str, Any]:
    return {
        "invoice_key": invoice_key(invoice.tenant, invoice.period),
        "tenant": invoice.tenant,
        "period": invoice.period,
        "number": invoice.number,
        "issuer": invoice.issuer,
        "currency": invoice.currency,
        "status": invoice.status,
        "issued_ms": invoice.issued_ms,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "subtotal": invoice.subtotal,
        "tax": invoice.tax,
        "total": invoice.total,
        "paid": invoice.paid,
        "balance_due": invoice.balance_due,
        "document": json.dumps(invoice.document, sort_keys=True, default=str),
        "usage_billed": json.dumps(invoice.usage_billed, sort_keys=True, default=str),
        "credits": list(invoice.credits),
        "adjusted_entries": list(invoice.adjusted_entries),
        "pdf_key": invoice.pdf_key,
        "emailed": invoice.emailed,
        "autopay": json.dumps(dict(invoice.autopay), sort_keys=True, default=str),
        "payments": set(invoice.payments) or None,  # DynamoDB has no empty sets
        "reversals": _reversals_json(invoice.reversals),
    }


def _invoice(values: Mapping[str, Any]) -> StoredInvoice:
    return StoredInvoice(
        tenant=str(values["tenant"]),
        period=str(values["period"]),
        number=str(values["number"]),
        issuer=str(values["issuer"]),
        currency=str(values["currency"]),
        status=str(values["status"]),
        issued_ms=int(values["issued_ms"]),
        issue_date=str(values["issue_date"]),
        due_date=str(values["due_date"]),
        subtotal=Decimal(values["subtotal"]),
        tax=Decimal(values["tax"]),
        total=Decimal(values["total"]),
        paid=Decimal(values["paid"]),
        balance_due=Decimal(values["balance_due"]),
        document=json.loads(str(values.get("document") or "{}")),
        usage_billed=json.loads(str(values.get("usage_billed") or "{}")),
        credits=tuple(str(key) for key in values.get("credits") or ()),
        adjusted_entries=tuple(str(key) for key in values.get("adjusted_entries") or ()),
        pdf_key=str(values["pdf_key"]) if values.get("pdf_key") else None,
        emailed=bool(values.get("emailed", False)),
        autopay=json.loads(str(values.get("autopay") or "{}")),
        payments=frozenset(str(item) for item in values.get("payments") or ()),
        reversals={
            str(refund): (str(payment), Decimal(str(amount)))
            for refund, (payment, amount) in json.loads(
                str(values.get("reversals") or "{}")).items()
        },
    )


class S3InvoiceFiles:
    """``shared.services.invoicing.InvoiceFiles``: objects under ``invoices/`` of one bucket
    (PDFs and the call ids each invoice billed), encrypted at rest like every object."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        if not key.startswith("invoices/"):
            raise ValueError(f"invoice files live under invoices/, not {key!r}")
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
            ServerSideEncryption="AES256",
        )

    def get_bytes(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body


class DynamoRerateEntries:
    """``shared.services.invoicing.Adjustments``: the tenant's ``rerate#…`` ledger entries
    (written by ``shared.services.rerate``) with their period and difference."""

    def __init__(self, client: DynamoClient, ledger_table: str) -> None:
        self.client = client
        self.table = ledger_table

    def rerate_entries(self, tenant: str) -> list[dict[str, Any]]:
        return [
            _plain(item) for item in _query(
                self.client, self.table,
                KeyConditionExpression="#tenant = :tenant AND begins_with(#entry_id, :prefix)",
                ExpressionAttributeNames=_names("tenant", "entry_id"),
                ExpressionAttributeValues=_values(tenant=tenant, prefix="rerate#"),
                ConsistentRead=True,
            )
        ]
