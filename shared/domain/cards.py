"""Saved cards (Stripe PaymentMethods of the tenant's Stripe customer), as the gateway
reports them: never a card number, only what a person needs to recognise the card."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SavedCard:
    payment_method: str  # pm_...
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    default: bool = False

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year}"


@dataclass(frozen=True, slots=True)
class SetupIntentRef:
    """A SetupIntent that saves a card for off-session use. ``client_secret`` goes to the
    tenant's browser (Stripe.js confirms it); it is never logged."""

    id: str  # seti_...
    status: str
    client_secret: str = ""
    payment_method: str | None = None


def customer_key(tenant: str) -> str:
    """The PaymentsTable record of a tenant's Stripe customer (read by wallet_recharge)."""
    return f"stripe#{tenant}"


def customer_idempotency_key(tenant: str) -> str:
    """Stripe Idempotency-Key for creating a tenant's customer: two concurrent first saves
    get the same customer back from Stripe (our mapping record keeps the first either way)."""
    return f"customer-{tenant}"
