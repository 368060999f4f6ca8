"""Stripe webhooks into the wallet: verify, dedupe, route, move state forward only.

Steps for one request (SPEC section 6):

1. size limit on the (possibly base64) body, then the signature on the RAW bytes
   (``WebhookVerifier``); any failure raises ``InvalidWebhook`` before anything is read or
   written, and the handler answers 400 (413 for size);
2. the body must be a JSON Stripe event (``parse_event``); else 400, nothing written;
3. an event id already processed is answered 200 at once (dedupe by event id);
4. the event is routed by type; every effect is idempotent on its own (ledger entries keyed
   by Stripe object ids, records that only move forward), so a crash between the effect and
   step 5 is repaired by Stripe's redelivery;
5. the event id is recorded as processed.

Money moves only on a verified event: ``payment_intent.succeeded`` credits
``topup#<payment intent>`` with ``amount_received``; a succeeded refund of a top-up debits
``refund#<refund>``. An invoice payment (metadata ``purpose`` invoice_payment) is never
wallet money: its success settles invoices, and a succeeded refund of it takes the amount
back off those invoices (``shared.services.invoice_payments.reverse_refund``), once per
refund id, with no ledger entry. Events for a tenant we do not know, or in another currency than the
tenant's wallet, are recorded as ``unmatched`` and change no balance.

Stripe's processing fee of a charge and a dispute's fee are the operator's costs (margin),
never the tenant's: when an event carries the expanded balance transaction (``fee`` in minor
units), the record ``fee#<balance transaction>`` is created once in PaymentsTable and no
ledger entry is written. ``charge.dispute.created`` also writes the dispute's evidence pack
once (``shared.services.dispute_evidence``) when ``WebhookDeps.evidence`` is given.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.errors import BillingError, ValidationError
from shared.domain.payments import (
    DISPUTE_RANKS,
    FINAL_RANK,
    PAYMENT_METHOD_RANKS,
    PAYMENT_RANKS,
    InvalidWebhook,
    PayloadTooLarge,
    StripeEvent,
    metadata_tenant,
    parse_event,
    refund_entry_id,
    stripe_amount,
    topup_entry_id,
)
from shared.ports import PaymentRecords, TenantDirectory, WalletCredits, WebhookVerifier
from shared.services.dispute_evidence import EvidenceDeps, write_evidence_once
from shared.services.invoice_payments import (
    AppliedPayment,
    ReversedRefund,
    is_invoice_payment,
)

#: Stripe events are a few KB; anything this large is not one of them
DEFAULT_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class WebhookDeps:
    verifier: WebhookVerifier
    records: PaymentRecords
    wallet: WalletCredits
    tenants: TenantDirectory
    #: where ``charge.dispute.created`` writes the evidence pack; None: no pack is built
    evidence: EvidenceDeps | None = None
    #: called with the tenant after a successful payment is recorded (and its invoices
    #: marked paid): restores a suspended account in the same request
    #: (``shared.services.suspension.restore_if_settled``); None: no restore here
    restore: Callable[[str], object] | None = None
    #: applies a succeeded invoice payment (``metadata.purpose`` invoice_payment) to the
    #: tenant's invoices (``shared.services.invoice_payments.apply_payment``): tenant,
    #: intent id, amount, currency, the invoice it names; None: every payment is a top-up
    invoices: Callable[[str, str, Decimal, str, str | None], AppliedPayment] | None = None
    #: takes a succeeded refund of an invoice payment back off the invoices it paid
    #: (``shared.services.invoice_payments.reverse_refund``): tenant, payment intent id,
    #: refund id, amount, currency, the refund's day; None when the payment was never
    #: applied to invoices. None here: every refund is a wallet debit
    refund_invoices: Callable[
        [str, str, str, Decimal, str, date], ReversedRefund | None] | None = None


class RefundBeforePayment(BillingError):
    """A refund of an invoice payment whose payment is not applied to invoices yet (its
    events came out of order): nothing is written and the delivery fails (500), so Stripe
    delivers it again after the payment."""


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What happened to one verified event (logged by the handler; ids only)."""

    event_id: str
    event_type: str
    #: processed | duplicate | ignored | unmatched
    outcome: str
    tenant: str | None = None
    #: ledger entries written by this delivery (0 on a repeat)
    entries: int = 0


