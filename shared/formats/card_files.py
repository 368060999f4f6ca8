"""Rate card files: native JSON/YAML documents and the flat CSV deck (SPEC section 4)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml

from shared.domain.errors import CardLoadError
from shared.domain.rating.card import RateCard, load_card

DECK_COLUMNS = (
    "prefix",
    "destination",
    "price",
    "initial",
    "increment",
    "connect_fee",
    "service",
    "direction",
    "band",
    "effective_from",
    "effective_to",
)
DECK_REQUIRED = ("prefix", "price")
#: card-level keys a deck sidecar (``<deck>.card.json``/``.yaml``) or CLI flags may set
CARD_SETTINGS = (
    "card",
    "currency",
    "timezone",
    "parent",
    "decimals",
    "rounding",
    "increment_precision",
    "bands",
    "holidays",
    "emergency",
    "on_net",
)


def read_document(path: Path) -> Any:
    """Parse a JSON or YAML file; errors name the file and the position."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CardLoadError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise CardLoadError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from None
    except yaml.YAMLError as error:
        raise CardLoadError(f"{path}: invalid YAML: {error}") from None
    except RecursionError:  # "[[[[…" thousands deep: no card is shaped like that
        raise CardLoadError(f"{path}: nested too deeply to be a rate card") from None


def deck_rates(text: str, source: str) -> list[dict[str, Any]]:
    """Rows of a native flat CSV deck as rate documents (price per minute, voice by default)."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rates: list[dict[str, Any]] = []
    while True:
        try:
            fields = next(reader, None)
        except csv.Error as error:  # a lone "\r" or NUL inside an unquoted field
            raise CardLoadError(
                f"{source}: line {reader.line_num}: unreadable CSV ({error})"
            ) from None
        if fields is None:
            break
        if not fields or all(not field.strip() for field in fields):
            continue
        if header is None:
            header = [field.strip().lower().lstrip("\ufeff") for field in fields]
            unknown = [name for name in header if name not in DECK_COLUMNS]
            if unknown:
                raise CardLoadError(f"{source}: unknown deck column(s) {', '.join(unknown)}")
            missing = [name for name in DECK_REQUIRED if name not in header]
            if missing:
                raise CardLoadError(f"{source}: missing deck column(s) {', '.join(missing)}")
            continue
        line = reader.line_num
        if len(fields) != len(header):
            raise CardLoadError(
                f"{source}: line {line}: expected {len(header)} fields, found {len(fields)}"
            )
        row = {name: value.strip() for name, value in zip(header, fields, strict=True)}
        tier: dict[str, Any] = {"price": row["price"]}
        for key in ("initial", "increment"):
            if row.get(key):
                tier[key] = row[key]
        rate: dict[str, Any] = {"prefix": row["prefix"], "tiers": [tier]}
        for key in (
            "destination",
            "connect_fee",
            "service",
            "direction",
            "band",
            "effective_from",
            "effective_to",
        ):
            if row.get(key):
                rate[key] = row[key]
        rates.append(rate)
    if header is None:
        raise CardLoadError(f"{source}: empty deck (no header row)")
    return rates


def load_card_file(path: Path, settings: dict[str, Any] | None = None) -> RateCard:
    """Load a card from ``.json``/``.yaml``/``.yml`` or a flat ``.csv`` deck.

    A deck takes its card-level settings from ``<deck>.card.json``/``.yaml`` beside it,
    overridden by ``settings`` (CLI flags); the card name defaults to the file's stem.
    """
    if not path.is_file():
        raise CardLoadError(f"{path}: no such rate card file")
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        document = read_document(path)
        if settings and isinstance(document, dict):
            document = {**document, **settings}
        return load_card(document, str(path))
    if suffix == ".csv":
        document = {"card": path.stem}
        for sidecar in (path.with_suffix(".card.json"), path.with_suffix(".card.yaml")):
            if sidecar.is_file():
                extra = read_document(sidecar)
                if not isinstance(extra, dict):
                    raise CardLoadError(f"{sidecar}: card settings must be a mapping")
                document.update(extra)
        document.update(settings or {})
        if "currency" not in document:
            raise CardLoadError(
                f"{path}: a CSV deck needs a currency (a {path.stem}.card.json sidecar "
                "or --currency)"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CardLoadError(
                f"{path}: not UTF-8; use 'billing import-deck' for carrier decks"
            ) from None
        document["rates"] = deck_rates(text, str(path))
        return load_card(document, str(path))
    raise CardLoadError(f"{path}: unknown card format (use .json, .yaml, .yml or .csv)")
