"""Plans on an invoice, hand-computed: Flat Rate with overage, PAYG, per channel, minimum
charge per server, proration of mid-period changes, trial and suspended days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.errors import ValidationError
from shared.domain.invoicing import (
    ChannelPrices,
    Channels,
    Invoice,
    LineKind,
    OneTimeCharge,
    Plan,
    PlanKind,
    Subscription,
    SubscriptionChange,
    SubscriptionStatus,
    build_invoice,
)
from tests.unit.domain.invoicing.invoicing_helpers import BUYER, JAN, NO_TAX, SELLER, Row, call

D = Decimal


def invoice(subscription: Subscription | None, rows: Sequence[Row] = (), **extra: Any) -> Invoice:
    return build_invoice(
        tenant="acme", period=JAN, currency="EUR", prepaid=False, seller=SELLER, buyer=BUYER,
        tax_rules=NO_TAX, subscription=subscription, rows=rows, **extra,
    )


def amounts(inv: Invoice) -> list[tuple[LineKind, Decimal]]:
    return [(line.kind, line.amount) for line in inv.lines]


def test_flat_rate_with_overage_of_extensions_dids_and_minutes() -> None:
    # Given a flat rate: 30.00 a month, 5 extensions, 10 DIDs and 100 minutes included;
    # overage 4.00 per extension, 1.50 per DID, 0.02 per outbound minute
    plan = Plan(
        kind=PlanKind.FLAT_RATE, name="Office", monthly_fee=D("30.00"), included_extensions=5,
        included_dids=10, included_minutes=D("100"), extension_price=D("4.00"),
        did_price=D("1.50"), minute_price=D("0.02"),
    )
    # and a tenant with 8 extensions, 12 DIDs, outbound calls of 3000 s + 2400 s + 1230 s
    # (6630 s = 110.5 min) and one inbound call (inbound minutes are not plan minutes)
    rows = [
        call("c1", "0.1234", seconds=3000), call("c2", "0.5000", seconds=2400),
        call("c3", "0.0003", seconds=1230), call("c4", "0.0250", seconds=600, direction="in"),
    ]
    # When the January invoice is built
    inv = invoice(Subscription(plan=plan, extensions=8, dids=12), rows)
    # Then
    assert amounts(inv) == [
        (LineKind.SUBSCRIPTION, D("30.00")),
        (LineKind.EXTENSIONS, D("12.00")),  # (8 - 5) × 4.00
        (LineKind.DIDS, D("3.00")),  # (12 - 10) × 1.50
        (LineKind.OVERAGE, D("0.21")),  # (110.5 - 100) × 0.02 = 0.21
        (LineKind.USAGE, D("0.62")),  # 0.1234 + 0.5000 + 0.0003 = 0.6237, rounded once
        (LineKind.USAGE, D("0.03")),  # 0.0250 half-up (half-even would give 0.02)
    ]
    overage = inv.lines[3]
    assert (overage.quantity, overage.unit_price) == (D("10.500"), D("0.02"))
    outbound = inv.lines[4]
    assert (outbound.service, outbound.direction, outbound.quantity) == ("voice", "out", D(3))
    assert outbound.billed_seconds == D("6630")  # 3000 + 2400 + 1230
    assert inv.subtotal == D("45.86")  # 30 + 12 + 3 + 0.21 + 0.62 + 0.03
    assert (inv.tax, inv.total, inv.balance_due) == (D(0), D("45.86"), D("45.86"))


def test_flat_rate_within_its_allowances_charges_only_the_fee() -> None:
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("30"), included_extensions=5,
                extension_price=D("4"), included_minutes=D("100"), minute_price=D("0.02"))
    inv = invoice(Subscription(plan=plan, extensions=5), [call("c1", "0.0100", seconds=6000)])
    # 6000 s = 100 min: exactly the included minutes, no overage line
    assert amounts(inv) == [(LineKind.SUBSCRIPTION, D("30.00")), (LineKind.USAGE, D("0.01"))]


def test_pay_as_you_go_charges_every_unit() -> None:
    # Given PAYG: 2.50 per extension, 1.25 per DID, 0.01 per outbound minute
    plan = Plan(kind=PlanKind.PAY_AS_YOU_GO, extension_price=D("2.50"), did_price=D("1.25"),
                minute_price=D("0.01"))
    rows = [call("c1", "0.0700", seconds=90), call("c2", "0.0350", seconds=45)]
    # When
    inv = invoice(Subscription(plan=plan, extensions=4, dids=3), rows)
    # Then
    assert amounts(inv) == [
        (LineKind.EXTENSIONS, D("10.00")),  # 4 × 2.50
        (LineKind.DIDS, D("3.75")),  # 3 × 1.25
        (LineKind.OVERAGE, D("0.02")),  # 135 s = 2.25 min × 0.01 = 0.0225
        (LineKind.USAGE, D("0.11")),  # 0.0700 + 0.0350 = 0.105, half-up
    ]
    assert inv.total == D("13.88")  # 10 + 3.75 + 0.02 + 0.11


def test_pay_as_you_go_with_a_fee_or_allowance_is_refused() -> None:
    with pytest.raises(ValueError, match="pay-as-you-go"):
        Plan(kind=PlanKind.PAY_AS_YOU_GO, monthly_fee=D("5"))
    with pytest.raises(ValueError, match="pay-as-you-go"):
        Plan(kind=PlanKind.PAY_AS_YOU_GO, included_minutes=D("10"))


def test_negative_prices_are_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("-1"))


def test_per_channel_trunks_charge_each_type() -> None:
    # Given 2 outbound, 3 inbound and 4 two-way channels at 10.00, 5.00 and 12.50 a month
    plan = Plan(kind=PlanKind.PER_CHANNEL, name="SIP trunk", channel_prices=ChannelPrices(
        outbound=D("10.00"), inbound=D("5.00"), two_way=D("12.50")))
    sub = Subscription(plan=plan, channels=Channels(outbound=2, inbound=3, two_way=4))
    # When
    inv = invoice(sub)
    # Then
    assert [(line.description, line.quantity, line.amount) for line in inv.lines] == [
        ("SIP trunk: outbound SIP channels", D(2), D("20.00")),  # 2 × 10.00
        ("SIP trunk: inbound SIP channels", D(3), D("15.00")),  # 3 × 5.00
        ("SIP trunk: two-way SIP channels", D(4), D("50.00")),  # 4 × 12.50
    ]
    assert inv.total == D("85.00")


def test_minimum_charge_tops_up_each_server_below_it() -> None:
    # Given a minimum of 25.00 per server and two servers (the calls' account)
    plan = Plan(kind=PlanKind.PAY_AS_YOU_GO, minimum_per_server=D("25.00"))
    sub = Subscription(plan=plan, servers=("pbx-a", "pbx-b"))
    rows = [
        call("a1", "30.0000", account="pbx-a"),  # above the minimum: no top-up
        call("b1", "4.2050", account="pbx-b"), call("b2", "3.2500", account="pbx-b"),
    ]
    # When
    inv = invoice(sub, rows)
    # Then pbx-b spent 4.2050 + 3.2500 = 7.4550; 25 - 7.455 = 17.545 → 17.55
    assert amounts(inv) == [
        (LineKind.USAGE, D("37.46")),  # 30 + 7.455 = 37.455 → 37.46
        (LineKind.MINIMUM, D("17.55")),
    ]
    assert inv.lines[1].server == "pbx-b"
    assert inv.total == D("55.01")


def test_minimum_charge_without_named_servers_covers_the_tenant() -> None:
    # Given a 10.00 fee, a minimum of 25.00 and 3.3333 of usage (line 3.33)
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("10"), minimum_per_server=D("25"))
    inv = invoice(Subscription(plan=plan), [call("c1", "3.3333")],
                  one_time=[OneTimeCharge("Number port", D("15"))])
    # Then the top-up is 25 - (10.00 + 3.33) = 11.67; the one-time charge does not count
    assert amounts(inv) == [
        (LineKind.SUBSCRIPTION, D("10.00")), (LineKind.USAGE, D("3.33")),
        (LineKind.MINIMUM, D("11.67")), (LineKind.ONE_TIME, D("15.00")),
    ]
    assert inv.total == D("40.00")  # 25 + 15


def test_mid_period_plan_and_quantity_changes_are_prorated_by_days() -> None:
    # Given January (31 days): Basic (31.00, 5 ext included, 3.10 per extra) with 6
    # extensions; Pro (62.00, same extension terms) from Jan 11; 8 extensions from Jan 21
    basic = Plan(kind=PlanKind.FLAT_RATE, name="Basic", monthly_fee=D("31.00"),
                 included_extensions=5, extension_price=D("3.10"))
    pro = basic.model_copy(update={"name": "Pro", "monthly_fee": D("62.00")})
    sub = Subscription(plan=basic, extensions=6, changes=(
        SubscriptionChange(effective=date(2026, 1, 11), plan=pro),
        SubscriptionChange(effective=date(2026, 1, 21), extensions=8),
    ))
    # When
    inv = invoice(sub)
    # Then segments are Jan 1-10 (10 d), 11-20 (10 d), 21-31 (11 d)
    assert [(line.description, line.amount) for line in inv.lines] == [
        ("Basic plan (10/31 of the period)", D("10.00")),  # 31 × 10/31
        ("Basic: extra extensions (10/31 of the period)", D("1.00")),  # 3.10 × 1 × 10/31
        ("Pro plan (21/31 of the period)", D("42.00")),  # 62 × 21/31
        ("Pro: extra extensions (10/31 of the period)", D("1.00")),  # 3.10 × 1 × 10/31
        ("Pro: extra extensions (11/31 of the period)", D("3.30")),  # 3.10 × 3 × 11/31
    ]
    assert inv.total == D("57.30")


def test_a_subscription_starting_mid_month_pays_its_days_rounded_once() -> None:
    # Given 50.00 a month from Jan 15: 17 of 31 days
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("50.00"))
    inv = invoice(Subscription(plan=plan, starts=date(2026, 1, 15)))
    # Then 50 × 17 / 31 = 27.419354… → 27.42
    assert amounts(inv) == [(LineKind.SUBSCRIPTION, D("27.42"))]


def test_segments_of_one_price_are_summed_before_the_one_rounding() -> None:
    # Given 10.00 a month, suspended Jan 11-20 and active again from Jan 21
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("10.00"))
    sub = Subscription(plan=plan, changes=(
        SubscriptionChange(effective=date(2026, 1, 11), status=SubscriptionStatus.SUSPENDED),
        SubscriptionChange(effective=date(2026, 1, 21), status=SubscriptionStatus.ACTIVE),
    ))
    # Then suspended days are charged, and 10/31 + 10/31 + 11/31 = 1 → exactly 10.00
    # (rounding each segment would give 3.23 + 3.23 + 3.55 = 10.01)
    assert amounts(invoice(sub)) == [(LineKind.SUBSCRIPTION, D("10.00"))]


def test_trial_days_charge_no_fee_but_usage_is_billed() -> None:
    # Given 31.00 a month, in trial until Jan 11, and 0.5000 of usage during the trial
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("31.00"), minimum_per_server=D("62"))
    sub = Subscription(plan=plan, status=SubscriptionStatus.TRIAL, changes=(
        SubscriptionChange(effective=date(2026, 1, 11), status=SubscriptionStatus.ACTIVE),))
    inv = invoice(sub, [call("c1", "0.5000", day=5)])
    # Then the fee is 31 × 21/31 = 21.00; the minimum is 62 × 21/31 = 42.00, topped up by
    # 42 - (21.00 + 0.50) = 20.50
    assert amounts(inv) == [
        (LineKind.SUBSCRIPTION, D("21.00")), (LineKind.USAGE, D("0.50")),
        (LineKind.MINIMUM, D("20.50")),
    ]


def test_a_whole_trial_period_bills_usage_only() -> None:
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("31.00"), minimum_per_server=D("10"))
    inv = invoice(Subscription(plan=plan, status=SubscriptionStatus.TRIAL), [call("c1", "1.25")])
    assert amounts(inv) == [(LineKind.USAGE, D("1.25"))]


def test_one_time_charges_are_price_times_quantity() -> None:
    inv = invoice(None, one_time=[OneTimeCharge("Number port", D("7.50"), D(3), "port-1")])
    line = inv.lines[0]
    assert (line.kind, line.amount, line.reference) == (LineKind.ONE_TIME, D("22.50"), "port-1")


def test_a_bad_one_time_charge_is_refused() -> None:
    with pytest.raises(ValidationError, match="Number port"):
        invoice(None, one_time=[OneTimeCharge("Number port", D("-1"))])


def test_a_subscription_ending_before_the_period_charges_nothing() -> None:
    plan = Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("31.00"))
    sub = Subscription(plan=plan, starts=date(2025, 11, 1), ends=date(2026, 1, 1))
    assert invoice(sub).lines == ()


def test_amounts_round_to_the_currency_minor_unit() -> None:
    # Given 1000 JPY a month from Jan 15 (17 of 31 days) and 12.345 KWD a month in full
    jpy = build_invoice(
        tenant="acme", period=JAN, currency="JPY", prepaid=False, seller=SELLER, buyer=BUYER,
        tax_rules=NO_TAX, subscription=Subscription(
            plan=Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("1000")), starts=date(2026, 1, 15)),
    )
    kwd = build_invoice(
        tenant="acme", period=JAN, currency="KWD", prepaid=False, seller=SELLER, buyer=BUYER,
        tax_rules=NO_TAX, subscription=Subscription(
            plan=Plan(kind=PlanKind.FLAT_RATE, monthly_fee=D("12.345"))),
    )
    # Then 1000 × 17/31 = 548.387… → 548 yen; the dinar keeps three places
    assert (jpy.total, str(jpy.total)) == (D("548"), "548")
    assert str(kwd.total) == "12.345"
    assert (jpy.billing_period.start, jpy.billing_period.end) == (date(2026, 1, 1),
                                                                  date(2026, 2, 1))


def test_plan_minutes_can_count_both_directions() -> None:
    # Given PAYG at 0.01 per minute counting outbound and inbound: 90 s + 30 s = 2 min
    plan = Plan(kind=PlanKind.PAY_AS_YOU_GO, minute_price=D("0.01"),
                minute_directions=("out", "in"))
    inv = invoice(Subscription(plan=plan), [call("c1", "0", seconds=90),
                                            call("c2", "0", seconds=30, direction="in")])
    assert (inv.lines[0].kind, inv.lines[0].amount) == (LineKind.OVERAGE, D("0.02"))
    with pytest.raises(ValueError, match="minute_directions"):
        Plan(kind=PlanKind.PAY_AS_YOU_GO, minute_directions=("sideways",))


def test_changes_before_the_period_apply_from_its_start_and_later_ones_not_yet() -> None:
    # Given 10 extensions at 1.00 each, changed to 20 on Dec 15 and to 40 on Feb 10
    plan = Plan(kind=PlanKind.PAY_AS_YOU_GO, extension_price=D("1.00"))
    sub = Subscription(plan=plan, extensions=10, changes=(
        SubscriptionChange(effective=date(2026, 2, 10), extensions=40),
        SubscriptionChange(effective=date(2025, 12, 15), extensions=20),
    ))
    # Then all of January has 20 extensions: 20 × 1.00
    assert amounts(invoice(sub)) == [(LineKind.EXTENSIONS, D("20.00"))]
