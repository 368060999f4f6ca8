"""``billing reconcile``: why two call sources disagree, as a report (SPEC section 8).

``--ours`` and ``--theirs`` are CDR files in any supported format, each rated with a card
(``--card``; ``--theirs-card`` when the other side prices with another deck). ``--ours`` may
also be ``local:<tenant>:<YYYY-MM>``: our rated calls of that billing period on the local
stack (answered calls only, so the other side's unanswered attempts are left out too).
Prints the conclusion and the ranked findings; ``--out-dir`` writes report.md, report.html
and report.json; ``--json`` prints the JSON report as the last line instead.
"""

from __future__ import annotations

import argparse
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.cli.cards import compile_with_parents, load_cards
from shared.cli.local_command import DEFAULT_STATE_DIR
from shared.cli.options import (
    add_card_options,
    add_reader_options,
    card_settings,
    numbering_plan,
    reader_context,
    zone,
)
from shared.domain.errors import ValidationError
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.reconcile import Reconciliation, Settings, Side, reconcile
from shared.formats.cdr_formats import open_records
from shared.formats.reconcile_report import to_html, to_json, to_markdown
from shared.services.reconcile import side_from_rated_calls, side_from_records

_LOCAL = re.compile(r"local:(?P<tenant>[^:]+):(?P<period>\d{4}-\d{2})")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "reconcile", help="explain the differences between our calls and another source's"
    )
    parser.add_argument(
        "--ours", required=True, help="our CDR file, or local:<tenant>:<YYYY-MM> (local stack)"
    )
    parser.add_argument("--theirs", required=True, type=Path, help="their CDR file")
    add_card_options(parser)
    parser.add_argument("--theirs-card", type=Path, help="card pricing their file (default --card)")
    add_reader_options(parser)
    parser.add_argument("--theirs-format", help="format of their file (default: --format)")
    parser.add_argument(
        "--theirs-timezone", help="zone of naive times in their file (default: the card's)"
    )
    parser.add_argument(
        "--time-tolerance", default="5", help="seconds two start times may differ (default 5)"
    )
    parser.add_argument(
        "--duration-tolerance", default="0", help="seconds two talk times may differ (default 0)"
    )
    parser.add_argument(
        "--no-offset", action="store_true", help="do not detect a constant clock offset"
    )
    parser.add_argument("--out-dir", type=Path, help="write report.md, report.html, report.json")
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings(
        time_tolerance_ms=_milliseconds(args.time_tolerance, "--time-tolerance"),
        duration_tolerance_ms=_milliseconds(args.duration_tolerance, "--duration-tolerance"),
        detect_offset=not args.no_offset,
    )
    plan = numbering_plan(args)
    card = compile_with_parents(
        load_cards(args.card, card_settings(args)), args.card[0].parent, args.timezone
    )
    their_card = card
    if args.theirs_card:
        their_card = compile_with_parents(
            load_cards([args.theirs_card, *args.card[1:]], card_settings(args)),
            args.theirs_card.parent,
            args.timezone,
        )
    local = _LOCAL.fullmatch(args.ours)
    if local and not 1 <= int(local["period"][5:]) <= 12:
        raise ValidationError(f"--ours {args.ours!r}: {local['period']!r} is not a month "
                              "(expected local:<tenant>:<YYYY-MM>, month 01 to 12)")
    if local:
        ours = _local_side(args, local["tenant"], local["period"], card, plan)
    elif args.ours.startswith("local:"):
        raise ValidationError(f"--ours {args.ours!r}: expected local:<tenant>:<YYYY-MM>")
    else:
        ours = _file_side(args, Path(args.ours), args.format, card, card.zone, plan)
    their_zone = zone(args.theirs_timezone) if args.theirs_timezone else their_card.zone
    theirs = _file_side(
        args,
        args.theirs,
        args.theirs_format or args.format,
        their_card,
        their_zone,
        plan,
        answered_only=bool(local),
    )
    result = reconcile(ours, theirs, settings)
    if args.out_dir:
        _write(result, args.out_dir)
    if args.json:
        print(json.dumps(to_json(result), ensure_ascii=False))
        return 0
    print(f"conclusion: {result.conclusion}")
    for number, finding in enumerate(result.findings, 1):
        print(f"{number}. {finding.summary}")
    if args.out_dir:
        names = ", ".join(
            str(args.out_dir / n) for n in ("report.md", "report.html", "report.json")
        )
        print(f"wrote {names}")
    return 0


def _file_side(
    args: argparse.Namespace,
    path: Path,
    format_name: str,
    card: CompiledCard,
    zone_info: ZoneInfo,
    plan: NumberingPlan,
    *,
    answered_only: bool = False,
) -> Side:
    context = reader_context(args, zone_info, plan)
    with path.open("rb") as stream:
        if not stream.read(1):
            raise ValidationError(f"{path}: the file is empty")
        stream.seek(0)
        _name, _lines, records = open_records(stream, format_name, context)
        side = side_from_records(str(path), records, card, plan, answered_only=answered_only)
    if not side.calls:
        skipped = ", ".join(f"{reason}: {count}" for reason, count in side.skipped.items())
        raise ValidationError(
            f"{path}: no voice call could be read" + (f" ({skipped})" if skipped else "")
        )
    return side


def _local_side(
    args: argparse.Namespace, tenant: str, period: str, card: CompiledCard, plan: NumberingPlan
) -> Side:
    from shared.adapters.dynamodb import DynamoUsageStore, UsageTables
    from shared.cli.stack_commands import connect

    connected = connect(args.state_dir)
    store = DynamoUsageStore(connected.clients["dynamodb"], UsageTables.from_env(connected.env))
    rows = store.period_call_detail(tenant, period)
    if not rows:
        raise ValidationError(f"no rated calls of tenant {tenant!r} in {period} on the local stack")
    return side_from_rated_calls(f"local:{tenant}:{period}", rows, card.currency, card, plan)


def _write(result: Reconciliation, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.md").write_text(to_markdown(result), encoding="utf-8")
    (directory / "report.html").write_text(to_html(result), encoding="utf-8")
    (directory / "report.json").write_text(
        json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _milliseconds(text: str, flag: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{flag} must be a number of seconds, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"{flag} must be zero or more seconds, got {text!r}")
    return int((value * 1000).to_integral_value())
