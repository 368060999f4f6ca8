"""S3 drop → SQS → the real rate_call handler → DynamoDB, on the local stack (moto over HTTP).

The dispatcher delivers SQS messages to the handler in-process with the event shape Lambda
uses; nothing of our own code is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared.adapters.dynamodb import (
    DynamoCardStore,
    DynamoTenantDirectory,
    DynamoUsageStore,
    UsageTables,
)
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import LocalDispatcher, function_environment
from shared.local.stack import LocalStack

pytestmark = pytest.mark.integration

CARD = {
    "card": "pipeline-usd",
    "currency": "USD",
    "rates": [
        # 60/6 at 0.0600/min: a 61 s call bills 66 s = 0.0660
        {
            "prefix": "44",
            "destination": "UK",
            "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}],
        },
    ],
}
HEADER = "call_id,tenant,callee,start_time,answer_time,billsec\n"


def row(call_id: str, tenant: str, billsec: int = 61) -> str:
    return f"{call_id},{tenant},442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,{billsec}\n"


class Pipeline:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.env = {**stack.function_environment("RateCallFunction"), **stack.aws_environment()}
        self.dynamodb, self.s3, self.sqs = (
            stack.client(name) for name in ("dynamodb", "s3", "sqs")
        )
        self.store = DynamoUsageStore(self.dynamodb, UsageTables.from_env(self.env))
        self.bucket = stack.resources["CdrBucket"].ref
        self.queue = stack.resources["CdrQueue"]
        self.dlq = stack.resources["CdrDeadLetterQueue"].ref
        DynamoCardStore(self.dynamodb, self.env["RATE_CARDS_TABLE"]).put(CARD)
        self.directory = DynamoTenantDirectory(self.dynamodb, self.env["TENANTS_TABLE"])

    def tenant(self, name: str) -> str:
        self.directory.put(TenantSettings(tenant_id=name, card="pipeline-usd", currency="USD"))
        return name

    def drop(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def deliver(self) -> Any:
        with function_environment(self.env):
            from functions.rate_call import app
            from shared.wiring import rate_call_deps

            rate_call_deps.cache_clear()  # a fresh container for this stack's environment
            dispatcher = LocalDispatcher(
                self.sqs, self.queue.ref, self.queue.arn or "", self.stack.region, app.handler
            )
            return dispatcher.drain(max_batches=50)

    def outputs(self, prefix: str) -> dict[str, str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])
        return {
            item["Key"]: self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"]
            .read()
            .decode("utf-8", "replace")
            for item in listed
        }


@pytest.fixture(scope="module")
def pipeline(local_stack: LocalStack) -> Iterator[Pipeline]:
    yield Pipeline(local_stack)


def test_a_dropped_file_is_rated_into_the_ledger_once(pipeline: Pipeline) -> None:
    tenant = pipeline.tenant("pipe-a")
    data = (HEADER + "".join(row(f"c{i}", tenant) for i in range(30))).encode()
    pipeline.drop(f"tenants/{tenant}/a.csv", data)
    stats = pipeline.deliver()
    # 30 × 0.0660 = 1.9800 debited; balance equals the ledger sum
    assert stats.failed == 0
    assert pipeline.store.balance(tenant) == Decimal("-1.9800") == pipeline.store.ledger_sum(tenant)
    summary = json.loads(next(iter(pipeline.outputs(f"results/{tenant}/").values())))
    assert (summary["rows"], summary["rated"], summary["total_cost"]) == (30, 30, "1.9800")
    # outputs live outside tenants/, so nothing re-entered the queue
    assert pipeline.deliver().batches == 0


def test_the_same_notification_delivered_twice_charges_once(pipeline: Pipeline) -> None:
    tenant = pipeline.tenant("pipe-b")
    pipeline.drop(f"tenants/{tenant}/b.csv", (HEADER + row("c1", tenant)).encode())
    # capture the notification and send it a second time, as SQS at-least-once may
    message = pipeline.sqs.receive_message(
        QueueUrl=pipeline.queue.ref, WaitTimeSeconds=0, MaxNumberOfMessages=1
    )["Messages"][0]
    pipeline.sqs.send_message(QueueUrl=pipeline.queue.ref, MessageBody=message["Body"])
    pipeline.sqs.change_message_visibility(
        QueueUrl=pipeline.queue.ref, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    stats = pipeline.deliver()
    assert stats.delivered == 2
    assert pipeline.store.balance(tenant) == Decimal("-0.0660")


def test_a_message_that_keeps_failing_lands_in_the_dead_letter_queue(pipeline: Pipeline) -> None:
    pipeline.sqs.send_message(QueueUrl=pipeline.queue.ref, MessageBody="this is not an event")
    stats = pipeline.deliver()
    # redelivered until maxReceiveCount (5), then moved by SQS, never looping forever
    assert stats.failed == 5
    dead = pipeline.sqs.receive_message(QueueUrl=pipeline.dlq, WaitTimeSeconds=0).get("Messages")
    assert dead and dead[0]["Body"] == "this is not an event"


def test_a_row_naming_another_tenant_never_touches_its_wallet(pipeline: Pipeline) -> None:
    mine, theirs = pipeline.tenant("pipe-c"), pipeline.tenant("pipe-d")
    pipeline.store.credit(theirs, "topup#seed", Decimal("7.00"), "USD")
    pipeline.drop(f"tenants/{mine}/c.csv", (HEADER + row("c1", mine) + row("c2", theirs)).encode())
    pipeline.deliver()
    assert pipeline.store.balance(theirs) == Decimal("7.00")
    assert pipeline.store.balance(mine) == Decimal("-0.0660")
    rejects = "".join(pipeline.outputs(f"rejects/{mine}/").values())
    assert "wrong_tenant" in rejects


@pytest.mark.parametrize(
    ("name", "data", "rejected"),
    [
        ("empty.csv", b"", 0),
        (
            "latin1.csv",
            (
                HEADER + "c1,pipe-e,442071234567,2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61\n"
            ).encode()
            + b"c2,pipe-e,44\xe9\n",
            1,
        ),
        # the unreadable first line is the header (not a row); the one row after it is rejected
        ("wrong-format.csv", b"hello,world\nthis is,not a cdr file\n", 1),
        ("truncated.csv", (HEADER + row("c1", "pipe-e") + "c2,pipe-e,4420712").encode(), 1),
    ],
)
def test_bad_files_end_with_a_summary_and_rejects(
    pipeline: Pipeline, name: str, data: bytes, rejected: int
) -> None:
    tenant = pipeline.tenant("pipe-e")
    pipeline.drop(f"tenants/{tenant}/{name}", data)
    stats = pipeline.deliver()
    assert stats.failed == 0
    results = pipeline.outputs(f"results/{tenant}/")
    summary = next(json.loads(text) for key, text in results.items() if name in text)
    assert summary["rejected"] == rejected
    assert summary["rows"] == (
        summary["rated"]
        + summary["unanswered"]
        + summary["rejected"]
        + summary["duplicates"]
        + summary["merged"]
    )


def test_a_50_mb_file_streams_through_in_chunks(pipeline: Pipeline) -> None:
    tenant = pipeline.tenant("pipe-f")
    junk = ("z" * 10_239 + "\n").encode()  # 10 KiB lines that are not CDRs
    data = HEADER.encode() + junk * 5_120  # 50 MiB and a header
    pipeline.drop(f"tenants/{tenant}/big.csv", data)
    stats = pipeline.deliver()
    assert stats.failed == 0
    summary = json.loads(next(iter(pipeline.outputs(f"results/{tenant}/").values())))
    assert (summary["rows"], summary["rejected"]) == (5_120, 5_120)
    assert pipeline.store.ledger_sum(tenant) == Decimal(0)
