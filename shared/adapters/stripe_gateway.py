"""Stripe PaymentIntents for wallet_recharge (``shared.ports.PaymentGateway``).

``api_base`` is configurable so tests and the local stack point the client at a fake Stripe
server on 127.0.0.1 (localstripe); the API key comes from SSM like the webhook secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from shared.domain.cards import SavedCard, SetupIntentRef
from shared.domain.payments import Charge


class StripeGateway:
    def __init__(self, api_key: str, api_base: str | None = None) -> None:
        options: dict[str, Any] = {}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self._client = stripe.StripeClient(api_key, **options)

    def __repr__(self) -> str:  # never show the key
        return "StripeGateway(<key hidden>)"

    def charge_off_session(
        self, customer: str, amount_minor: int, currency: str, idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Charge:
        # the tenant's default card: the customer's invoice_settings.default_payment_method
        method = self._default_card(customer)
        params: Any = {
            "amount": amount_minor, "currency": currency, "customer": customer,
            "off_session": True, "confirm": True, "metadata": dict(metadata),
            **({"payment_method": method} if method else {}),
        }
        try:
            intent = self._client.v1.payment_intents.create(
                params=params,
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as error:
            code = getattr(error, "code", None)
            intent_id = ""
            failed: Any = getattr(getattr(error, "error", None), "payment_intent", None)
            if failed is not None:
                intent_id = str(_field(failed, "id") or "")
            status = "authentication_required" if code == "authentication_required" else "declined"
            return Charge(intent_id, status, amount_minor, currency,
                          getattr(error.error, "decline_code", None) if error.error else None)
        return _charge(intent)

    def retrieve(self, intent_id: str) -> Charge:
        return _charge(self._client.v1.payment_intents.retrieve(intent_id))

    def find_charge(self, customer: str, trigger: str) -> Charge | None:
        # a list, not the search API: search is eventually consistent (up to a minute)
        params: Any = {"customer": customer, "limit": 100}
        for intent in self._client.v1.payment_intents.list(params=params).data:
            if _field(_field(intent, "metadata"), "trigger") == trigger:
                return _charge(intent)
        return None

    def _default_card(self, customer: str) -> str | None:
        account: Any = self._client.v1.customers.retrieve(customer)
        return _id(_field(_field(account, "invoice_settings"), "default_payment_method"))

    # -- cards (shared.services.cards) ---------------------------------------------------

    def create_customer(self, tenant: str, idempotency_key: str) -> str:
        params: Any = {"metadata": {"tenant": tenant}, "description": f"tenant {tenant}"}
        customer = self._client.v1.customers.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
        return str(customer.id)

    def create_setup_intent(
        self, customer: str, metadata: Mapping[str, str], payment_method: str | None = None
    ) -> SetupIntentRef:
        params: Any = {
            "customer": customer, "usage": "off_session", "metadata": dict(metadata),
            "payment_method_types": ["card"],
        }
        setup = self._client.v1.setup_intents.create(params=params)
        if payment_method:
            # create, then confirm: localstripe takes no payment_method on create
            confirm: Any = {"payment_method": payment_method}
            setup = self._client.v1.setup_intents.confirm(setup.id, params=confirm)
            method = _id(_field(setup, "payment_method")) or payment_method
            found = self._client.v1.payment_methods.retrieve(method)
            if _field(found, "customer") is None:  # Stripe attaches on confirm; localstripe not
                attach: Any = {"customer": customer}
                self._client.v1.payment_methods.attach(method, params=attach)
        return SetupIntentRef(
            str(setup.id), str(setup.status), str(_field(setup, "client_secret") or ""),
            _id(_field(setup, "payment_method")),
        )

    def list_cards(self, customer: str) -> list[SavedCard]:
        default_id = self._default_card(customer)
        params: Any = {"customer": customer, "type": "card", "limit": 100}
        methods = self._client.v1.payment_methods.list(params=params)
        cards = []
        for method in methods.data:
            card = _field(method, "card")
            cards.append(SavedCard(
                str(method.id), str(_field(card, "brand") or ""), str(_field(card, "last4") or ""),
                int(_field(card, "exp_month") or 0), int(_field(card, "exp_year") or 0),
                method.id == default_id,
            ))
        return cards

    def set_default_card(self, customer: str, payment_method: str) -> None:
        params: Any = {"invoice_settings": {"default_payment_method": payment_method}}
        self._client.v1.customers.update(customer, params=params)

    def detach_card(self, payment_method: str) -> None:
        self._client.v1.payment_methods.detach(payment_method)


def _field(obj: Any, name: str) -> Any:
    """A field of a StripeObject (not a dict since stripe 13: no ``.get``) or dict, or None."""
    if obj is None:
        return None
    try:
        return obj[name]
    except (KeyError, TypeError, IndexError):
        return None


def _id(value: Any) -> str | None:
    """An id field: the id string, or an expanded object's id."""
    if isinstance(value, str):
        return value or None
    found = _field(value, "id")
    return str(found) if found else None


def _charge(intent: Any) -> Charge:
    status = str(intent.status)
    mapped = {
        "succeeded": "succeeded",
        "processing": "processing",
        "requires_action": "authentication_required",
        "requires_payment_method": "declined",
    }.get(status, "processing")
    error = _field(intent, "last_payment_error")
    return Charge(str(intent.id), mapped, int(_field(intent, "amount_received") or 0),
                  str(intent.currency), _field(error, "decline_code"))
