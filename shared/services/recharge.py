"""Wallet auto-recharge: one off-session PaymentIntent per low-balance trigger (SPEC 6).

1. Only prepaid tenants with a balance still under their threshold are charged.
2. Our own idempotency record, the tenant's recharge slot (``RechargeRecords.claim``), is
   taken for the trigger with a conditional write: a second trigger while one recharge is in
   flight (a pending top-up counts toward the threshold) or while the tenant backs off after
   a decline gets nothing; the same trigger again (an SQS redelivery, a Lambda retried after a
   crash) finds the slot already its own and never creates a second PaymentIntent once the
   first one's id is recorded.
3. The PaymentIntent goes to the gateway with an Idempotency-Key derived from the trigger and
   the trigger in its metadata. Before the call the slot notes the attempt; a retry that finds
   the attempt noted but no intent id (a crash after Stripe created the intent and before its
   id was stored) first looks the intent up by that metadata (``find_charge``), so even a
   Stripe that ignores Idempotency-Key (localstripe) is never asked twice.
4. Outcome: succeeded credits ``topup#<intent>`` at once (a verified API read; the webhook's
   later credit of the same entry is refused by its condition); processing keeps the slot in
   flight; a decline backs off (1 h, 6 h, 24 h) and notifies; authentication_required
   notifies and holds (no blind retry) until the tenant acts.
5. A slot left pending past ``STALE_CLAIM_SECONDS`` (an intent still processing when its
   message was dead-lettered, a crash on every redelivery) is finished by the next trigger
   before that trigger claims it, so one stuck recharge never blocks the wallet for good.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from shared.domain.errors import ValidationError
from shared.domain.money import from_minor_units, minor_units, to_minor_units
from shared.domain.payments import (
    AUTHENTICATION_HOLD_SECONDS,
    Charge,
    decline_backoff,
    recharge_key,
    topup_entry_id,
)
from shared.domain.tenants import BillingMode
from shared.ports import (
    Notifier,
    PaymentGateway,
    RechargeRecords,
    TenantDirectory,
    WalletBalances,
    WalletCredits,
)

#: manual top-ups below this (in the tenant's currency) are refused (SPEC section 1)
DEFAULT_MANUAL_MINIMUM = Decimal("5.00")
#: and above this (far above any real top-up; keeps the gateway's quantize exact)
MANUAL_MAXIMUM = Decimal("999999999")
#: a slot still pending this long after its claim is stale: its message has left the queue
#: (5 receives x 180 s visibility, then the dead-letter queue), so the next trigger finishes it
STALE_CLAIM_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class RechargeRequest:
    tenant: str
    #: what caused it: the EventBridge event id, or ``manual-<request id>``
    trigger: str
    #: a manual top-up's amount; None = the tenant's recharge_amount
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RechargeDeps:
    tenants: TenantDirectory
    balances: WalletBalances
    wallet: WalletCredits
    records: RechargeRecords
    gateway: PaymentGateway
    notifier: Notifier
    now: Callable[[], int]  # epoch seconds
    manual_minimum: Decimal = DEFAULT_MANUAL_MINIMUM


@dataclass(frozen=True, slots=True)
class RechargeResult:
    #: skipped | not_needed | busy | done_before | no_card | succeeded | processing |
    #: declined | authentication_required
    outcome: str
    intent_id: str | None = None


def recharge(request: RechargeRequest, deps: RechargeDeps) -> RechargeResult:
    settings = deps.tenants.get(request.tenant)
    if settings is None or settings.mode is not BillingMode.PREPAID:
        return RechargeResult("skipped")
    manual = request.amount is not None
    amount = request.amount if request.amount is not None else settings.recharge_amount
    if manual and amount < deps.manual_minimum:
        raise ValidationError(
            f"a manual top-up is at least {deps.manual_minimum} {settings.currency}, got {amount}"
        )
    if manual and amount > MANUAL_MAXIMUM:
        raise ValidationError(
            f"a manual top-up is at most {MANUAL_MAXIMUM} {settings.currency}, got {amount}"
        )
    if manual and from_minor_units(to_minor_units(amount, settings.currency),
                                   settings.currency) != amount:
        # Stripe takes whole minor units: never charge another amount than was asked
        raise ValidationError(
            f"a manual top-up of {amount} has more than {minor_units(settings.currency)} "
            f"decimal places for {settings.currency}"
        )
    if not manual and deps.balances.balance(request.tenant) >= settings.low_balance_threshold:
        return RechargeResult("not_needed")
    now = deps.now()
    slot = deps.records.claim(request.tenant, request.trigger, now)
    if slot is None and _resume_stale(request.tenant, settings.currency, deps, now):
        slot = deps.records.claim(request.tenant, request.trigger, now)
    if slot is None:
        return RechargeResult("busy")  # a recharge in flight, or backing off after a decline
    if slot.get("state") == "done":
        return RechargeResult("done_before", slot.get("intent_id"))
    intent_id = slot.get("intent_id")
    if intent_id:  # a retry after the intent was created: read it, never create another
        charge: Charge = deps.gateway.retrieve(str(intent_id))
    else:
        if not manual and deps.balances.balance(request.tenant) >= settings.low_balance_threshold:
            # another trigger's recharge was credited (and its slot released) between our
            # balance read and our claim: read again now that the slot is ours
            deps.records.settle(request.tenant, request.trigger, {
                "state": "done", "outcome": "not_needed", "retry_after": now,
            })
            return RechargeResult("not_needed")
        customer = deps.records.customer_of(request.tenant)
        if customer is None:
            deps.records.settle(request.tenant, request.trigger, {
                "state": "done", "outcome": "no_card",
                "retry_after": now + AUTHENTICATION_HOLD_SECONDS,
            })
            deps.notifier.notify(request.tenant, "no_card", {"trigger": request.trigger})
            return RechargeResult("no_card")
        found: Charge | None = None
        if slot.get("attempt") == request.trigger:
            # an earlier try of this trigger called Stripe and died before recording the
            # answer: the intent it may have created is found by its metadata, not made again
            found = deps.gateway.find_charge(customer, request.trigger)
        else:
            deps.records.settle(request.tenant, request.trigger, {"attempt": request.trigger})
        charge = found or deps.gateway.charge_off_session(
            customer,
            to_minor_units(amount, settings.currency),
            settings.currency.lower(),
            recharge_key(request.tenant, request.trigger),
            {"tenant": request.tenant, "trigger": request.trigger},
        )
        deps.records.settle(request.tenant, request.trigger, {"intent_id": charge.intent_id})
    return _settle(request, deps, settings.currency, charge, int(slot.get("declines") or 0), now)


def _resume_stale(tenant: str, currency: str, deps: RechargeDeps, now: int) -> bool:
    """Finish a recharge whose trigger was given up on (its message dead-lettered while the
    PaymentIntent was processing, or after a crash), so it cannot hold the slot forever.

    Only a slot still pending ``STALE_CLAIM_SECONDS`` after its claim is touched: by then SQS
    has stopped redelivering its message. Its intent is read (or found by its trigger when the
    attempt was noted), credited or declined as usual; a trigger that never reached Stripe is
    released. True when the slot may be free now."""
    slot = deps.records.slot(tenant)
    if slot is None or slot.get("state") != "pending":
        return False
    if int(slot.get("claimed_at") or now) + STALE_CLAIM_SECONDS > now:
        return False
    old = RechargeRequest(tenant, str(slot["trigger"]))
    charge: Charge | None = None
    if slot.get("intent_id"):
        charge = deps.gateway.retrieve(str(slot["intent_id"]))
    elif slot.get("attempt") == old.trigger:
        customer = deps.records.customer_of(tenant)
        charge = deps.gateway.find_charge(customer, old.trigger) if customer else None
    if charge is None:
        deps.records.settle(tenant, old.trigger, {
            "state": "done", "outcome": "abandoned", "retry_after": now,
        })
        return True
    deps.records.settle(tenant, old.trigger, {"intent_id": charge.intent_id})
    result = _settle(old, deps, currency, charge, int(slot.get("declines") or 0), now)
    return result.outcome != "processing"


def _settle(
    request: RechargeRequest, deps: RechargeDeps, currency: str, charge: Charge,
    declines: int, now: int,
) -> RechargeResult:
    tenant, trigger = request.tenant, request.trigger
    if charge.status == "succeeded":
        amount = from_minor_units(charge.amount_minor, currency)
        deps.wallet.credit(tenant, topup_entry_id(charge.intent_id), amount, currency)
        deps.records.settle(tenant, trigger, {
            "state": "done", "outcome": "succeeded", "declines": 0, "retry_after": now,
        })
    elif charge.status == "processing":
        pass  # stays in flight; the next trigger (or this one redelivered) reads it again
    elif charge.status == "declined":
        deps.records.settle(tenant, trigger, {
            "state": "done", "outcome": "declined", "declines": declines + 1,
            "retry_after": now + decline_backoff(declines + 1),
            "decline_code": charge.decline_code,
        })
        deps.notifier.notify(tenant, "declined", {
            "intent": charge.intent_id, "decline_code": charge.decline_code or "",
        })
    else:  # authentication_required / requires_action: the tenant must act
        deps.records.settle(tenant, trigger, {
            "state": "done", "outcome": "authentication_required",
            "retry_after": now + AUTHENTICATION_HOLD_SECONDS,
        })
        deps.notifier.notify(tenant, "authentication_required", {"intent": charge.intent_id})
        return RechargeResult("authentication_required", charge.intent_id)
    return RechargeResult(charge.status, charge.intent_id)
