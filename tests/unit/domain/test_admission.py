"""Call admission: the longest call the money pays for, hand-computed with the real engine,
and every reason a call is blocked (SPEC 1, 3.7, 7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.admission import MAX_CALL_SECONDS, admit, longest_call, money_available
from shared.domain.errors import ValidationError
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.tenants import AccountStatus, BillingMode, Numbering, TenantSettings
from tests.unit.builders import MONDAY_10AM, PEAK_OFFPEAK_BANDS, card, compiled, ms, rate, rate_one
from tests.unit.builders import call as make_call

AT = ms(MONDAY_10AM)
DE = "4930123456"  # Germany, prefix 49
PLAN = NumberingPlan()


def ten_cents(**fields: Any) -> CompiledCard:
    """0.10/min to prefix 49 on 60/60 unless overridden."""
    options: dict[str, Any] = {"initial": 60, "increment": 60, **fields}
    return compiled(card(rate("49", "0.10", **options)))


def longest(compiled_card: CompiledCard, money: str | None) -> tuple[int, bool, str | None]:
    found = longest_call(compiled_card, PLAN, DE, AT, None if money is None else Decimal(money))
    return found.seconds, found.unlimited, found.limited_by


def test_one_dollar_at_ten_cents_a_minute_on_60_60_lasts_600_seconds() -> None:
    # 10 whole minutes cost 1.00; a 601st second opens an 11th minute: 1.10 > 1.00
    assert longest(ten_cents(), "1.00") == (600, False, "money")


def test_a_connect_fee_comes_off_first() -> None:
    # 0.05 + 0.10 × m ≤ 1.00 → m ≤ 9.5 → 9 minutes = 540 s
    assert longest(ten_cents(connect_fee="0.05"), "1.00") == (540, False, "money")


def test_30_6_increments() -> None:
    # billed = 30 s then 6 s steps at 0.10/min; 0.52 pays 312 s (30 + 47 × 6): 312 × 0.10 / 60
    # = 0.52; 313 s bills 318 s = 0.53
    assert longest(ten_cents(initial=30, increment=6), "0.52") == (312, False, "money")
    # 0.04 does not pay the first 30 s (0.05): no call at all
    assert longest(ten_cents(initial=30, increment=6), "0.04") == (0, False, "money")


def test_a_free_max_cost_cap_at_or_under_the_money_means_unlimited() -> None:
    capped = ten_cents(max_cost="0.50")
    assert longest(capped, "1.00") == (MAX_CALL_SECONDS, True, None)
    assert longest(capped, "0.50") == (MAX_CALL_SECONDS, True, None)
    # a cap above the money does not help: 2.00 cap, 1.00 pays 10 minutes
    assert longest(ten_cents(max_cost="2.00"), "1.00") == (600, False, "money")


def test_a_disconnect_max_cost_ends_the_call_at_the_cap() -> None:
    # 0.30 is reached at 3 minutes; the 4th minute would cost 0.40
    disconnect = ten_cents(max_cost="0.30", max_cost_strategy="disconnect")
    assert longest(disconnect, "1.00") == (180, False, "max_cost_disconnect")
    # with less money than the cap, the money ends it first: 0.20 → 2 minutes
    assert longest(disconnect, "0.20") == (120, False, "money")
    found = longest_call(disconnect, PLAN, DE, AT, Decimal("1.00"))
    assert (found.max_cost, found.max_cost_strategy) == (Decimal("0.30"), "disconnect")


def test_time_bands_crossed_during_the_call() -> None:
    # peak 0.60/min until 20:00 UTC, off-peak 0.06/min after; answered Monday 19:58:00.
    # Minutes 1-2 at peak = 1.20; with 1.50 the other 0.30 pays 5 off-peak minutes: 7 min
    banded = compiled(card(
        rate("49", "0.60", initial=60, increment=60, band="peak"),
        rate("49", "0.06", initial=60, increment=60, band="offpeak"),
        bands=PEAK_OFFPEAK_BANDS,
    ))
    found = longest_call(banded, PLAN, DE, ms("2026-03-02T19:58:00Z"), Decimal("1.50"))
    assert (found.seconds, found.cost) == (420, Decimal("1.5000"))


def test_no_money_bound_is_unlimited_and_an_unrated_number_is_an_error() -> None:
    assert longest(ten_cents(), None) == (MAX_CALL_SECONDS, True, None)
    with pytest.raises(ValidationError, match="cannot rate a call to 3312345678"):
        longest_call(ten_cents(), PLAN, "3312345678", AT, Decimal("1"))


def tenant(**changes: object) -> TenantSettings:
    base = TenantSettings(tenant_id="acme", card="test", currency="USD",
                          numbering=Numbering(country_code="49"))
    return base.model_copy(update=changes)


def test_each_block_reason() -> None:
    prices = ten_cents()
    # prepaid wallet exhausted
    empty = admit(tenant(), prices, DE, AT, Decimal("0"), Decimal("0"))
    assert not empty.allowed and "prepaid balance exhausted (0)" in empty.reasons
    # postpaid: 100.01 unbilled over a 100.00 limit
    over = admit(tenant(mode=BillingMode.POSTPAID, credit_limit=Decimal("100.00")), prices, DE,
                 AT, Decimal("-100.01"), Decimal("0"))
    assert not over.allowed and any("credit limit" in reason for reason in over.reasons)
    # suspended
    suspended = admit(tenant(status=AccountStatus.SUSPENDED), prices, DE, AT, Decimal("50"),
                      Decimal("0"))
    assert not suspended.allowed and suspended.reasons[0] == "account suspended"
    # fraud cap reached: blocks an international number (a US tenant calling Germany) ...
    capped = tenant(numbering=Numbering(country_code="1"), daily_spend_cap=Decimal("20"))
    abroad = admit(capped, prices, DE, AT, Decimal("50"), Decimal("20.00"))
    assert not abroad.allowed and abroad.international
    assert any("fraud guard" in reason for reason in abroad.reasons)
    # ... but not a national one (a German tenant calling Germany)
    home = admit(tenant(daily_spend_cap=Decimal("20")), prices, DE, AT, Decimal("50"),
                 Decimal("20.00"))
    assert home.allowed and not home.international and home.reasons == ()


def test_emergency_numbers_are_allowed_while_suspended_and_exhausted() -> None:
    blocked = tenant(status=AccountStatus.SUSPENDED)
    found = admit(blocked, ten_cents(), "112", AT, Decimal("-5"), Decimal("0"))
    assert found.allowed and found.kind == "emergency"
    assert found.longest is not None and found.longest.unlimited


def test_money_available_by_mode() -> None:
    # postpaid: limit 100.00 with 99.00 unbilled leaves 1.00; no limit: unbounded
    postpaid = tenant(mode=BillingMode.POSTPAID, credit_limit=Decimal("100.00"))
    assert money_available(postpaid, Decimal("-99.00"), Decimal("0"), False) == Decimal("1.00")
    assert money_available(tenant(mode=BillingMode.POSTPAID), Decimal("-5"), Decimal(0),
                           False) is None
    # international: the rest of the daily cap bounds it too (20 - 18.50 = 1.50)
    capped = tenant(daily_spend_cap=Decimal("20"))
    assert money_available(capped, Decimal("50"), Decimal("18.50"), True) == Decimal("1.50")
    # a funded prepaid tenant: 1.00 pays 600 s at 0.10/min
    funded = admit(tenant(), ten_cents(), DE, AT, Decimal("1.00"), Decimal("0"))
    assert funded.allowed and funded.longest is not None and funded.longest.seconds == 600


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    price=st.decimals("0.001", "2.000", places=3),
    initial=st.sampled_from([1, 6, 30, 60]),
    increment=st.sampled_from([1, 6, 60]),
    connect=st.decimals("0", "0.20", places=2),
    money=st.decimals("0.01", "30.00", places=2),
)
def test_the_longest_call_fits_and_one_second_more_does_not(
    price: Decimal, initial: int, increment: int, connect: Decimal, money: Decimal
) -> None:
    # the invariant of the search, checked against the engine itself
    prices = compiled(card(rate("49", str(price), initial=initial, increment=increment,
                                connect_fee=str(connect))))
    found = longest_call(prices, PLAN, DE, AT, money)
    if found.unlimited:
        return
    if found.seconds:
        assert rate_one(prices, make_call(DE, talk=found.seconds)).cost <= money
    assert rate_one(prices, make_call(DE, talk=found.seconds + 1)).cost > money
