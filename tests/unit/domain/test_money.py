"""Money is exact: Decimal amounts with a currency, and each rounding has one name and rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.errors import ValidationError
from shared.domain.money import (
    Money,
    Rounding,
    minor_units,
    parse_decimal,
    round_call_cost,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("JPY", 0),  # ISO 4217: the yen has no minor unit
        ("USD", 2),  # cents
        ("EUR", 2),
        ("KWD", 3),  # the Kuwaiti dinar has 1,000 fils
        ("BHD", 3),
    ],
)
def test_minor_units_follow_iso_4217(currency: str, places: int) -> None:
    # Given an ISO 4217 currency / When asking its minor unit / Then it is ISO's exponent
    assert minor_units(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        # JPY has 0 decimals: 1234.4 → 1234 yen; 1234.5 is a tie, half-even keeps the even 1234
        ("1234.4", "JPY", 1234),
        ("1234.5", "JPY", 1234),
        ("1235.5", "JPY", 1236),  # tie, 1236 is the even neighbour
        ("0.6", "JPY", 1),
        # KWD has 3 decimals: 1.2345 is a tie between 1.234 and 1.235 → even 1.234 = 1234 fils
        ("1.2345", "KWD", 1234),
        ("1.2355", "KWD", 1236),  # tie → even 1.236
        ("1.23451", "KWD", 1235),  # above the tie → 1.235
        # USD has 2 decimals: 10.005 is a tie → even 10.00 = 1000 cents
        ("10.005", "USD", 1000),
        ("10.015", "USD", 1002),
    ],
)
def test_invoice_amounts_round_half_even_to_the_currency_minor_unit(
    amount: str, currency: str, minor: int
) -> None:
    # Given an exact amount / When converting it for an invoice line or a payment
    # Then it is a whole number of minor units, rounded half-even (the documented rule)
    assert to_minor_units(Decimal(amount), currency) == minor
    assert Money(Decimal(amount), currency).minor_units() == minor


def test_money_of_two_currencies_cannot_be_added() -> None:
    # Given dollars and euros
    dollars, euros = Money(Decimal("1.00"), "USD"), Money(Decimal("1.00"), "EUR")
    # When adding them / Then it is an error, not a silent 2.00
    with pytest.raises(ValidationError, match=r"USD.*EUR"):
        _ = dollars + euros


def test_money_adds_exactly_in_one_currency() -> None:
    # Given sub-cent amounts that binary floats cannot hold: 0.1 + 0.2
    total = Money(Decimal("0.1"), "USD") + Money(Decimal("0.2"), "USD")
    # Then the sum is exactly 0.3 (a float sum would be 0.30000000000000004)
    assert total == Money(Decimal("0.3"), "USD")


def test_money_refuses_floats() -> None:
    # Given a float amount / When building Money / Then it is refused outright
    with pytest.raises(TypeError):
        Money(0.1, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["usd", "US", "USDX", "12A", ""])
def test_a_currency_is_a_three_letter_upper_case_code(code: str) -> None:
    with pytest.raises(ValidationError):
        Money(Decimal(1), code)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0140", Decimal("0.0140")),  # strings keep what the author typed
        # a JSON number read as a float: its shortest repr, not 0.1000000000000000055…
        (0.1, Decimal("0.1")),
        (60, Decimal(60)),
        (" 0.675 ", Decimal("0.675")),
    ],
)
def test_card_numbers_parse_as_exact_decimals(value: object, expected: Decimal) -> None:
    assert parse_decimal(value, "price") == expected


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", True, None, [1]])
def test_card_numbers_that_are_not_finite_numbers_are_errors_naming_the_field(
    value: object,
) -> None:
    with pytest.raises(ValidationError, match="price"):
        parse_decimal(value, "price")


@pytest.mark.parametrize(
    ("numerator", "denominator", "rounding", "expected"),
    [
        # 0.000758333… (worked example A: 9.1 s at 0.005/min = 0.0455/60)
        (455, 600_000, Rounding.UP, "0.0008"),
        (455, 600_000, Rounding.DOWN, "0.0007"),
        (455, 600_000, Rounding.HALF_UP, "0.0008"),  # 0.00075833 is above the half
        # exactly 0.00125: a tie at the 4th decimal
        (125, 100_000, Rounding.HALF_UP, "0.0013"),
        (125, 100_000, Rounding.HALF_EVEN, "0.0012"),  # 2 is even
        (135, 100_000, Rounding.HALF_EVEN, "0.0014"),  # 4 is even
        (125, 100_000, Rounding.UP, "0.0013"),
        (125, 100_000, Rounding.DOWN, "0.0012"),
        # an exact value is never moved, and keeps its 4 decimals
        (8, 10_000, Rounding.UP, "0.0008"),
    ],
)
def test_a_call_cost_is_rounded_once_with_the_named_method(
    numerator: int, denominator: int, rounding: Rounding, expected: str
) -> None:
    # Given the exact cost as a ratio / When rounding a call's cost to 4 dp
    cost = round_call_cost(numerator, denominator, 4, rounding)
    # Then the result is the hand-rounded value, with its trailing zeros (text matters in CSV)
    assert str(cost) == expected
