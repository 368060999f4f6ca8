"""Issue, status transitions, immutability, credit notes, numbers, payment allocation and
billing periods."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pydantic
import pytest

from shared.domain.errors import ValidationError
from shared.domain.invoicing import (
    TRANSITIONS,
    Adjustment,
    BillingPeriod,
    Invoice,
    InvoiceStateError,
    InvoiceStatus,
    OneTimeCharge,
    allocate_payment,
    apply_payment,
    build_invoice,
    credit_note,
    due_period,
    format_number,
    parse_number,
)
from tests.unit.domain.invoicing.invoicing_helpers import BUYER, JAN, NO_TAX, SELLER, TAX

D = Decimal
S = InvoiceStatus


def draft(amount: str = "100.00", period: BillingPeriod = JAN, taxed: bool = False) -> Invoice:
    return build_invoice(
        tenant="acme", period=period, currency="EUR", prepaid=False, seller=SELLER,
        buyer=BUYER, tax_rules=TAX if taxed else NO_TAX,
        one_time=[OneTimeCharge("Service", D(amount))],
    )


def issued(amount: str = "100.00", number: str = "INV-000001", day: date = date(2026, 2, 2)
           ) -> Invoice:
    return draft(amount).issue(number, day)


def utc_ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1000


# ------------------------------------------------------------------------- issuing


def test_issuing_fixes_number_dates_and_sends_it() -> None:
    inv = draft().issue("INV-000042", date(2026, 2, 2))
    assert (inv.status, inv.number, inv.issue_date) == (S.SENT, "INV-000042", date(2026, 2, 2))
    assert inv.due_date == date(2026, 2, 16)  # 2 Feb + 14 days' default terms
    assert draft().issue("INV-000043", date(2026, 2, 2), 30).due_date == date(2026, 3, 4)


def test_a_draft_has_no_number_and_cannot_be_paid() -> None:
    inv = draft()
    assert (inv.status, inv.number, inv.due_date) == (S.DRAFT, None, None)
    with pytest.raises(InvoiceStateError, match="Draft"):
        inv.record_payment("pi_1", D("1.00"), date(2026, 2, 3))


def test_an_issued_invoice_cannot_be_issued_again_or_cancelled() -> None:
    inv = issued()
    with pytest.raises(InvoiceStateError, match="credit notes"):
        inv.issue("INV-000002", date(2026, 2, 3))
    with pytest.raises(InvoiceStateError, match="credit note"):
        inv.cancel()


def test_a_draft_can_be_discarded() -> None:
    assert draft().cancel().status is S.CANCELLED


def test_issued_invoices_are_frozen() -> None:
    inv = issued()
    with pytest.raises(pydantic.ValidationError):
        inv.total = D("1")  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        inv.lines[0].amount = D("1")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        inv.lines.append(inv.lines[0])  # type: ignore[attr-defined]


def test_a_tampered_stored_invoice_does_not_load() -> None:
    stored = issued().model_dump()
    stored["total"] = D("99.00")
    with pytest.raises(pydantic.ValidationError, match="subtotal \\+ tax"):
        Invoice.model_validate(stored)
    stored = issued().model_dump()
    stored["lines"][0]["amount"] = D("90.00")
    with pytest.raises(pydantic.ValidationError, match="do not match"):
        Invoice.model_validate(stored)


def test_an_issued_invoice_round_trips_through_json() -> None:
    inv = issued().record_payment("pi_1", D("30.00"), date(2026, 2, 3))
    assert Invoice.model_validate_json(inv.model_dump_json()) == inv


def test_a_bad_number_is_refused_at_issue() -> None:
    with pytest.raises(ValidationError, match="PREFIX-NNNNNN"):
        draft().issue("42", date(2026, 2, 2))


def test_an_empty_invoice_is_paid_on_issue() -> None:
    empty = build_invoice(
        tenant="acme", period=JAN, currency="EUR", prepaid=False, seller=SELLER, buyer=BUYER,
        tax_rules=NO_TAX,
    )
    assert (empty.lines, empty.total) == ((), D(0))
    assert empty.issue("INV-000001", date(2026, 2, 2)).status is S.PAID


def test_a_negative_invoice_is_not_issued() -> None:
    # Given only a re-rate refund of 5.00: the total is -5.00
    negative = build_invoice(
        tenant="acme", period=JAN, currency="EUR", prepaid=False, seller=SELLER, buyer=BUYER,
        tax_rules=NO_TAX, adjustments=[Adjustment("rerate#r1#c1", D("-5.00"), "card fix")],
    )
    assert negative.total == D("-5.00")
    with pytest.raises(ValidationError, match="credit note"):
        negative.issue("INV-000001", date(2026, 2, 2))


# ------------------------------------------------------------------------ payments


def test_partial_then_full_payment() -> None:
    inv = issued("100.00")
    inv = inv.record_payment("pi_1", D("30.00"), date(2026, 2, 3))
    assert (inv.status, inv.paid, inv.balance_due) == (S.PARTIALLY_PAID, D("30.00"), D("70.00"))
    inv = inv.record_payment("pi_2", D("70.00"), date(2026, 2, 4))
    assert (inv.status, inv.balance_due) == (S.PAID, D(0))
    with pytest.raises(InvoiceStateError, match="Paid"):
        inv.record_payment("pi_3", D("1.00"), date(2026, 2, 5))


def test_a_repeated_payment_reference_pays_nothing_twice() -> None:
    once = issued().record_payment("pi_1", D("30.00"), date(2026, 2, 3))
    assert once.record_payment("pi_1", D("30.00"), date(2026, 2, 3)) == once
    with pytest.raises(ValidationError, match="already applied"):
        once.record_payment("pi_1", D("31.00"), date(2026, 2, 3))


def test_overpaying_or_sub_cent_payments_are_refused() -> None:
    inv = issued("100.00")
    with pytest.raises(ValidationError, match=r"exceeds the balance due 100\.00"):
        inv.record_payment("pi_1", D("100.01"), date(2026, 2, 3))
    with pytest.raises(ValidationError, match="minor units"):
        inv.record_payment("pi_1", D("1.005"), date(2026, 2, 3))
    with pytest.raises(ValidationError, match="positive"):
        inv.record_payment("pi_1", D("0"), date(2026, 2, 3))


def test_overdue_after_the_due_date_and_a_partial_payment_keeps_it_overdue() -> None:
    inv = issued("100.00")  # due 16 Feb
    assert inv.mark_overdue(date(2026, 2, 16)).status is S.SENT  # day 0: due, not overdue
    late = inv.mark_overdue(date(2026, 2, 17))
    assert (late.status, late.days_past_due(date(2026, 2, 23))) == (S.OVERDUE, 7)
    assert late.mark_overdue(date(2026, 2, 18)) == late
    part = late.record_payment("pi_1", D("40.00"), date(2026, 2, 20))
    assert (part.status, part.balance_due) == (S.OVERDUE, D("60.00"))
    paid = part.record_payment("pi_2", D("60.00"), date(2026, 2, 21))
    assert (paid.status, paid.days_past_due(date(2026, 3, 30))) == (S.PAID, 0)
    with pytest.raises(InvoiceStateError):
        paid.mark_overdue(date(2026, 3, 30))


def test_a_refund_of_a_payment_reopens_the_invoice_by_the_refunded_amount() -> None:
    # Given 100.00 due 16 Feb, paid 30.00 then 70.00: Paid
    paid = issued("100.00").record_payment("pi_1", D("30.00"), date(2026, 2, 3)) \
        .record_payment("pi_2", D("70.00"), date(2026, 2, 4))

    # When 25.00 of pi_2 is refunded on 10 Feb (before the due date)
    part = paid.reverse_payment("re_1", D("25.00"), date(2026, 2, 10))

    # Then paid 100.00 - 25.00 = 75.00, due 0.00 + 25.00 = 25.00: Partially Paid again
    assert (part.status, part.paid, part.balance_due) == (S.PARTIALLY_PAID, D("75.00"),
                                                           D("25.00"))
    # and the other 75.00 refunded: nothing paid, Sent again
    none = part.reverse_payment("re_2", D("75.00"), date(2026, 2, 11))
    assert (none.status, none.paid, none.balance_due) == (S.SENT, D("0.00"), D("100.00"))
    # the reopened invoice takes payments again: 100.00 paid, Paid
    again = none.record_payment("pi_3", D("100.00"), date(2026, 2, 12))
    assert (again.status, again.balance_due) == (S.PAID, D("0.00"))


def test_a_refund_after_the_due_date_leaves_the_invoice_overdue() -> None:
    paid = issued("100.00").record_payment("pi_1", D("100.00"), date(2026, 2, 3))

    # refunded 0.01 on 17 Feb, a day after the due date (16 Feb): 0.01 due and overdue
    late = paid.reverse_payment("re_1", D("0.01"), date(2026, 2, 17))
    assert (late.status, late.paid, late.balance_due) == (S.OVERDUE, D("99.99"), D("0.01"))
    # on the due date itself (day 0) it is not overdue yet
    assert paid.reverse_payment("re_1", D("0.01"), date(2026, 2, 16)).status is S.PARTIALLY_PAID


def test_a_refund_is_taken_off_once_and_never_beyond_the_payments() -> None:
    once = issued("100.00").record_payment("pi_1", D("40.00"), date(2026, 2, 3)) \
        .reverse_payment("re_1", D("10.00"), date(2026, 2, 4))
    # the same refund again: unchanged (40.00 - 10.00 = 30.00 paid)
    assert once.reverse_payment("re_1", D("10.00"), date(2026, 2, 5)) == once
    assert once.paid == D("30.00")
    with pytest.raises(ValidationError, match="already taken off"):
        once.reverse_payment("re_1", D("11.00"), date(2026, 2, 5))
    with pytest.raises(ValidationError, match=r"exceeds the 30\.00 paid"):
        once.reverse_payment("re_2", D("30.01"), date(2026, 2, 5))
    with pytest.raises(ValidationError, match="minor units"):
        once.reverse_payment("re_2", D("0.005"), date(2026, 2, 5))
    with pytest.raises(InvoiceStateError, match="Draft"):
        draft().reverse_payment("re_3", D("1.00"), date(2026, 2, 5))


def test_partially_paid_becomes_overdue() -> None:
    inv = issued().record_payment("pi_1", D("1.00"), date(2026, 2, 3))
    assert inv.mark_overdue(date(2026, 3, 1)).status is S.OVERDUE


def test_the_transition_table_has_final_states() -> None:
    assert TRANSITIONS[S.PAID] == frozenset() and TRANSITIONS[S.CANCELLED] == frozenset()
    assert S.DRAFT not in set().union(*TRANSITIONS.values())  # nothing goes back to Draft


def test_partial_payments_are_allocated_oldest_first() -> None:
    # Given three open invoices of 100.00 (Jan), 50.00 (Feb) and 80.00 (Mar)
    jan = issued("100.00", "INV-000001", date(2026, 1, 2))
    feb = issued("50.00", "INV-000002", date(2026, 2, 2))
    mar = issued("80.00", "INV-000003", date(2026, 3, 2))
    # When 120.00 is paid: the oldest first
    invoices, result = apply_payment("pi_1", D("120.00"), "EUR", date(2026, 3, 5), [mar, jan, feb])
    assert [(a.invoice_number, a.amount) for a in result.allocations] == [
        ("INV-000001", D("100.00")), ("INV-000002", D("20.00"))]  # 100 + 20 = 120
    assert result.unallocated == D(0)
    mar, jan, feb = invoices
    assert (jan.status, feb.status, mar.status) == (S.PAID, S.PARTIALLY_PAID, S.SENT)
    # When 100.00 more: 30.00 finishes February, 70.00 goes to March (10.00 left)
    invoices, result = apply_payment("pi_2", D("100.00"), "EUR", date(2026, 3, 6), invoices)
    assert [(a.invoice_number, a.amount) for a in result.allocations] == [
        ("INV-000002", D("30.00")), ("INV-000003", D("70.00"))]
    assert invoices[0].balance_due == D("10.00")  # 80 - 70
    # When 25.00 more: 10.00 to March, 15.00 unallocated (a credit, never dropped)
    result = allocate_payment(D("25.00"), "EUR", invoices)
    assert [(a.invoice_number, a.amount) for a in result.allocations] == [("INV-000003", D("10"))]
    assert result.unallocated == D("15.00")


def test_same_day_invoices_are_allocated_by_number() -> None:
    b = issued("10.00", "INV-000002")
    a = issued("10.00", "INV-000001")
    result = allocate_payment(D("10.00"), "EUR", [b, a])
    assert [x.invoice_number for x in result.allocations] == ["INV-000001"]


def test_a_payment_must_be_positive_and_in_minor_units() -> None:
    with pytest.raises(ValidationError, match="positive"):
        allocate_payment(D("-1"), "EUR", [])
    with pytest.raises(ValidationError, match="decimals"):
        allocate_payment(D("1.001"), "EUR", [])
    with pytest.raises(ValidationError, match="EUR"):
        allocate_payment(D("1"), "USD", [issued()])


# --------------------------------------------------------------------- credit notes


def test_a_full_credit_note_reverses_the_invoice_and_cancels_it() -> None:
    # Given an issued 100.00 invoice under DE tax: 100 + 7 % = 107.00
    inv = draft("100.00", taxed=True).issue("INV-000001", date(2026, 2, 2))
    assert inv.total == D("107.00")
    # When it is credited in full
    note = credit_note(inv, "CN-000001", date(2026, 2, 5), "wrong tenant")
    # Then the note mirrors it with negative amounts and its own number
    assert (note.invoice_number, note.subtotal, note.tax, note.total) == (
        "INV-000001", D("-100.00"), D("-7.00"), D("-107.00"))
    assert note.lines[0].taxes == inv.lines[0].taxes
    cancelled = inv.apply_credit_note(note)
    assert (cancelled.status, cancelled.balance_due) == (S.CANCELLED, D(0))
    assert cancelled.apply_credit_note(note) == cancelled  # once
    # and the invoice's own lines never changed
    assert cancelled.lines == inv.lines and cancelled.total == inv.total


def test_a_partial_credit_note_after_a_payment_settles_the_rest() -> None:
    # Given 100.00 (no tax) of which 90.00 is paid
    inv = issued("100.00").record_payment("pi_1", D("90.00"), date(2026, 2, 3))
    # When 25.00 of line 0 is credited: 10.00 settles the balance, 15.00 is owed back
    note = credit_note(inv, "CN-000002", date(2026, 2, 4), "goodwill", {0: D("25.00")})
    assert note.total == D("-25.00")
    after = inv.apply_credit_note(note)
    assert (after.status, after.paid, after.balance_due) == (S.PAID, D("100.00"), D(0))
    assert -note.total - (after.paid - inv.paid) == D("15.00")


def test_a_credit_note_is_refused_for_a_draft_or_too_much() -> None:
    with pytest.raises(InvoiceStateError, match="draft"):
        credit_note(draft(), "CN-000001", date(2026, 2, 4), "x")
    with pytest.raises(ValidationError, match=r"100\.00"):
        credit_note(issued(), "CN-000001", date(2026, 2, 4), "x", {0: D("100.01")})
    with pytest.raises(ValidationError, match="no charged line 5"):
        credit_note(issued(), "CN-000001", date(2026, 2, 4), "x", {5: D("1")})
    with pytest.raises(ValidationError, match="reason"):
        credit_note(issued(), "CN-000001", date(2026, 2, 4), " ")


# -------------------------------------------------------------------------- numbers


def test_numbers_are_prefix_and_gapless_sequence() -> None:
    assert format_number("INV", 42) == "INV-000042"
    assert format_number("CN", 1) == "CN-000001"
    assert format_number("ACME-INV", 1234567) == "ACME-INV-1234567"
    assert parse_number("ACME-INV-1234567") == ("ACME-INV", 1234567)
    assert parse_number("INV-000042") == ("INV", 42)


@pytest.mark.parametrize("number", ["INV-42", "inv-000042", "INV-000000", "INV000042",
                                    "INV-0000042", "-000001"])
def test_malformed_numbers_are_refused(number: str) -> None:
    with pytest.raises(ValidationError):
        parse_number(number)


@pytest.mark.parametrize(("prefix", "sequence"), [("", 1), ("inv", 1), ("INV-", 1),
                                                   ("INV", 0), ("INV", -3)])
def test_bad_prefixes_and_sequences_are_refused(prefix: str, sequence: int) -> None:
    with pytest.raises(ValidationError):
        format_number(prefix, sequence)


# -------------------------------------------------------------------------- periods


def test_a_period_is_a_month_in_the_tenant_zone() -> None:
    # January in Berlin (UTC+1 in winter): 2025-12-31 23:00 UTC to 2026-01-31 23:00 UTC
    assert (JAN.start_ms, JAN.end_ms, JAN.days) == (
        utc_ms(2025, 12, 31, 23), utc_ms(2026, 1, 31, 23), 31)
    # March 2026 in Berlin ends in summer time (UTC+2): 2026-03-31 22:00 UTC
    march = BillingPeriod.parse("2026-03", "Europe/Berlin")
    assert march.end_ms == utc_ms(2026, 3, 31, 22)
    assert BillingPeriod(2024, 2).days == 29  # leap year
    assert (BillingPeriod(2026, 12).next().key, BillingPeriod(2026, 1).previous().key) == (
        "2027-01", "2025-12")


def test_the_due_period_waits_for_the_settlement_lag() -> None:
    # January in Berlin ends 2026-01-31 23:00 UTC; plus 24 h: 2026-02-01 23:00 UTC
    at_lag = utc_ms(2026, 2, 1, 23)
    assert due_period(at_lag, "Europe/Berlin").key == "2026-01"
    assert due_period(at_lag - 1, "Europe/Berlin").key == "2025-12"
    # with a 2-hour lag it is due at 2026-01-31 23:00 + 2 h = 2026-02-01 01:00 UTC
    assert due_period(utc_ms(2026, 2, 1, 1), "Europe/Berlin", 2 * 3_600_000).key == "2026-01"
    assert due_period(utc_ms(2026, 2, 1, 1) - 1, "Europe/Berlin", 2 * 3_600_000).key == "2025-12"
    with pytest.raises(ValidationError, match="negative"):
        due_period(at_lag, "Europe/Berlin", -1)


@pytest.mark.parametrize("key", ["2026-13", "2026-1", "26-01", "2026-00"])
def test_bad_period_keys_are_refused(key: str) -> None:
    with pytest.raises(ValidationError):
        BillingPeriod.parse(key)


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        BillingPeriod(2026, 1, "Mars/Olympus")
