"""Loading the cards named on the command line, with parent-card fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.domain.errors import CardLoadError
from shared.domain.rating.card import RateCard
from shared.domain.rating.compiled import CompiledCard, compile_card
from shared.formats.card_files import load_card_file

_CARD_SUFFIXES = (".json", ".yaml", ".yml", ".csv")


def load_cards(paths: list[Path], settings: dict[str, Any] | None = None) -> list[RateCard]:
    """The first path is the tenant's card; later ones are available as parents."""
    return [load_card_file(path, settings if i == 0 else None) for i, path in enumerate(paths)]


def compile_with_parents(cards: list[RateCard], directory: Path, zone: str | None) -> CompiledCard:
    """Compile the first card, resolving ``parent`` by name among ``cards`` or as a file
    ``<parent>.json|yaml|yml|csv`` next to the first card."""
    by_name = {card.name: card for card in cards}
    chain: list[RateCard] = [cards[0]]
    while chain[-1].parent:
        name = chain[-1].parent
        if any(card.name == name for card in chain):
            raise CardLoadError(f"card {chain[-1].name!r}: parent chain loops back to {name!r}")
        parent = by_name.get(name) or _card_beside(directory, name)
        if parent is None:
            raise CardLoadError(
                f"card {chain[-1].name!r}: parent card {name!r} not found "
                f"(pass it with another --card, or put {name}.json beside the card)"
            )
        chain.append(parent)
    compiled: CompiledCard | None = None
    for card in reversed(chain):
        compiled = compile_card(card, zone, parent=compiled)
    assert compiled is not None
    return compiled


def _card_beside(directory: Path, name: str) -> RateCard | None:
    for suffix in _CARD_SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return load_card_file(candidate)
    return None
