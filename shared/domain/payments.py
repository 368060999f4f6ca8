"""Payments: what a Stripe webhook event means for the wallet, as pure rules.

Stripe delivers events at least once and in any order. Two rules make that harmless:

* money moves only through ledger entries whose ids come from Stripe's own object ids
  (``topup#<payment intent>``, ``refund#<refund>``), so a repeated event finds its entry
  already written and changes nothing;
* every other record (a payment intent's status, a dispute, a payment method) only moves
  *forward*: each status has a rank and a write with a lower rank than the stored one is
  refused, so a late ``payment_failed`` after ``succeeded`` leaves ``succeeded``.

Amounts arrive as integer minor units; :func:`shared.domain.money.from_minor_units` turns
them into exact Decimals with the currency's ISO 4217 exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.domain.errors import BillingError, ValidationError
from shared.domain.money import from_minor_units, validate_currency


class InvalidWebhook(BillingError):
    """The request is not a genuine, well-formed Stripe event: answered 400, nothing changed.

    The message says what was wrong (no header, bad signature, expired, not JSON, not an
    event) and never carries the body or the signature."""


class PayloadTooLarge(InvalidWebhook):
    """The body is over the size limit (Stripe events are a few KB): answered 413."""


#: payment intent statuses by rank; a record never moves to a lower rank. Failed and
#: requires_action share a rank (a customer may fail, authenticate, fail again, then pay),
#: between those two the later event wins; succeeded is final.
PAYMENT_RANKS: dict[str, int] = {
    "requires_action": 1,
    "failed": 1,
    "succeeded": 2,
}
#: a dispute is opened, then closed (won, lost or warning_closed)
DISPUTE_RANKS: dict[str, int] = {"open": 1, "closed": 2}
#: a detached payment method cannot be attached again (Stripe refuses to reuse it)
PAYMENT_METHOD_RANKS: dict[str, int] = {"attached": 1, "detached": 2}
FINAL_RANK = 2


def may_advance(
    stored_rank: int | None, stored_created: int | None, rank: int, created: int
) -> bool:
    """Whether a record at (stored_rank, stored_created) may take a state of (rank, created).

    Forward only: a higher rank always wins; the same non-final rank wins when it is not
    older than the stored one; a final state never changes."""
    if stored_rank is None:
        return True
    if rank > stored_rank:
        return True
    return rank == stored_rank < FINAL_RANK and created >= (stored_created or 0)


@dataclass(frozen=True, slots=True)
class StripeEvent:
    """The envelope fields the router needs; ``obj`` is ``data.object`` as sent."""

    id: str
    type: str
    created: int
    livemode: bool
    obj: dict[str, Any]


def parse_event(document: Any) -> StripeEvent:
    """A decoded JSON body as a Stripe event, or InvalidWebhook naming the field."""
    if not isinstance(document, dict):
        raise InvalidWebhook("the body is not a JSON object")
    if document.get("object") != "event":
        raise InvalidWebhook("the body is not a Stripe event (object != 'event')")
    event_id, event_type = document.get("id"), document.get("type")
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        raise InvalidWebhook("the event has no 'id' starting with 'evt_'")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidWebhook("the event has no 'type'")
    created = document.get("created")
    if isinstance(created, bool) or not isinstance(created, int):
        raise InvalidWebhook("the event has no integer 'created'")
    data = document.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise InvalidWebhook("the event has no 'data.object' with an 'id'")
    return StripeEvent(
        id=event_id,
        type=event_type,
        created=created,
        livemode=bool(document.get("livemode", False)),
        obj=obj,
    )


def stripe_amount(obj: dict[str, Any], field: str) -> tuple[Decimal, str]:
    """(exact amount, upper-case currency) of a Stripe object's minor-unit ``field``."""
    currency = obj.get("currency")
    if not isinstance(currency, str):
        raise ValidationError(f"{obj.get('object')} {obj.get('id')}: no currency")
    code = validate_currency(currency.upper())
    units = obj.get(field)
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise ValidationError(f"{obj.get('object')} {obj.get('id')}: {field} is not a count")
    return from_minor_units(units, code), code


def metadata_tenant(obj: dict[str, Any]) -> str | None:
    """The tenant our own code wrote into ``metadata.tenant`` when it created the object."""
    metadata = obj.get("metadata")
    tenant = metadata.get("tenant") if isinstance(metadata, dict) else None
    return tenant if isinstance(tenant, str) and tenant else None


def topup_entry_id(payment_intent: str) -> str:
    return f"topup#{payment_intent}"


def refund_entry_id(refund: str) -> str:
    return f"refund#{refund}"


@dataclass(frozen=True, slots=True)
class Charge:
    """One PaymentIntent as the gateway reports it (a verified API read)."""

    intent_id: str
    #: succeeded | processing | requires_action | declined | authentication_required
    status: str
    amount_minor: int = 0
    currency: str = ""
    decline_code: str | None = None


#: after the n-th consecutive decline, wait this long before the next automatic try
DECLINE_BACKOFF_SECONDS = (3600, 6 * 3600, 24 * 3600)
#: an authentication_required never retries blindly: the tenant must act (new card, 3DS)
AUTHENTICATION_HOLD_SECONDS = 7 * 24 * 3600


def decline_backoff(declines: int) -> int:
    """Seconds to wait after ``declines`` consecutive declines (1 → 1 h, 2 → 6 h, then 24 h)."""
    return DECLINE_BACKOFF_SECONDS[min(max(declines, 1), len(DECLINE_BACKOFF_SECONDS)) - 1]


def recharge_key(tenant: str, trigger: str) -> str:
    """The Stripe Idempotency-Key of one recharge: derived from its trigger, so a retried
    Lambda sends the same key (Stripe answers the first PaymentIntent again)."""
    return f"recharge-{tenant}-{trigger}"
