"""Invariants for any invoice: total = subtotal + tax, balance due = total − paid; full
credit notes mirror their invoice; allocation conserves money and goes oldest first;
proration of an unchanged price over any cuts is the whole price."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.invoicing import (
    Credit,
    Invoice,
    InvoiceLine,
    LineKind,
    Plan,
    PlanKind,
    Subscription,
    SubscriptionChange,
    SubscriptionStatus,
    TaxCode,
    allocate_payment,
    build_invoice,
    credit_note,
    credits_applied,
    format_number,
    parse_number,
    segments,
)
from shared.domain.money import round_invoice_amount
from tests.unit.domain.invoicing.invoicing_helpers import BUYER, JAN, NO_TAX, SELLER

D = Decimal
CENTS = st.integers(min_value=-50_000, max_value=500_000).map(lambda c: D(c).scaleb(-2))
RATES = st.sampled_from([D(0), D("2.5"), D("7"), D("19"), D("20"), D("8.875")])
LINE = st.builds(
    lambda kind, amount, info, rates: InvoiceLine(
        kind=kind, description=kind.value, amount=amount, informational=info,
        taxes=() if info else tuple(TaxCode(name=f"T{r}", rate=r) for r in set(rates)),
    ),
    st.sampled_from(list(LineKind)), CENTS, st.booleans(), st.lists(RATES, max_size=2),
)
FAST = settings(max_examples=60, deadline=None)


def make(lines: list[InvoiceLine]) -> Invoice:
    return Invoice.draft(
        tenant="acme", period="2026-01", zone="UTC", currency="EUR", prepaid=False,
        seller=SELLER, buyer=BUYER, lines=tuple(lines), notes=(),
    )


@FAST
@given(st.lists(LINE, max_size=8), st.lists(st.integers(1, 100), max_size=4))
def test_total_is_subtotal_plus_tax_and_balance_is_total_minus_paid(
    lines: list[InvoiceLine], shares: list[int]
) -> None:
    inv = make(lines)
    assert inv.subtotal == sum((line.amount for line in lines if not line.informational), D(0))
    assert inv.tax == sum((group.amount for group in inv.tax_groups), D(0))
    assert inv.total == inv.subtotal + inv.tax
    if inv.total <= 0:
        return
    inv = inv.issue("INV-000001", date(2026, 2, 2))
    for n, percent in enumerate(shares):
        if not inv.is_open:
            break
        amount = min(inv.balance_due, round_invoice_amount(inv.total * percent / 100, "EUR"))
        if amount <= 0:
            continue
        inv = inv.record_payment(f"pi_{n}", amount, date(2026, 2, 3))
        assert inv.balance_due == inv.total - inv.paid
        assert inv.total == inv.subtotal + inv.tax
    assert (inv.balance_due == 0) == (inv.status.value == "Paid")


@FAST
@given(st.lists(LINE, min_size=1, max_size=8))
def test_a_full_credit_note_is_exactly_minus_the_invoice(lines: list[InvoiceLine]) -> None:
    inv = make(lines)
    if inv.total <= 0 or inv.subtotal <= 0:
        return
    issued = inv.issue("INV-000001", date(2026, 2, 2))
    note = credit_note(issued, "CN-000001", date(2026, 2, 3), "reversal")
    assert (note.subtotal, note.tax, note.total) == (-inv.subtotal, -inv.tax, -inv.total)


@FAST
@given(
    st.lists(st.integers(1, 100_000), min_size=1, max_size=6),
    st.integers(1, 600_000),
)
def test_allocation_conserves_money_and_pays_the_oldest_first(
    totals: list[int], paid_cents: int
) -> None:
    invoices = []
    for n, cents in enumerate(totals):
        line = InvoiceLine(kind=LineKind.ONE_TIME, description="x", amount=D(cents).scaleb(-2))
        invoices.append(make([line]).issue(format_number("INV", n + 1),
                                           date(2026, 1, 1) + timedelta(days=n)))
    amount = D(paid_cents).scaleb(-2)
    result = allocate_payment(amount, "EUR", list(reversed(invoices)))
    assert sum((a.amount for a in result.allocations), D(0)) + result.unallocated == amount
    sequences = [parse_number(a.invoice_number)[1] for a in result.allocations]
    assert sequences == sorted(sequences) == list(range(1, len(sequences) + 1))
    for allocation in result.allocations[:-1]:  # all but the last are paid in full
        assert allocation.amount == invoices[parse_number(allocation.invoice_number)[1] - 1].total
    assert result.unallocated == max(D(0), amount - sum((i.total for i in invoices), D(0)))


@FAST
@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.sampled_from([SubscriptionStatus.ACTIVE,
                                                       SubscriptionStatus.SUSPENDED])),
        max_size=5, unique_by=lambda change: change[0],
    ),
    st.integers(1, 1_000_000),
)
def test_an_unchanged_price_over_any_cuts_is_the_whole_price(
    changes: list[tuple[int, SubscriptionStatus]], fee_cents: int
) -> None:
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D(fee_cents).scaleb(-2))
    sub = Subscription(plan=plan, changes=tuple(
        SubscriptionChange(effective=date(2026, 1, 1) + timedelta(days=day), status=status)
        for day, status in changes
    ))
    cuts = segments(sub, JAN)
    assert sum((cut.share(JAN) for cut in cuts), Fraction(0)) == 1
    assert [cut.first for cut in cuts[1:]] == [cut.end for cut in cuts[:-1]]  # no gaps


@FAST
@given(st.decimals(min_value=-10_000, max_value=10_000, places=6), st.sampled_from(
    ["EUR", "JPY", "KWD"]))
def test_invoice_rounding_is_symmetric_and_within_half_a_unit(
    amount: Decimal, currency: str
) -> None:
    rounded = round_invoice_amount(amount, currency)
    assert round_invoice_amount(-amount, currency) == -rounded
    unit = {"EUR": D("0.01"), "JPY": D(1), "KWD": D("0.001")}[currency]
    assert abs(rounded - amount) <= unit / 2


@FAST
@given(
    st.integers(0, 100_000),
    st.lists(st.integers(1, 50_000), max_size=5),
)
def test_credits_never_take_an_invoice_below_zero(fee_cents: int, credit_cents: list[int]) -> None:
    fee = D(fee_cents).scaleb(-2)
    credits = [Credit(f"cr-{n}", D(c).scaleb(-2), "refund") for n, c in enumerate(credit_cents)]
    inv = build_invoice(
        tenant="acme", period=JAN, currency="EUR", prepaid=False, seller=SELLER, buyer=BUYER,
        tax_rules=NO_TAX, credits=credits,
        subscription=Subscription(plan=Plan(kind=PlanKind.FLAT_RATE, monthly_fee=fee)),
    )
    used = credits_applied(inv)
    # the credits used are the smaller of the fee and all credits, taken in order
    assert sum(used.values(), D(0)) == min(fee, sum((c.amount for c in credits), D(0)))
    assert inv.total == fee - sum(used.values(), D(0)) >= 0
