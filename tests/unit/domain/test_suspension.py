"""SPEC 7 suspension timeline as pure rules: due on day 0, warned on days 7 and 13,
suspended on day 14 unless a payment is in flight."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from shared.domain.errors import ValidationError
from shared.domain.suspension import (
    IN_FLIGHT_MAX_AGE_SECONDS,
    DunningPolicy,
    OpenInvoice,
    SuspensionDecision,
    decide,
    milestone,
    past_grace,
    payment_in_flight,
    policy_for,
)

DUE = date(2026, 3, 1)
INVOICE = OpenInvoice("INV-0001", DUE, Decimal("42.00"), "USD")
POLICY = DunningPolicy()


def on(day: int, **flags: bool) -> SuspensionDecision:
    return decide(
        [INVOICE], DUE + timedelta(days=day),
        suspended=flags.get("suspended", False),
        payment_in_flight=flags.get("in_flight", False),
        policy=POLICY,
    )


def test_warnings_on_days_7_and_13_only_and_suspension_on_day_14() -> None:
    # Given an invoice due on 2026-03-01, When each day from the due date to day 14 is checked
    warned = {day: [w.day for w in on(day).warnings] for day in range(0, 15)}
    suspended = [day for day in range(0, 15) if on(day).suspend]
    # Then the milestone reached is 7 on days 7..12 and 13 on day 13 (once-only keys make
    # days 8..12 send nothing more), nothing before day 7, and day 14 suspends
    assert [day for day, found in warned.items() if found] == list(range(7, 14))
    assert warned[7] == [7] and warned[8] == [7] and warned[13] == [13]
    assert warned[6] == [] and warned[14] == []
    assert suspended == [14]


def test_a_payment_in_flight_holds_the_suspension() -> None:
    decision = on(14, in_flight=True)
    assert not decision.suspend and decision.held_by_payment


def test_an_already_suspended_account_gets_no_warning_and_no_second_suspension() -> None:
    decision = on(20, suspended=True)
    assert not decision.suspend and decision.warnings == ()


def test_the_oldest_unpaid_invoice_decides_and_paid_ones_do_not_count() -> None:
    old_paid = OpenInvoice("INV-0000", DUE - timedelta(days=30), Decimal("0"), "USD")
    newer = OpenInvoice("INV-0002", DUE + timedelta(days=10), Decimal("5.00"), "USD")
    decision = decide([newer, INVOICE, old_paid], date(2026, 3, 15), suspended=False,
                      payment_in_flight=False, policy=POLICY)
    # INV-0001 is 14 days past due (March 1 → 15); INV-0000 owes nothing
    assert decision.oldest == INVOICE and decision.days_past_due == 14 and decision.suspend


def test_past_grace_and_milestones() -> None:
    assert not past_grace([INVOICE], date(2026, 3, 14), POLICY)  # day 13
    assert past_grace([INVOICE], date(2026, 3, 15), POLICY)  # day 14
    assert milestone(6, POLICY) is None and milestone(12, POLICY) == 7
    assert milestone(14, POLICY) is None


def test_tenant_grace_period_moves_the_warnings() -> None:
    assert policy_for(14) == DunningPolicy(14, (7, 13))
    assert policy_for(30) == DunningPolicy(30, (23, 29))
    assert policy_for(5) == DunningPolicy(5, (4,))
    with pytest.raises(ValidationError, match="warning days"):
        DunningPolicy(10, (7, 13))


def test_payment_in_flight_from_the_recharge_slot_and_intents() -> None:
    now = 10_000_000
    assert payment_in_flight({"state": "pending", "claimed_at": now - 60}, [], now)
    assert not payment_in_flight({"state": "done", "claimed_at": now - 60}, [], now)
    processing = {"status": "processing", "created": now - 3600}
    assert payment_in_flight(None, [processing], now)
    assert not payment_in_flight(None, [{"status": "failed", "created": now}], now)
    assert not payment_in_flight(None, [{"status": "succeeded", "created": now}], now)
    stale = {"status": "requires_action", "created": now - IN_FLIGHT_MAX_AGE_SECONDS}
    assert not payment_in_flight(None, [stale], now)


def test_an_invoice_whose_auto_pay_is_processing_holds_the_suspension() -> None:
    pending = OpenInvoice("INV-0001", DUE, Decimal("42.00"), "USD", payment_pending=True)
    decision = decide([pending], DUE + timedelta(days=14), suspended=False,
                      payment_in_flight=False, policy=POLICY)
    assert not decision.suspend and decision.held_by_payment
