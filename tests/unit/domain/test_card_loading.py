"""SPEC section 4, native rate card: its defaults, and the mistakes that must stop a load."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.domain.calls import Direction, Service
from shared.domain.errors import CardLoadError
from shared.domain.money import Rounding
from shared.domain.rating.card import load_card
from shared.formats.card_files import load_card_file
from tests.unit.builders import PEAK_OFFPEAK_BANDS, call, card, rate, rate_one, tier

SPEC_EXAMPLE_CARD = """
{"card": "retail-usd", "currency": "USD", "timezone": "UTC", "parent": null,
 "decimals": 4, "rounding": "up", "increment_precision": null,
 "bands": {"peak": {"days": "mon-fri", "from": "08:00", "to": "20:00", "weight": 10},
           "offpeak": {"days": "*", "from": "00:00", "to": "24:00", "weight": 0}},
 "holidays": ["2026-12-25"],
 "rates": [{"prefix": "49", "destination": "Germany", "service": "voice", "direction": "out",
            "band": "peak", "connect_fee": "0", "min_cost": "0", "max_cost": null,
            "max_cost_strategy": "free",
            "tiers": [{"from": 0, "price": "0.0140", "per": 60, "initial": 60, "increment": 6}],
            "effective_from": "2026-01-01", "effective_to": null},
           {"prefix": "49", "destination": "Germany", "band": "offpeak",
            "tiers": [{"from": 0, "price": "0.0090", "initial": 60, "increment": 6}]}]}
