"""Refunds as a credit on the next invoice (exactly once per id) and the payment history,
with the in-memory records that enforce the DynamoDB adapter's conditions."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from shared.domain.errors import ValidationError
from shared.domain.tenants import TenantSettings
from shared.services.invoice_credits import (
    issue_invoice_credit,
    payment_history,
    pending_invoice_credits,
)
from tests.fakes.payments import MemoryPaymentRecords


@dataclass
class Tenants:
    known: dict[str, TenantSettings] = field(default_factory=lambda: {
        "acme": TenantSettings(tenant_id="acme", card="c", currency="EUR"),
        "yen": TenantSettings(tenant_id="yen", card="c", currency="JPY"),
    })

    def get(self, tenant: str) -> TenantSettings | None:
        return self.known.get(tenant)


def test_a_credit_issued_twice_with_the_same_id_is_one_pending_credit() -> None:
    records, tenants = MemoryPaymentRecords(), Tenants()

    first = issue_invoice_credit("acme", "cn-1", "12.50", "outage", records, tenants, 1000)
    again = issue_invoice_credit("acme", "cn-1", "12.50", "outage", records, tenants, 2000)

    assert (first.created, again.created) == (True, False)
    assert again.credit == first.credit
    (pending,) = pending_invoice_credits("acme", records)
    assert (pending.credit_id, pending.amount, pending.currency, pending.status) == (
        "cn-1", Decimal("12.50"), "EUR", "pending"
    )
    assert pending.created == 1000


def test_the_same_id_with_another_amount_is_refused_and_changes_nothing() -> None:
    records, tenants = MemoryPaymentRecords(), Tenants()
    issue_invoice_credit("acme", "cn-2", "5.00", "goodwill", records, tenants, 1000)

    with pytest.raises(ValidationError, match=r"already issued for 5\.00 EUR"):
        issue_invoice_credit("acme", "cn-2", "6.00", "goodwill", records, tenants, 1001)

    assert [c.amount for c in pending_invoice_credits("acme", records)] == [Decimal("5.00")]


def test_credits_are_per_tenant_and_the_same_id_may_serve_two_tenants() -> None:
    records, tenants = MemoryPaymentRecords(), Tenants()
    issue_invoice_credit("acme", "cn-3", "1.00", "r", records, tenants, 1)
    issue_invoice_credit("yen", "cn-3", "100", "r", records, tenants, 2)

    assert [c.amount for c in pending_invoice_credits("acme", records)] == [Decimal("1.00")]
    assert [c.amount for c in pending_invoice_credits("yen", records)] == [Decimal("100")]


@pytest.mark.parametrize(
    ("tenant", "credit_id", "amount", "reason", "message"),
    [
        ("nobody", "cn", "1.00", "r", "no tenant"),
        ("acme", "", "1.00", "r", "--id"),
        ("acme", "a b", "1.00", "r", "--id"),
        ("acme", "cn", "abc", "r", "--amount"),
        ("acme", "cn", "-1", "r", "positive"),
        ("acme", "cn", "0", "r", "positive"),
        ("acme", "cn", "NaN", "r", "positive"),
        ("acme", "cn", "1.001", "r", "decimal places"),
        ("yen", "cn", "1.5", "r", "decimal places"),
        # beyond what Decimal's 28 digits can quantize (was InvalidOperation, exit 3)
        ("acme", "cn", "1e400", "r", "at most 999999999"),
        ("acme", "cn", "1000000000", "r", "at most 999999999"),
        ("acme", "cn", "1.00", " ", "--reason"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    tenant: str, credit_id: str, amount: str, reason: str, message: str
) -> None:
    records = MemoryPaymentRecords()

    with pytest.raises(ValidationError, match=message):
        issue_invoice_credit(tenant, credit_id, amount, reason, records, Tenants(), 1)

    assert records.items == {}


def test_the_history_lists_succeeded_failed_refunded_and_credits_oldest_first() -> None:
    records = MemoryPaymentRecords()
    records.advance("payment_intent#pi_1", 2, 100, "acme",
                    {"status": "succeeded", "amount": Decimal("20.00"), "currency": "EUR"})
    records.advance("payment_intent#pi_2", 1, 200, "acme",
                    {"status": "failed", "amount": Decimal("20.00"), "currency": "EUR",
                     "decline_code": "insufficient_funds"})
    records.advance("refund#re_1", 2, 300, "acme",
                    {"status": "succeeded", "amount": Decimal("5.00"), "currency": "EUR",
                     "charge": "ch_1"})
    records.advance("payment_intent#pi_other", 2, 150, "globex",
                    {"status": "succeeded", "amount": Decimal("1.00"), "currency": "EUR"})
    records.link("charge#ch_1", "acme", {"payment_intent": "pi_1"})
    issue_invoice_credit("acme", "cn-9", "2.00", "outage", records, Tenants(), 400)

    history = payment_history("acme", records)

    assert [(e.created, e.status, e.reference, e.amount, e.detail) for e in history] == [
        (100, "Succeeded", "pi_1", Decimal("20.00"), ""),
        (200, "Failed", "pi_2", Decimal("20.00"), "insufficient_funds"),
        (300, "Refunded", "re_1", Decimal("5.00"), "ch_1"),
        (400, "Credit for next invoice", "cn-9", Decimal("2.00"), "outage"),
    ]
