"""SPEC 3.3 and 3.4: which rate a call gets (longest prefix, default, parent card, direction),
and that a call with no rate is rejected, never charged 0."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.calls import CallStatus, Direction, RejectReason
from shared.domain.errors import CardLoadError
from tests.unit.builders import call, card, compiled, rate, rate_one


def brazil_card() -> dict[str, object]:
    """Overlapping prefixes 55 (Brazil) ⊃ 5511 (São Paulo) ⊃ 55115020 (one exchange), 60/60."""
    return card(
        rate("55", "0.10", increment=60, destination="Brazil"),
        rate("5511", "0.20", increment=60, destination="Brazil Sao Paulo"),
        rate("55115020", "0.30", increment=60, destination="Brazil Sao Paulo 5020"),
    )


@pytest.mark.parametrize(
    ("callee", "prefix", "cost"),
    [
        ("5511502012345", "55115020", "0.3000"),  # all three match: the longest wins
        ("5511412345678", "5511", "0.2000"),  # 55 and 5511 match
        ("5521987654321", "55", "0.1000"),  # only 55 matches
        ("+55 11 5020-1234", "55115020", "0.3000"),  # spaces, dashes and + do not matter
    ],
)
def test_the_longest_matching_prefix_wins(callee: str, prefix: str, cost: str) -> None:
    # Given overlapping prefixes / When a 60 s call to `callee` is rated
    rating = rate_one(brazil_card(), call(callee, talk=60))
    # Then the longest prefix of the normalised number supplies the rate
    assert (rating.prefix, rating.cost) == (prefix, Decimal(cost))


def test_the_order_of_rates_in_the_card_does_not_matter() -> None:
    # Given the same prefixes listed longest first
    doc = brazil_card()
    doc["rates"] = list(reversed(doc["rates"]))  # type: ignore[call-overload]
    # When a call to the exchange is rated / Then it still gets the longest prefix
    assert rate_one(doc, call("5511502012345")).prefix == "55115020"


def test_the_empty_prefix_is_the_default_rate_and_matches_last() -> None:
    # Given a default rate 0.50/min and a UK rate 0.10/min
    doc = card(rate("", "0.50", increment=60), rate("44", "0.10", increment=60))
    # When calls to the UK and to France are rated
    uk = rate_one(doc, call("442071234567"))
    france = rate_one(doc, call("33123456789"))
    # Then the UK call uses 44 (0.10) and the French call falls to the default (0.50)
    assert (uk.prefix, uk.cost) == ("44", Decimal("0.1000"))
    assert (france.prefix, france.cost) == ("", Decimal("0.5000"))


def test_a_call_without_any_matching_rate_is_rejected_no_rate_not_charged_zero() -> None:
    # Given a card that only knows the UK
    doc = card(rate("44", "0.10"))
    # When a call to France is rated
    rating = rate_one(doc, call("33123456789", talk=60))
    # Then it is rejected with reason no_rate (and so goes to the rejects, not to a 0 charge)
    assert rating.status is CallStatus.REJECTED
    assert rating.reason is RejectReason.NO_RATE
    assert "33123456789" in rating.detail


def parent_and_child(parent_currency: str = "USD") -> tuple[dict[str, object], dict[str, object]]:
    parent = card(
        rate("49", "0.30", increment=60, destination="Germany"),
        card="wholesale",
        currency=parent_currency,
    )
    child = card(
        rate("4", "0.90", increment=60, destination="Europe"),
        rate("44", "0.10", increment=60),
        card="retail",
        parent="wholesale",
    )
    return parent, child


def test_a_call_the_card_cannot_rate_falls_back_to_the_parent_card() -> None:
    # Given a retail card (44, 4) whose parent (wholesale) also rates 33
    parent = card(rate("33", "0.30", increment=60, destination="France"), card="wholesale")
    child = card(rate("44", "0.10", increment=60), card="retail", parent="wholesale")
    rated = compiled(child, parent=compiled(parent))
    # When a call to France is rated
    rating = rate_one(rated, call("33123456789", talk=60))
    # Then the parent's rate applies (0.30) and the result names the card that priced it
    assert rating.status is CallStatus.RATED
    assert (rating.cost, rating.prefix, rating.card) == (Decimal("0.3000"), "33", "wholesale")


def test_the_parent_is_only_asked_when_the_card_has_no_match_at_all() -> None:
    # Given the child rates prefix 4 and the parent rates the longer 49
    parent, child = parent_and_child()
    rated = compiled(child, parent=compiled(parent))
    # When a call to Germany is rated
    rating = rate_one(rated, call("4930123456", talk=60))
    # Then the child's own match (4, 0.90) wins: the parent is a fallback, not a merge
    assert (rating.card, rating.prefix, rating.cost) == ("retail", "4", Decimal("0.9000"))


def test_no_rate_in_the_card_nor_its_parent_is_no_rate() -> None:
    parent, child = parent_and_child()
    rated = compiled(child, parent=compiled(parent))
    # When a call to Brazil (neither card rates it) is rated / Then no_rate
    rating = rate_one(rated, call("5511412345678"))
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.NO_RATE)


def test_a_parent_card_in_another_currency_is_a_load_error() -> None:
    # Given a USD child whose parent is in EUR
    parent, child = parent_and_child(parent_currency="EUR")
    # When the child is compiled with that parent / Then it is refused, naming both currencies
    with pytest.raises(CardLoadError, match=r"USD.*EUR|EUR.*USD"):
        compiled(child, parent=compiled(parent))


def inbound_card() -> dict[str, object]:
    """Public list prices (SPEC 1): inbound toll-free 0.0220/min, inbound local 0.0085/min,
    outbound 0.0140/min, all 60/60 so one minute costs exactly the list price."""
    return card(
        rate("44800", "0.0220", increment=60, direction="in", destination="UK toll-free"),
        rate("44", "0.0085", increment=60, direction="in", destination="UK local DID"),
        rate("44", "0.0140", increment=60, direction="out", destination="United Kingdom"),
    )


@pytest.mark.parametrize(
    ("direction", "did", "destination", "cost"),
    [
        (Direction.IN, "448001234567", "UK toll-free", "0.0220"),
        (Direction.IN, "442071234567", "UK local DID", "0.0085"),
        (Direction.OUT, "448001234567", "United Kingdom", "0.0140"),
        (Direction.OUT, "442071234567", "United Kingdom", "0.0140"),
    ],
)
def test_inbound_and_outbound_have_separate_rates_and_inbound_is_rated_by_our_did(
    direction: Direction, did: str, destination: str, cost: str
) -> None:
    # Given separate inbound (toll-free and local) and outbound rates
    # When a 60 s call in `direction` whose called number is `did` is rated
    rating = rate_one(inbound_card(), call(did, talk=60, direction=direction))
    # Then the direction's own rate for the called number applies
    assert (rating.destination, rating.cost) == (destination, Decimal(cost))


def test_an_inbound_call_never_borrows_an_outbound_rate() -> None:
    # Given a card with outbound rates only
    doc = card(rate("44", "0.0140"), rate("", "0.5000"))
    # When an inbound call is rated / Then no_rate
    rating = rate_one(doc, call("442071234567", direction=Direction.IN))
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.NO_RATE)


def test_among_one_prefixs_rates_in_force_the_highest_band_weight_wins() -> None:
    # Given two always-applicable bands of different weights on one prefix
    doc = card(
        rate("49", "0.30", increment=60, band="base"),
        rate("49", "0.50", increment=60, band="promo"),
        bands={
            "base": {"days": "*", "from": "00:00", "to": "24:00", "weight": 1},
            "promo": {"days": "*", "from": "00:00", "to": "24:00", "weight": 7},
        },
    )
    # When a call is rated / Then the weight 7 rate applies (0.50)
    rating = rate_one(doc, call("4930123456"))
    assert (rating.band, rating.cost) == ("promo", Decimal("0.5000"))