"""


def test_the_spec_example_card_loads() -> None:
    # Given the card printed in SPEC section 4 / When it is loaded
    loaded = load_card(json.loads(SPEC_EXAMPLE_CARD))
    # Then both rates are there with their documented values
    peak, offpeak = loaded.rates
    assert (loaded.name, loaded.currency, loaded.decimals, loaded.rounding) == (
        "retail-usd",
        "USD",
        4,
        Rounding.UP,
    )
    assert peak.tiers[0].price == Decimal("0.0140")
    assert (offpeak.band, offpeak.tiers[0].per) == ("offpeak", 60)


def test_the_spec_example_card_rates_a_weekday_and_a_weekend_call() -> None:
    doc = json.loads(SPEC_EXAMPLE_CARD)
    # Given 61 s calls on a Monday at 10:00 (peak) and a Saturday (off-peak), 60/6
    weekday = rate_one(doc, call("4930123456", answer="2026-03-02T10:00:00Z", talk=61))
    weekend = rate_one(doc, call("4930123456", answer="2026-03-07T10:00:00Z", talk=61))
    # Then 66 s: 66/60 × 0.0140 = 0.0154 and 66/60 × 0.0090 = 0.0099
    assert weekday.cost == Decimal("0.0154")
    assert weekend.cost == Decimal("0.0099")


def test_documented_defaults() -> None:
    # Given the smallest possible voice rate: a prefix and one price
    loaded = load_card(card(rate("49", "0.0140")))
    only = loaded.rates[0]
    # Then per 60, increment 1, initial = first increment, band *, out, voice (SPEC 4),
    # and the card rounds up to 4 dp
    assert only.tiers[0].per == 60
    assert only.tiers[0].increment_s == 1
    assert only.initial_s == 1
    assert (only.band, only.direction, only.service) == ("*", Direction.OUT, Service.VOICE)
    assert (loaded.decimals, loaded.rounding) == (4, Rounding.UP)


@pytest.mark.parametrize(("service", "per"), [("sms", 1), ("email", 1000), ("port", 1)])
def test_default_per_depends_on_the_service(service: str, per: int) -> None:
    loaded = load_card(card(rate("", "1", service=service)))
    assert loaded.rates[0].tiers[0].per == per


def test_numbers_may_be_json_numbers_or_strings() -> None:
    # Given the same rate written with JSON numbers and with strings
    as_numbers = json.loads(
        '{"prefix": 49, "tiers": [{"price": 0.014, "increment": 6, '
        '"initial": 60}], "connect_fee": 0.01}'
    )
    as_strings = rate("49", "0.014", increment="6", initial="60", connect_fee="0.01")
    # When both are loaded / Then they are the same exact decimals
    first = load_card(card(as_numbers)).rates[0]
    second = load_card(card(as_strings)).rates[0]
    assert first == second
    assert first.tiers[0].price == Decimal("0.014")  # not 0.01400000000000000029…


def test_a_yaml_card_is_the_same_document(tmp_path: Path) -> None:
    # Given the SPEC card written as YAML (YAML reads 0.0140 as a float, 2026-01-01 as a date)
    path = tmp_path / "retail-usd.yaml"
    path.write_text(yaml.safe_dump(json.loads(SPEC_EXAMPLE_CARD)), encoding="utf-8")
    # When it is loaded from the file
    loaded_yaml = load_card_file(path)
    # Then its rates are the same as the JSON card's
    assert loaded_yaml.rates == load_card(json.loads(SPEC_EXAMPLE_CARD)).rates


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (card(rate("49", "0.0140", conect_fee="0.01")), "conect_fee"),  # typo in a rate
        (card(rate("49", tiers=[{"from": 0, "price": "0.01", "incremnet": 6}])), "incremnet"),
        ({**card(rate("49")), "roundng": "up"}, "roundng"),  # typo at card level
        ({**card(rate("49")), "bands": {"peak": {"days": "*", "wieght": 1}}}, "wieght"),
        # a typo in a required field: the unknown name must be reported, not only the
        # missing one, or the user cannot see what they mistyped
        ({"card": "c", "curency": "USD", "rates": []}, "curency"),
    ],
)
def test_an_unknown_field_is_an_error_naming_the_field(
    document: dict[str, Any], field: str
) -> None:
    # Given a card with a misspelt field / When it is loaded
    # Then the load fails and the message names the field (typos never pass silently)
    with pytest.raises(CardLoadError, match=field):
        load_card(document)


def test_equal_weight_bands_of_one_prefix_in_force_together_are_a_load_error() -> None:
    # Given peak and evening bands, both weight 5, overlapping on weekdays 18:00-20:00
    doc = card(
        rate("49", "0.60", band="peak"),
        rate("49", "0.40", band="evening"),
        bands={
            "peak": {"days": "mon-fri", "from": "08:00", "to": "20:00", "weight": 5},
            "evening": {"days": "*", "from": "18:00", "to": "23:00", "weight": 5},
        },
    )
    # When the card is loaded / Then it is refused, naming the prefix and both bands
    with pytest.raises(CardLoadError, match=r"peak.*evening|evening.*peak") as error:
        load_card(doc)
    assert "49" in str(error.value)


def test_two_unbanded_rates_of_one_prefix_are_a_load_error() -> None:
    # Given the same prefix twice with the default band `*` (weight 0)
    doc = card(rate("49", "0.60"), rate("49", "0.40"))
    # When loaded / Then it is ambiguous, so an error
    with pytest.raises(CardLoadError, match="49"):
        load_card(doc)


def test_equal_weights_that_never_meet_are_fine() -> None:
    # Given weekday and weekend bands of equal weight: never in force at once
    doc = card(
        rate("49", "0.60", band="weekday"),
        rate("49", "0.40", band="weekend"),
        bands={
            "weekday": {"days": "mon-fri", "weight": 1},
            "weekend": {"days": "sat,sun", "weight": 1},
        },
    )
    # Then the card loads
    assert len(load_card(doc).rates) == 2


def test_equal_weights_in_successive_decks_are_fine() -> None:
    # Given one prefix's old and new deck, each `*`, with adjoining effective dates
    doc = card(
        rate("49", "0.10", effective_to="2026-03-01"),
        rate("49", "0.20", effective_from="2026-03-01"),
    )
    # Then the card loads (only one of them is effective at any time)
    assert len(load_card(doc).rates) == 2


def test_equal_weights_on_different_prefixes_are_fine() -> None:
    doc = card(
        rate("49", "0.60", band="peak"),
        rate("44", "0.40", band="peak"),
        bands={"peak": PEAK_OFFPEAK_BANDS["peak"]},
    )
    assert len(load_card(doc).rates) == 2


def test_a_rate_naming_an_undefined_band_is_a_load_error() -> None:
    # Given a rate on band "weekend" that the card does not define
    doc = card(rate("49", "0.40", band="weekend"), bands=PEAK_OFFPEAK_BANDS)
    # When loaded / Then the error names the band
    with pytest.raises(CardLoadError, match="weekend"):
        load_card(doc)


@pytest.mark.parametrize(
    ("band", "complaint"),
    [
        ({"days": "*", "from": "20:00", "to": "08:00"}, "night band is two bands"),
        ({"days": "*", "from": "25:00", "to": "26:00"}, "25:00"),
        ({"days": "mon-fry"}, "fry"),
    ],
)
def test_malformed_bands_are_load_errors(band: dict[str, Any], complaint: str) -> None:
    doc = card(rate("49", "0.40", band="b"), bands={"b": band})
    with pytest.raises(CardLoadError, match=complaint):
        load_card(doc)


@pytest.mark.parametrize(
    ("tiers", "complaint"),
    [
        ([tier("0.01", start=5)], "first tier must start at 0"),
        ([tier("0.01"), tier("0.02", start=60, initial=30)], "initial"),
        ([tier("0.01"), tier("0.02", start=0)], "increasing"),
        ([tier("-0.01")], "negative"),
        ([tier("0.01", increment=0)], "increment"),
        ([tier("0.01", increment="0.0005")], "1 ms"),
        ([], "at least one tier"),
    ],
)
def test_malformed_tiers_are_load_errors(tiers: list[dict[str, Any]], complaint: str) -> None:
    with pytest.raises(CardLoadError, match=complaint):
        load_card(card(rate("49", tiers=tiers)))


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"currency": "usd"}, "currency"),
        ({"timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"rounding": "sideways"}, "rounding"),
    ],
)
def test_bad_card_settings_are_load_errors(settings: dict[str, Any], complaint: str) -> None:
    with pytest.raises(CardLoadError, match=complaint):
        load_card(card(rate("49"), **settings))


def test_rounding_methods_are_the_four_documented_names() -> None:
    for name in ("up", "down", "half_up", "half_even"):
        assert load_card(card(rate("49"), rounding=name)).rounding == Rounding(name)
