"""``import-deck --diff``: new, removed, increased and decreased prefixes, increases first.

The two decks are small and hand-made; every expected figure is worked out beside it.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.errors import ValidationError
from shared.domain.rating.card import RateCard, load_card
from shared.formats.deck_diff import diff_cards, diff_lines
from shared.formats.decks import DeckOptions, card_document, parse_deck

OLD_DECK = """DESTINATION,PREFIX,RATE
Afghanistan,93,"0,1175"
Afghanistan Mobile,937,"0,1175"
Albania,355,"0,097"
Albania Mobile,35567,"0,097"
Algeria,213,"0,109"
"""

NEW_DECK = """DESTINATION,PREFIX,RATE
Afghanistan,93,"0,1300"
Afghanistan Mobile,937,"0,1175"
Albania,355,"0,0900"
Algeria,213,"0,109"
Algeria Mobile - Orascom,2137,"0,122"
"""


def card_from_deck(text: str, name: str, currency: str = "EUR") -> RateCard:
    result = parse_deck(text.encode(), f"{name}.csv", DeckOptions(currency=currency))
    return load_card(card_document(result, currency=currency))


def native(*rates: dict[str, Any], currency: str = "EUR") -> RateCard:
    return load_card({"card": "n", "currency": currency, "rates": list(rates)})


def test_new_removed_increased_decreased_against_hand_made_decks() -> None:
    diff = diff_cards(card_from_deck(OLD_DECK, "old"), card_from_deck(NEW_DECK, "new"))
    assert diff.counts() == {
        "increased": 1, "decreased": 1, "new": 1, "removed": 1, "changed": 0, "unchanged": 2,
    }
    # 93: 0.1175 → 0.1300, +0.0125; 0.0125 / 0.1175 = 10.638…% → +10.64
    (up,) = diff.increased
    assert (up.prefix, up.destination, up.old_price, up.new_price) == (
        "93", "Afghanistan", "0.1175", "0.1300")
    assert (up.change, up.change_percent) == ("+0.0125", "+10.64")
    # 355: 0.097 → 0.0900, -0.007; 0.007 / 0.097 = 7.216…% → -7.22
    (down,) = diff.decreased
    assert (down.prefix, down.old_price, down.new_price, down.change, down.change_percent) == (
        "355", "0.097", "0.0900", "-0.007", "-7.22")
    # 2137 is new at 0.122; its numbers paid 0.109 through 213 before: an effective increase
    (added,) = diff.new
    assert (added.prefix, added.new_price, added.old_price) == ("2137", "0.122", None)
    assert (added.fallback_prefix, added.fallback_price, added.effective) == (
        "213", "0.109", "increase")
    # 35567 is gone; its numbers now fall to 355 at 0.0900 instead of 0.097: a decrease
    (gone,) = diff.removed
    assert (gone.prefix, gone.old_price, gone.new_price) == ("35567", "0.097", None)
    assert (gone.fallback_prefix, gone.fallback_price, gone.effective) == (
        "355", "0.0900", "decrease")


def test_text_lists_increases_first() -> None:
    diff = diff_cards(card_from_deck(OLD_DECK, "old"), card_from_deck(NEW_DECK, "new"))
    lines = diff_lines(diff)
    assert lines[0].startswith("diff old → new (EUR per minute): increased 1, decreased 1")
    titles = [line for line in lines if not line.startswith(" ")][1:]
    assert titles == [
        "note: 1 new or removed prefix(es) raise the price of their numbers (see below)",
        "increased (carriers owe notice):",
        "decreased:",
        "new:",
        "removed:",
    ]
    body = "\n".join(lines)
    assert "93             Afghanistan: 0.1175 → 0.1300 (+0.0125, +10.64%)" in body
    assert "2137           Algeria Mobile - Orascom: 0.122 (was 0.109 via 213: effectively an " \
           "increase)" in body
    assert "35567          Albania Mobile: 0.097 (now 0.0900 via 355: effectively a" in body


def test_json_shape_has_amounts_as_strings() -> None:
    diff = diff_cards(card_from_deck(OLD_DECK, "old"), card_from_deck(NEW_DECK, "new"))
    document = diff.as_dict()
    assert document["counts"]["increased"] == 1
    assert document["increased"][0]["old_price"] == "0.1175"
    assert document["increased"][0]["change_percent"] == "+10.64"
    assert document["new"][0]["effective"] == "increase"


def test_prices_compare_per_minute_and_terms_are_listed() -> None:
    old = native(
        {"prefix": "49", "tiers": [{"price": "0.0140", "initial": 60, "increment": 60}]},
        {"prefix": "33", "tiers": [{"price": "0.0200", "initial": 60, "increment": 60}]},
        {"prefix": "34", "tiers": [{"price": "0.0300", "initial": 60, "increment": 60}]},
    )
    new = native(
        # 0.0070 per 30 s is 0.0140 per minute: not a price change
        {"prefix": "49", "tiers": [{"price": "0.0070", "per": 30, "initial": 60,
                                    "increment": 60}]},
        # same price, 60/6 instead of 60/60 and a connect fee: changed terms
        {"prefix": "33", "connect_fee": "0.01",
         "tiers": [{"price": "0.0200", "initial": 60, "increment": 6}]},
        # 0.0006 per second is 0.036 per minute: +0.006, 0.006 / 0.03 = +20%
        {"prefix": "34", "tiers": [{"price": "0.0006", "per": 1, "initial": 1,
                                    "increment": 1}]},
    )
    diff = diff_cards(old, new)
    assert diff.unchanged == 1
    (changed,) = diff.changed
    assert changed.prefix == "33"
    assert changed.notes == ("connect fee 0 → 0.01", "increment 60 → 6")
    (up,) = diff.increased
    assert (up.prefix, up.old_price, up.new_price, up.change, up.change_percent) == (
        "34", "0.0300", "0.036", "+0.006", "+20.00")
    assert up.notes == ("initial 60 → 1", "increment 60 → 1")


def test_latest_effective_rate_is_compared() -> None:
    old = native(
        {"prefix": "44", "effective_to": "2026-06-01", "tiers": [{"price": "0.010"}]},
        {"prefix": "44", "effective_from": "2026-06-01", "tiers": [{"price": "0.012"}]},
    )
    new = native({"prefix": "44", "effective_from": "2026-06-01", "tiers": [{"price": "0.011"}]})
    diff = diff_cards(old, new)
    (down,) = diff.decreased
    assert (down.old_price, down.new_price) == ("0.012", "0.011")


def test_cards_in_different_currencies_do_not_compare() -> None:
    with pytest.raises(ValidationError, match="in EUR with card 'n' in USD"):
        diff_cards(native(currency="EUR"), native(currency="USD"))
