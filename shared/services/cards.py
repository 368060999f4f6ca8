"""Card management (SPEC section 6): save a card with a SetupIntent, list, set default,
remove, all through the ``PaymentGateway`` port.

* The tenant's Stripe customer is found through our mapping (PaymentsTable
  ``stripe#<tenant>`` → customer, ``customer#<cus>`` → tenant), which wallet_recharge reads to
  charge off-session. A tenant without one gets a customer on its first save: created with an
  Idempotency-Key derived from the tenant, recorded with ``link`` (first writer wins), then
  read back, so two concurrent first saves both use the recorded customer. (Against a Stripe
  that ignores the key, the loser's customer is left empty and unused.)
* Default / remove act only on a card that the gateway lists for the tenant's own customer:
  a PaymentMethod id of another tenant is "no such card", never touched.
* Nothing here moves money; a SetupIntent's success arrives as ``setup_intent.succeeded`` /
  ``payment_method.attached`` at the webhook.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.cards import (
    SavedCard,
    SetupIntentRef,
    customer_idempotency_key,
    customer_key,
)
from shared.domain.errors import ValidationError
from shared.ports import CustomerRecords, PaymentGateway, TenantDirectory


@dataclass(frozen=True, slots=True)
class CardDeps:
    tenants: TenantDirectory
    records: CustomerRecords
    gateway: PaymentGateway


def _known(tenant: str, deps: CardDeps) -> None:
    if deps.tenants.get(tenant) is None:
        raise ValidationError(f"no tenant {tenant!r}")


def ensure_customer(tenant: str, deps: CardDeps) -> str:
    """The tenant's Stripe customer, created and recorded when it has none yet."""
    _known(tenant, deps)
    customer = deps.records.customer_of(tenant)
    if customer is not None:
        return customer
    created = deps.gateway.create_customer(tenant, customer_idempotency_key(tenant))
    deps.records.link(customer_key(tenant), tenant, {"customer": created})
    recorded = deps.records.customer_of(tenant) or created  # a concurrent save may have won
    deps.records.link(f"customer#{recorded}", tenant, {})
    return recorded


def save_card(
    tenant: str, deps: CardDeps, payment_method: str | None = None
) -> SetupIntentRef:
    """A SetupIntent for off-session use on the tenant's customer; confirmed at once when a
    PaymentMethod is given (tests, the local fake Stripe), else its client_secret is for
    Stripe.js in the tenant's browser. A card saved while the tenant has no default card
    becomes the default, so auto-recharge has a card to charge."""
    customer = ensure_customer(tenant, deps)
    setup: SetupIntentRef = deps.gateway.create_setup_intent(
        customer, {"tenant": tenant}, payment_method
    )
    if setup.status == "succeeded" and setup.payment_method:
        cards: list[SavedCard] = deps.gateway.list_cards(customer)
        if not any(card.default for card in cards):  # the first card is the one recharged
            deps.gateway.set_default_card(customer, setup.payment_method)
    return setup


def list_cards(tenant: str, deps: CardDeps) -> list[SavedCard]:
    """The tenant's saved cards, default first; empty when it has no Stripe customer yet."""
    _known(tenant, deps)
    customer = deps.records.customer_of(tenant)
    if customer is None:
        return []
    cards: list[SavedCard] = deps.gateway.list_cards(customer)
    return sorted(cards, key=lambda card: (not card.default, card.payment_method))


def _owned(tenant: str, payment_method: str, deps: CardDeps) -> tuple[str, SavedCard]:
    _known(tenant, deps)
    customer = deps.records.customer_of(tenant)
    cards: list[SavedCard] = deps.gateway.list_cards(customer) if customer else []
    for card in cards:
        if card.payment_method == payment_method:
            assert customer is not None
            return customer, card
    raise ValidationError(f"tenant {tenant!r} has no saved card {payment_method!r}")


def set_default(tenant: str, payment_method: str, deps: CardDeps) -> SavedCard:
    """Make one of the tenant's cards the one auto-recharge charges."""
    customer, card = _owned(tenant, payment_method, deps)
    if not card.default:
        deps.gateway.set_default_card(customer, payment_method)
    return card


def remove_card(tenant: str, payment_method: str, deps: CardDeps) -> SavedCard:
    """Detach one of the tenant's cards (Stripe clears the default when it was the default)."""
    _customer, card = _owned(tenant, payment_method, deps)
    deps.gateway.detach_card(payment_method)
    return card
