"""``billing demo``: the product end to end on what exists so far.

Today: generate a retail card and a month of CDRs for two tenants, rate them offline with
the same engine the Lambda uses, and print each tenant's summary and a receipt.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from shared.adapters.files import CsvRatedSink, CsvRejectSink
from shared.cli.rate_command import summary_lines
from shared.domain.calls import CallRecord
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.rating.engine import Rating
from shared.domain.rating.numbers import NumberingPlan
from shared.formats.cdr_formats import ReaderContext, open_records
from shared.local.generate import callees_for, retail_card, write_cdrs
from shared.services.rate_file import RatingJob, rate_records

TENANTS = (("acme-voip", 20_000), ("globex-pbx", 5_000))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("demo", help="run the end-to-end demo")
    parser.add_argument("--dir", type=Path, default=Path("out/demo"), help="working folder")
    parser.set_defaults(handler=run)


class _CountingSink:
    """Writes rated calls to CSV and tallies cost per destination for the printout."""

    def __init__(self, inner: CsvRatedSink) -> None:
        self.inner = inner
        self.by_destination: Counter[str] = Counter()
        self.cost_by_destination: dict[str, Decimal] = {}

    def write(self, call: CallRecord, rating: Rating) -> None:
        self.inner.write(call, rating)
        key = rating.destination or str(rating.status)
        self.by_destination[key] += 1
        self.cost_by_destination[key] = self.cost_by_destination.get(key, Decimal(0)) + rating.cost


def run(args: argparse.Namespace) -> int:
    folder: Path = args.dir
    folder.mkdir(parents=True, exist_ok=True)
    document = retail_card()
    (folder / "retail-usd.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    card = compile_card(load_card(document, "retail-usd.json"))
    print(f"card {card.name}: {len(document['rates'])} rates, peak mon-fri 08-20 / off-peak\n")
    for seed, (tenant, rows) in enumerate(TENANTS, start=1):
        cdrs = folder / f"{tenant}.csv"
        with cdrs.open("w", encoding="utf-8", newline="") as out:
            write_cdrs(out, rows, tenant, callees_for(document), seed=seed)
        started = time.perf_counter()
        with (
            cdrs.open("rb") as stream,
            (folder / f"{tenant}-rated.csv").open("w", encoding="utf-8", newline="") as rated,
            (folder / f"{tenant}-rejects.csv").open(
                "w", encoding="utf-8", errors="surrogateescape", newline=""
            ) as rejects,
        ):
            _fmt, _lines, records = open_records(stream, "auto", ReaderContext(tenant, card.zone))
            sink = _CountingSink(CsvRatedSink(rated))
            job = RatingJob(card, NumberingPlan(), tenant=tenant)
            summary = rate_records(records, job, sink, CsvRejectSink(rejects))
        elapsed = time.perf_counter() - started
        print(f"== {tenant}: {cdrs} ({rows / elapsed:,.0f} CDRs/s)")
        for line in summary_lines(summary):
            print(f"   {line}")
        top = sorted(sink.cost_by_destination.items(), key=lambda item: -item[1])[:5]
        for destination, cost in top:
            print(f"   {destination:<28} {sink.by_destination[destination]:>6} calls {cost:>12}")
        print()
    print(f"rated calls and rejects are in {folder}/")
    return 0
