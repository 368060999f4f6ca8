"""``billing breakout``: per destination and UTC day, from the local stack or a CDR file.

Local (``--tenant T``): the tenant's BreakoutsTable rows; with ``--buy-card`` the answered
calls of those days are read back from RatedCallsTable (``by_period``) and re-priced on the
buy card. Offline (``--cdrs F --card C``): the file is rated as ``billing rate`` does, and
the same lines are built from the rated calls. Text (default), ``--json``, ``--csv FILE``,
``--html FILE`` (charts). docs/reports.md has the column definitions.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from shared.cli.options import country_code
from shared.domain.breakout import (
    BreakoutLine,
    BuyCost,
    add_buy_cost,
    breakout_lines,
    buy_costs,
)
from shared.domain.calls import CallRecord, CallStatus
from shared.domain.errors import ValidationError
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import Rating
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.rerate import call_of_detail, parse_day, periods_between
from shared.domain.usage import BreakoutDelta, breakout_key, breakouts_of


def extend(parser: argparse.ArgumentParser) -> None:
    """The report options on top of the local command's ``--tenant --from --to --json``."""
    parser.add_argument("--buy-card", type=Path, help="buy-side card file: adds margin")
    parser.add_argument("--cdrs", type=Path, help="offline: a CDR file to rate with --card")
    parser.add_argument("--card", type=Path, help="offline: the sell card for --cdrs")
    parser.add_argument("--format", default="auto", help="offline: CDR format (as billing rate)")
    parser.add_argument("--timezone", help="offline: rating zone")
    parser.add_argument("--country-code", default="", help="offline: for national numbers")
    parser.add_argument("--csv", type=Path, help="write the report as CSV")
    parser.add_argument("--html", type=Path, help="write the report as HTML with charts")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    _normalise_days(args)
    if args.cdrs is not None or args.card is not None:
        if args.cdrs is None or args.card is None:
            raise ValidationError("offline breakout needs both --cdrs and --card")
        lines, currency, tenant = _offline(args)
    else:
        if not args.tenant:
            raise ValidationError("breakout needs --tenant (local stack) or --cdrs and --card")
        lines, currency, tenant = _local(args)
    if args.csv is not None:
        from shared.formats.breakout_report import write_csv

        with args.csv.open("w", encoding="utf-8", newline="") as stream:
            write_csv(lines, stream, currency)
    if args.html is not None:
        from shared.formats.breakout_report import render_html

        args.html.write_text(render_html(lines, tenant, currency), encoding="utf-8")
    if args.json:
        print(json.dumps([line.as_dict() for line in lines]))
    else:
        _print(lines, currency)
    return 0


def _normalise_days(args: argparse.Namespace) -> None:
    """``--from``/``--to`` as YYYY-MM-DD (both filters compare days as text), checked once
    for the offline and the local report: a day that is not one, or a range the wrong way
    round, is one input error, never an empty report."""
    days = {flag: parse_day(value, flag) for value, flag in (
        (args.day_from, "--from"), (args.day_to, "--to")) if value is not None}
    if "--from" in days and "--to" in days and days["--to"] < days["--from"]:
        raise ValidationError(f"--to {days['--to']} is before --from {days['--from']}")
    args.day_from = days["--from"].isoformat() if "--from" in days else None
    args.day_to = days["--to"].isoformat() if "--to" in days else None


def _print(lines: list[BreakoutLine], currency: str) -> None:
    margin = any(line.buy is not None for line in lines)
    print(
        f"{'day':<11}{'destination':<28}{'attempts':>9}{'answered':>9}{'ASR %':>8}{'ACD s':>8}"
        f"{'minutes':>11}{'cost':>12}" + (f"{'margin':>12}{'margin %':>10}" if margin else "")
    )
    for line in lines:
        row = (
            f"{line.day:<11}{line.destination[:27]:<28}{line.attempts:>9}{line.answered:>9}"
            f"{_or_dash(line.asr):>8}{_or_dash(line.acd):>8}{line.minutes:>11}{line.cost:>12}"
        )
        if margin:
            row += f"{_or_dash(line.margin):>12}{_or_dash(line.margin_pct):>10}"
        print(row)
    if currency:
        print(f"amounts in {currency}")


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _buy_card(path: Path, zone: str | None) -> CompiledCard:
    from shared.cli.cards import compile_with_parents, load_cards

    return compile_with_parents(load_cards([path]), path.parent, zone)


# -- local stack ---------------------------------------------------------------------------


