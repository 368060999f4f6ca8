"""``billing explain``: the rating receipt of one call, from a file or from flags."""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.cli.cards import compile_with_parents, load_cards
from shared.cli.options import (
    add_card_options,
    add_reader_options,
    card_settings,
    numbering_plan,
    reader_context,
)
from shared.domain.calls import CallRecord, CallStatus, Direction, Encoding, Service
from shared.domain.errors import ValidationError
from shared.domain.rating.engine import Rating, rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.formats.cdr_formats import open_records
from shared.formats.fields import parse_seconds_ms, parse_timestamp
from shared.formats.records import as_outcome


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("explain", help="show the rating receipt of one call")
    add_card_options(parser)
    parser.add_argument("--cdrs", type=Path, help="CDR file holding the call")
    add_reader_options(parser)
    parser.add_argument("--call-id", help="the call to explain (with --cdrs)")
    parser.add_argument("--callee", help="dialled number (without --cdrs)")
    parser.add_argument("--answer", help="answer time, ISO-8601 (without --cdrs)")
    parser.add_argument("--billsec", default="0", help="talk seconds (without --cdrs)")
    parser.add_argument("--service", default="voice", choices=[s.value for s in Service])
    parser.add_argument("--direction", default="out", choices=[d.value for d in Direction])
    parser.add_argument("--quantity", help="segments, emails, units or characters")
    parser.add_argument("--encoding", choices=[e.value for e in Encoding])
    parser.add_argument("--json", action="store_true", help="print the receipt as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cards = load_cards(args.card, card_settings(args))
    card = compile_with_parents(cards, args.card[0].parent, args.timezone)
    plan = numbering_plan(args)
    now_ms = time.time_ns() // 1_000_000
    call = (
        _call_from_file(args, card.zone, plan) if args.cdrs else _call_from_flags(args, card.zone)
    )
    rating = rate_call(call, card, plan, now_ms, explain=True)
    _print(rating, args.json)
    return 0 if rating.status is not CallStatus.REJECTED else 1


def _call_from_file(args: argparse.Namespace, zone: ZoneInfo, plan: NumberingPlan) -> CallRecord:
    if not args.call_id:
        raise ValidationError("--call-id is required with --cdrs")
    context = reader_context(args, zone, plan)
    with args.cdrs.open("rb") as stream:
        _fmt, _lines, records = open_records(stream, args.format, context)
        for record in records:
            call = as_outcome(record).call
            if call is not None and call.call_id == args.call_id:
                return call
    raise ValidationError(f"{args.cdrs}: no ratable call with id {args.call_id!r}")


def _call_from_flags(args: argparse.Namespace, zone: object) -> CallRecord:
    if not args.callee and args.service == "voice":
        raise ValidationError("give --cdrs with --call-id, or --callee with --answer and --billsec")
    if not args.answer:
        raise ValidationError("--answer is required without --cdrs")
    answer = parse_timestamp(args.answer, zone, "--answer")  # type: ignore[arg-type]
    talk = parse_seconds_ms(args.billsec, "--billsec") or 0
    return CallRecord(
        call_id="explain",
        tenant=args.tenant or "",
        callee=args.callee or "",
        service=Service(args.service),
        direction=Direction(args.direction),
        answer_ms=answer,
        start_ms=answer,
        talk_ms=talk,
        quantity=Decimal(args.quantity) if args.quantity else None,
        encoding=Encoding(args.encoding) if args.encoding else None,
    )


def _print(rating: Rating, as_json: bool) -> None:
    if rating.status is CallStatus.REJECTED:
        message = {"status": "rejected", "reason": str(rating.reason), "detail": rating.detail}
        print(json.dumps(message) if as_json else f"rejected: {rating.reason}: {rating.detail}")
        return
    if rating.receipt is None:
        print(
            json.dumps({"status": str(rating.status), "cost": "0"})
            if as_json
            else f"{rating.status}: cost 0 {rating.currency}"
        )
        return
    if as_json:
        print(json.dumps(rating.receipt.as_dict(), ensure_ascii=False))
    else:
        print("\n".join(rating.receipt.lines()))
