"""SPEC 3.2: dialled digits → emergency, on-net extension or E.164, in that order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.calls import CallStatus, RejectReason
from shared.domain.rating.numbers import NumberingPlan, NumberKind, normalise
from tests.unit.builders import call, card, rate, rate_one

UK = NumberingPlan(country_code="44")


@pytest.mark.parametrize(
    ("dialled", "digits"),
    [
        ("+442071234567", "442071234567"),  # strip +
        ("+44 20 7123-4567", "442071234567"),  # spaces and dashes removed first
        ("00442071234567", "442071234567"),  # exit prefix 00 (Europe)
        ("011442071234567", "442071234567"),  # exit prefix 011 (North America)
        ("02071234567", "442071234567"),  # national: trunk 0 → country code 44
        ("020 7123 4567", "442071234567"),
        ("442071234567", "442071234567"),  # already international
    ],
)
def test_numbers_are_normalised_to_e164_digits(dialled: str, digits: str) -> None:
    # Given a UK tenant (country code 44, trunk 0, exits 00/011) / When a number is normalised
    number = normalise(dialled, UK)
    # Then it is the E.164 digits without +
    assert (number.kind, number.digits) == (NumberKind.E164, digits)


def test_a_trunk_prefix_other_than_0_is_honoured() -> None:
    # Given Russia: country code 7, trunk prefix 8 / When 8 495 123-45-67 is normalised
    number = normalise("8 495 123-45-67", NumberingPlan(country_code="7", trunk_prefix="8"))
    # Then the trunk 8 becomes the country code 7
    assert number.digits == "74951234567"


@pytest.mark.parametrize("dialled", ["112", "911", "999", "000"])
def test_the_default_emergency_numbers(dialled: str) -> None:
    # Given the default list (SPEC 1) / Then each is recognised before any other rule
    assert normalise(dialled, UK).kind is NumberKind.EMERGENCY


def test_a_tenant_may_configure_its_own_emergency_numbers() -> None:
    plan = NumberingPlan(emergency_numbers=("112", "118"))
    assert normalise("118", plan).kind is NumberKind.EMERGENCY
    assert normalise("911", plan).kind is NumberKind.EXTENSION  # no longer special


@pytest.mark.parametrize(
    ("dialled", "kind"),
    [
        ("1234", NumberKind.EXTENSION),
        ("123456", NumberKind.EXTENSION),  # 6 digits: the default max_extension_digits
        ("1234567", NumberKind.E164),  # 7 digits is a number, not an extension
    ],
)
def test_short_numbers_are_on_net_extensions(dialled: str, kind: NumberKind) -> None:
    assert normalise(dialled, NumberingPlan()).kind is kind


def test_letters_in_a_long_number_make_it_invalid() -> None:
    assert normalise("4420ABC34567", UK).kind is NumberKind.INVALID


def test_a_national_number_is_rated_by_its_international_prefix() -> None:
    # Given a card rating the UK (44) at 0.10/min and a default at 0.90/min
    doc = card(rate("44", "0.10", increment=60), rate("", "0.90", increment=60))
    # When a UK tenant dials the national number 020 7123 4567 for 60 s
    rating = rate_one(doc, call("02071234567", talk=60), plan=UK)
    # Then it is rated as 442071234567: prefix 44, 0.10
    assert (rating.prefix, rating.cost) == ("44", Decimal("0.1000"))


@pytest.mark.parametrize("dialled", ["00442071234567", "011442071234567"])
def test_a_number_dialled_with_an_exit_prefix_is_rated_by_its_country(dialled: str) -> None:
    doc = card(rate("44", "0.10", increment=60), rate("", "0.90", increment=60))
    rating = rate_one(doc, call(dialled, talk=60), plan=UK)
    assert (rating.prefix, rating.cost) == ("44", Decimal("0.1000"))


def test_an_emergency_call_is_rated_zero_without_an_emergency_rate() -> None:
    # Given a card without an `emergency` rate and no prefix matching 112
    doc = card(rate("44", "0.10", connect_fee="0.05"))
    # When a 120 s call to 112 is rated
    rating = rate_one(doc, call("112", talk=120))
    # Then it is rated (never rejected as no_rate) at 0
    assert rating.status is CallStatus.RATED
    assert rating.cost == 0


def test_an_emergency_call_uses_the_cards_emergency_rate_when_present() -> None:
    # Given an `emergency` rate of 0.0100/min, 60/60
    doc = card(rate("", "0.90"), emergency={"tiers": [{"price": "0.0100", "increment": 60}]})
    # When a 61 s call to 112 is rated
    rating = rate_one(doc, call("112", talk=61))
    # Then the emergency rate applies, not the default: 2 × 60 s × 0.0100/60 = 0.0200
    assert rating.status is CallStatus.RATED
    assert rating.cost == Decimal("0.0200")


def test_an_emergency_number_is_recognised_before_the_prefix_table() -> None:
    # Given a card with a prefix "11" that would match 112
    doc = card(rate("11", "5.00"))
    # When 112 is called / Then it is the free emergency call, not prefix 11
    rating = rate_one(doc, call("112"))
    assert rating.cost == 0 and rating.prefix == ""


def test_an_on_net_extension_is_free_without_an_on_net_rate() -> None:
    # Given a card whose default rate would charge 0.90/min
    doc = card(rate("", "0.90"))
    # When extension 2001 is called for 60 s
    rating = rate_one(doc, call("2001", talk=60))
    # Then it is an on-net call at 0, not a call to prefix ""
    assert rating.status is CallStatus.RATED
    assert rating.cost == 0
    assert "extension" in rating.flags


def test_an_on_net_extension_uses_the_on_net_rate_when_present() -> None:
    # Given on_net at 0.0060/min per second
    doc = card(rate("", "0.90"), on_net={"tiers": [{"price": "0.0060"}]})
    # When extension 2001 is called for 30 s
    rating = rate_one(doc, call("2001", talk=30))
    # Then 30 × 0.0060/60 = 0.0030
    assert rating.cost == Decimal("0.0030")


def test_an_undialable_number_is_rejected_with_a_reason() -> None:
    rating = rate_one(card(rate("", "0.90")), call("4420ABC34567"))
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.BAD_NUMBER)


def test_a_national_number_without_a_configured_country_code_is_not_guessed() -> None:
    # Given a tenant whose country code is not configured, and a card that rates Egypt (20)
    doc = card(rate("20", "0.50"), rate("", "0.90"))
    # When the UK national number 020 7123 4567 is rated
    rating = rate_one(doc, call("02071234567"), plan=NumberingPlan(country_code=""))
    # Then it is rejected as not dialable (bad_number), never billed as a call to Egypt or
    # to the default rate: stripping the trunk 0 without a country code would misroute it
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.BAD_NUMBER)
