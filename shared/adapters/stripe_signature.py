"""Stripe webhook signatures (``Stripe-Signature: t=...,v1=...``), checked by the stripe library.

HMAC-SHA256 of ``"<t>.<raw body>"`` with the endpoint's signing secret, compared in constant
time; a timestamp older than the tolerance (300 s) is refused, so a captured request cannot
be replayed later. Several secrets may be given while a secret is being rolled in the Stripe
dashboard (both are valid for up to 24 hours). Neither the secret nor the body is ever logged
or put in an error message.
"""

from __future__ import annotations

import stripe

from shared.domain.payments import InvalidWebhook

DEFAULT_TOLERANCE_SECONDS = 300


class StripeSignatureVerifier:
    """``shared.ports.WebhookVerifier`` with Stripe's scheme."""

    def __init__(
        self, secrets: tuple[str, ...], tolerance: int = DEFAULT_TOLERANCE_SECONDS
    ) -> None:
        usable = tuple(secret for secret in secrets if secret and secret.strip())
        if not usable:
            raise ValueError("no webhook signing secret configured")
        self._secrets = usable
        self._tolerance = tolerance

    def __repr__(self) -> str:  # never show the secrets
        return f"StripeSignatureVerifier(secrets=<{len(self._secrets)} hidden>)"

    def verify(self, payload: bytes, signature: str | None) -> None:
        if not signature:
            raise InvalidWebhook("no Stripe-Signature header")
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWebhook("the body is not UTF-8 text") from None
        reason = "the signature does not match"
        for secret in self._secrets:
            try:
                stripe.WebhookSignature.verify_header(
                    payload, signature, secret, tolerance=self._tolerance
                )
                return
            except stripe.SignatureVerificationError as error:
                if "tolerance" in str(error):
                    reason = f"the signature is older than {self._tolerance} s"
                elif "extract" in str(error) or "expected scheme" in str(error):
                    reason = "the Stripe-Signature header is malformed"
        raise InvalidWebhook(reason)
