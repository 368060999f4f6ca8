"""Stripe PaymentIntents for wallet_recharge (``shared.ports.PaymentGateway``).

``api_base`` is configurable so tests and the local stack point the client at a fake Stripe
server on 127.0.0.1 (localstripe); the API key comes from SSM like the webhook secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

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
        account: Any = self._client.v1.customers.retrieve(customer)
        settings = account.get("invoice_settings") or {}
        default = settings.get("default_payment_method")
        method = default if isinstance(default, str) else getattr(default, "id", None)
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
                intent_id = str(failed.get("id", ""))
            status = "authentication_required" if code == "authentication_required" else "declined"
            return Charge(intent_id, status, amount_minor, currency,
                          getattr(error.error, "decline_code", None) if error.error else None)
        return _charge(intent)

    def retrieve(self, intent_id: str) -> Charge:
        return _charge(self._client.v1.payment_intents.retrieve(intent_id))


def _charge(intent: Any) -> Charge:
    status = str(intent.status)
    mapped = {
        "succeeded": "succeeded",
        "processing": "processing",
        "requires_action": "authentication_required",
        "requires_payment_method": "declined",
    }.get(status, "processing")
    error = intent.get("last_payment_error") or {}
    return Charge(str(intent.id), mapped, int(intent.get("amount_received") or 0),
                  str(intent.currency), error.get("decline_code"))
