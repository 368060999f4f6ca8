"""Dunning and suspension: when an unpaid invoice warns, suspends and restores an account.

The timeline (SPEC section 7) counts whole days past the due date in the tenant's calendar:
day 0 is the due date, a dunning warning goes out on days 7 and 13, and on day 14 (the grace
period, tenant-configurable) the account is suspended unless a payment is in flight. Pure
rules: the daily job (``shared.services.suspension``) feeds them the open invoices, the
clock's date and what it knows about payments, and does what the decision says.

A run that missed a warning day catches up with the latest milestone reached (day 13 on
day 13, the day-7 warning on days 8-12), never with two emails at once; each warning is keyed
by tenant, invoice and milestone day, so sending it is idempotent across repeated runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from shared.domain.errors import ValidationError

DEFAULT_GRACE_DAYS = 14
DEFAULT_WARNING_DAYS: tuple[int, ...] = (7, 13)


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """What the suspension check needs of an issued, not fully paid invoice."""

    number: str
    due_date: date
    balance_due: Decimal
    currency: str
    #: a payment of this invoice started and not final (an auto-pay PaymentIntent still
    #: processing): holds the suspension back like any payment in flight
    payment_pending: bool = False


@dataclass(frozen=True, slots=True)
class DunningPolicy:
    grace_days: int = DEFAULT_GRACE_DAYS
    warning_days: tuple[int, ...] = DEFAULT_WARNING_DAYS

    def __post_init__(self) -> None:
        if self.grace_days < 1:
            raise ValidationError(f"the grace period is at least 1 day, got {self.grace_days}")
        if any(day < 1 or day >= self.grace_days for day in self.warning_days):
            raise ValidationError(
                f"warning days {self.warning_days} must fall between day 1 and the day before "
                f"suspension (day {self.grace_days})"
            )


@dataclass(frozen=True, slots=True)
class Warning:
    """One dunning email to send: ``day`` is the milestone (7 or 13), ``days_past_due`` the
    day it is actually sent (later when a run was missed)."""

    invoice: OpenInvoice
    day: int
    days_past_due: int

    @property
    def key(self) -> str:
        """The once-only key of this warning, per invoice and milestone."""
        return f"{self.invoice.number}#{self.day}"


@dataclass(frozen=True, slots=True)
class SuspensionDecision:
    #: the oldest unpaid invoice past due (None when nothing is past due)
    oldest: OpenInvoice | None
    days_past_due: int
    #: the oldest invoice has reached the grace period
    past_grace: bool
    suspend: bool
    #: suspension is due but a payment in flight holds it back
    held_by_payment: bool
    warnings: tuple[Warning, ...]


def days_past_due(invoice: OpenInvoice, today: date) -> int:
    """Whole days since the due date (0 on it, negative before)."""
    return (today - invoice.due_date).days


def unpaid(invoices: list[OpenInvoice]) -> list[OpenInvoice]:
    """Invoices still owing money, oldest due date first (number breaks ties)."""
    return sorted(
        (invoice for invoice in invoices if invoice.balance_due > 0),
        key=lambda invoice: (invoice.due_date, invoice.number),
    )


def past_grace(invoices: list[OpenInvoice], today: date, policy: DunningPolicy) -> bool:
    """Whether any unpaid invoice is past due by the grace period or more."""
    return any(days_past_due(invoice, today) >= policy.grace_days for invoice in unpaid(invoices))


def milestone(days: int, policy: DunningPolicy) -> int | None:
    """The latest warning day reached at ``days`` past due, before suspension; else None."""
    reached = [day for day in policy.warning_days if day <= days]
    return max(reached) if reached and days < policy.grace_days else None


def decide(
    invoices: list[OpenInvoice],
    today: date,
    *,
    suspended: bool,
    payment_in_flight: bool,
    policy: DunningPolicy,
) -> SuspensionDecision:
    """What the daily check does for one tenant today.

    An account already suspended gets no more warnings (it knows); one that is suspended
    today gets the suspension notice instead of a warning."""
    open_ = unpaid(invoices)
    overdue = [invoice for invoice in open_ if days_past_due(invoice, today) > 0]
    oldest = overdue[0] if overdue else None
    days = days_past_due(oldest, today) if oldest else 0
    grace_reached = oldest is not None and days >= policy.grace_days
    payment_in_flight = payment_in_flight or any(invoice.payment_pending for invoice in open_)
    suspend = grace_reached and not suspended and not payment_in_flight
    warnings: list[Warning] = []
    if not suspended and not suspend:
        for invoice in overdue:
            invoice_days = days_past_due(invoice, today)
            day = milestone(invoice_days, policy)
            if day is not None:
                warnings.append(Warning(invoice, day, invoice_days))
    return SuspensionDecision(
        oldest=oldest,
        days_past_due=days,
        past_grace=grace_reached,
        suspend=suspend,
        held_by_payment=grace_reached and not suspended and payment_in_flight,
        warnings=tuple(warnings),
    )


def policy_for(grace_days: int) -> DunningPolicy:
    """A tenant's policy: warned a week and a day before suspension (days 7 and 13 of the
    default 14), fewer warnings when the grace period is too short for both."""
    warnings = tuple(sorted({day for day in (grace_days - 7, grace_days - 1) if day >= 1}))
    return DunningPolicy(grace_days=grace_days, warning_days=warnings)


#: PaymentIntent states that may still end in money (Stripe's names; ``failed`` and
#: ``succeeded`` are settled)
IN_FLIGHT_STATUSES = frozenset({"processing", "requires_action", "requires_confirmation"})
#: a payment still unsettled after this long no longer holds a suspension back (a customer
#: who never completes 3-D Secure must not keep an overdue account open for ever)
IN_FLIGHT_MAX_AGE_SECONDS = 7 * 86_400


def payment_in_flight(
    recharge_slot: Mapping[str, Any] | None, intents: Sequence[Mapping[str, Any]], now: int
) -> bool:
    """A recharge slot still ``pending`` or a recent PaymentIntent record not yet final.

    ``recharge_slot`` is PaymentsTable's ``recharge#<tenant>``; ``intents`` the tenant's
    ``payment_intent#`` records; ``now`` and their ``created``/``claimed_at`` epoch seconds."""
    if recharge_slot is not None and recharge_slot.get("state") == "pending":
        claimed = int(recharge_slot.get("claimed_at") or now)
        if now - claimed < IN_FLIGHT_MAX_AGE_SECONDS:
            return True
    return any(
        str(intent.get("status")) in IN_FLIGHT_STATUSES
        and now - int(intent.get("created") or 0) < IN_FLIGHT_MAX_AGE_SECONDS
        for intent in intents
    )
