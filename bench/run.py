"""Benchmarks (`make bench`): rating throughput and memory, with ratios measured in one run.

Each figure comes from a fresh child process (so peak RSS is that job's alone) on files
generated here: a card of 5,000+ prefixes with peak/off-peak bands and native CDR files of
100,000 and 1,000,000 rows. The baseline is a bare ``csv`` read + write of the same file in
the same run, so the ratio holds whatever the machine. CPU time is reported beside wall time
because a shared machine's wall clock is noisy.

Usage: ``python bench/run.py [--rows 1000000] [--small 100000] [--dir out/bench]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SPEC_MIN_RATE = 150_000  # CDRs/s on one core (SPEC section 11)
SPEC_MIN_RATIO = 0.5  # of the bare csv read+write throughput


REPEAT = 3  # runs per job; the figures are those of the run with the least CPU time


def _measure(
    job: str, *args: str, repeat: int = REPEAT, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Run one job in a child process ``repeat`` times; each prints one JSON line with its own
    figures, and the run with the least CPU time is kept (a shared machine only ever adds
    time; peak RSS is the largest seen). ``env``: variables added to the child's."""
    runs = []
    for _ in range(max(1, repeat)):
        output = subprocess.run(
            [sys.executable, __file__, "--child", job, *args],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
        ).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    best = min(runs, key=lambda figures: figures["cpu"])
    return {**best, "rss_mb": max(figures["rss_mb"] for figures in runs)}


def _child(job: str, args: list[str]) -> None:
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    rows = 0
    if job == "bare":
        source, target = args
        with (
            open(source, newline="", encoding="utf-8") as inp,
            open(target, "w", newline="", encoding="utf-8") as out,
        ):
            writer = csv.writer(out, lineterminator="\n")
            for row in csv.reader(inp):
                writer.writerow(row)
                rows += 1
        rows -= 1  # header
    elif job == "rate":
        from shared.cli.main import main

        card, cdrs, out = args
        code = main(
            ["rate", "--card", card, "--cdrs", cdrs, "--out", out, "--json", "--progress", "never"]
        )
        if code:
            raise SystemExit(code)
        with open(cdrs, "rb") as counted:
            rows = sum(1 for _ in counted) - 1
    elif job == "pipeline":
        rows, seconds = _pipeline(int(args[0]))
        print(
            json.dumps(
                {
                    "rows": rows,
                    "wall": seconds["pipeline"],
                    "cpu": seconds["pipeline"],
                    "rss_mb": 0,
                    "bare_same_shape": seconds["bare_same_shape"],
                    "bare_minimal": seconds["bare_minimal"],
                }
            )
        )
        return
    else:
        raise SystemExit(f"unknown job {job}")
    wall = time.perf_counter() - started_wall
    cpu = time.process_time() - started_cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "wall": wall, "cpu": cpu, "rss_mb": peak_kib / 1024}))


def _pipeline(rows: int) -> tuple[int, dict[str, float]]:
    """S3 → SQS → rate_call → DynamoDB on the local stack, and bare BatchWriteItem of the same
    number of items to the same server, in one process and one run."""
    import io
    import os

    from shared.adapters.dynamodb import DynamoCardStore, DynamoTenantDirectory
    from shared.domain.tenants import TenantSettings
    from shared.local.dispatcher import LocalDispatcher, function_environment, load_handler
    from shared.local.generate import callees_for, retail_card, write_cdrs
    from shared.local.stack import LocalStack
    from shared.observability import log_level

    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    stack = LocalStack(quiet=True)
    stack.start()
    try:
        env = {**stack.function_environment("RateCallFunction"), **stack.aws_environment()}
        dynamodb, s3, sqs = stack.client("dynamodb"), stack.client("s3"), stack.client("sqs")
        card = retail_card()
        DynamoCardStore(dynamodb, env["RATE_CARDS_TABLE"]).put(card)
        DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"]).put(
            TenantSettings(tenant_id="bench", card=card["card"], currency="USD")
        )
        out = io.StringIO()
        write_cdrs(out, rows, "bench", callees_for(card), seed=5, days=1)  # a daily file
        bucket = stack.resources["CdrBucket"].ref
        s3.put_object(Bucket=bucket, Key="tenants/bench/day.csv", Body=out.getvalue().encode())
        queue = stack.resources["CdrQueue"]
        with function_environment(env), log_level("WARNING"):
            handler = load_handler(stack, "RateCallFunction")
            dispatcher = LocalDispatcher(sqs, queue.ref, queue.arn or "", stack.region, handler)
            started = time.perf_counter()
            stats = dispatcher.drain()
            pipeline = time.perf_counter() - started
        if stats.failed:
            raise SystemExit(f"pipeline bench: {stats.failed} messages failed")
        table = env["RATED_CALLS_TABLE"]
        sample = dynamodb.scan(TableName=table, Limit=1)["Items"][0]
        bare = {}
        for label, shape in (("bare_minimal", {}), ("bare_same_shape", sample)):
            started = time.perf_counter()
            for first in range(0, rows, 25):
                items = [
                    {**shape, "call_key": {"S": f"{label}#{i}"}}
                    for i in range(first, min(rows, first + 25))
                ]
                pending = {table: [{"PutRequest": {"Item": item}} for item in items]}
                while pending:
                    pending = dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]
            bare[label] = time.perf_counter() - started
        return rows, {"pipeline": pipeline, **bare}
    finally:
        stack.stop()


