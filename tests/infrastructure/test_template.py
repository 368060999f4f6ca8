"""What the docs promise about the deployed resources, checked on ``template.yaml`` itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLERS = {
    "RateCallFunction": "rate_call",
    "WalletRechargeFunction": "wallet_recharge",
    "InvoiceCycleFunction": "invoice_cycle",
    "StripeWebhookFunction": "stripe_webhook",
}


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def effective(template: dict[str, Any], function: str, prop: str) -> Any:
    """A function property as SAM resolves it: the function's own value, else Globals."""
    own = template["Resources"][function]["Properties"]
    glob = template.get("Globals", {}).get("Function", {})
    if prop == "Layers":  # SAM appends a function's own layers to the global ones
        return [*glob.get("Layers", []), *own.get("Layers", [])]
    return own.get(prop, glob.get(prop))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_four_functions_run_python_3_12_with_the_shared_layer(template: dict[str, Any]) -> None:
    # Given the template's functions
    functions = resources_of_type(template, "AWS::Serverless::Function")

    # Then there are exactly the four of the spec, each a thin app.handler on 3.12 + SharedLayer
    assert set(functions) == set(HANDLERS)
    for name, folder in HANDLERS.items():
        assert effective(template, name, "Runtime") == "python3.12", name
        assert effective(template, name, "Handler") == "app.handler", name
        assert {"Ref": "SharedLayer"} in effective(template, name, "Layers"), name
        assert effective(template, name, "Tracing") == "Active", name
        code_uri = functions[name]["Properties"]["CodeUri"]
        assert code_uri.rstrip("/") == f"functions/{folder}", name
        assert "def handler(" in (REPO_ROOT / code_uri / "app.py").read_text(encoding="utf-8")


def test_the_shared_layer_is_built_by_the_makefile_for_python_3_12(
    template: dict[str, Any],
) -> None:
    layer = template["Resources"]["SharedLayer"]

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    # sam build runs `make build-SharedLayer` in the layer's ContentUri
    makefile = REPO_ROOT / layer["Properties"]["ContentUri"] / "Makefile"
    assert re.search(r"^build-SharedLayer:", makefile.read_text(encoding="utf-8"), re.MULTILINE)


def test_the_cdr_queue_parks_poison_messages_in_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    queue = template["Resources"]["CdrQueue"]["Properties"]
    dlq = template["Resources"]["CdrDeadLetterQueue"]

    assert dlq["Type"] == "AWS::SQS::Queue"
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["CdrDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    # the DLQ keeps messages longer than the source queue, so nothing expires before triage
    assert dlq["Properties"]["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


def test_rate_call_consumes_the_cdr_queue_reporting_batch_item_failures(
    template: dict[str, Any],
) -> None:
    events = template["Resources"]["RateCallFunction"]["Properties"]["Events"]
    sqs_events = [event["Properties"] for event in events.values() if event["Type"] == "SQS"]

    assert len(sqs_events) == 1
    assert sqs_events[0]["Queue"] == {"Fn::GetAtt": ["CdrQueue", "Arn"]}
    assert sqs_events[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_cdr_queue_visibility_timeout_is_six_times_the_rating_timeout(
    template: dict[str, Any],
) -> None:
    timeout = effective(template, "RateCallFunction", "Timeout")
    visibility = template["Resources"]["CdrQueue"]["Properties"]["VisibilityTimeout"]

    assert visibility >= 6 * timeout


def test_the_cdr_bucket_is_encrypted_private_and_tls_only(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["CdrBucket"]["Properties"]

    rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules] in (
        ["AES256"],
        ["aws:kms"],
    )
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    policies = [
        policy["Properties"]
        for policy in resources_of_type(template, "AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == {"Ref": "CdrBucket"}
    ]
    assert len(policies) == 1
    deny_plain_http = [
        statement
        for statement in policies[0]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(deny_plain_http) == 1
    assert {"Fn::GetAtt": ["CdrBucket", "Arn"]} in deny_plain_http[0]["Resource"]
    assert {"Fn::Sub": "${CdrBucket.Arn}/*"} in deny_plain_http[0]["Resource"]


def test_only_files_under_tenants_reach_the_cdr_queue(template: dict[str, Any]) -> None:
    notifications = template["Resources"]["CdrBucket"]["Properties"]["NotificationConfiguration"]

    (config,) = notifications["QueueConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Queue"] == {"Fn::GetAtt": ["CdrQueue", "Arn"]}
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "tenants/"}]


def test_only_the_cdr_bucket_may_send_to_the_cdr_queue(template: dict[str, Any]) -> None:
    # Given the bucket's (spelled-out) name and the queue's policy
    resources = template["Resources"]
    bucket_name = resources["CdrBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    policy = resources["CdrQueuePolicy"]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]

    # Then S3 may send only on behalf of that bucket, and the bucket waits for the policy
    assert policy["Properties"]["Queues"] == [{"Ref": "CdrQueue"}]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert source_arn == f"arn:${{AWS::Partition}}:s3:::{bucket_name}"
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "CdrQueuePolicy" in as_list(resources["CdrBucket"]["DependsOn"])


def test_rate_call_may_only_touch_its_queue_the_tenant_prefix_and_its_outputs(
    template: dict[str, Any],
) -> None:
    # SAM's generated role for an SQS source would grant sqs:DeleteMessage on every queue.
    role_ref = template["Resources"]["RateCallFunction"]["Properties"]["Role"]
    role = template["Resources"][role_ref["Fn::GetAtt"][0]]["Properties"]
    statements = [
        statement
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]

    # (its tables and the event bus: tests/infrastructure/test_tables.py)
    granted = {
        action: statement["Resource"]
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
        if action.split(":")[0] in ("sqs", "s3")
    }
    queue = {"Fn::GetAtt": ["CdrQueue", "Arn"]}
    assert granted == {
        "sqs:ReceiveMessage": queue,
        "sqs:DeleteMessage": queue,
        "sqs:ChangeMessageVisibility": queue,
        "sqs:GetQueueAttributes": queue,
        "s3:GetObject": {"Fn::Sub": "${CdrBucket.Arn}/tenants/*"},
        # rejects and summaries, outside tenants/ so they never trigger rating again
        "s3:PutObject": [
            {"Fn::Sub": "${CdrBucket.Arn}/rejects/*"},
            {"Fn::Sub": "${CdrBucket.Arn}/results/*"},
        ],
    }
    # logs and X-Ray only otherwise (X-Ray's write actions support no resource names)
    managed = {arn["Fn::Sub"].rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]}
    assert managed == {"AWSXrayWriteOnlyAccess"}  # logs: its own group (test_hardening.py)
