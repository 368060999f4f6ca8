"""Call admission: may this tenant call this number now, and for how long at most.

The longest call is found with the real rating engine, so everything a rated call would pay
is honoured: the minimum charged duration and increments, tiers, the connect fee, min_cost,
time bands crossed during the call, and max_cost (``free`` caps the cost; ``disconnect``
ends the call where its cost would pass the cap). Cost never falls as a call gets longer, so
a binary search over whole seconds (at most ``log2(86 400)`` ≈ 17 ratings) finds the longest
duration whose exact rated cost fits the money available.

Money available: a prepaid wallet's balance; a postpaid tenant's credit limit minus its
unbilled usage (no limit: no money bound); for an international number, also what remains
under the daily fraud cap. Emergency numbers are always allowed, whatever the status.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.domain.call_status import call_status
from shared.domain.calls import CallRecord, CallStatus, Direction, Service
from shared.domain.errors import ValidationError
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import MAX_TALK_MS, Rating, RatingLimits, rate_call
from shared.domain.rating.numbers import NumberingPlan, NumberKind, classify
from shared.domain.tenants import AccountStatus, BillingMode, TenantSettings

#: the longest call the engine rates (SPEC 3.1: longer is ``bad_duration``)
MAX_CALL_SECONDS = MAX_TALK_MS // 1000


@dataclass(frozen=True, slots=True)
class LongestCall:
    """The longest call to one number the money allows, in whole seconds.

    ``unlimited``: no money bound is reached within ``MAX_CALL_SECONDS`` (a ``free``
    max_cost cap at or under the money, a free destination, or no credit limit);
    ``seconds`` is then that limit. ``limited_by`` names what ends the call otherwise:
    ``money``, ``max_cost_disconnect`` or ``no_rate`` (a band gap later in the call)."""

    seconds: int
    unlimited: bool
    cost: Decimal
    limited_by: str | None
    destination: str
    prefix: str
    max_cost: Decimal | None
    max_cost_strategy: str | None


def _rate(
    card: CompiledCard, plan: NumberingPlan, number: str, at_ms: int, seconds: int
) -> Rating:
    call = CallRecord(
        call_id="admission", tenant="", callee=number, start_ms=at_ms, answer_ms=at_ms,
        talk_ms=seconds * 1000,
    )
    return rate_call(call, card, plan, at_ms, limits=RatingLimits())


def _fits(rating: Rating, available: Decimal | None) -> bool:
    if rating.status is not CallStatus.RATED or "max_cost_disconnect" in rating.flags:
        return False
    return available is None or rating.cost <= available


def longest_call(
    card: CompiledCard,
    plan: NumberingPlan,
    number: str,
    at_ms: int,
    available: Decimal | None,
    limit_seconds: int = MAX_CALL_SECONDS,
) -> LongestCall:
    """The longest call to ``number`` answered at ``at_ms`` whose cost fits ``available``
    (None: no money bound). A number the card cannot rate is a ValidationError."""
    first = _rate(card, plan, number, at_ms, 1)
    if first.status is CallStatus.REJECTED:
        raise ValidationError(f"cannot rate a call to {number}: {first.detail}")
    anchor = _anchor(card, first)
    if _fits(last := _rate(card, plan, number, at_ms, limit_seconds), available):
        return LongestCall(limit_seconds, True, last.cost, None, first.destination,
                           first.prefix, *anchor)
    if not _fits(first, available):
        return LongestCall(0, False, first.cost, _why(first, available), first.destination,
                           first.prefix, *anchor)
    low, high, best = 1, limit_seconds, first  # _fits(low) and not _fits(high)
    while high - low > 1:
        middle = (low + high) // 2
        rating = _rate(card, plan, number, at_ms, middle)
        if _fits(rating, available):
            low, best = middle, rating
        else:
            high = middle
    beyond = _rate(card, plan, number, at_ms, high)
    return LongestCall(low, False, best.cost, _why(beyond, available), first.destination,
                       first.prefix, *anchor)


def _why(rating: Rating, available: Decimal | None) -> str:
    if rating.status is not CallStatus.RATED:
        return "no_rate"
    if "max_cost_disconnect" in rating.flags:
        return "max_cost_disconnect"
    return "money"


def _anchor(card: CompiledCard, rating: Rating) -> tuple[Decimal | None, str | None]:
    """The max_cost and strategy of the outbound voice rate that priced the call (report
    only; the search itself relies on the engine)."""
    current: CompiledCard | None = card
    while current is not None:
        if current.name == rating.card:
            for rate in current.card.rates:
                if (rate.prefix, rate.band, rate.service, rate.direction) == (
                    rating.prefix, rating.band, Service.VOICE, Direction.OUT
                ) and rate.max_cost is not None:
                    return rate.max_cost, str(rate.max_cost_strategy)
        current = current.parent
    return None, None


@dataclass(frozen=True, slots=True)
class NumberAdmission:
    number: str
    kind: str
    international: bool
    allowed: bool
    reasons: tuple[str, ...]
    longest: LongestCall | None
    available: Decimal | None


def is_international(kind: NumberKind, digits: str, plan: NumberingPlan) -> bool:
    """An E.164 number outside the tenant's country; every E.164 number when no country is
    configured (the fraud guard errs on the side of blocking)."""
    if kind is not NumberKind.E164:
        return False
    return not (plan.country_code and digits.startswith(plan.country_code))


def money_available(
    settings: TenantSettings, balance: Decimal, spend_today: Decimal, international: bool
) -> Decimal | None:
    """What a new call may spend: wallet or credit headroom, and for international numbers
    the rest of the daily cap. None: nothing bounds it."""
    bounds: list[Decimal] = []
    if settings.mode is BillingMode.PREPAID:
        bounds.append(balance)
    elif settings.credit_limit is not None:
        # minus the unbilled usage: rated usage debits it, each invoice credits what it billed
        bounds.append(settings.credit_limit + balance)
    if international and settings.daily_spend_cap is not None:
        bounds.append(settings.daily_spend_cap - spend_today)
    return min(bounds) if bounds else None


def admit(
    settings: TenantSettings,
    card: CompiledCard,
    number: str,
    at_ms: int,
    balance: Decimal,
    spend_today: Decimal,
) -> NumberAdmission:
    """May the tenant call ``number`` now, why not, and for how long at most."""
    plan = settings.numbering.plan()
    kind, digits = classify(number, plan)
    if kind is NumberKind.INVALID:
        raise ValidationError(f"{number!r} is not a dialable number")
    if kind is NumberKind.EMERGENCY:
        longest = longest_call(card, plan, number, at_ms, None)
        return NumberAdmission(number, str(kind), False, True,
                               ("emergency numbers are always allowed",), longest, None)
    international = is_international(kind, digits, plan)
    status = call_status(settings, balance, spend_today)
    reasons = list(status.reasons)
    allowed = status.outbound_allowed and (status.international_allowed or not international)
    if settings.status is AccountStatus.SUSPENDED:
        allowed = False
    if not international:  # the fraud cap blocks international calls only
        reasons = [reason for reason in reasons if "fraud guard" not in reason]
    available = money_available(settings, balance, spend_today, international)
    if not allowed:
        return NumberAdmission(number, str(kind), international, False, tuple(reasons), None,
                               available)
    longest = longest_call(card, plan, number, at_ms, available)
    if longest.seconds == 0:
        reasons.append(
            f"{available} available does not pay the first increment ({longest.cost})"
        )
        return NumberAdmission(number, str(kind), international, False, tuple(reasons), longest,
                               available)
    return NumberAdmission(number, str(kind), international, True, tuple(reasons), longest,
                           available)
