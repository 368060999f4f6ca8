"""``billing advise``: per-minute or per-channel billing for this traffic? (SPEC 1, 8)

Reads a CDR file as ``billing rate`` does (same card, reader and numbering options), or a
tenant's charged calls on the local stack (``--tenant --from --to``), prices it per minute
with the card and per channel from the peak concurrency per month, with the
per-server minimum, and prints which model is cheaper and by how much (text, ``--json``),
with an HTML page (``--html``) charting the cost against provisioned channels.
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.adapters.files import CsvRejectSink
from shared.cli.cards import compile_with_parents, load_cards
from shared.cli.local_command import DEFAULT_STATE_DIR
from shared.cli.options import (
    add_card_options,
    add_reader_options,
    card_settings,
    numbering_plan,
    reader_context,
)
from shared.domain.advisor import ChannelPrices, Traffic, advise, month_peaks
from shared.domain.calls import CallRecord, CallStatus
from shared.domain.errors import ValidationError
from shared.domain.money import parse_decimal
from shared.domain.rating.engine import Rating
from shared.domain.rerate import call_of_detail, local_day, parse_day, periods_between
from shared.formats import advisor_report
from shared.formats.cdr_formats import open_records
from shared.services.rate_file import RatingJob, rate_records


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "advise", help="per-minute or per-channel billing: which is cheaper for this traffic"
    )
    add_card_options(parser, card_required=False)
    parser.add_argument("--cdrs", type=Path, help="the traffic (CDR file, with --card)")
    parser.add_argument("--from", dest="day_from", help="local stack: first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="day_to", help="local stack: last day, YYYY-MM-DD")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    add_reader_options(parser)
    parser.add_argument("--outbound-price", help="monthly price of an outbound channel")
    parser.add_argument("--inbound-price", help="monthly price of an inbound channel")
    parser.add_argument("--two-way-price", help="monthly price of a two-way channel")
    parser.add_argument("--minimum", default="0", help="minimum charge per server and month")
    parser.add_argument("--servers", type=int, default=1, help="servers carrying the minimum")
    parser.add_argument(
        "--sweep-to", type=int, help="sweep 0..N channels (default: twice the peak, min 10)"
    )
    parser.add_argument("--html", type=Path, help="write the advice as HTML with charts")
    parser.add_argument("--json", action="store_true", help="print the advice as JSON")
    parser.set_defaults(handler=run)


class _TrafficSink:
    """Feeds every rated or unanswered call, as rated, into the advisor's traffic (rejects,
    duplicates and merged legs are not traffic); keeps only each call's interval."""

    def __init__(self, traffic: Traffic, zone: ZoneInfo) -> None:
        self.traffic, self.zone = traffic, zone

    def write(self, call: CallRecord, rating: Rating) -> None:
        self.traffic.add(call, rating, self.zone)


#: prices and the minimum above this are refused, as manual top-ups and credits are (far
#: above any real channel price; keeps the sweep's arithmetic and its output readable)
MAX_PRICE = Decimal("999999999")


def _price(text: str | None, flag: str) -> Decimal | None:
    if text is None:
        return None
    price = parse_decimal(text, flag)
    if price > MAX_PRICE:
        raise ValidationError(f"{flag}: at most {MAX_PRICE}, got {text}")
    return price


def run(args: argparse.Namespace) -> int:
    if args.sweep_to is not None and not 0 <= args.sweep_to <= 100_000:
        raise ValidationError(f"--sweep-to must be between 0 and 100000, got {args.sweep_to}")
    prices = ChannelPrices(
        outbound=_price(args.outbound_price, "--outbound-price"),
        inbound=_price(args.inbound_price, "--inbound-price"),
        two_way=_price(args.two_way_price, "--two-way-price"),
        minimum=_price(args.minimum, "--minimum") or Decimal(0),  # the default is "0"
        servers=args.servers,
    )
    if args.cdrs is not None:
        if not args.card:
            raise ValidationError("advise --cdrs needs the --card to price them with")
        traffic = _offline(args)
    elif args.tenant and args.day_from and args.day_to:
        traffic = _local(args)
    else:
        raise ValidationError(
            "advise needs --cdrs and --card, or --tenant --from --to (local stack)"
        )
    advice = advise(
        traffic.month_costs,
        traffic.month_calls,
        month_peaks(traffic.intervals),
        prices,
        traffic.currency,
        args.sweep_to,
    )
    if args.html is not None:
        args.html.write_text(
            advisor_report.render_html(advice, prices, traffic.skipped), encoding="utf-8"
        )
    if args.json:
        print(json.dumps(advisor_report.as_dict(advice, prices, traffic.skipped)))
    else:
        for line in advisor_report.text_lines(advice, prices, traffic.skipped):
            print(line)
    return 0


def _offline(args: argparse.Namespace) -> Traffic:
    """The file rated as ``billing rate`` rates it; each call fed to the advisor as rated."""
    card = compile_with_parents(
        load_cards(args.card, card_settings(args)), args.card[0].parent, args.timezone
    )
    plan = numbering_plan(args)
    job = RatingJob(card=card, plan=plan, tenant=args.tenant, now_ms=time.time_ns() // 1_000_000)
    traffic = Traffic(card.currency)
    with args.cdrs.open("rb") as stream:
        _format, _lines, records = open_records(
            stream, args.format, reader_context(args, card.zone, plan)
        )
        rate_records(records, job, _TrafficSink(traffic, card.zone), CsvRejectSink(None))
    return traffic


def _local(args: argparse.Namespace) -> Traffic:
    """The tenant's charged calls of the range on the local stack, at the cost they were
    rated with (the tenant's card); unanswered attempts are not stored per call, so their
    ringing time holds no channel here (docs/reports.md)."""
    from shared.adapters.dynamodb import DynamoCardStore
    from shared.cli.stack_commands import _store, connect, tenant_settings
    from shared.wiring import compiled_cards

    day_from, day_to = parse_day(args.day_from, "--from"), parse_day(args.day_to, "--to")
    connected = connect(args.state_dir)
    dynamodb = connected.clients["dynamodb"]
    settings = tenant_settings(connected, args.tenant)
    card = compiled_cards(DynamoCardStore(dynamodb, connected.env["RATE_CARDS_TABLE"]))(settings)
    store = _store(connected)
    traffic = Traffic(settings.currency)
    for period in periods_between(day_from, day_to):
        for values in store.period_call_detail(args.tenant, period):
            call = call_of_detail(values)
            when = call.answer_ms if call.answer_ms is not None else call.start_ms
            if when is None or not day_from <= local_day(when, card.zone) <= day_to:
                continue
            rating = Rating(
                CallStatus.RATED, settings.currency, cost=Decimal(values.get("cost") or 0)
            )
            traffic.add(call, rating, card.zone)
    return traffic
