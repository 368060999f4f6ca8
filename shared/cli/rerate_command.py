"""``billing rerate``: re-rate a tenant's period on the local stack after a rate-card fix.

``--card`` is a native card file (JSON or YAML) or the name of a card loaded in the stack;
its content hash (the stored card's version) names the run with the tenant and the range, so
running the same re-rate again writes nothing. docs/reports.md tells the whole story.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from shared.cli.local_command import DEFAULT_STATE_DIR
from shared.domain.errors import ValidationError
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import CompiledCard, compile_card
from shared.domain.rerate import RerateSummary, parse_day
from shared.domain.tenants import TenantSettings
from shared.formats.card_files import read_document


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "rerate", help="re-rate a tenant's period with a fixed card, as ledger adjustments"
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--from", dest="day_from", required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="day_to", required=True, help="last day, YYYY-MM-DD")
    parser.add_argument(
        "--card", required=True, help="fixed card: a native card file or a loaded card's name"
    )
    parser.add_argument("--dry-run", action="store_true", help="report, write nothing")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from shared.adapters.dynamodb import DynamoCardStore, canonical_card_json
    from shared.cli.stack_commands import _store, connect, tenant_settings
    from shared.services.rerate import RerateRequest, rerate
    from shared.wiring import compiled_cards

    day_from, day_to = parse_day(args.day_from, "--from"), parse_day(args.day_to, "--to")
    connected = connect(args.state_dir)
    dynamodb = connected.clients["dynamodb"]
    settings = tenant_settings(connected, args.tenant)
    store = DynamoCardStore(dynamodb, connected.env["RATE_CARDS_TABLE"])
    path = Path(args.card)
    if path.is_file():
        document = read_document(path)
        if not isinstance(document, dict):
            raise ValidationError(f"{path}: a native rate card is a JSON or YAML object")
        card_hash = hashlib.sha256(canonical_card_json(document).encode("utf-8")).hexdigest()
        loaded = load_card(document, str(path))
        parent: CompiledCard | None = None
        if loaded.parent:
            parent = compiled_cards(store)(settings.model_copy(update={"card": loaded.parent}))
        card = compile_card(loaded, settings.timezone, parent=parent)
    else:
        version = store.version(args.card)
        if version is None:
            raise ValidationError(
                f"--card {args.card!r}: no such file, and no card of that name is loaded"
            )
        card_hash = version
        card = compiled_cards(store)(settings.model_copy(update={"card": args.card}))
    _check_currency(settings, card)
    summary = rerate(
        RerateRequest(
            tenant=args.tenant,
            day_from=day_from,
            day_to=day_to,
            card=card,
            card_hash=card_hash,
            plan=settings.numbering.plan(),
            dry_run=args.dry_run,
        ),
        calls=_store(connected),
        ledger=_store(connected),
    )
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        for line in summary_lines(summary):
            print(line)
    return 0


def _check_currency(settings: TenantSettings, card: CompiledCard) -> None:
    if card.currency != settings.currency:
        raise ValidationError(
            f"card {card.name!r} is in {card.currency}, tenant {settings.tenant_id!r} "
            f"is billed in {settings.currency}"
        )


def summary_lines(summary: RerateSummary) -> list[str]:
    data: dict[str, Any] = summary.as_dict()
    what = "would write" if summary.dry_run else "wrote"
    lines = [
        f"re-rate {summary.run_id} of {summary.tenant} ({', '.join(summary.periods)})"
        + (" [dry run]" if summary.dry_run else ""),
        f"calls {summary.considered}: changed {summary.changed}, unchanged {summary.unchanged}"
        + "".join(f", {reason} {count}" for reason, count in data["failed"].items()),
        f"{what} {summary.changed if summary.dry_run else summary.written} adjustments"
        + ("" if summary.dry_run else f" ({summary.already} already there"
           f", {summary.conflicts} conflicts)"),
        f"total difference {summary.total_difference} {summary.currency} (new - old)",
    ]
    for name, row in data["by_destination"].items():
        lines.append(f"  {name or '-'}: {row['calls']} calls, {row['difference']}")
    return lines
