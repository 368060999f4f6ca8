"""Number normalisation: dialled digits → emergency, on-net extension or E.164 digits."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_EMERGENCY_NUMBERS: tuple[str, ...] = ("112", "911", "999", "000")
_FEATURE_CODE_CHARS = frozenset("0123456789*#")


class NumberKind(StrEnum):
    EMERGENCY = "emergency"
    EXTENSION = "extension"
    E164 = "e164"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class NumberingPlan:
    """The tenant's dialling conventions (SPEC 3.2). Defaults fit most of Europe."""

    country_code: str = ""
    trunk_prefix: str = "0"
    exit_prefixes: tuple[str, ...] = ("00", "011")
    max_extension_digits: int = 6
    emergency_numbers: tuple[str, ...] = DEFAULT_EMERGENCY_NUMBERS
    #: exit and trunk prefixes together: a number starting with none of them is E.164 already
    rewrite_prefixes: tuple[str, ...] = field(init=False, default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        # Longest exit prefix first, so "011" is not read as trunk "0" + "11".
        exits = tuple(sorted(self.exit_prefixes, key=len, reverse=True))
        object.__setattr__(self, "exit_prefixes", exits)
        trunk = (self.trunk_prefix,) if self.trunk_prefix else ()
        object.__setattr__(self, "rewrite_prefixes", tuple(p for p in exits + trunk if p))


@dataclass(frozen=True, slots=True)
class NormalisedNumber:
    kind: NumberKind
    digits: str


def normalise(dialled: str, plan: NumberingPlan) -> NormalisedNumber:
    """Apply SPEC 3.2 in order: emergency, on-net extension, then E.164 digits.

    A national number without the trunk prefix is taken as already international
    (country code first), the form most switches log for PSTN calls.
    """
    return NormalisedNumber(*classify(dialled, plan))


def classify(dialled: str, plan: NumberingPlan) -> tuple[NumberKind, str]:
    """:func:`normalise` as a (kind, digits) pair, without building an object per call."""
    number = dialled
    if not number.isdigit():
        number = dialled.strip().replace(" ", "").replace("-", "")
    if number in plan.emergency_numbers:
        return NumberKind.EMERGENCY, number
    if number.isdigit() and number.isascii():
        if len(number) <= plan.max_extension_digits:
            return NumberKind.EXTENSION, number
        if not number.startswith(plan.rewrite_prefixes):
            return NumberKind.E164, number  # the common case: already international digits
    elif (
        number
        and len(number) <= plan.max_extension_digits
        and not number.startswith("+")
        and set(number) <= _FEATURE_CODE_CHARS
    ):
        return NumberKind.EXTENSION, number
    if number.startswith("+"):
        digits = number[1:]
    else:
        digits = number
        for exit_prefix in plan.exit_prefixes:
            if digits.startswith(exit_prefix):
                digits = digits[len(exit_prefix) :]
                break
        else:
            if plan.trunk_prefix and digits.startswith(plan.trunk_prefix):
                if not plan.country_code:
                    # A national number of a tenant whose country is not configured: without
                    # the country code it would be rated by whatever prefix its area code
                    # happens to match (020… as Egypt), so it is not dialable, not guessed.
                    return NumberKind.INVALID, number
                digits = plan.country_code + digits[len(plan.trunk_prefix) :]
    if not digits.isdigit() or not digits.isascii():
        return NumberKind.INVALID, number
    return NumberKind.E164, digits
