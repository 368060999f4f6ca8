"""Options shared by the commands that read CDRs with a card."""

from __future__ import annotations

import argparse
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.calls import Direction
from shared.domain.errors import ValidationError
from shared.domain.rating.numbers import NumberingPlan
from shared.formats.cdr_formats import READERS, ReaderContext


def add_card_options(parser: argparse.ArgumentParser, *, card_required: bool = True) -> None:
    parser.add_argument(
        "--card",
        action="append",
        type=Path,
        required=card_required,
        help="rate card (.json/.yaml/.csv); repeat to supply parent cards",
    )
    parser.add_argument("--currency", help="currency for a CSV deck without a sidecar")
    parser.add_argument("--timezone", help="rating zone; overrides the card's and the tenant's")
    parser.add_argument("--tenant", help="tenant the CDRs belong to")
    parser.add_argument("--country-code", default="", help="country code for national numbers")
    parser.add_argument("--trunk-prefix", default="0", help="national trunk prefix (default 0)")
    parser.add_argument(
        "--max-extension-digits", type=int, default=6, help="on-net extension length (default 6)"
    )


def card_settings(args: argparse.Namespace) -> dict[str, str]:
    return {"currency": args.currency} if args.currency else {}


#: on-net extensions longer than this are not extensions (E.164 numbers have up to 15 digits)
MAX_EXTENSION_DIGITS = 15


def country_code(text: str) -> str:
    """``--country-code``: empty, or the 1 to 3 digits of an E.164 country code."""
    if text and not (text.isascii() and text.isdigit() and len(text) <= 3):
        raise ValidationError(f"--country-code must be 1 to 3 digits, got {text!r}")
    return text


def numbering_plan(args: argparse.Namespace) -> NumberingPlan:
    if not 0 <= args.max_extension_digits <= MAX_EXTENSION_DIGITS:
        raise ValidationError(
            f"--max-extension-digits must be between 0 and {MAX_EXTENSION_DIGITS}, "
            f"got {args.max_extension_digits}"
        )
    return NumberingPlan(
        country_code=country_code(args.country_code),
        trunk_prefix=args.trunk_prefix,
        max_extension_digits=args.max_extension_digits,
    )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown timezone {name!r}") from None


def add_reader_options(parser: argparse.ArgumentParser) -> None:
    """How to read a CDR file: its format, switch contexts, FreeSWITCH columns."""
    parser.add_argument("--format", default="auto", help=f"auto, {', '.join(READERS)}")
    parser.add_argument(
        "--context-map",
        default="",
        metavar="CTX=in,CTX2=out",
        help="switch dialplan contexts (Asterisk dcontext, FreeSWITCH context) to directions; "
        "unlisted contexts are out",
    )
    parser.add_argument(
        "--cdr-columns",
        default="",
        metavar="NAME,NAME,...",
        help="FreeSWITCH cdr_csv template column names, for files without a header row",
    )


def reader_context(args: argparse.Namespace, zone: ZoneInfo, plan: NumberingPlan) -> ReaderContext:
    return ReaderContext(
        tenant=args.tenant or "",
        zone=zone,
        contexts=parse_context_map(args.context_map),
        plan=plan,
        columns=tuple(args.cdr_columns.split(",")) if args.cdr_columns else None,
    )


def parse_context_map(text: str) -> dict[str, Direction]:
    """``from-pstn=in,from-internal=out`` → {context: direction}."""
    contexts: dict[str, Direction] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        direction = value.strip().lower()
        if not sep or not name.strip() or direction not in ("in", "out"):
            raise ValidationError(f"--context-map: {item!r} is not CONTEXT=in or CONTEXT=out")
        contexts[name.strip()] = Direction(direction)
    return contexts
