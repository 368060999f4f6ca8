"""In-memory payment records and wallet that enforce the DynamoDB adapters' conditions, and
signed Stripe webhook payloads built from Stripe's published fixtures.

``MemoryPaymentRecords.advance`` applies ``may_advance`` exactly as the conditional
``UpdateItem`` of ``DynamoPaymentRecords`` does; ``MemoryWallet.credit`` refuses an entry id
it already holds, as the ledger's ``attribute_not_exists`` condition does.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.domain.payments import may_advance

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "fixtures.json"
TEST_SECRET = "whsec_test_0123456789abcdefghijklmnop"  # a test secret, valid nowhere


@dataclass
class MemoryPaymentRecords:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def event_seen(self, event_id: str) -> bool:
        return f"event#{event_id}" in self.items

    def mark_event(self, event_id: str, event_type: str, created: int) -> None:
        self.items.setdefault(f"event#{event_id}", {"event_type": event_type, "created": created})

    def get(self, key: str) -> dict[str, Any] | None:
        found = self.items.get(key)
        return copy.deepcopy(found) if found is not None else None

    def advance(
        self, key: str, rank: int, created: int, tenant: str | None, values: Mapping[str, Any]
    ) -> bool:
        item = self.items.get(key, {})
        if not may_advance(item.get("rank"), item.get("created"), rank, created):
            return False
        updated = {**item, **{k: v for k, v in values.items() if v is not None}}
        updated |= {"rank": rank, "created": created}
        if tenant is not None:
            updated.setdefault("tenant", tenant)
        self.items[key] = updated
        return True

    def create(self, key: str, tenant: str | None, values: Mapping[str, Any]) -> bool:
        if key in self.items:
            return False
        item = {k: v for k, v in values.items() if v is not None}
        self.items[key] = {**item, "record_key": key} | (
            {"tenant": tenant} if tenant is not None else {}
        )
        return True

    def by_tenant(self, tenant: str) -> list[dict[str, Any]]:
        """As the sparse ``by_tenant`` index: records with this tenant and a created time."""
        found = [
            {**copy.deepcopy(item), "record_key": key} for key, item in self.items.items()
            if item.get("tenant") == tenant and item.get("created") is not None
        ]
        return sorted(found, key=lambda item: item["created"])

    def link(self, key: str, tenant: str, values: Mapping[str, Any]) -> None:
        item = self.items.setdefault(key, {})
        for name, value in values.items():
            if value is not None:
                item.setdefault(name, value)
        item.setdefault("tenant", tenant)

    def flag_dispute(self, tenant: str, dispute_id: str, is_open: bool) -> None:
        disputes = self.items.setdefault(f"account#{tenant}", {}).setdefault(
            "open_disputes", set()
        )
        (disputes.add if is_open else disputes.discard)(dispute_id)

    def open_disputes(self, tenant: str) -> set[str]:
        return set(self.items.get(f"account#{tenant}", {}).get("open_disputes", set()))


@dataclass
class MemoryWallet:
    entries: dict[tuple[str, str], tuple[Decimal, str]] = field(default_factory=dict)

    def credit(self, tenant: str, entry_id: str, amount: Decimal, currency: str) -> bool:
        if (tenant, entry_id) in self.entries:
            return False
        self.entries[(tenant, entry_id)] = (amount, currency)
        return True

    def balance(self, tenant: str) -> Decimal:
        return sum(
            (amount for (owner, _), (amount, _) in self.entries.items() if owner == tenant),
            Decimal(0),
        )


# ------------------------------------------------------------------------------ payloads


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of one of Stripe's published example objects."""
    objects: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))
    return copy.deepcopy(objects[name])


def event(event_type: str, obj: dict[str, Any], event_id: str, created: int = 0) -> bytes:
    """A Stripe event envelope (the fixture's) around ``obj``, as the bytes Stripe sends."""
    envelope = fixture("event")
    envelope.update(
        id=event_id, type=event_type, created=created or int(time.time()), data={"object": obj}
    )
    return json.dumps(envelope).encode("utf-8")


