"""Faults across the whole flow on the local stack: S3 drop → SQS → the real rate_call
handler → DynamoDB, and Stripe → the real stripe_webhook handler → the wallet.

Faults are injected where AWS would raise them, through seams the code already has:

* **DynamoDB throttling**: a botocore ``before-call`` hook on the client of the adapter the
  composition root built (``DynamoUsageStore.client``) answers ``TransactWriteItems`` with
  ``ProvisionedThroughputExceededException`` / ``ThrottlingException``, exactly the
  ``ClientError`` botocore raises once its own retries are spent;
* **S3 read error mid-stream**: an ``after-call`` hook on an S3 client given to
  ``S3CdrObjects`` (its constructor parameter) swaps the GetObject body for a stream that
  breaks after half the bytes (``ResponseStreamingError``, as a reset connection does);
* **Lambda killed mid-chunk**: a hook raises in the middle of a chunk's BatchWriteItem calls
  (rated calls written, ledger not committed), as a hard timeout would stop the process;
* **Lambda deadline**: an injected clock (``IngestDeps.now_ms``) and a short Lambda context
  make ``ingest_file`` stop between chunks; the handler reports the message failed.

Plus the delivery faults: a notification delivered twice, the same bytes under two keys,
two files sharing calls (one after the other, and rated by two concurrent invocations), and
Stripe webhooks repeated and out of order after a throttled first delivery.

Expected, every time: the final balance equals a clean run computed by hand, the ledger
sums to the balance, every call is charged once, and every failure is visible as a metric
(Powertools EMF on stdout) and a batch item failure, or a message on the dead-letter queue.
Log lines captured throughout carry no full phone number.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.response import StreamingBody

from shared.adapters.dynamodb import (
    DynamoCardStore,
    DynamoTenantDirectory,
    DynamoUsageStore,
    Throttled,
    UsageTables,
)
from shared.adapters.s3 import S3CdrObjects
from shared.domain.tenants import TenantSettings
from shared.local.dispatcher import (
    DispatchStats,
    LocalDispatcher,
    LocalLambdaContext,
    function_environment,
)
from shared.local.stack import LocalStack
from shared.services.ingest import IngestDeps
from tests.fault.emf import emf_metrics

pytestmark = pytest.mark.integration

CARD = {
    "card": "fault-usd",
    "currency": "USD",
    # 60/6 at 0.0600/min: a 61 s call bills 66 s = 66 × 0.06 / 60 = 0.0660
    "rates": [{"prefix": "44", "destination": "UK",
               "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}]}],
}
COST = Decimal("0.0660")
HEADER = "call_id,tenant,caller,callee,start_time,answer_time,billsec\n"
CALLER, CALLEE = "+351912345678", "442071234567"  # must never reach a log in full
CHUNK_BYTES = 700  # about seven rows: a 30-row file is five chunks


def row(call_id: str, tenant: str) -> str:
    return f"{call_id},{tenant},{CALLER},{CALLEE},2026-10-05T10:00:00Z,2026-10-05T10:00:02Z,61\n"


def cdr_file(tenant: str, ids: range, prefix: str = "c") -> bytes:
    return (HEADER + "".join(row(f"{prefix}{i:03d}", tenant) for i in ids)).encode()


# ------------------------------------------------------------------------------ faults


def _error(code: str) -> tuple[AWSResponse, dict[str, Any]]:
    body = {"Error": {"Code": code, "Message": "Rate of requests exceeds the allowed throughput"},
            "ResponseMetadata": {"HTTPStatusCode": 400}}
    return AWSResponse("https://dynamodb.local", 400, {}, None), body


class Throttle:
    """``before-call`` hook: the next ``times`` calls get a throttling error."""

    def __init__(self, times: int, code: str = "ProvisionedThroughputExceededException") -> None:
        self.times, self.code, self.hits = times, code, 0

    def __call__(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.hits >= self.times:
            return None
        self.hits += 1
        return _error(self.code)


class LambdaKilled(Exception):
    """Stands in for the runtime stopping the process at its hard timeout."""


class KillOnCall:
    """``before-call`` hook: the ``nth`` call raises, once (the function dies there)."""

    def __init__(self, nth: int) -> None:
        self.nth, self.calls = nth, 0

    def __call__(self, **_: Any) -> None:
        self.calls += 1
        if self.calls == self.nth:
            raise LambdaKilled(f"killed at call {self.calls}, mid-chunk")


class _BreaksHalfway(io.RawIOBase):
    """A GetObject body whose connection resets after half of its bytes."""

    def __init__(self, data: bytes) -> None:
        self.data, self.sent = data, False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.sent:
            self.sent = True
            return self.data[: len(self.data) // 2]
        raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")


class BreakGetObject:
    """``after-call`` hook: the GetObject calls numbered in ``calls`` (1-based) break
    mid-stream; ``calls=None`` breaks every one."""

    def __init__(self, calls: set[int] | None) -> None:
        self.calls, self.seen, self.broken = calls, 0, 0

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Body" not in parsed:
            return
        self.seen += 1
        if self.calls is None or self.seen in self.calls:
            self.broken += 1
            data = parsed["Body"].read()
            parsed["Body"] = StreamingBody(_BreaksHalfway(data), len(data))


# ------------------------------------------------------------------------------ the flow


class Flow:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.env = {
            **stack.function_environment("RateCallFunction"), **stack.aws_environment(),
            "CHUNK_BYTES": str(CHUNK_BYTES),
            # a failed invocation keeps the tenant's rating lease until it expires; in AWS the
            # redelivery comes 1800 s later (the visibility timeout), here at once, so a
            # short lease keeps the retries from waiting out the 60 s default
            "LEASE_MS": "1000",
        }
        self.dynamodb, self.s3, self.sqs = (stack.client(n) for n in ("dynamodb", "s3", "sqs"))
        self.store = DynamoUsageStore(self.dynamodb, UsageTables.from_env(self.env))
        self.bucket = stack.resources["CdrBucket"].ref
        self.queue = stack.resources["CdrQueue"]
        self.dlq = stack.resources["CdrDeadLetterQueue"].ref
        DynamoCardStore(self.dynamodb, self.env["RATE_CARDS_TABLE"]).put(CARD)
        self.directory = DynamoTenantDirectory(self.dynamodb, self.env["TENANTS_TABLE"])

    def fresh_s3(self) -> Any:
        """An S3 client of its own (the stack's clients are shared: no hook may leak)."""
        return self.stack.session.client(
            "s3", endpoint_url=self.stack.endpoint_url,
            config=Config(s3={"addressing_style": "path"}),
        )

    def tenant(self, name: str) -> str:
        self.directory.put(TenantSettings(tenant_id=name, card="fault-usd", currency="USD"))
        return name

    def drop(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def deliver(
        self, inject: Callable[[IngestDeps], None] | None = None, timeout_ms: int = 900_000
    ) -> DispatchStats:
        """Drain CdrQueue into the real handler; ``inject`` gets the container's deps."""
        with function_environment(self.env):
            from functions.rate_call import app
            from shared.wiring import rate_call_deps

            rate_call_deps.cache_clear()  # a fresh container, then the fault injected in it
            if inject is not None:
                inject(rate_call_deps())

            def invoke(event: dict[str, Any], _context: Any) -> dict[str, Any]:
                context = LocalLambdaContext(function_name="rate_call", timeout_ms=timeout_ms)
                return app.handler(event, context)

            dispatcher = LocalDispatcher(
                self.sqs, self.queue.ref, self.queue.arn or "", self.stack.region, invoke
            )
            try:
                return dispatcher.drain(max_batches=50)
            finally:
                rate_call_deps.cache_clear()

    def charged(self, tenant: str) -> tuple[Decimal, Decimal, int]:
        """(balance, ledger sum, rated calls stored) of a tenant."""
        items = self.dynamodb.scan(
            TableName=self.env["RATED_CALLS_TABLE"],
            FilterExpression="tenant = :t", ExpressionAttributeValues={":t": {"S": tenant}},
        )["Items"]
        return self.store.balance(tenant), self.store.ledger_sum(tenant), len(items)

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.dlq, WaitTimeSeconds=0, MaxNumberOfMessages=10
        ).get("Messages", [])

    def replay_dead_letters(self) -> int:
        """docs/runbook.md, "Replay the dead-letter queue": move each message back to the
        source queue unchanged, then delete it from the DLQ."""
        moved = 0
        for message in self.dead_letters():
            self.sqs.send_message(QueueUrl=self.queue.ref, MessageBody=message["Body"])
            self.sqs.delete_message(QueueUrl=self.dlq, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
        return moved


@pytest.fixture(scope="module")
def flow() -> Iterator[Flow]:
    stack = LocalStack()
    stack.start()
    try:
        yield Flow(stack)
    finally:
        stack.stop()


@pytest.fixture(autouse=True)
def _no_full_numbers_in_logs(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Every scenario's log lines (and EMF output) are scanned after it ran.

    At INFO, the template's LOG_LEVEL, for every logger (stricter than Lambda's root
    default, WARNING). Not DEBUG: botocore's DEBUG lines carry whole request bodies, rated
    calls with their numbers included (docs/runbook.md warns never to turn it on)."""
    caplog.set_level("INFO")
    yield
    out = capsys.readouterr()
    records = caplog.get_records("call")  # the scenario's own records, not teardown's
    assert any(r.name == "billing" for r in records), "no log line of ours was scanned"
    text = out.out + out.err + "".join(
        record.getMessage() + str(record.__dict__) for record in records
    )
    for number in (CALLER, CALLER.lstrip("+"), CALLEE):
        assert number not in text, f"a full phone number reached the logs: {number}"
    print(out.out, end="")  # keep it readable by the test itself (capsys again)


def _metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    out = capsys.readouterr().out
    print(out, end="")  # hand it back for the log scan
    return emf_metrics(out)


# ------------------------------------------------------------------------------ scenarios


def test_an_s3_read_error_mid_stream_fails_the_message_once_and_the_retry_resumes(
    flow: Flow, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a 30-call file (five chunks) whose third ranged GetObject breaks mid-stream
    tenant = flow.tenant("fault-s3")
    flow.drop(f"tenants/{tenant}/a.csv", cdr_file(tenant, range(30)))
    breaker = BreakGetObject({3})

    def inject(deps: IngestDeps) -> None:
        client = flow.fresh_s3()
        client.meta.events.register("after-call.s3.GetObject", breaker)
        deps.objects = S3CdrObjects(client)

    # When the queue is drained (SQS redelivers the failed message at once here)
    stats = flow.deliver(inject)

    # Then one failed delivery, visible as a metric, and the retry finished the file:
    # 30 × 0.0660 = 1.9800 charged once, as a clean run would
    assert breaker.broken == 1
    assert stats.failed == 1
    assert _metrics(capsys).get("FailedMessages") == 1
    assert flow.charged(tenant) == (Decimal("-1.9800"), Decimal("-1.9800"), 30)


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException",
                                  "ThrottlingException"])
def test_dynamodb_throttling_on_the_commit_is_retried_by_sqs_and_charges_once(
    flow: Flow, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    # Given a 20-call file and DynamoDB refusing the first two chunk commits
    tenant = flow.tenant(f"fault-throttle-{code[:4].lower()}")
    flow.drop(f"tenants/{tenant}/a.csv", cdr_file(tenant, range(20)))
    throttle = Throttle(2, code)

    def inject(deps: IngestDeps) -> None:
        assert isinstance(deps.store, DynamoUsageStore)
        deps.store.client.meta.events.register(
            "before-call.dynamodb.TransactWriteItems", throttle
        )

    stats = flow.deliver(inject)
    metrics = _metrics(capsys)

    # Then two failed deliveries (two metrics), then the file is rated: 20 × 0.0660 = 1.3200
    assert throttle.hits == 2
    assert stats.failed == 2
    assert metrics.get("FailedMessages") == 2
    assert flow.charged(tenant) == (Decimal("-1.3200"), Decimal("-1.3200"), 20)


def test_a_lambda_killed_mid_chunk_is_retried_and_the_orphaned_calls_charged_once(
    flow: Flow, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a 30-call file; the process dies at the third BatchWriteItem, after the first
    # chunk committed and the second chunk's rated calls were written but not committed
    tenant = flow.tenant("fault-kill")
    flow.drop(f"tenants/{tenant}/a.csv", cdr_file(tenant, range(30)))
    kill = KillOnCall(3)

    def inject(deps: IngestDeps) -> None:
        assert isinstance(deps.store, DynamoUsageStore)
        deps.store.client.meta.events.register("before-call.dynamodb.BatchWriteItem", kill)

    stats = flow.deliver(inject)

    # Then the redelivery resumes at the last committed chunk; 30 × 0.0660 = 1.9800 once
    assert kill.calls >= 3
    assert stats.failed == 1
    assert _metrics(capsys).get("FailedMessages") == 1
    assert flow.charged(tenant) == (Decimal("-1.9800"), Decimal("-1.9800"), 30)


def test_the_lambda_deadline_stops_between_chunks_and_redeliveries_finish_the_file(
    flow: Flow, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a 30-call file, a Lambda with 35 s left (30 s are the safety margin) and a clock
    # that moves one second each time the service reads it
    tenant = flow.tenant("fault-deadline")
    flow.drop(f"tenants/{tenant}/a.csv", cdr_file(tenant, range(30)))
    ticks = iter(range(1_800_000_000_000, 1_900_000_000_000, 1000))

    def inject(deps: IngestDeps) -> None:
        deps.now_ms = lambda: next(ticks)

    stats = flow.deliver(inject, timeout_ms=35_000)
    metrics = _metrics(capsys)

    # Then each invocation rates a few chunks, says so (FilesResumedLater, a failed batch
    # item), and the last one finishes: 1.9800 charged once, nothing dead-lettered
    assert 1 <= stats.failed < 5
    assert metrics.get("FilesResumedLater") == stats.failed == metrics.get("FailedMessages")
    assert flow.charged(tenant) == (Decimal("-1.9800"), Decimal("-1.9800"), 30)
    assert flow.dead_letters() == []


def test_a_fault_that_persists_dead_letters_the_file_and_a_replay_charges_it_once(
    flow: Flow, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a 20-call file and S3 reads that break on every attempt
    tenant = flow.tenant("fault-dlq")
    flow.drop(f"tenants/{tenant}/a.csv", cdr_file(tenant, range(20)))

    def broken_s3(deps: IngestDeps) -> None:
        client = flow.fresh_s3()
        client.meta.events.register("after-call.s3.GetObject", BreakGetObject(None))
        deps.objects = S3CdrObjects(client)

    # When SQS has delivered it maxReceiveCount (5) times
    stats = flow.deliver(broken_s3)

    # Then five failures (five metrics), the message is on the DLQ, nothing was charged
    assert stats.failed == 5
    assert _metrics(capsys).get("FailedMessages") == 5
    assert flow.charged(tenant) == (Decimal(0), Decimal(0), 0)

    # When the fault is gone and the operator replays the DLQ (docs/runbook.md)
    assert flow.replay_dead_letters() == 1
    stats = flow.deliver()

    # Then the file is rated once: 20 × 0.0660 = 1.3200
    assert stats.failed == 0
    assert flow.charged(tenant) == (Decimal("-1.3200"), Decimal("-1.3200"), 20)
    assert flow.dead_letters() == []


def test_the_same_file_twice_and_two_files_sharing_calls_charge_each_call_once(
    flow: Flow, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a.csv with c000-c009, the same bytes uploaded again under b.csv, and c.csv with
    # c005-c014 (six calls shared with a.csv), plus a.csv's notification sent twice
    tenant = flow.tenant("fault-dupes")
    first = cdr_file(tenant, range(10))
    flow.drop(f"tenants/{tenant}/a.csv", first)
    flow.drop(f"tenants/{tenant}/b.csv", first)
    flow.drop(f"tenants/{tenant}/c.csv", cdr_file(tenant, range(5, 15)))
    message = flow.sqs.receive_message(QueueUrl=flow.queue.ref, MaxNumberOfMessages=1)
    body = message["Messages"][0]["Body"]
    flow.sqs.change_message_visibility(
        QueueUrl=flow.queue.ref, ReceiptHandle=message["Messages"][0]["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    flow.sqs.send_message(QueueUrl=flow.queue.ref, MessageBody=body)

    stats = flow.deliver()

    # Then the 15 distinct calls are charged once: 15 × 0.0660 = 0.9900
    assert stats.failed == 0
    assert flow.charged(tenant) == (Decimal("-0.9900"), Decimal("-0.9900"), 15)
    results = [
        json.loads(flow.s3.get_object(Bucket=flow.bucket, Key=item["Key"])["Body"].read())
        for item in flow.s3.list_objects_v2(
            Bucket=flow.bucket, Prefix=f"results/{tenant}/"
        )["Contents"]
    ]
    # a.csv rated 10; b.csv found 10 duplicates; c.csv rated 4 new, 6 duplicates... in
    # whichever order SQS delivered them, the counts add up to 30 rows, 15 rated
    assert sum(r["rated"] for r in results) == 15
    assert sum(r["duplicates"] for r in results) == 15
    assert _metrics(capsys).get("DuplicateCalls") == 15


# ------------------------------------------------------------------------------ webhook


def test_a_throttled_webhook_is_a_500_stripe_retries_and_repeats_credit_once(
    flow: Flow, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.wiring import stripe_webhook_deps, stripe_webhook_settings
    from tests.fakes.payments import TEST_SECRET, event, payment_intent, sign

    env = {**flow.stack.function_environment("StripeWebhookFunction"),
           **flow.stack.aws_environment(), "STRIPE_WEBHOOK_SECRET": TEST_SECRET}
    tenant = "fault-webhook"
    flow.directory.put(TenantSettings(tenant_id=tenant, card="fault-usd", currency="EUR"))
    success = event("payment_intent.succeeded", payment_intent("pi_f1", tenant, 2000), "evt_f1")
    late_failure = event(
        "payment_intent.payment_failed",
        payment_intent("pi_f1", tenant, 2000, status="requires_payment_method"), "evt_f0", 1,
    )
    sample_path = Path(flow.stack.template_path).resolve().parent / (
        "functions/stripe_webhook/events/webhook_request.json"
    )
    sample = json.loads(sample_path.read_text(encoding="utf-8"))

    def post(payload: bytes) -> dict[str, Any]:
        request = json.loads(json.dumps(sample))
        request["headers"]["stripe-signature"] = sign(payload)
        request["body"] = payload.decode()
        from functions.stripe_webhook import app

        response: dict[str, Any] = app.handler(request, LocalLambdaContext())
        return response

    throttle = Throttle(1, "ThrottlingException")
    with function_environment(env):
        stripe_webhook_deps.cache_clear()
        stripe_webhook_settings.cache_clear()
        wallet = stripe_webhook_deps().wallet
        assert isinstance(wallet, DynamoUsageStore)
        wallet.client.meta.events.register("before-call.dynamodb.TransactWriteItems", throttle)
        try:
            # the credit is throttled: the function fails, API Gateway answers 500
            with pytest.raises(Throttled):
                post(success)
            assert _metrics(capsys).get("WebhookFailures") == 1  # visible before the retry
            # Stripe retries, then delivers the same event again and a late failure
            statuses = [post(success)["statusCode"], post(late_failure)["statusCode"],
                        post(success)["statusCode"]]
        finally:
            stripe_webhook_deps.cache_clear()
            stripe_webhook_settings.cache_clear()

    # Then 2000 cents = 20.00 EUR credited once, and the late failure changed nothing
    assert statuses == [200, 200, 200]
    store = flow.store
    assert store.balance(tenant) == Decimal("20.00") == store.ledger_sum(tenant)


def test_two_files_sharing_calls_rated_concurrently_charge_each_call_once(
    flow: Flow,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from shared.local.dispatcher import sqs_record

    # Given two files of one tenant sharing ten calls (c010-c019), each in its own message
    tenant = flow.tenant("fault-concurrent")
    flow.drop(f"tenants/{tenant}/a.csv", cdr_file(tenant, range(20)))
    flow.drop(f"tenants/{tenant}/b.csv", cdr_file(tenant, range(10, 30)))
    messages = []
    while len(messages) < 2:
        got = flow.sqs.receive_message(QueueUrl=flow.queue.ref, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])
        for message in got:
            if tenant in message["Body"]:
                messages.append(message)
            else:  # not ours: back on the queue at once
                flow.sqs.change_message_visibility(
                    QueueUrl=flow.queue.ref, ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )

    # When two Lambda invocations rate them at the same time
    with function_environment(flow.env):
        from functions.rate_call import app
        from shared.wiring import rate_call_deps

        rate_call_deps.cache_clear()

        def invoke(message: dict[str, Any]) -> dict[str, Any]:
            event = {"Records": [sqs_record(message, flow.queue.arn or "", flow.stack.region)]}
            return app.handler(event, LocalLambdaContext(function_name="rate_call"))

        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                answers = list(pool.map(invoke, messages))
        finally:
            rate_call_deps.cache_clear()
    for message in messages:
        flow.sqs.delete_message(QueueUrl=flow.queue.ref, ReceiptHandle=message["ReceiptHandle"])

    # Then both succeed and the 30 distinct calls are charged once: 30 × 0.0660 = 1.9800
    assert [answer["batchItemFailures"] for answer in answers] == [[], []]
    assert flow.charged(tenant) == (Decimal("-1.9800"), Decimal("-1.9800"), 30)