def _local(args: argparse.Namespace) -> tuple[list[BreakoutLine], str, str]:
    from shared.adapters.dynamodb import DynamoTenantDirectory
    from shared.cli.stack_commands import _store, connect

    connected = connect(args.state_dir)
    store = _store(connected)
    rows = store.breakouts(args.tenant, args.day_from, args.day_to)
    counters = [
        (r["day"], r["destination"], r["attempts"], r["answered"], r["billed_ms"], r["cost"])
        for r in rows
    ]
    settings = DynamoTenantDirectory(
        connected.clients["dynamodb"], connected.env["TENANTS_TABLE"]
    ).get(args.tenant)
    currency = settings.currency if settings is not None else ""
    buy: dict[tuple[str, str], BuyCost] | None = None
    if args.buy_card is not None:
        if settings is None:
            raise ValidationError(f"no tenant {args.tenant!r} in the local stack")
        days = sorted({r["day"] for r in rows if r["day"] != "unknown"})
        card = _buy_card(args.buy_card, settings.timezone)
        buy = buy_costs(
            _stored_calls(store, args.tenant, days), card, settings.numbering.plan()
        ) if days else {}
        _check_currency(card, currency)
    return breakout_lines(counters, buy), currency, args.tenant


def _stored_calls(store: Any, tenant: str, days: list[str]) -> list[tuple[CallRecord, str]]:
    """The answered calls started on these UTC days, with their sell destination. Billing
    periods follow the tenant's zone, so the months a day before and after are read too."""
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    wanted = set(days)
    calls = []
    for period in periods_between(first - timedelta(days=1), last + timedelta(days=1)):
        for values in store.period_call_detail(tenant, period):
            call = call_of_detail(values)
            when = call.start_ms if call.start_ms is not None else call.answer_ms
            if when is None or time.strftime("%Y-%m-%d", time.gmtime(when // 1000)) not in wanted:
                continue
            prefix = str(values.get("prefix") or "")
            destination = str(values.get("destination") or "") or (
                prefix and f"+{prefix}"
            ) or "unrated"
            calls.append((call, destination))
    return calls


def _check_currency(card: CompiledCard, currency: str) -> None:
    if currency and card.currency != currency:
        raise ValidationError(
            f"buy card {card.name!r} is in {card.currency}, the sell side in {currency}: "
            "margin needs one currency"
        )


# -- offline -------------------------------------------------------------------------------


class _BreakoutSink:
    """Counts every rated or unanswered call into its (day, destination) as it is rated,
    and prices the answered ones on the buy card: nothing per call is kept."""

    def __init__(self, buy_card: CompiledCard | None, plan: NumberingPlan) -> None:
        self.deltas: dict[tuple[str, str], BreakoutDelta] = {}
        self.buy: dict[tuple[str, str], BuyCost] | None = None if buy_card is None else {}
        self._buy_card, self._plan = buy_card, plan

    def write(self, call: CallRecord, rating: Rating) -> None:
        key = breakout_key(call, rating)
        self.deltas.setdefault(key, BreakoutDelta()).add(breakouts_of([(call, rating)])[key])
        buy, card = self.buy, self._buy_card
        if buy is not None and card is not None and rating.status is CallStatus.RATED:
            add_buy_cost(buy, call, key[1], card, self._plan)


def _offline(args: argparse.Namespace) -> tuple[list[BreakoutLine], str, str]:
    from shared.adapters.files import CsvRejectSink
    from shared.cli.cards import compile_with_parents, load_cards
    from shared.formats.cdr_context import ReaderContext
    from shared.formats.cdr_formats import open_records
    from shared.services.rate_file import RatingJob, rate_records

    card = compile_with_parents(load_cards([args.card]), args.card.parent, args.timezone)
    plan = NumberingPlan(country_code=country_code(args.country_code))
    tenant = args.tenant or ""
    job = RatingJob(card=card, plan=plan, tenant=tenant or None,
                    now_ms=time.time_ns() // 1_000_000)
    buy_card = None
    if args.buy_card is not None:
        buy_card = _buy_card(args.buy_card, args.timezone)
        _check_currency(buy_card, card.currency)
    sink = _BreakoutSink(buy_card, plan)
    with args.cdrs.open("rb") as stream:
        _format, _lines, records = open_records(
            stream, args.format, ReaderContext(tenant=tenant, zone=card.zone, plan=plan)
        )
        rate_records(records, job, sink, CsvRejectSink(None))
    counters = [
        (day, destination, d.attempts, d.answered, d.billed_ms, d.cost)
        for (day, destination), d in sink.deltas.items()
        if args.day_from is None or day >= args.day_from
        if args.day_to is None or day <= args.day_to
    ]
    return breakout_lines(counters, sink.buy), card.currency, tenant or args.cdrs.name
