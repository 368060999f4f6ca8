"""Tax, refunds, late calls, re-rate adjustments and prepaid statements on an invoice,
hand-computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.errors import ValidationError
from shared.domain.invoicing import (
    Adjustment,
    BillingPeriod,
    Credit,
    Invoice,
    InvoiceStatus,
    LineKind,
    OneTimeCharge,
    Party,
    Plan,
    PlanKind,
    Subscription,
    TaxRules,
    TopUp,
    aggregate_usage,
    build_invoice,
    credits_applied,
    late_calls,
)
from tests.unit.domain.invoicing.invoicing_helpers import (
    BERLIN,
    BUYER,
    FEB,
    JAN,
    NO_TAX,
    SELLER,
    TAX,
    Row,
    call,
    local_ms,
)

D = Decimal
FEE = Subscription(plan=Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("100.00")))


def invoice(
    *, buyer: Party = BUYER, rules: Mapping[str, TaxRules] = TAX, prepaid: bool = False,
    period: BillingPeriod = JAN, rows: Sequence[Row] = (), **extra: Any,
) -> Invoice:
    return build_invoice(
        tenant="acme", period=period, currency="EUR", prepaid=prepaid, seller=SELLER,
        buyer=buyer, tax_rules=rules, rows=rows, **extra,
    )


def groups(inv: Invoice) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [(g.name, g.rate, g.base, g.amount) for g in inv.tax_groups]


# ------------------------------------------------------------------------------ tax


def test_tax_rate_per_line_type_and_telecom_levy_per_rate_group() -> None:
    # Given DE: VAT 19 % (7 % on one-time fees) and a 2.5 % telecom levy on service lines;
    # a 100.00 fee, 20.05 of usage and a 10.00 number port
    inv = invoice(subscription=FEE, rows=[call("c1", "20.0500")],
                  one_time=[OneTimeCharge("Number port", D("10.00"))])
    # Then VAT 19 % on 100 + 20.05 = 120.05 → 22.8095 → 22.81; VAT 7 % on 10 → 0.70;
    # the levy on 120.05 (not the port) → 3.00125 → 3.00
    assert groups(inv) == [
        ("Telecom levy", D("2.5"), D("120.05"), D("3.00")),
        ("VAT", D("7"), D("10.00"), D("0.70")),  # groups by name, then rate
        ("VAT", D("19"), D("120.05"), D("22.81")),
    ]
    assert inv.subtotal == D("130.05")
    assert inv.tax == D("26.51")  # 3.00 + 22.81 + 0.70
    assert inv.total == D("156.56")  # 130.05 + 26.51
    assert (inv.seller.tax_id, inv.notes) == ("DE111", ())


def test_tax_is_rounded_once_per_group_not_per_line() -> None:
    # Given three one-time fees of 0.10 at 7 %: per line 0.007 → 0.01 each = 0.03,
    # per group 0.30 × 7 % = 0.021 → 0.02
    fees = [OneTimeCharge(f"Fee {n}", D("0.10")) for n in range(3)]
    assert groups(invoice(one_time=fees)) == [("VAT", D("7"), D("0.30"), D("0.02"))]


def test_reverse_charge_for_a_business_abroad_with_a_tax_id() -> None:
    # Given a French business with a tax id buying from a German seller
    buyer = Party(name="Client SA", country="FR", business=True, tax_id="FR999")
    # When
    inv = invoice(buyer=buyer, subscription=FEE, rows=[call("c1", "20.0500")])
    # Then no tax at all, a reverse-charge note with the buyer's id, both ids on the invoice
    assert (inv.tax_groups, inv.tax, inv.total) == ((), D(0), D("120.05"))
    assert "Reverse charge" in inv.notes[0] and "FR999" in inv.notes[0]
    assert (inv.seller.tax_id, inv.buyer.tax_id) == ("DE111", "FR999")


def test_a_consumer_abroad_is_taxed_by_their_country() -> None:
    # Given a French consumer: place of supply France, TVA 20 %, no levy
    inv = invoice(buyer=Party(name="Jean", country="FR"), subscription=FEE)
    assert groups(inv) == [("TVA", D("20"), D("100.00"), D("20.00"))]
    assert inv.total == D("120.00")


def test_a_business_abroad_without_a_tax_id_is_taxed_normally() -> None:
    inv = invoice(buyer=Party(name="Client", country="FR", business=True), subscription=FEE)
    assert inv.tax == D("20.00")  # 100 × 20 %


def test_a_domestic_business_pays_tax() -> None:
    buyer = Party(name="Kunde", country="DE", business=True, tax_id="DE222")
    inv = invoice(buyer=buyer, subscription=FEE)
    assert inv.tax == D("21.50")  # 100 × 19 % + 100 × 2.5 %


def test_an_exempt_buyer_pays_no_tax_and_is_told_why() -> None:
    inv = invoice(buyer=Party(name="Charity", country="DE", exempt=True), subscription=FEE)
    assert (inv.tax, inv.total) == (D(0), D("100.00"))
    assert "Exempt" in inv.notes[0]


def test_a_jurisdiction_without_rules_is_an_error_not_zero_tax() -> None:
    with pytest.raises(ValidationError, match="no tax rules for US"):
        invoice(buyer=Party(name="Bob", country="US"), subscription=FEE)


def test_a_country_must_be_an_iso_code() -> None:
    with pytest.raises(ValueError, match="alpha-2"):
        Party(name="Bob", country="Germany")


# --------------------------------------------------------------------------- credits


def test_a_refund_credit_is_a_negative_line_that_lowers_the_taxed_base() -> None:
    # Given a 100.00 fee and a pending invoice credit of 5.00
    inv = invoice(subscription=FEE, credits=[Credit("cr-1", D("5.00"), "refund of overcharge")])
    # Then
    credit = inv.lines[-1]
    assert (credit.kind, credit.amount, credit.reference) == (LineKind.CREDIT, D("-5.00"), "cr-1")
    assert inv.subtotal == D("95.00")  # 100 - 5
    # VAT on 95 = 18.05; the levy applies to service lines only: 100 × 2.5 % = 2.50
    assert groups(inv) == [
        ("Telecom levy", D("2.5"), D("100.00"), D("2.50")),
        ("VAT", D("19"), D("95.00"), D("18.05")),
    ]
    assert inv.total == D("115.55")  # 95 + 18.05 + 2.50
    assert credits_applied(inv) == {"cr-1": D("5.00")}


def test_credits_beyond_the_charges_are_applied_in_part_and_the_rest_waits() -> None:
    # Given 10.00 of charges and credits of 6.00 then 15.00
    fee = Subscription(plan=Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("10.00")))
    inv = invoice(rules=NO_TAX, subscription=fee, credits=[
        Credit("cr-1", D("6.00"), "a"), Credit("cr-2", D("15.00"), "b"),
        Credit("cr-3", D("1.00"), "c"),
    ])
    # Then cr-1 takes 6.00, cr-2 the remaining 4.00, cr-3 nothing: total 0
    assert credits_applied(inv) == {"cr-1": D("6.00"), "cr-2": D("4.00")}
    assert inv.total == D(0)
    # and an invoice of 0 is Paid as soon as it is issued
    assert inv.issue("INV-000001", date(2026, 2, 2)).status is InvoiceStatus.PAID


def test_a_credit_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="cr-1"):
        invoice(subscription=FEE, credits=[Credit("cr-1", D("-1"), "x")])


# ---------------------------------------------------------------- late calls, re-rates


def test_a_late_call_of_an_invoiced_period_is_a_late_line_on_the_next_invoice() -> None:
    # Given January was invoiced with c1; c2 (answered Jan 31 23:30 Berlin, 22:30 UTC)
    # arrived after that invoice
    jan_rows = [
        call("c1", "1.0000"),
        Row("c2", D("0.4321"), local_ms(2026, 1, 31, 23, 30), 30_000),
    ]
    late = late_calls(jan_rows, {"c1"})
    assert [row.call_id for row in late] == ["c2"]
    # When February's invoice is built with one February call
    inv = invoice(period=FEB, rules=NO_TAX, rows=[call("f1", "2.0000", month=2)], late_rows=late)
    # Then the late call is billed on it, naming its period
    assert [(line.kind, line.description, line.amount, line.period) for line in inv.lines] == [
        (LineKind.USAGE, "voice out", D("2.00"), ""),
        (LineKind.LATE_USAGE, "Late voice out (2026-01)", D("0.43"), "2026-01"),
    ]
    assert inv.total == D("2.43")


def test_a_call_belongs_to_the_period_of_its_answer_time_in_the_tenant_zone() -> None:
    # Given a call answered Feb 1 00:30 Berlin = Jan 31 23:30 UTC
    row = Row("c1", D("1"), local_ms(2026, 2, 1, 0, 30))
    # Then it is February's in Berlin, January's in UTC
    assert [k.period for k in aggregate_usage([row], "EUR", BERLIN).totals] == ["2026-02"]
    assert [k.period for k in aggregate_usage([row], "EUR", "UTC").totals] == ["2026-01"]
    # and the January invoice refuses it as current usage
    with pytest.raises(ValidationError, match="2026-02"):
        invoice(rows=[row])


def test_late_rows_must_be_of_earlier_periods() -> None:
    with pytest.raises(ValidationError, match="late"):
        invoice(period=JAN, late_rows=[call("c1", "1.00")])


def test_the_same_call_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="twice"):
        invoice(rows=[call("c1", "1.00"), call("c1", "1.00")])
    with pytest.raises(ValidationError, match="both"):
        invoice(period=FEB, rows=[call("c1", "1", month=2)], late_rows=[call("c1", "1")])


def test_a_call_in_another_currency_is_refused() -> None:
    with pytest.raises(ValidationError, match="USD"):
        invoice(rows=[replace(call("c1", "1.00"), currency="USD")])


def test_unanswered_rows_are_not_billed() -> None:
    inv = invoice(rules=NO_TAX, rows=[replace(call("c1", "9.99"), status="unanswered")])
    assert (inv.lines, inv.total) == ((), D(0))


def test_a_re_rate_adjustment_is_a_signed_line_with_reason_and_receipt() -> None:
    inv = invoice(rules=NO_TAX, subscription=FEE, adjustments=[
        Adjustment("rerate#r1#c9", D("-0.125"), "card fix", period="2025-12")])
    line = inv.lines[-1]
    # -0.125 half-up (away from zero) → -0.13
    assert (line.kind, line.amount, line.reference, line.period) == (
        LineKind.ADJUSTMENT, D("-0.13"), "rerate#r1#c9", "2025-12")
    assert "card fix" in line.description
    assert inv.total == D("99.87")  # 100 - 0.13


# ------------------------------------------------------------------------- prepaid


def test_prepaid_usage_and_top_ups_are_informational() -> None:
    # Given a prepaid tenant: a 100.00 fee, 3.2100 of usage, a late call of 0.5000 and a
    # 20.00 top-up, all under DE tax
    inv = invoice(
        prepaid=True, period=FEB, subscription=FEE, rows=[call("f1", "3.2100", month=2)],
        late_rows=[call("j1", "0.5000")], top_ups=[TopUp("pi_1", D("20.00"), "2026-02-03")],
    )
    shown = [(line.kind, line.amount, line.informational) for line in inv.lines]
    assert shown == [
        (LineKind.SUBSCRIPTION, D("100.00"), False),
        (LineKind.USAGE, D("3.21"), True),
        (LineKind.LATE_USAGE, D("0.50"), True),
        (LineKind.TOP_UP, D("20.00"), True),
    ]
    # Then only the fee is charged: 100 + 19 % + 2.5 % levy = 121.50
    assert (inv.subtotal, inv.tax, inv.total) == (D("100.00"), D("21.50"), D("121.50"))
    assert all(line.taxes == () for line in inv.lines if line.informational)
    assert inv.prepaid and any("prepaid" in note for note in inv.notes)


def test_postpaid_usage_is_charged() -> None:
    inv = invoice(rules=NO_TAX, rows=[call("c1", "3.2100")])
    assert (inv.lines[0].informational, inv.total) == (False, D("3.21"))


def test_re_rate_adjustments_of_one_run_are_summed_before_rounding() -> None:
    # Given a re-rate run that changed three December calls by +0.0040 each, and one
    # of January by -0.0100 (an ungrouped one is its own line)
    run = [Adjustment(f"rerate#r1#c{n}", D("0.0040"), f"call c{n}", "2025-12", "rerate#r1")
           for n in range(3)]
    inv = invoice(rules=NO_TAX, period=FEB, subscription=FEE, adjustments=[
        *run, Adjustment("rerate#r1#c9", D("-0.0100"), "call c9", "2026-01", "rerate#r1"),
        Adjustment("manual-1", D("1.00"), "goodwill fix")])
    lines = [(line.reference, line.period, line.quantity, line.amount) for line in inv.lines
             if line.kind is LineKind.ADJUSTMENT]
    # Then December: 3 × 0.0040 = 0.0120 → 0.01 (per call it would be 3 × 0.00 = 0.00)
    assert lines == [
        ("rerate#r1", "2025-12", D(3), D("0.01")),
        ("rerate#r1", "2026-01", D(1), D("-0.01")),
        ("manual-1", "", D(1), D("1.00")),
    ]
    assert inv.total == D("101.00")  # 100 + 0.01 - 0.01 + 1.00


def test_negative_tax_rates_are_refused_when_rules_load() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        TaxRules(country="DE", default_rate=D("-19"))
    with pytest.raises(ValueError, match="0 or more"):
        TaxRules.model_validate({"country": "DE", "rates": {"usage": "-1"}})
    with pytest.raises(ValueError, match="kinds"):
        TaxRules.model_validate({"country": "DE", "surcharges": [
            {"name": "levy", "rate": "1", "kinds": ["phone"]}]})


# ------------------------------------------------------------------------------ empty


def test_an_invoice_with_nothing_charged_totals_zero_in_minor_units() -> None:
    empty = invoice()

    # no lines: 0 EUR written with its two minor-unit places, like every other amount
    assert [str(a) for a in (empty.subtotal, empty.tax, empty.total)] == ["0.00"] * 3
    issued = empty.issue("INV-000001", date(2026, 2, 1), 14)
    assert (str(issued.paid), str(issued.balance_due)) == ("0.00", "0.00")


def test_a_yen_invoice_with_nothing_charged_totals_zero_without_places() -> None:
    empty = build_invoice(
        tenant="acme", period=JAN, currency="JPY", prepaid=False, seller=SELLER,
        buyer=BUYER, tax_rules=TAX, rows=(),
    )

    assert str(empty.total) == "0"  # JPY has no minor unit
