"""``billing demo``: the main job end to end on the embedded local stack.

Starts moto's server with every resource of template.yaml, loads a rate card and three
tenants (prepaid, postpaid, and one fed by real switch files), drops CDR files into the
bucket, lets S3 → SQS → the real rate_call handler (in-process) rate them, then prints
balances, breakouts and rejects per tenant, and stops the stack.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.domain.tenants import BillingMode, Numbering, TenantSettings
from shared.local.generate import callees_for, retail_card, write_cdrs

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "acceptance" / "samples"
SWITCH_SAMPLES = (
    "asterisk_cdr_csv_Master_newcdrcolumns__mineevburyat-dj-asterisk-cdr__pseudonymized.csv",
    "asterisk_cdr_custom_Master__KelySaina-cdr.csv",
    "freeswitch_cdr_csv_Master__Kxingyunliushui-freeswitch_tools.csv",
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("demo", help="run the end-to-end demo on the local stack")
    parser.add_argument("--rows", type=int, default=10_000, help="CDRs for the prepaid tenant")
    parser.set_defaults(handler=run)


def _tenants() -> list[TenantSettings]:
    return [
        TenantSettings(
            tenant_id="acme-voip",
            name="Acme VoIP (prepaid)",
            card="retail-usd",
            currency="USD",
            mode=BillingMode.PREPAID,
            low_balance_threshold=Decimal("25.00"),
            recharge_amount=Decimal("100.00"),
            daily_spend_cap=Decimal("500.00"),
        ),
        TenantSettings(
            tenant_id="globex-pbx",
            name="Globex PBX (postpaid)",
            card="retail-usd",
            currency="USD",
            mode=BillingMode.POSTPAID,
            credit_limit=Decimal("1000.00"),
        ),
        TenantSettings(
            tenant_id="initech",
            name="Initech (real switch files)",
            card="retail-usd",
            currency="USD",
            mode=BillingMode.PREPAID,
            timezone="Europe/Moscow",
            numbering=Numbering(country_code="7", trunk_prefix="8"),
        ),
    ]


def run(args: argparse.Namespace) -> int:
    from shared.adapters.dynamodb import (
        DynamoCardStore,
        DynamoTenantDirectory,
        DynamoUsageStore,
        UsageTables,
    )
    from shared.local.dispatcher import LocalDispatcher, function_environment, load_handler
    from shared.local.stack import LocalStack
    from shared.observability import log_level

    started = time.perf_counter()
    stack = LocalStack(quiet=True)
    stack.start()
    try:
        env = {**stack.function_environment("RateCallFunction"), **stack.aws_environment()}
        print(
            f"local stack on {stack.endpoint_url}: "
            f"{len(stack.resources)} resources from template.yaml\n"
        )
        dynamodb, s3, sqs = stack.client("dynamodb"), stack.client("s3"), stack.client("sqs")
        tables = UsageTables.from_env(env)
        store = DynamoUsageStore(dynamodb, tables)
        card = retail_card()
        DynamoCardStore(dynamodb, env["RATE_CARDS_TABLE"]).put(card)
        directory = DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"])
        for tenant in _tenants():
            directory.put(tenant)
        store.credit("acme-voip", "topup#demo-opening", Decimal("1000.00"), "USD")
        store.credit("initech", "topup#demo-opening", Decimal("10.00"), "USD")
        print(
            f"card {card['card']}: {len(card['rates'])} rates; tenants: "
            + ", ".join(t.tenant_id for t in _tenants())
            + "\n"
        )

        bucket = stack.resources["CdrBucket"].ref
        drops = _drops(args.rows, card)
        for key, data in drops:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        print(f"dropped {len(drops)} files into s3://{bucket}/tenants/…")

        queue = stack.resources["CdrQueue"]
        quiet = {"POWERTOOLS_METRICS_DISABLED": "true"}  # no metric blobs on the demo's stdout
        with function_environment({**env, **quiet}), log_level("WARNING"):
            handler = load_handler(stack, "RateCallFunction")
            dispatcher = LocalDispatcher(
                sqs,
                queue.ref,
                queue.arn or "",
                stack.region,
                handler,
                function_name="rate_call",
            )
            rating_started = time.perf_counter()
            stats = dispatcher.drain()
            elapsed = time.perf_counter() - rating_started
        print(
            f"rate_call handled {stats.delivered} messages in {stats.batches} batches "
            f"({stats.failed} failed) in {elapsed:.1f} s\n"
        )
        for tenant in _tenants():
            _report(tenant, store, s3, bucket)
        dlq = stack.resources["CdrDeadLetterQueue"].ref
        waiting = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
        print(f"dead-letter queue: {waiting.get('ApproximateNumberOfMessages', '0')} messages")
    finally:
        stack.stop()
    print(f"local stack stopped; demo took {time.perf_counter() - started:.1f} s")
    return 0


def _drops(rows: int, card: dict[str, Any]) -> list[tuple[str, bytes]]:
    callees = callees_for(card)
    files: list[tuple[str, bytes]] = []
    for tenant, count, seed in (("acme-voip", rows, 1), ("globex-pbx", max(1, rows // 4), 2)):
        out = io.StringIO()
        write_cdrs(out, count, tenant, callees, seed=seed)
        data = out.getvalue().encode()
        files.append((f"tenants/{tenant}/2026/10/cdrs.csv", data))
    # the same prepaid file again under another key: every call a duplicate, none charged
    files.append(("tenants/acme-voip/2026/10/cdrs-resent.csv", files[0][1]))
    # a file with a row for another tenant, a bad row and a call to a number with no rate
    files.append(
        (
            "tenants/globex-pbx/2026/10/mixed.csv",
            (
                b"call_id,tenant,callee,start_time,answer_time,billsec\n"
                b"x1,globex-pbx,442071234567,2026-10-30T10:00:00Z,2026-10-30T10:00:03Z,61\n"
                b"x2,acme-voip,442071234567,2026-10-30T10:00:00Z,2026-10-30T10:00:03Z,61\n"
                b"x3,globex-pbx,442071234567,yesterday,2026-10-30T10:00:03Z,61\n"
            ),
        )
    )
    for name in SWITCH_SAMPLES:
        path = SAMPLES / name
        if path.is_file():
            files.append((f"tenants/initech/switch/{name}", path.read_bytes()))
    return files


def _report(tenant: TenantSettings, store: Any, s3: Any, bucket: str) -> None:
    name = tenant.tenant_id
    balance, ledger = store.balance(name), store.ledger_sum(name)
    label = "wallet" if tenant.mode is BillingMode.PREPAID else "unbilled usage"
    print(
        f"== {tenant.name}: {label} {balance} {tenant.currency} "
        f"(ledger sum {ledger}{', equal' if balance == ledger else ', MISMATCH'})"
    )
    results = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{name}/").get("Contents", [])
    for item in results:
        summary = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        print(
            f"   {summary.get('key', '?').split('/')[-1]:<48} rows {summary.get('rows', 0):>6}"
            f"  rated {summary.get('rated', 0):>6}  unanswered {summary.get('unanswered', 0):>5}"
            f"  rejected {summary.get('rejected', 0):>3}  duplicates "
            f"{summary.get('duplicates', 0):>6}  merged {summary.get('merged', 0):>3}"
            f"  cost {summary.get('total_cost', '0')}"
        )
    rows = sorted(store.breakouts(name), key=lambda row: -row["cost"])[:5]
    if rows:
        print("   top breakouts (day, destination, attempts, answered, ASR, ACD, cost):")
    for row in rows:
        attempts, answered = row["attempts"], row["answered"]
        asr = f"{100 * answered / attempts:.0f}%" if attempts else "-"
        acd = f"{row['billed_ms'] / 1000 / answered:.0f}s" if answered else "-"
        print(
            f"     {row['day']} {row['destination']:<24} {attempts:>5} {answered:>5} "
            f"{asr:>5} {acd:>6} {row['cost']:>10}"
        )
    rejects = s3.list_objects_v2(Bucket=bucket, Prefix=f"rejects/{name}/").get("Contents", [])
    shown = 0
    for item in rejects:
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        text = body.decode("utf-8", "backslashreplace")  # rejects keep undecodable bytes
        for line in text.splitlines()[1:]:
            if shown < 4:
                print(f"   reject: {line[:110]}")
            shown += 1
    if shown > 4:
        print(f"   … {shown - 4} more rejects under s3://{bucket}/rejects/{name}/")
    print()