def sign(payload: bytes, secret: str = TEST_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header as Stripe computes it (HMAC-SHA256 of ``t.body``)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def payment_intent(
    pi_id: str, tenant: str, amount: int, currency: str = "eur", status: str = "succeeded",
    charge: str | None = None, customer: str | None = None,
) -> dict[str, Any]:
    intent = fixture("payment_intent")
    intent.update(
        id=pi_id, amount=amount, amount_received=amount if status == "succeeded" else 0,
        currency=currency, status=status, metadata={"tenant": tenant},
        latest_charge=charge, customer=customer, last_payment_error=None, next_action=None,
    )
    if status == "requires_payment_method":
        intent["last_payment_error"] = {
            "code": "card_declined", "decline_code": "insufficient_funds", "type": "card_error"
        }
    return intent


def refunded_charge(
    charge_id: str, pi_id: str, refunds: list[tuple[str, int]], currency: str = "eur"
) -> dict[str, Any]:
    charge = fixture("charge")
    refund_objects = []
    for refund_id, amount in refunds:
        refund = fixture("refund")
        refund.update(id=refund_id, amount=amount, charge=charge_id, payment_intent=pi_id,
                      currency=currency, status="succeeded")
        refund_objects.append(refund)
    charge.update(
        id=charge_id, payment_intent=pi_id, currency=currency, refunded=True,
        amount_refunded=sum(amount for _, amount in refunds),
        refunds={"object": "list", "data": refund_objects, "has_more": False,
                 "url": f"/v1/charges/{charge_id}/refunds"},
    )
    return charge


@dataclass
class MemoryRechargeRecords(MemoryPaymentRecords):
    """Adds the recharge slot with ``DynamoPaymentRecords.claim``'s condition."""

    def customer_of(self, tenant: str) -> str | None:
        return self.items.get(f"stripe#{tenant}", {}).get("customer")

    def slot(self, tenant: str) -> dict[str, Any] | None:
        found = self.items.get(f"recharge#{tenant}")
        return None if found is None else copy.deepcopy(found)

    def claim(self, tenant: str, trigger: str, now: int) -> dict[str, Any] | None:
        key = f"recharge#{tenant}"
        slot = self.items.get(key)
        if slot is None or (
            slot["state"] == "done" and slot.get("retry_after", 0) <= now
            and slot["trigger"] != trigger
        ):
            kept = {k: v for k, v in (slot or {}).items() if k not in {"intent_id", "outcome"}}
            self.items[key] = kept | {"trigger": trigger, "state": "pending", "claimed_at": now}
        found = self.items[key]
        return copy.deepcopy(found) if found["trigger"] == trigger else None

    def settle(self, tenant: str, trigger: str, values: Mapping[str, Any]) -> None:
        slot = self.items[f"recharge#{tenant}"]
        if slot["trigger"] != trigger:
            raise RuntimeError("conditional check failed: the slot belongs to another trigger")
        slot.update({k: v for k, v in values.items() if v is not None})


@dataclass
class FakeGateway:
    """A Stripe stand-in that, like localstripe, ignores Idempotency-Key: every call creates a
    new PaymentIntent, so only our own record can prevent a double charge."""

    outcome: str = "succeeded"
    decline_code: str | None = None
    intents: dict[str, Any] = field(default_factory=dict)
    fail_after_create: bool = False
    #: (customer, metadata.trigger) -> intent id, what ``find_charge`` lists
    created_for: dict[tuple[str, str], str] = field(default_factory=dict)

    def charge_off_session(
        self, customer: str, amount_minor: int, currency: str, idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Any:
        from shared.domain.payments import Charge

        intent = Charge(f"pi_fake_{len(self.intents) + 1}", self.outcome, amount_minor,
                        currency, self.decline_code)
        self.intents[intent.intent_id] = intent
        self.created_for[(customer, metadata.get("trigger", ""))] = intent.intent_id
        if self.fail_after_create:
            self.fail_after_create = False
            raise ConnectionError("injected: the answer was lost after Stripe created it")
        return intent

    def retrieve(self, intent_id: str) -> Any:
        return self.intents[intent_id]

    def find_charge(self, customer: str, trigger: str) -> Any:
        found = self.created_for.get((customer, trigger))
        return None if found is None else self.intents[found]


@dataclass
class RecordingNotifier:
    sent: list[tuple[str, str]] = field(default_factory=list)

    def notify(self, tenant: str, kind: str, detail: Mapping[str, str]) -> None:
        self.sent.append((tenant, kind))


def balance_transaction(
    txn_id: str, amount: int, fee: int, currency: str = "eur", kind: str = "charge",
    fee_type: str = "stripe_fee",
) -> dict[str, Any]:
    """An expanded balance transaction in Stripe's documented shape (the fixtures carry only
    its id): ``fee`` and ``fee_details`` in minor units, ``net`` = amount - fee."""
    return {
        "id": txn_id, "object": "balance_transaction", "amount": amount, "currency": currency,
        "fee": fee, "net": amount - fee, "type": kind, "status": "pending",
        "fee_details": [{"amount": fee, "application": None, "currency": currency,
                         "description": "Stripe processing fees", "type": fee_type}],
    }
