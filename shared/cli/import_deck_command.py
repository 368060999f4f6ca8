"""``billing import-deck``: a carrier deck → a native rate card, with a row-by-row report."""

from __future__ import annotations

import argparse
import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.domain.errors import CardLoadError, ValidationError
from shared.domain.money import parse_decimal
from shared.domain.rating.card import RateCard, load_card
from shared.formats.card_files import read_document
from shared.formats.csv_safe import safe_row
from shared.formats.deck_diff import CardDiff, diff_cards, diff_lines
from shared.formats.decks import (
    ENCODINGS,
    FORMATS,
    DeckImport,
    DeckOptions,
    RowReport,
    Severity,
    card_document,
    dump_card_document,
    read_deck,
)

#: report lines printed in the text summary; the --report file has all of them
SHOWN_REPORTS = 20
_NATIVE_SUFFIXES = (".json", ".yaml", ".yml")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "import-deck",
        help="import a carrier rate deck as a native rate card",
        description="Read a rate deck (native CSV, A-Z, ConnexCS Open Rate Card JSON or the "
        "special-numbers sheet), write a native card and report every row not imported "
        "as is.",
    )
    parser.add_argument("--deck", type=Path, required=True, help="the deck to import")
    parser.add_argument(
        "--format", default="auto", choices=("auto", *FORMATS), help="deck format (auto)"
    )
    parser.add_argument("--card-name", help="card name (default: the deck's, else file stem)")
    parser.add_argument("--currency", help="ISO 4217 currency of the prices")
    parser.add_argument("--timezone", help="the card's rating zone (default: the deck's, or UTC)")
    parser.add_argument(
        "--initial", help="initial seconds for rows that do not give one (default 60)"
    )
    parser.add_argument(
        "--increment", help="increment seconds for rows that do not give one (default 60)"
    )
    parser.add_argument(
        "--encoding", default="utf-8", choices=ENCODINGS,
        help="text encoding (utf-8: rows that are not UTF-8 are read as Windows-1252 and flagged)",
    )
    parser.add_argument("--orc-card", help="which card of an Open Rate Card document to import")
    parser.add_argument("--out", type=Path, help="write the native card here (.json)")
    parser.add_argument("--report", type=Path, help="write every report line here (CSV)")
    parser.add_argument(
        "--diff", type=Path, metavar="OLD",
        help="compare with an older card (native .json/.yaml) or deck",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = deck_options(args)
    result = read_deck(args.deck, options)
    document = card_document(
        result, name=args.card_name, currency=args.currency, timezone=args.timezone
    )
    if not result.rates:
        raise CardLoadError(
            f"{args.deck}: no rate imported from {result.rows} row(s); nothing written"
            + (f" (first problem: line {result.reports[0].line}: {result.reports[0].detail})"
               if result.reports else "")
        )
    card = load_card(document, str(args.deck))
    if args.out:
        args.out.write_text(dump_card_document(document), encoding="utf-8")
    if args.report:
        write_report(args.report, result)
    diff = diff_cards(load_old_card(args.diff, options, args), card) if args.diff else None
    if args.json:
        print(json.dumps(summary_dict(args, result, card, diff), ensure_ascii=False))
    else:
        for line in summary_lines(args, result, card, diff):
            print(line)
    return 0


def deck_options(args: argparse.Namespace) -> DeckOptions:
    return DeckOptions(
        format=args.format,
        encoding=args.encoding,
        initial=_seconds(args.initial, "--initial", positive=False),
        increment=_seconds(args.increment, "--increment", positive=True),
        currency=args.currency,
        orc_card=args.orc_card,
    )


def _seconds(text: str | None, flag: str, *, positive: bool) -> Decimal | None:
    if text is None:
        return None
    value = parse_decimal(text, flag)
    if value < 0 or (positive and value == 0):
        raise ValidationError(f"{flag}: must be {'positive' if positive else 'at least 0'}")
    return value


def load_old_card(path: Path, options: DeckOptions, args: argparse.Namespace) -> RateCard:
    """The card to compare with: a native card file, or any deck import-deck reads (read
    with the same options)."""
    if path.suffix.lower() in _NATIVE_SUFFIXES and path.is_file():
        document = read_document(path)
        if isinstance(document, dict) and "card" in document and "cards" not in document:
            return load_card(document, str(path))
    old = read_deck(path, options)
    old_document = card_document(
        old, name=None, currency=args.currency, timezone=args.timezone
    )
    return load_card(old_document, str(path))


def write_report(path: Path, result: DeckImport) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["line", "severity", "reason", "detail", "raw"])
        for report in (*result.notices, *result.reports):
            writer.writerow(
                safe_row(
                    [report.line, report.severity.value, report.reason.value, report.detail,
                     report.raw]
                )
            )


def summary_dict(
    args: argparse.Namespace, result: DeckImport, card: RateCard, diff: CardDiff | None
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "deck": str(args.deck),
        "format": result.format,
        "rows": result.rows,
        "imported": result.imported,
        "rejected": result.rejected,
        "skipped": result.skipped,
        "warnings": result.warnings,
        "rates": len(result.rates),
        "card": card.name,
        "currency": card.currency,
        "out": str(args.out) if args.out else None,
        "reasons": result.reasons(),
        "notices": [notice.as_dict() for notice in result.notices],
        "reports": [report.as_dict() for report in result.reports],
    }
    if diff is not None:
        summary["diff"] = diff.as_dict()
    return summary


def summary_lines(
    args: argparse.Namespace, result: DeckImport, card: RateCard, diff: CardDiff | None
) -> list[str]:
    lines = [
        f"{args.deck} ({result.format}): rows {result.rows}: imported {result.imported}, "
        f"rejected {result.rejected}, skipped {result.skipped}; "
        f"rows with warnings {result.warnings}",
        f"card {card.name!r} ({card.currency}, {card.timezone}): {len(result.rates)} "
        + ("rate" if len(result.rates) == 1 else "rates")
        + (f", written to {args.out}" if args.out else " (not written: no --out)"),
    ]
    if result.reports:
        reasons = ", ".join(f"{reason} {count}" for reason, count in result.reasons().items())
        lines.append(f"report by reason: {reasons}")
    order = {Severity.REJECTED: 0, Severity.WARNING: 1, Severity.SKIPPED: 2}
    ranked = sorted(result.reports, key=lambda report: order[report.severity])
    shown = [*result.notices, *ranked][:SHOWN_REPORTS]
    lines.extend(_report_text(report) for report in shown)
    hidden = len(result.notices) + len(result.reports) - len(shown)
    if hidden > 0:
        where = f"see {args.report}" if args.report else "use --report FILE"
        lines.append(f"  … and {hidden} more ({where})")
    if diff is not None:
        lines.extend(diff_lines(diff))
    return lines


def _report_text(report: RowReport) -> str:
    where = f"line {report.line}" if report.line else "file"
    return f"  {where}: {report.severity.value} {report.reason.value}: {report.detail}"
