"""The examples in docs/formats.md are real: they load and rate as the docs say."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.domain.rating.card import load_card
from shared.formats.card_files import deck_rates

DOCS = Path(__file__).resolve().parents[2] / "docs" / "formats.md"


def _block(section: str, language: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"## {re.escape(section)}.*?```{language}\n(.*?)```", text, re.S)
    assert match, f"no {language} example under '{section}'"
    return match.group(1)


def test_the_native_card_example_loads() -> None:
    card = load_card(json.loads(_block("Native rate card", "json")))
    assert (card.name, card.currency, len(card.rates)) == ("retail-usd", "USD", 4)
    assert card.on_net is not None


def test_the_flat_deck_example_reads_three_rates() -> None:
    rates = deck_rates(_block("Native flat CSV deck", "csv"), "docs")
    assert [rate["prefix"] for rate in rates] == ["44", "447", "1800"]
    assert rates[2]["direction"] == "in"


def test_the_native_cdr_example_has_the_native_header() -> None:
    header = _block("Native CDR CSV", "csv").splitlines()[0]
    assert header.startswith("call_id,tenant,account,service,direction")
