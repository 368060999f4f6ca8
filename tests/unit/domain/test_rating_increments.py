"""SPEC 3.1, 3.5 and 3.7: what is billed, how talk time is laid out in increments and tiers,
and how fees, caps and the one rounding turn it into a cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.calls import CallStatus
from shared.formats.fields import parse_seconds_ms
from tests.unit.builders import call, card, rate, rate_one, tier


def test_61_seconds_on_60_6_bills_66_seconds() -> None:
    # Given 0.0140/min billed 60/6 (first increment 60 s, then 6 s steps)
    doc = card(rate("49", "0.0140", initial=60, increment=6))
    # When a 61 s call is rated
    rating = rate_one(doc, call("4930123456", talk=61))
    # Then 60 + one 6 s step = 66 s are billed: 66/60 × 0.0140 = 0.0154
    assert rating.billed_ms == 66_000
    assert rating.cost == Decimal("0.0154")


def test_7_seconds_on_60_6_bills_the_60_second_minimum() -> None:
    # Given 60/6 billing / When a 7 s call is rated
    rating = rate_one(card(rate("49", "0.0140", initial=60, increment=6)), call(talk=7))
    # Then the first increment (the minimum charged duration) is 60 s: 0.0140
    assert rating.billed_ms == 60_000
    assert rating.cost == Decimal("0.0140")


def test_a_call_of_exactly_the_initial_increment_bills_only_that() -> None:
    # Given 60/6 / When a call of exactly 60 s is rated / Then no 6 s step is added
    rating = rate_one(card(rate("49", "0.0140", initial=60, increment=6)), call(talk=60))
    assert rating.billed_ms == 60_000


def test_initial_defaults_to_the_first_tier_increment() -> None:
    # Given increment 30 and no `initial` (SPEC 4: initial = the first tier's increment)
    doc = card(rate("49", "0.0600", increment=30))
    # When a 10 s call and a 31 s call are rated
    short, longer = rate_one(doc, call(talk=10)), rate_one(doc, call(talk=31))
    # Then they bill 30 s (0.0300) and 60 s (0.0600)
    assert (short.billed_ms, short.cost) == (30_000, Decimal("0.0300"))
    assert (longer.billed_ms, longer.cost) == (60_000, Decimal("0.0600"))


def test_per_second_billing_is_the_default_increment() -> None:
    # Given a rate with no increment at all (SPEC 4 default 1 s, per 60)
    doc = card(rate("49", "0.6000"))
    # When a 61.2 s call is rated
    rating = rate_one(doc, call(talk="61.2"))
    # Then talk time is rounded up to whole seconds: 62 s × 0.60/60 = 0.6200
    assert rating.billed_ms == 62_000
    assert rating.cost == Decimal("0.6200")


def test_a_later_tier_takes_over_at_its_offset_without_splitting_increments() -> None:
    # Given tiers [0 s: 60/60 at 0.60/min] [60 s: 1/1 at 0.30/min]
    doc = card(rate("49", tiers=[tier("0.60", increment=60), tier("0.30", start=60, increment=1)]))
    # When a 61 s call is rated
    rating = rate_one(doc, call(talk=61))
    # Then it bills 61 s, not 120 s: 60 s at 0.60/min = 0.60, then 1 s at 0.30/min = 0.005
    assert rating.billed_ms == 61_000
    assert rating.cost == Decimal("0.6050")


def test_an_increment_that_starts_in_one_tier_keeps_that_tier_past_the_next_tiers_start() -> None:
    # Given tiers [0 s: 0.60/min in 45 s steps] [60 s: 0.30/min in 1 s steps]
    doc = card(rate("49", tiers=[tier("0.60", increment=45), tier("0.30", start=60, increment=1)]))
    # When a 95 s call is rated
    rating = rate_one(doc, call(talk=95))
    # Then increments start at 0 and 45 (both in tier 1, 45 s each, the second running to
    # 90 s although tier 2 starts at 60), then 90..95 in 1 s steps from tier 2:
    # 90 s × 0.60/60 = 0.90, plus 5 s × 0.30/60 = 0.025 → 0.925, billed 95 s
    assert rating.billed_ms == 95_000
    assert rating.cost == Decimal("0.9250")
    assert rating.receipt is not None
    assert [(p.count, p.increment_s) for p in rating.receipt.parts] == [
        (1, Decimal("45")),
        (1, Decimal("45")),
        (5, Decimal("1")),
    ]


def test_worked_example_a_one_call_of_9_1_seconds_in_millisecond_increments() -> None:
    # Given 0.005/min, increment 0.001 s, 4 dp rounding up (SPEC 3.7 worked example A)
    doc = card(rate("", "0.005", increment="0.001"), decimals=4, rounding="up")
    # When a 9.1 s call is rated
    rating = rate_one(doc, call(talk="9.1"))
    # Then 9.1 s are billed: 9.1/60 × 0.005 = 0.000758333… → 0.0008 (rounded up once)
    assert rating.billed_ms == 9_100
    assert str(rating.cost) == "0.0008"
    assert rating.receipt is not None
    assert rating.receipt.unrounded.startswith("0.000758333")


def test_a_call_with_zero_talk_time_is_unanswered_and_pays_no_connect_fee() -> None:
    # Given a rate with a connect fee
    doc = card(rate("49", "0.0140", connect_fee="0.0500"))
    # When a call with 0 s of talk is rated
    rating = rate_one(doc, call(talk=0))
    # Then it is unanswered and costs nothing: no connect fee, no minimum increment
    assert rating.status is CallStatus.UNANSWERED
    assert rating.cost == 0
    assert rating.billed_ms == 0


def test_a_call_with_a_not_answered_disposition_costs_nothing_even_with_talk_time() -> None:
    # Given a connect fee / When the switch says the call was not answered
    rating = rate_one(card(rate("49", connect_fee="0.05")), call(talk=30, answered=False))
    # Then ring time is never billed: unanswered, cost 0
    assert rating.status is CallStatus.UNANSWERED
    assert rating.cost == 0


def test_the_connect_fee_is_added_once_to_an_answered_call() -> None:
    # Given 0.0140/min 60/6 and a 0.0100 connect fee / When a 61 s call is rated
    doc = card(rate("49", "0.0140", initial=60, increment=6, connect_fee="0.0100"))
    rating = rate_one(doc, call(talk=61))
    # Then 66 s × 0.0140/60 = 0.0154, + 0.0100 once = 0.0254
    assert rating.cost == Decimal("0.0254")


def test_min_cost_raises_a_cheap_call_to_the_minimum() -> None:
    # Given 0.0140/min per second and a minimum cost of 0.0050
    doc = card(rate("49", "0.0140", min_cost="0.0050"))
    # When a 1 s call is rated (1 × 0.0140/60 = 0.000233…)
    rating = rate_one(doc, call(talk=1))
    # Then it costs the minimum, and the receipt says why
    assert rating.cost == Decimal("0.0050")
    assert "min_cost" in rating.flags


def test_min_cost_is_compared_with_usage_plus_connect_fee() -> None:
    # Given a 0.0100 connect fee and a 0.0050 minimum
    doc = card(rate("49", "0.0140", connect_fee="0.0100", min_cost="0.0050"))
    # When a 1 s call is rated: 0.000233… + 0.0100 = 0.010233… is above the minimum
    rating = rate_one(doc, call(talk=1))
    # Then the minimum does not apply: 0.010233… rounded up = 0.0103
    assert rating.cost == Decimal("0.0103")
    assert "min_cost" not in rating.flags


def test_max_cost_free_caps_the_cost() -> None:
    # Given 0.60/min per second with max_cost 1.00, strategy free
    doc = card(rate("49", "0.60", max_cost="1.00", max_cost_strategy="free"))
    # When a 120 s call is rated (120 × 0.60/60 = 1.20)
    rating = rate_one(doc, call(talk=120))
    # Then the cost stops at the cap (time past it is free) and the receipt is flagged
    assert rating.cost == Decimal("1.0000")
    assert "max_cost_capped" in rating.flags
    assert rating.billed_ms == 120_000  # the time is still reported as billed time


def test_max_cost_disconnect_does_not_cap_but_flags_the_receipt() -> None:
    # Given the same rate with strategy disconnect
    doc = card(rate("49", "0.60", max_cost="1.00", max_cost_strategy="disconnect"))
    # When a 120 s call is rated
    rating = rate_one(doc, call(talk=120))
    # Then the full 1.20 is charged (the call should have been cut; it was not) and flagged
    assert rating.cost == Decimal("1.2000")
    assert "max_cost_disconnect" in rating.flags
    assert "max_cost_capped" not in rating.flags
    assert rating.receipt is not None and "max_cost_disconnect" in rating.receipt.flags


def test_max_cost_applies_after_the_connect_fee() -> None:
    # Given 0.60/min, a 0.50 connect fee and a free cap at 1.00
    doc = card(rate("49", "0.60", connect_fee="0.50", max_cost="1.00"))
    # When a 60 s call is rated: 0.60 + 0.50 = 1.10 > 1.00
    rating = rate_one(doc, call(talk=60))
    # Then the cap applies to the sum: 1.0000
    assert rating.cost == Decimal("1.0000")


def test_increment_precision_rounds_each_increment_half_up_before_summing() -> None:
    # Given 0.0030/min per second: each 1 s increment is 0.0030/60 = 0.00005 exactly,
    # and the card rounds every increment to 4 dp (increment_precision 4)
    doc = card(rate("49", "0.0030"), increment_precision=4)
    # When a 3 s call is rated
    rating = rate_one(doc, call(talk=3))
    # Then each increment is 0.00005 → 0.0001 (half-up, not half-even's 0.0000),
    # 3 × 0.0001 = 0.0003 (rounding the exact 0.00015 once would give 0.0002)
    assert rating.cost == Decimal("0.0003")


def test_increment_precision_can_round_increments_down() -> None:
    # Given 0.0070/min per second: each 1 s increment is 0.000116666…, rounded to 4 dp
    doc = card(rate("49", "0.0070"), increment_precision=4)
    # When a 10 s call is rated
    rating = rate_one(doc, call(talk=10))
    # Then each increment is 0.0001 (0.0001166 half-up), 10 × 0.0001 = 0.0010;
    # without increment_precision it would be 0.0011666… → 0.0012
    assert rating.cost == Decimal("0.0010")
    assert rate_one(card(rate("49", "0.0070")), call(talk=10)).cost == Decimal("0.0012")


@pytest.mark.parametrize(
    ("rounding", "price", "expected"),
    [
        # one 60 s increment at `price`/min is exactly `price`; the rate rounds to 2 dp
        ("down", "0.0290", "0.02"),
        ("up", "0.0210", "0.03"),
        ("half_up", "0.0250", "0.03"),  # a tie goes up
        ("half_up", "0.0249", "0.02"),
        ("half_even", "0.0250", "0.02"),  # a tie goes to the even cent
        ("half_even", "0.0350", "0.04"),
        ("half_even", "0.0251", "0.03"),
    ],
)
def test_a_rate_may_override_the_cards_decimals_and_rounding(
    rounding: str, price: str, expected: str
) -> None:
    # Given a card rounding up to 4 dp, and a rate that rounds `rounding` to 2 dp
    doc = card(
        rate("49", price, increment=60, decimals=2, rounding=rounding), decimals=4, rounding="up"
    )
    # When a 60 s call is rated
    rating = rate_one(doc, call(talk=60))
    # Then the rate's rule is the one rounding: exactly `expected`, with 2 decimals
    assert str(rating.cost) == expected


def test_card_decimals_and_rounding_apply_when_the_rate_does_not_override() -> None:
    # Given a card rounding down to 3 dp / When a 9.1 s call at 0.005/min (0.000758…) is rated
    doc = card(rate("", "0.005", increment="0.001"), decimals=3, rounding="down")
    rating = rate_one(doc, call(talk="9.1"))
    # Then 0.000758… → 0.000
    assert str(rating.cost) == "0.000"


def test_sub_millisecond_talk_time_is_rounded_up_to_the_millisecond_by_the_reader() -> None:
    # Given 0.001 s increments (effectively exact) / When a call of 1.0001 s is read and rated,
    # the reader already turned 1.0001 s into 1001 ms (SPEC 3.1: rounded up to whole ms)
    assert parse_seconds_ms("1.0001", "billsec") == 1001
    doc = card(rate("", "60", increment="0.001"))  # 60/min = 1 per second = 0.001 per ms
    rating = rate_one(doc, call(talk="1.001"))
    # Then 1001 ms × 0.001 = 1.001 → 1.0010
    assert rating.cost == Decimal("1.0010")
