"""The embedded local stack: built from the transformed template, S3 → SQS as on AWS, clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event

from shared.local.stack import LocalStack, load_template, transform_template
from tests.table_keys import RATE_CALL_TABLE_VARIABLES, TABLE_KEYS

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EVENT = REPO_ROOT / "functions" / "rate_call" / "events" / "cdr_file_created.json"



def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message visible on the queue now, deleted as it is read."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        messages += batch


def key_schema(keys: list[dict[str, str]]) -> tuple[str, str | None]:
    by_type = {key["KeyType"]: key["AttributeName"] for key in keys}
    return by_type["HASH"], by_type.get("RANGE")


def transformed_resources(kind: str) -> dict[str, dict[str, Any]]:
    """The resources of ``kind`` that SAM would deploy, computed here independently."""
    template = transform_template(load_template(), {"Stage": "local"})
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def test_every_table_of_the_transformed_template_exists_with_its_keys_indexes_and_ttl(
    local_stack: LocalStack,
) -> None:
    # Given the tables SAM would deploy, and the local stack's DynamoDB
    declared = transformed_resources("AWS::DynamoDB::Table")
    dynamodb = local_stack.client("dynamodb")

    # Then they are the documented ones, and each exists locally as the template says
    assert set(declared) == set(TABLE_KEYS)
    assert set(local_stack.resources_of_type("AWS::DynamoDB::Table")) == set(declared)
    listed = set(dynamodb.list_tables()["TableNames"])
    for logical_id, props in declared.items():
        name = local_stack.name(logical_id)
        assert name in listed, logical_id
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert key_schema(table["KeySchema"]) == TABLE_KEYS[logical_id]
        assert key_schema(table["KeySchema"]) == key_schema(props["KeySchema"])
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED", logical_id
        assert table["DeletionProtectionEnabled"] is False  # Stage=local, not prod
        assert table["TableArn"] == local_stack.arn(logical_id)
        indexes = {
            index["IndexName"]: (key_schema(index["KeySchema"]), index["Projection"])
            for index in table.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == {
            index["IndexName"]: (key_schema(index["KeySchema"]), index["Projection"])
            for index in props.get("GlobalSecondaryIndexes", [])
        }
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl == {
                "TimeToLiveStatus": "ENABLED",
                "AttributeName": props["TimeToLiveSpecification"]["AttributeName"],
            }
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED", logical_id
        backups = dynamodb.describe_continuous_backups(TableName=name)
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        expected = "ENABLED" if "PointInTimeRecoverySpecification" in props else "DISABLED"
        assert pitr["PointInTimeRecoveryStatus"] == expected, logical_id

    # and the invoice index of rated calls is the documented one
    rated = dynamodb.describe_table(TableName=local_stack.name("RatedCallsTable"))["Table"]
    (by_period,) = rated["GlobalSecondaryIndexes"]
    assert by_period["IndexName"] == "by_period"
    assert key_schema(by_period["KeySchema"]) == ("tenant_period", "answered_at")


def test_every_queue_and_bucket_of_the_transformed_template_exists(
    local_stack: LocalStack,
) -> None:
    queues = transformed_resources("AWS::SQS::Queue")
    buckets = transformed_resources("AWS::S3::Bucket")
    sqs, s3 = local_stack.client("sqs"), local_stack.client("s3")

    assert set(local_stack.resources_of_type("AWS::SQS::Queue")) == set(queues)
    for logical_id, props in queues.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=local_stack.name(logical_id), AttributeNames=["All"]
        )["Attributes"]
        assert attributes["QueueArn"] == local_stack.arn(logical_id)
        assert attributes["MessageRetentionPeriod"] == str(props["MessageRetentionPeriod"])
        assert attributes["SqsManagedSseEnabled"] == "true"
    cdr_queue = sqs.get_queue_attributes(
        QueueUrl=local_stack.name("CdrQueue"), AttributeNames=["All"]
    )["Attributes"]
    assert json.loads(cdr_queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": local_stack.arn("CdrDeadLetterQueue"),
        "maxReceiveCount": 5,
    }
    assert cdr_queue["VisibilityTimeout"] == "1800"

    assert set(local_stack.resources_of_type("AWS::S3::Bucket")) == set(buckets)
    bucket = local_stack.name("CdrBucket")
    assert bucket == f"telecom-billing-cdr-local-{local_stack.account_id}-{local_stack.region}"
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == (
        "AES256"
    )
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    (notification,) = s3.get_bucket_notification_configuration(Bucket=bucket)[
        "QueueConfigurations"
    ]
    assert notification["QueueArn"] == local_stack.arn("CdrQueue")
    rules = notification["Filter"]["Key"]["FilterRules"]
    assert [(rule["Name"].lower(), rule["Value"]) for rule in rules] == [("prefix", "tenants/")]


def test_rate_call_gets_the_local_table_names_from_the_template(local_stack: LocalStack) -> None:
    env = local_stack.function_environment("RateCallFunction")

    assert env["STAGE"] == "local"  # from Globals
    assert env["EVENT_BUS_NAME"] == "default"
    assert env["RATED_CALL_RETENTION_DAYS"] == "400"
    for variable, logical_id in RATE_CALL_TABLE_VARIABLES.items():
        assert env[variable] == local_stack.name(logical_id)
    # an in-process function reaches the stack through the standard SDK variables
    assert local_stack.aws_environment()["AWS_ENDPOINT_URL"] == local_stack.endpoint_url
    # functions, roles and the layer are not created in moto: functions run in-process
    assert local_stack.not_emulated["RateCallFunction"] == "AWS::Lambda::Function"
    assert local_stack.not_emulated["RateCallRole"] == "AWS::IAM::Role"


def test_a_file_under_tenants_becomes_an_s3_event_on_the_cdr_queue_and_others_do_not(
    local_stack: LocalStack,
) -> None:
    # Given the CDR bucket and queue, emptied of earlier messages (setting the notification
    # made S3 send its s3:TestEvent, as AWS does; the handler has to skip it)
    s3, sqs = local_stack.client("s3"), local_stack.client("sqs")
    bucket, queue = local_stack.name("CdrBucket"), local_stack.name("CdrQueue")
    drain(sqs, queue)

    # When outputs and look-alike prefixes are written, then one CDR file under tenants/
    for outside in ("rejects/acme/f.csv", "results/acme/f.json", "tenants-old/acme/f.csv", "x"):
        s3.put_object(Bucket=bucket, Key=outside, Body=b"call_id\n")
    key = "tenants/acme/2025/03/cdr 2025-03-01.csv"  # a space: keys arrive URL-encoded
    body = b"call_id,tenant\nc1,acme\n"
    s3.put_object(Bucket=bucket, Key=key, Body=body)

    # Then exactly one message arrived: the S3 event of that file, in AWS's shape
    (message,) = drain(sqs, queue)
    event = json.loads(message["Body"])
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == local_stack.region
    assert record["s3"]["bucket"]["name"] == bucket
    assert record["s3"]["bucket"]["arn"] == local_stack.arn("CdrBucket")
    # AWS sends "tenants/acme/2025/03/cdr+2025-03-01.csv"; moto also encodes the slashes
    # ("tenants%2Facme%2F..."): unquote_plus reads both
    assert unquote_plus(record["s3"]["object"]["key"]) == key
    assert record["s3"]["object"]["size"] == len(body)
    # the fields moto fills are the ones of the real-shaped sample the handler tests use
    sample = json.loads(json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))["Records"][0]["body"])
    sample_record = sample["Records"][0]
    assert set(record) <= set(sample_record)
    assert set(record["s3"]["object"]) <= set(sample_record["s3"]["object"])
    # and Powertools reads it as the handler will
    parsed = S3Event(event)
    assert (parsed.bucket_name, parsed.object_key) == (bucket, key)


def test_stop_closes_the_port_and_a_restart_starts_empty(local_stack: LocalStack) -> None:
    # Given the running stack with an item written
    port = local_stack.port
    tenants = local_stack.name("TenantsTable")
    local_stack.client("dynamodb").put_item(
        TableName=tenants, Item={"tenant_id": {"S": "restart-probe"}}
    )

    # When it stops
    local_stack.stop()

    # Then nothing listens on its port any more
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    local_stack.stop()  # stopping twice is harmless

    # and a restart (the rest of this module keeps using it) has the tables, empty
    local_stack.start()
    items = local_stack.client("dynamodb").scan(TableName=local_stack.name("TenantsTable"))
    assert items["Items"] == []


def test_billing_local_up_and_down_run_the_stack_in_another_process(tmp_path: Path) -> None:
    # Given `billing local up` started in the background
    state_path = tmp_path / "state" / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli.main", "local", "up",
         "--state-dir", str(state_path.parent)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not state_path.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "billing local up wrote no state in 60 s"
            time.sleep(0.1)
        state = json.loads(state_path.read_text(encoding="utf-8"))

        # Then its state names the endpoint, the process and every table, and it serves them
        assert state["pid"] == process.pid
        assert state["endpoint"].startswith("http://127.0.0.1:")
        assert set(TABLE_KEYS) <= set(state["resources"])
        assert state["functions"]["RateCallFunction"]["environment"]["LEDGER_TABLE"] == (
            state["resources"]["LedgerTable"]["ref"]
        )
        port = int(state["endpoint"].rsplit(":", 1)[1])
        socket.create_connection(("127.0.0.1", port), timeout=1).close()

        # When `billing local down` runs
        down = subprocess.run(
            [sys.executable, "-m", "shared.cli.main", "local", "down",
             "--state-dir", str(state_path.parent)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )

        # Then both exit 0, the state file is gone and the port is closed
        assert down.returncode == 0, down.stderr
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "local stack stopped" in out
        assert not state_path.exists()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
