"""Money: exact decimal amounts with a currency, and every rounding rule by name.

Rounding happens in exactly these named places:

* :func:`round_call_cost` — a rated call's cost, once, with the rate's decimals and method;
* :func:`round_increment_cost` — optional per-increment rounding (``increment_precision``),
  always half-up;
* :func:`to_minor_units` — payment amounts at the gateway, to the currency's ISO 4217
  minor unit, half-even (banker's rounding, so rounding errors do not drift one way);
  invoice amounts are already in minor units when they get there, so it changes nothing.
* :func:`round_invoice_amount` — each invoice line, tax group and prorated fee, to the
  currency's minor unit, half-up (commercial rounding, symmetric for credits; what tax
  authorities expect on a tax invoice; docs/invoicing.md).

Rating works on exact rationals (integer numerator over integer denominator) so that the one
rounding of a call sees the true value, not a value already rounded by a division.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    InvalidOperation,
)
from enum import StrEnum
from fractions import Fraction

from shared.domain.errors import ValidationError

#: ISO 4217 minor units for the currencies an operator is likely to bill in; any other
#: three-letter code defaults to 2 (the ISO default for most currencies).
MINOR_UNITS: dict[str, int] = {
    "BHD": 3,
    "BIF": 0,
    "CLF": 4,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "UYW": 4,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}


def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    return MINOR_UNITS.get(currency, 2)


def validate_currency(code: str) -> str:
    if not (isinstance(code, str) and len(code) == 3 and code.isalpha() and code.isupper()):
        raise ValidationError(f"currency must be a three-letter ISO 4217 code, got {code!r}")
    return code


class Rounding(StrEnum):
    """Rounding methods a rate card may name."""

    UP = "up"  # away from zero: a fraction of a unit costs a whole unit
    DOWN = "down"  # toward zero
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"


def parse_decimal(value: object, field: str) -> Decimal:
    """Parse a JSON number or string as an exact Decimal; floats go through their repr.

    JSON numbers reach us as ``int``/``float`` from parsers; ``repr`` of a float is the
    shortest string that reads back to it, which is what the author of the file typed.
    """
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected a number, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError(f"{field}: {value!r} is not a decimal number") from None
    else:
        raise ValidationError(f"{field}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValidationError(f"{field}: {value!r} is not a finite number")
    return result


def round_ratio(numerator: int, denominator: int, places: int, rounding: Rounding) -> int:
    """Round ``numerator / denominator`` to ``places`` decimals; return units of 10**-places.

    Pure integer arithmetic, so the result is exact for any rational input. This is the
    single implementation behind every named rounding below.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if places >= 0:
        scaled_num, scaled_den = numerator * _POWERS_OF_TEN[places], denominator
    else:
        scaled_num, scaled_den = numerator, denominator * 10 ** (-places)
    negative = scaled_num < 0
    quotient, remainder = divmod(-scaled_num if negative else scaled_num, scaled_den)
    if remainder:
        if rounding is _UP:
            quotient += 1
        elif rounding is _HALF_UP:
            if 2 * remainder >= scaled_den:
                quotient += 1
        elif rounding is _HALF_EVEN:
            twice = 2 * remainder
            if twice > scaled_den or (twice == scaled_den and quotient % 2 == 1):
                quotient += 1
    return -quotient if negative else quotient


_UP, _HALF_UP, _HALF_EVEN = Rounding.UP, Rounding.HALF_UP, Rounding.HALF_EVEN
_POWERS_OF_TEN = [10**i for i in range(40)]
_DECIMALS: dict[tuple[int, int], Decimal] = {}
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def units_to_decimal(units: int, places: int) -> Decimal:
    """``units`` × 10**-places as an exact Decimal (keeps trailing zeros: 800 @4 → 0.0800).

    Call costs repeat (the same price for the same billed time), so recent results are
    reused rather than built again: Decimals are immutable, sharing is safe.
    """
    key = (units, places)
    value = _DECIMALS.get(key)
    if value is None:
        value = Decimal(units).scaleb(-places, _EXACT)  # exact however many digits
        if len(_DECIMALS) >= 65_536:
            _DECIMALS.clear()
        _DECIMALS[key] = value
    return value


def round_call_cost(numerator: int, denominator: int, places: int, rounding: Rounding) -> Decimal:
    """The one rounding of a rated call: the anchor rate's decimals and method."""
    return units_to_decimal(round_ratio(numerator, denominator, places, rounding), places)


def round_increment_cost(numerator: int, denominator: int, places: int) -> int:
    """Per-increment rounding (card ``increment_precision``): half-up; units of 10**-places."""
    return round_ratio(numerator, denominator, places, Rounding.HALF_UP)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Payment rounding: half-even to the currency's minor unit, as an integer (invoice
    lines are rounded by :func:`round_invoice_amount`)."""
    places = minor_units(currency)
    quantized = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return int(quantized.scaleb(places))


def decimal_as_ratio(value: Decimal) -> tuple[int, int]:
    """An exact Decimal as (numerator, smallest power-of-ten denominator)."""
    sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    numerator = int("".join(map(str, digits)) or "0")
    if sign:
        numerator = -numerator
    if exponent >= 0:
        return numerator * 10**exponent, 1
    return numerator, 10 ** (-exponent)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Adding two currencies is an error."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal, never a float")
        validate_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValidationError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def minor_units(self) -> int:
        """Integer minor units for a payment gateway (rounded by :func:`to_minor_units`)."""
        return to_minor_units(self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def ratio_text(numerator: int, denominator: int) -> str:
    """An exact rational as decimal text for receipts: exact when it terminates, else
    24 decimals followed by an ellipsis (so a reader knows it was cut, not rounded)."""
    reduced = math.gcd(numerator, denominator) or 1
    numerator, denominator = numerator // reduced, denominator // reduced
    rest = denominator
    for factor in (2, 5):
        while rest % factor == 0:
            rest //= factor
    if rest == 1:
        places = 0
        while 10**places % denominator:
            places += 1
        return f"{units_to_decimal(numerator * 10**places // denominator, places):f}"
    units = round_ratio(numerator, denominator, 24, Rounding.DOWN)
    return f"{units_to_decimal(units, 24):f}…"


def from_minor_units(units: int, currency: str) -> Decimal:
    """A gateway's integer minor units as an exact Decimal (2000 EUR → 20.00, 500 JPY → 500).

    The inverse of :func:`to_minor_units`, for amounts Stripe reports (``amount_received``,
    a refund's ``amount``). Exact: no rounding happens here.
    """
    if isinstance(units, bool) or not isinstance(units, int):
        raise ValidationError(f"a minor-unit amount must be an integer, got {units!r}")
    return Decimal(units).scaleb(-minor_units(currency))


def round_invoice_amount(amount: Decimal | Fraction, currency: str) -> Decimal:
    """The invoice rounding: half-up (away from zero on a tie) to the currency's minor unit.

    Takes an exact Fraction too, so a prorated fee (price × days / days in period) is
    rounded once from its true value, never from a division already rounded."""
    if isinstance(amount, Fraction):
        numerator, denominator = amount.numerator, amount.denominator
    else:
        numerator, denominator = decimal_as_ratio(amount)
    places = minor_units(currency)
    return units_to_decimal(round_ratio(numerator, denominator, places, Rounding.HALF_UP), places)
