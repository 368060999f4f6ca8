"""Options shared by the commands that read CDRs with a card."""

from __future__ import annotations

import argparse
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.errors import ValidationError
from shared.domain.rating.numbers import NumberingPlan


def add_card_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--card",
        action="append",
        type=Path,
        required=True,
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


def numbering_plan(args: argparse.Namespace) -> NumberingPlan:
    if args.country_code and not args.country_code.isdigit():
        raise ValidationError(f"--country-code must be digits, got {args.country_code!r}")
    return NumberingPlan(
        country_code=args.country_code,
        trunk_prefix=args.trunk_prefix,
        max_extension_digits=args.max_extension_digits,
    )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown timezone {name!r}") from None
