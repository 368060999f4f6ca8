"""A card-keeping Stripe stand-in: customers, SetupIntents that attach the PaymentMethod
they are confirmed with, the customer's default card, detach. Like localstripe it ignores
Idempotency-Key (every create makes a new object)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.cards import SavedCard, SetupIntentRef
from tests.fakes.payments import FakeGateway

#: test PaymentMethods the fake knows, like Stripe's pm_card_* test tokens
TEST_CARDS: dict[str, tuple[str, str, int, int]] = {
    "pm_card_visa": ("visa", "4242", 12, 2034),
    "pm_card_mastercard": ("mastercard", "4444", 6, 2031),
    "pm_card_amex": ("amex", "8431", 1, 2030),
}


@dataclass
class FakeCardGateway(FakeGateway):
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    setup_intents: dict[str, SetupIntentRef] = field(default_factory=dict)
    #: payment method id → (customer, SavedCard without the default flag)
    attached: dict[str, tuple[str, SavedCard]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def create_customer(self, tenant: str, idempotency_key: str) -> str:
        customer = f"cus_fake_{len(self.customers) + 1}"
        self.customers[customer] = {"tenant": tenant, "default": None}
        self.calls.append(f"create_customer {tenant}")
        return customer

    def create_setup_intent(
        self, customer: str, metadata: Mapping[str, str], payment_method: str | None = None
    ) -> SetupIntentRef:
        if customer not in self.customers:
            raise LookupError(f"No such customer: {customer}")
        number = len(self.setup_intents) + 1
        status = "requires_payment_method"
        if payment_method is not None:
            brand, last4, month, year = TEST_CARDS[payment_method]
            attached_id = f"{payment_method}_{number}"  # Stripe clones a token per use
            self.attached[attached_id] = (
                customer, SavedCard(attached_id, brand, last4, month, year)
            )
            status, payment_method = "succeeded", attached_id
        setup = SetupIntentRef(f"seti_fake_{number}", status, f"seti_fake_{number}_secret_x",
                               payment_method)
        self.setup_intents[setup.id] = setup
        self.calls.append(f"create_setup_intent {customer}")
        return setup

    def list_cards(self, customer: str) -> list[SavedCard]:
        default = self.customers.get(customer, {}).get("default")
        return [
            SavedCard(card.payment_method, card.brand, card.last4, card.exp_month,
                      card.exp_year, card.payment_method == default)
            for owner, card in self.attached.values() if owner == customer
        ]

    def set_default_card(self, customer: str, payment_method: str) -> None:
        self.customers[customer]["default"] = payment_method
        self.calls.append(f"set_default_card {customer} {payment_method}")

    def detach_card(self, payment_method: str) -> None:
        customer, _ = self.attached.pop(payment_method)
        if self.customers[customer]["default"] == payment_method:
            self.customers[customer]["default"] = None
        self.calls.append(f"detach_card {payment_method}")
