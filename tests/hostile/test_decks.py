"""Hostile bytes through every rate-deck importer: ``parse_deck`` (flat CSV, A–Z, Open Rate
Card JSON, special-numbers), the native card loader (``load_card``, ``read_document``,
``deck_rates``) and ``diff_cards``.

The promise under test (SPEC section 4, docs/formats.md): a deck either imports, with every
data row accounted for (``rows = imported + rejected + skipped``) and every row not taken as
is reported with a reason, or is refused as a whole with ``CardLoadError`` naming the file;
a card document of any shape either loads or raises ``CardLoadError``; never an unexpected
exception. What an import produced always loads as a card (the importer never writes a rate
the loader refuses).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.errors import BillingError, CardLoadError
from shared.domain.rating.card import load_card
from shared.formats.card_files import deck_rates, read_document
from shared.formats.deck_diff import diff_cards, diff_lines
from shared.formats.decks import FORMATS, DeckOptions, Severity, card_document, parse_deck
from tests.hostile.budget import PURE

_CELLS = [
    b"44", b"4420", b"+44", b"44 20", b"UK", b"S\xe3o Tom\xe9", b"\xff\xfe", b"0.0140",
    b"0,0140", b"-1", b"1e9", b"NaN", b"Infinity", b"", b" ", b"60", b"6", b"0", b"abc",
    b"2026-01-01", b"01/02/2026", b"2026-13-40", b'"', b'"a""b"', b"\x00", b"\r", b"sms",
    b"in", b"peak", b"9" * 40,
]
_HEADERS = [
    b"prefix,destination,price",
    b"prefix,destination,price,initial,increment,connect_fee,service,direction,band,"
    b"effective_from,effective_to",
    b"Destination;Prefix;Rate;Increment;Effective Date",
    b"DESTINATION,PREFIX,RATE",
    b"Code\tDestination\tPer Minute Cost\tConnect Cost\tIncluded Seconds",
    b"prefix|destination|price",
    b"\xef\xbb\xbfprefix,destination,price",
    b"prefix,prefix,price",
    b"nothing,we,know",
]


@st.composite
def tabular_decks(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(_HEADERS))
    delimiter = draw(st.sampled_from([b",", b";", b"\t", b"|"]))
    rows = draw(st.lists(
        st.lists(st.sampled_from(_CELLS), max_size=12).map(delimiter.join), max_size=10
    ))
    body = b"\n".join([header, *rows])
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return body


_JSON_LEAF = st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.text(max_size=8) | (
    st.floats(allow_nan=False)
)
json_values = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["card", "currency", "rates", "fields", "prefix", "price", "cards",
                         "schema", "tiers", "bands", "x"]) | st.text(max_size=5),
        inner, max_size=4,
    ),
    max_leaves=20,
)


@st.composite
def open_rate_cards(draw: st.DrawFn) -> bytes:
    """Open Rate Card documents, from well-formed to every field of the wrong type."""
    rates = draw(st.lists(
        st.lists(st.sampled_from(["44", "UK", "0.0140", 60, 6, None, -1, "x", [], {}]),
                 max_size=6),
        max_size=6,
    ))
    document: Any = {
        "schema": draw(st.sampled_from(["1.0", 1, None])),
        "cards": {"c1": {
            "name": draw(st.sampled_from(["c1", None, 7])),
            "currency": draw(st.sampled_from(["EUR", "XXX", "", None, 5])),
            "fields": draw(st.sampled_from([
                ["prefix", "name", "rate", "initial", "increment"], ["prefix"], [], "prefix",
                None,
            ])),
            "rates": rates,
        }},
    }
    if draw(st.booleans()):
        document = draw(json_values)
    text = json.dumps(document).encode()
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _deeply_nested(depth: int) -> bytes:
    return b'{"cards":' + b"[" * depth + b"]" * depth + b"}"


def _import(data: bytes, fmt: str = "auto") -> Any:
    try:
        return parse_deck(data, "hostile.csv", DeckOptions(format=fmt, currency="EUR"))
    except CardLoadError as refused:
        assert "hostile.csv" in str(refused), "a refusal names the file"
        return refused


def _check_import(result: Any) -> None:
    if isinstance(result, CardLoadError):
        return
    # every data row ends as exactly one of imported, rejected or skipped
    assert result.rows == result.imported + result.rejected + result.skipped
    for report in result.reports:
        assert report.line >= 1 and report.reason and report.detail
        assert report.severity in set(Severity)
    # what was imported loads as a card: the importer never writes what the loader refuses
    if result.rates:
        document = card_document(result, name="hostile", currency="EUR")
        load_card(json.loads(json.dumps(document)), "hostile")


@pytest.mark.parametrize("fmt", ["auto", *FORMATS])
@PURE
@given(data=tabular_decks() | st.binary(max_size=300) | open_rate_cards())
def test_a_deck_imports_with_every_row_explained_or_is_refused_naming_the_file(
    fmt: str, data: bytes
) -> None:
    _check_import(_import(data, fmt))


@pytest.mark.parametrize("depth", [50, 5_000, 100_000])
def test_deeply_nested_json_is_refused_not_a_recursion_crash(depth: int) -> None:
    result = _import(_deeply_nested(depth), "open-rate-card")

    assert isinstance(result, CardLoadError)


def test_a_huge_field_is_one_rejected_row_not_a_failed_import() -> None:
    # Given a flat deck whose second row holds a 1 MB prefix
    data = b"prefix,destination,price\n44,UK,0.0140\n" + b"4" * 1_000_000 + b",X,0.01\n"

    result = _import(data, "csv")

    # Then the good row is imported and the huge one rejected with a reason
    assert not isinstance(result, CardLoadError)
    assert (result.rows, result.imported, result.rejected) == (2, 1, 1)


@PURE
@given(document=json_values)
def test_a_card_document_of_any_shape_loads_or_says_why(document: Any) -> None:
    try:
        card = load_card(document, "fuzz")
    except CardLoadError as refused:
        assert str(refused).startswith("fuzz")
        return
    assert card.currency and card.name


@PURE
@given(text=st.text(max_size=300) | tabular_decks().map(lambda b: b.decode("utf-8", "replace")))
def test_a_native_flat_deck_gives_rates_or_a_card_load_error(text: str) -> None:
    try:
        rates = deck_rates(text, "deck.csv")
    except CardLoadError as refused:
        assert "deck.csv" in str(refused)
        return
    except BillingError:  # pragma: no cover - a declared error of another kind
        pytest.fail("deck_rates raised a BillingError that is not a CardLoadError")
    assert all("prefix" in rate and rate["tiers"] for rate in rates)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@PURE
@given(data=st.binary(max_size=200) | open_rate_cards() | st.sampled_from([
    b"a: &a [*a]", b"!!python/object/apply:os.system ['echo pwned']", b"- " * 1500,
    b"\xff\xfe{}", b"[" * 5000,
]))
def test_a_card_file_of_any_bytes_parses_or_names_the_file(
    tmp_path_factory: pytest.TempPathFactory, suffix: str, data: bytes
) -> None:
    path = Path(tmp_path_factory.mktemp("cards")) / f"card{suffix}"
    path.write_bytes(data)
    try:
        read_document(path)
    except CardLoadError as refused:
        assert str(path) in str(refused)


@PURE
@given(old=tabular_decks(), new=tabular_decks())
def test_diffing_two_imported_decks_never_crashes_and_lists_each_prefix_once(
    old: bytes, new: bytes
) -> None:
    cards = []
    for data in (old, new):
        result = _import(data, "auto")
        if isinstance(result, CardLoadError) or not result.rates:
            return
        cards.append(load_card(card_document(result, name="d", currency="EUR"), "d"))
    diff = diff_cards(cards[0], cards[1])
    listed = [
        (e.service, e.direction, e.band, e.prefix)
        for group in (diff.increased, diff.decreased, diff.new, diff.removed, diff.changed)
        for e in group
    ]
    assert len(listed) == len(set(listed))
    assert len(diff_lines(diff)) >= len(listed)
    for entry in diff.increased:  # an increase is a higher price per minute, exactly
        assert entry.old_price is not None and entry.new_price is not None
        assert Decimal(entry.new_price) > Decimal(entry.old_price)