def _generate(folder: Path, rows: int, small: int) -> tuple[Path, Path, Path]:
    from shared.local.generate import callees_for, retail_card, write_cdrs

    folder.mkdir(parents=True, exist_ok=True)
    card = retail_card(extra_prefixes=5_000)
    card_path = folder / "bench-card.json"
    card_path.write_text(json.dumps(card), encoding="utf-8")
    paths = []
    for count in (rows, small):
        path = folder / f"cdrs-{count}.csv"
        if not path.exists() or sum(1 for _ in path.open("rb")) != count + 1:
            with path.open("w", encoding="utf-8", newline="") as out:
                write_cdrs(out, count, "bench", callees_for(card), seed=11)
        paths.append(path)
    prefixes = len({rate["prefix"] for rate in card["rates"]})
    print(f"card: {len(card['rates'])} rates over {prefixes} prefixes, peak/off-peak bands")
    return card_path, paths[0], paths[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("out/bench"))
    parser.add_argument(
        "--pipeline-rows",
        type=int,
        default=100_000,
        help="rows for the S3 → ledger figure (0 skips it)",
    )
    parser.add_argument(
        "--repeat", type=int, default=REPEAT, help="runs per job, the least CPU time kept"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1:])
        return 0
    card, big, small = _generate(args.dir, args.rows, args.small)
    empty = args.dir / "cdrs-header-only.csv"
    with big.open("rb") as source:
        empty.write_bytes(source.readline())
    repeat = args.repeat
    bare = _measure("bare", str(big), str(args.dir / "bare-out.csv"), repeat=repeat)
    # each implementation of the native fast path built here: the compiled one (setup.py's
    # optional extension) by default, the pure-Python reference with BILLING_PURE_PYTHON=1
    from shared.services.rate_file import native_batch_raters

    figures_of: dict[str, tuple[dict[str, float], ...]] = {}
    for name in native_batch_raters():
        env = {"BILLING_PURE_PYTHON": "1" if name == "pure" else "0"}
        rated_out = args.dir / f"rated-{name}.csv"
        figures_of[name] = (
            _measure(
                "rate", str(card), str(empty), str(args.dir / "rated-empty.csv"),
                repeat=repeat, env=env,
            ),
            _measure("rate", str(card), str(big), str(rated_out), repeat=repeat, env=env),
            _measure(
                "rate", str(card), str(small), str(args.dir / f"rated-small-{name}.csv"),
                repeat=repeat, env=env,
            ),
        )
    outputs = {(args.dir / f"rated-{name}.csv").read_bytes() for name in figures_of}
    if len(outputs) != 1:
        raise SystemExit("bench: the compiled and pure fast paths wrote different rated files")

    def per_second(figures: dict[str, float], clock: str) -> float:
        return figures["rows"] / figures[clock]

    print(
        f"\n{'job':<34}{'rows':>10}{'wall s':>9}{'rows/s wall':>14}{'rows/s cpu':>13}"
        f"{'peak RSS':>11}"
    )
    rows_of = [("bare csv read+write", bare)]
    for name, (_fixed, rated, rated_small) in figures_of.items():
        rows_of.append((f"billing rate, {name} (1 core)", rated))
        rows_of.append((f"  {name}, small file", rated_small))
    for label, figures in rows_of:
        print(
            f"{label:<34}{figures['rows']:>10,.0f}{figures['wall']:>9.2f}"
            f"{per_second(figures, 'wall'):>14,.0f}{per_second(figures, 'cpu'):>13,.0f}"
            f"{figures['rss_mb']:>9.0f}MB"
        )
    for name, (fixed, rated, rated_small) in figures_of.items():
        # start-up (imports, loading and compiling the card) is paid once per command, not
        # per row: the steady-state rate leaves out what the same command costs on an empty
        # file
        throughput = rated["rows"] / (rated["cpu"] - fixed["cpu"])
        ratio = throughput / per_second(bare, "cpu")
        memory_ratio = rated["rss_mb"] / rated_small["rss_mb"]
        print()
        print(
            f"{name} fast path (start-up on an empty file: {fixed['cpu']:.2f} s cpu,"
            f" {fixed['rss_mb']:.0f} MB)"
        )
        print(
            f"  rating throughput    {throughput:,.0f} CDRs/s (cpu)   target ≥ {SPEC_MIN_RATE:,}"
            f"   {'met' if throughput >= SPEC_MIN_RATE else 'NOT met'}"
        )
        print(
            f"  ratio to bare csv    {ratio:.2f}x                    target ≥ {SPEC_MIN_RATIO}x"
            f"   {'met' if ratio >= SPEC_MIN_RATIO else 'NOT met'}"
        )
        print(
            f"  peak RSS 1M / small  {memory_ratio:.2f}x ({rated['rss_mb']:.0f} MB /"
            f" {rated_small['rss_mb']:.0f} MB)   target ≤ 2x and ≤ 512 MB   "
            f"{'met' if memory_ratio <= 2 and rated['rss_mb'] <= 512 else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