def webhook_body(body: str | None, is_base64: bool, max_bytes: int) -> bytes:
    """The raw bytes Stripe signed, from an HTTP API event's ``body``; size-checked first."""
    text = body or ""
    # base64 grows 4/3: refuse before decoding anything obviously too large
    if len(text) > (max_bytes * 4) // 3 + 4:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    if is_base64:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidWebhook("the body is not valid base64") from None
    else:
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the event JSON)
            raise InvalidWebhook("the body is not UTF-8 text") from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    return raw


def receive_webhook(
    raw: bytes, signature: str | None, deps: WebhookDeps, max_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> WebhookResult:
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    deps.verifier.verify(raw, signature)
    try:
        document = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidWebhook("the signed body is not JSON") from None
    event = parse_event(document)
    if deps.records.event_seen(event.id):
        return WebhookResult(event.id, event.type, "duplicate")
    route = ROUTES.get(event.type)
    try:
        result = route(event, deps) if route else WebhookResult(event.id, event.type, "ignored")
    except ValidationError as error:
        # genuine but malformed (no currency, negative amount): 400 so it shows as failed in
        # the Stripe dashboard; nothing was written, the record below is not made
        raise InvalidWebhook(f"{event.type} {event.id}: {error}") from None
    deps.records.mark_event(event.id, event.type, event.created)
    return result


# ------------------------------------------------------------------------------ routing


def _tenant_of(deps: WebhookDeps, obj: dict[str, Any]) -> str | None:
    """Our records first (they were written from our own PaymentIntents), then metadata."""
    refs = [("payment_intent", "payment_intent#"), ("charge", "charge#")]
    if obj.get("object") == "charge":
        refs.append(("id", "charge#"))
    for field, prefix in refs:
        ref = obj.get(field)
        if isinstance(ref, str):
            found = deps.records.get(prefix + ref)
            if found and found.get("tenant"):
                return str(found["tenant"])
    tenant = metadata_tenant(obj)
    if tenant:
        return tenant
    customer = obj.get("customer")
    if isinstance(customer, str):
        found = deps.records.get(f"customer#{customer}")
        if found and found.get("tenant"):
            return str(found["tenant"])
    return None


def _wallet_currency(deps: WebhookDeps, tenant: str | None) -> str | None:
    settings = deps.tenants.get(tenant) if tenant else None
    return settings.currency if settings else None


def _payment_succeeded(event: StripeEvent, deps: WebhookDeps) -> WebhookResult:
    intent = event.obj
    tenant = _tenant_of(deps, intent)
    amount, currency = stripe_amount(intent, "amount_received")
    values = {
        "status": "succeeded",
        "amount": amount,
        "currency": currency,
        "charge": _ref(intent.get("latest_charge")),
        "customer": _ref(intent.get("customer")),
        "event": event.id,
    }
    if tenant is None or _wallet_currency(deps, tenant) != currency:
        values["status"] = "unmatched"
        deps.records.advance(f"payment_intent#{intent['id']}", 1, event.created, tenant, values)
        return WebhookResult(event.id, event.type, "unmatched", tenant)
    metadata = intent.get("metadata")
    if deps.invoices is not None and is_invoice_payment(
        metadata if isinstance(metadata, dict) else None
    ):
        # money owed on invoices (auto-pay, pay now): applied to them once per intent,
        # never a wallet credit; first, for the same reason as the credit below
        number = metadata.get("invoice") if isinstance(metadata, dict) else None
        applied = deps.invoices(tenant, intent["id"], amount, currency,
                                str(number) if number else None)
        values["invoices"] = ",".join(part for part, _ in applied.parts) or None
        written = applied.changed
    else:
        # the credit first: if we crash before the state write, the redelivery finds the
        # entry and only completes the record; the other order could lose the credit
        written = deps.wallet.credit(tenant, topup_entry_id(intent["id"]), amount, currency)
    deps.records.advance(
        f"payment_intent#{intent['id']}", PAYMENT_RANKS["succeeded"], event.created, tenant,
        values,
    )
    latest = intent.get("latest_charge")
    if isinstance(latest, dict):
        _record_fees(deps, tenant, _expanded([latest.get("balance_transaction")]),
                     "stripe_fee", str(latest.get("id") or intent["id"]), event.created)
    charge = values["charge"]
    if charge:
        deps.records.link(f"charge#{charge}", tenant, {"payment_intent": intent["id"]})
    if values["customer"]:
        deps.records.link(f"customer#{values['customer']}", tenant, {})
        deps.records.link(f"stripe#{tenant}", tenant, {"customer": values["customer"]})
    if deps.restore is not None:  # last: after the payment (and any invoice) is recorded
        deps.restore(tenant)
    return WebhookResult(event.id, event.type, "processed", tenant, int(written))


def _payment_status(status: str) -> Callable[[StripeEvent, WebhookDeps], WebhookResult]:
    def handle(event: StripeEvent, deps: WebhookDeps) -> WebhookResult:
        intent = event.obj
        tenant = _tenant_of(deps, intent)
        error = intent.get("last_payment_error")
        error = error if isinstance(error, dict) else {}
        amount: Decimal | None
        currency: str | None
        try:  # what was attempted, for the payment history; never money moved
            amount, currency = stripe_amount(intent, "amount")
        except ValidationError:
            amount, currency = None, None
        deps.records.advance(
            f"payment_intent#{intent['id']}", PAYMENT_RANKS[status], event.created, tenant,
            {
                "status": status,
                "amount": amount,
                "currency": currency,
                "failure_code": _ref(error.get("code")),
                "decline_code": _ref(error.get("decline_code")),
                "customer": _ref(intent.get("customer")),
                "event": event.id,
            },
        )
        return WebhookResult(event.id, event.type, "processed", tenant)

    return handle


def _refunds(event: StripeEvent) -> list[dict[str, Any]]:
    """The refund objects an event carries: a charge's ``refunds.data`` or the refund itself."""
    obj = event.obj
    if obj.get("object") == "refund":
        return [obj]
    listed = obj.get("refunds")
    data = listed.get("data") if isinstance(listed, dict) else None
    return [item for item in data or [] if isinstance(item, dict)]


def _refund(event: StripeEvent, deps: WebhookDeps) -> WebhookResult:
    """A succeeded refund (a pending one waits for ``charge.refund.updated``) once per
    refund id: of a top-up, the money leaves the wallet (``refund#<refund>``); of an invoice
    payment, it is taken back off the invoices the payment paid, and the ledger is not
    touched (that money was never a wallet credit)."""
    charge = event.obj
    tenant = _tenant_of(deps, charge)
    currency_of_wallet = _wallet_currency(deps, tenant)
    entries = 0
    outcome = "processed"
    for refund in _refunds(event):
        amount, currency = stripe_amount(refund, "amount")
        status = str(refund.get("status") or "")
        matched = tenant is not None and currency == currency_of_wallet
        values: dict[str, Any] = {
            "status": status if matched else "unmatched", "amount": amount,
            "currency": currency, "charge": _ref(refund.get("charge")), "event": event.id,
        }
        reversed_: ReversedRefund | None = None
        if matched and status == "succeeded":
            assert tenant is not None
            # the effect before the record, as a payment's: a crash in between is repaired
            # by the redelivery (each effect is once per refund id)
            reversed_ = _reverse_invoices(event, deps, tenant, refund, amount, currency)
            if reversed_ is not None:
                values["payment_intent"] = reversed_.payment_id
                values["invoices"] = ",".join(number for number, _ in reversed_.parts) or None
            else:
                entries += deps.wallet.credit(
                    tenant, refund_entry_id(refund["id"]), -amount, currency)
        deps.records.advance(
            f"refund#{refund['id']}",
            FINAL_RANK if status in {"succeeded", "failed", "canceled"} else 1,
            event.created,
            tenant,
            values,
        )
        if not matched:
            outcome = "unmatched"
    return WebhookResult(event.id, event.type, outcome, tenant, entries)


def _reverse_invoices(
    event: StripeEvent, deps: WebhookDeps, tenant: str, refund: dict[str, Any],
    amount: Decimal, currency: str,
) -> ReversedRefund | None:
    """The refund taken off invoices when it refunds an invoice payment; None for a top-up.
    Raises ``RefundBeforePayment`` for an invoice payment not applied yet."""
    if deps.refund_invoices is None:
        return None
    charge = event.obj if event.obj.get("object") == "charge" else {}
    intent = _ref(refund.get("payment_intent")) or _ref(charge.get("payment_intent"))
    charge_id = _ref(refund.get("charge")) or _ref(charge.get("id"))
    if intent is None and charge_id:
        link = deps.records.get(f"charge#{charge_id}")
        intent = _ref((link or {}).get("payment_intent"))
    if intent is None:
        return None
    settings = deps.tenants.get(tenant)
    day = _day(event.created, settings.timezone if settings else None)
    found = deps.refund_invoices(tenant, intent, str(refund["id"]), amount, currency, day)
    if found is not None:
        return found
    paid = deps.records.get(f"payment_intent#{intent}") or {}
    metadata = charge.get("metadata")
    if paid.get("invoices") or is_invoice_payment(metadata if isinstance(metadata, dict)
                                                  else None):
        raise RefundBeforePayment(
            f"refund {refund['id']} of invoice payment {intent} arrived before the payment "
            "was applied to invoices"
        )
    return None


def _day(epoch_seconds: int, zone: str | None) -> date:
    """The calendar day of an event in the tenant's zone (UTC without one)."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    if zone:
        try:
            return moment.astimezone(ZoneInfo(zone)).date()
        except (KeyError, ValueError):
            pass
    return moment.date()


def _dispute(is_open: bool) -> Callable[[StripeEvent, WebhookDeps], WebhookResult]:
    def handle(event: StripeEvent, deps: WebhookDeps) -> WebhookResult:
        dispute = event.obj
        tenant = _tenant_of(deps, dispute)
        amount, currency = stripe_amount(dispute, "amount")
        fees = [
            item.get("fee") for item in dispute.get("balance_transactions") or []
            if isinstance(item, dict) and isinstance(item.get("fee"), int)
        ]
        moved = deps.records.advance(
            f"dispute#{dispute['id']}",
            DISPUTE_RANKS["open" if is_open else "closed"],
            event.created,
            tenant,
            {
                "status": "open" if is_open else "closed",
                "stripe_status": _ref(dispute.get("status")),
                "reason": _ref(dispute.get("reason")),
                "amount": amount,
                "currency": currency,
                "charge": _ref(dispute.get("charge")),
                # the dispute fee is the operator's cost (margin), never charged to the tenant
                "fee_minor_units": sum(fees) if fees else None,
                "event": event.id,
            },
        )
        _record_fees(deps, tenant, _expanded(dispute.get("balance_transactions") or []),
                     "dispute_fee", dispute["id"], event.created)
        if tenant is None:
            return WebhookResult(event.id, event.type, "unmatched")
        if moved:
            deps.records.flag_dispute(tenant, dispute["id"], is_open)
        if is_open and deps.evidence is not None:
            _evidence(event, deps, deps.evidence, tenant)
        return WebhookResult(event.id, event.type, "processed", tenant)

    return handle


def _evidence(event: StripeEvent, deps: WebhookDeps, evidence: EvidenceDeps, tenant: str) -> None:
    """The dispute's evidence pack, once (``shared.services.dispute_evidence``)."""
    dispute = event.obj
    disputed_at = _int_or_none(dispute.get("created")) or event.created
    paid_at = disputed_at
    charge = _ref(dispute.get("charge"))
    link = deps.records.get(f"charge#{charge}") if charge else None
    intent = (link or {}).get("payment_intent")
    paid = deps.records.get(f"payment_intent#{intent}") if intent else None
    if paid and paid.get("status") == "succeeded" and paid.get("created") is not None:
        paid_at = int(paid["created"])
    settings = deps.tenants.get(tenant)
    zone = settings.timezone if settings else None
    write_evidence_once(tenant, dispute, paid_at, disputed_at, zone, deps.records, evidence)


def _expanded(items: Any) -> list[dict[str, Any]]:
    """The expanded balance transactions among ``items`` (an unexpanded one is an id string
    and carries no fee)."""
    return [
        item for item in items if isinstance(item, dict)
        and item.get("object") == "balance_transaction" and isinstance(item.get("id"), str)
    ]


def _record_fees(
    deps: WebhookDeps, tenant: str | None, transactions: list[dict[str, Any]], kind: str,
    source: str, created: int,
) -> int:
    """``fee#<txn>`` once per balance transaction with a fee: the operator's cost, kept out
    of the tenant's ledger and payment history. Returns how many were new."""
    recorded = 0
    for txn in transactions:
        fee = txn.get("fee")
        if isinstance(fee, bool) or not isinstance(fee, int) or fee <= 0:
            continue
        amount, currency = stripe_amount(txn, "fee")
        details = [
            f"{item.get('type')}:{item.get('amount')}" for item in txn.get("fee_details") or []
            if isinstance(item, dict)
        ]
        recorded += deps.records.create(f"fee#{txn['id']}", tenant, {
            "kind": kind, "amount": amount, "currency": currency, "source": source,
            "fee_details": ",".join(details) or None, "status": "recorded",
            "created": created,
        })
    return recorded


def _charge_fee(event: StripeEvent, deps: WebhookDeps) -> WebhookResult:
    """``charge.succeeded`` / ``charge.updated``: only the processing fee, when the charge
    carries its balance transaction expanded; the money itself moves on the payment
    intent's success."""
    charge = event.obj
    tenant = _tenant_of(deps, charge)
    transactions = _expanded([charge.get("balance_transaction")])
    if not transactions:
        return WebhookResult(event.id, event.type, "ignored", tenant)
    _record_fees(deps, tenant, transactions, "stripe_fee", charge["id"], event.created)
    return WebhookResult(event.id, event.type, "processed" if tenant else "unmatched", tenant)


def _setup_succeeded(event: StripeEvent, deps: WebhookDeps) -> WebhookResult:
    setup = event.obj
    tenant = _tenant_of(deps, setup)
    customer = _ref(setup.get("customer"))
    deps.records.advance(
        f"setup_intent#{setup['id']}", FINAL_RANK, event.created, tenant,
        {"status": "succeeded", "customer": customer,
         "payment_method": _ref(setup.get("payment_method")), "event": event.id},
    )
    if tenant and customer:
        deps.records.link(f"customer#{customer}", tenant, {})
        # the tenant's Stripe customer, charged off-session by wallet_recharge
        deps.records.link(f"stripe#{tenant}", tenant, {"customer": customer})
    return WebhookResult(event.id, event.type, "processed" if tenant else "unmatched", tenant)


def _payment_method(state: str) -> Callable[[StripeEvent, WebhookDeps], WebhookResult]:
    def handle(event: StripeEvent, deps: WebhookDeps) -> WebhookResult:
        method = event.obj
        tenant = _tenant_of(deps, method)
        found = method.get("card")
        card: dict[str, Any] = found if isinstance(found, dict) else {}
        deps.records.advance(
            f"payment_method#{method['id']}", PAYMENT_METHOD_RANKS[state], event.created, tenant,
            {
                "status": state,
                "customer": _ref(method.get("customer")),
                "brand": _ref(card.get("brand")),
                "last4": _ref(card.get("last4")),
                "exp_month": _int_or_none(card.get("exp_month")),
                "exp_year": _int_or_none(card.get("exp_year")),
                "event": event.id,
            },
        )
        return WebhookResult(event.id, event.type, "processed", tenant)

    return handle


def _ref(value: Any) -> str | None:
    """A Stripe reference field: an id string, an expanded object's id, or None."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


ROUTES: dict[str, Callable[[StripeEvent, WebhookDeps], WebhookResult]] = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_status("failed"),
    "payment_intent.requires_action": _payment_status("requires_action"),
    "charge.succeeded": _charge_fee,
    "charge.updated": _charge_fee,
    "charge.refunded": _refund,
    "charge.refund.updated": _refund,
    "refund.created": _refund,
    "refund.updated": _refund,
    "charge.dispute.created": _dispute(is_open=True),
    "charge.dispute.closed": _dispute(is_open=False),
    "setup_intent.succeeded": _setup_succeeded,
    "payment_method.attached": _payment_method("attached"),
    "payment_method.detached": _payment_method("detached"),
}
