"""Least privilege, encryption, dead letters, recovery and logs on the transformed template.

The checks live in ``policy_checks``; here they run on what SAM would deploy for prod (no
finding allowed) and on deliberately bad snippets (each must be caught), so every check is
shown able to fail. SAM snippets go through the same transform, so a policy template such as
``DynamoDBCrudPolicy`` is checked as the inline statements it expands into.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from shared.local.stack import transform_template
from tests.infrastructure import policy_checks as checks

PROD = frozenset({"IsProd", "HasAlarmEmail"})
Check = Callable[[dict[str, Any]], list[str]]

CHECKS: dict[str, Check] = {
    "wildcards": checks.wildcard_findings,
    "managed policies": checks.managed_policy_findings,
    "buckets": checks.bucket_findings,
    "resource policies": checks.resource_policy_findings,
    "queues and dead letters": checks.queue_findings,
    "asynchronous functions": checks.async_function_findings,
    "tables": lambda template: checks.table_findings(template, PROD),
    "resource attributes": checks.attribute_findings,
    "functions": checks.function_findings,
    "http apis": checks.api_findings,
}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_prod_template_passes(transformed: dict[str, Any], check: str) -> None:
    assert CHECKS[check](transformed) == []


def test_the_dev_template_passes_all_but_prods_deletion_protection(
    template: dict[str, Any],
) -> None:
    # Given what SAM would deploy for dev, where no alarm email may be set
    dev = transform_template(template, {"Stage": "dev"})

    # Then the only findings are the ledgers' deletion protection, which is prod's alone
    findings = checks.all_findings(dev, frozenset())
    assert sorted(findings) == [
        f"{table}: ledger without deletion protection" for table in sorted(checks.LEDGER_TABLES)
    ]


def test_the_template_as_written_has_only_plain_deletion_policies(
    template: dict[str, Any],
) -> None:
    assert checks.attribute_findings(template) == []


def test_the_template_has_what_the_checks_look_at(transformed: dict[str, Any]) -> None:
    # a check passing on nothing proves nothing: the resources it walks are there
    kinds = [resource["Type"] for resource in transformed["Resources"].values()]
    assert kinds.count("AWS::Lambda::Function") >= 4
    # a group per function and the API's access log
    assert kinds.count("AWS::Logs::LogGroup") == kinds.count("AWS::Lambda::Function") + 1
    assert kinds.count("AWS::IAM::Role") == kinds.count("AWS::Lambda::Function")
    assert kinds.count("AWS::S3::Bucket") >= 1
    assert kinds.count("AWS::ApiGatewayV2::Stage") >= 1
    assert checks.dead_letter_queues(transformed) >= {
        "CdrDeadLetterQueue", "RechargeDeadLetterQueue", "InvoiceCycleDeadLetterQueue",
    }
    statements = [
        statement
        for _, document in checks.policy_documents(transformed)
        for statement in checks.as_list(document["Statement"])
    ]
    assert len(statements) > 20


# ------------------------------------------------------------------------------ bad snippets


def role(*statements: dict[str, Any], managed: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"Resources": {"BadRole": {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {},
        "ManagedPolicyArns": [
            {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::aws:policy/{name}"} for name in managed
        ],
        "Policies": [{"PolicyName": "p", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": list(statements),
        }}],
    }}}}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def sam_function(**properties: Any) -> dict[str, Any]:
    """A one-function SAM template, transformed as the real one is."""
    return transform_template({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"BadFunction": {"Type": "AWS::Serverless::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "app.handler",
            "CodeUri": "functions/rate_call/", **properties,
        }}},
    })


@pytest.mark.parametrize(("snippet", "expected"), [
    (role(allow("dynamodb:*", {"Fn::GetAtt": ["T", "Arn"]})), "wildcard action dynamodb:*"),
    (role(allow("*", {"Fn::GetAtt": ["T", "Arn"]})), "wildcard action *"),
    (role(allow("s3:Get*", {"Fn::Sub": "${B.Arn}/*"})), "wildcard action s3:Get*"),
    (role(allow("dynamodb:GetItem", "*")), "dynamodb:GetItem on *"),
    (role(allow("s3:GetObject", "arn:aws:s3:::*")), "on arn:aws:s3:::*"),
    (role(allow("s3:GetObject", {"Fn::Sub": "arn:${AWS::Partition}:s3:::telecom-*"})),
     "on arn:PSEUDO:s3:::telecom-*"),
    (role(allow("dynamodb:Query", {"Fn::Sub": "arn:aws:dynamodb:eu-west-1:1:table/*"})),
     "dynamodb:Query on arn:aws:dynamodb:eu-west-1:1:table/*"),
    (role(allow(["xray:PutTraceSegments", "s3:GetObject"], "*")), "s3:GetObject, xray"),
    (role(allow("cloudwatch:PutMetricData", "*")), "PutMetricData on * without a namespace"),
    (role({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), "NotAction"),
])
def test_a_wildcard_grant_is_caught(snippet: dict[str, Any], expected: str) -> None:
    (finding,) = checks.wildcard_findings(snippet)
    assert finding.startswith("BadRole/p: ")
    assert expected in finding


def test_a_sam_policy_template_given_every_table_is_caught_after_the_transform() -> None:
    # Given a policy template that reads fine in template.yaml: DynamoDBCrudPolicy on "*"
    transformed = sam_function(Policies=[{"DynamoDBCrudPolicy": {"TableName": "*"}}])

    # Then its expansion names table/* and table/*/index/*, caught as every table
    findings = checks.wildcard_findings(transformed)
    assert findings and all("table/*" in finding for finding in findings)
    assert findings[0].startswith("BadFunctionRole/BadFunctionRolePolicy0: ")


def test_a_sam_policy_template_on_a_named_table_passes() -> None:
    transformed = sam_function(Policies=[{"DynamoDBReadPolicy": {"TableName": {"Ref": "T"}}}])

    assert checks.wildcard_findings(transformed) == []


def test_what_is_allowed_on_every_resource_passes() -> None:
    # X-Ray cannot be scoped; PutMetricData is scoped by its namespace instead
    snippet = role(
        allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
        allow("cloudwatch:PutMetricData", "*",
              Condition={"StringEquals": {"cloudwatch:namespace": "TelecomBilling"}}),
        allow("s3:PutObject", {"Fn::Sub": "${CdrBucket.Arn}/rejects/*"}),
        allow("dynamodb:Query", {"Fn::Sub": "${RatedCallsTable.Arn}/index/by_period"}),
    )

    assert checks.wildcard_findings(snippet) == []


def test_a_managed_policy_off_the_allowlist_is_caught() -> None:
    snippet = role(managed=("AdministratorAccess", "AWSXrayWriteOnlyAccess"))
    generated = sam_function(Policies=["AmazonS3FullAccess"])

    assert checks.managed_policy_findings(snippet) == [
        "BadRole: managed policy AdministratorAccess is not on the allowlist"
    ]
    # SAM's generated role: its AWSLambdaBasicExecutionRole (logs on every group) and the
    # named policy are both refused
    assert checks.managed_policy_findings(generated) == [
        "BadFunctionRole: managed policy service-role/AWSLambdaBasicExecutionRole is not on "
        "the allowlist",
        "BadFunctionRole: managed policy AmazonS3FullAccess is not on the allowlist",
    ]


def cdr_bucket(transformed: dict[str, Any]) -> dict[str, Any]:
    names = ("CdrBucket", "CdrBucketPolicy")
    return {"Resources": {n: copy.deepcopy(transformed["Resources"][n]) for n in names}}


@pytest.mark.parametrize(("spoil", "expected"), [
    (lambda r: r["CdrBucket"]["Properties"].pop("BucketEncryption"), "no default encryption"),
    (lambda r: r["CdrBucket"]["Properties"]["PublicAccessBlockConfiguration"].update(
        {"RestrictPublicBuckets": False}), "public access not blocked"),
    (lambda r: r["CdrBucket"]["Properties"].update({"AccessControl": "PublicRead"}),
     "canned ACL PublicRead"),
    (lambda r: r["CdrBucket"]["Properties"].pop("LifecycleConfiguration"), "no lifecycle rules"),
    (lambda r: r.pop("CdrBucketPolicy"),
     "no Deny of aws:SecureTransport false on bucket and objects"),
    (lambda r: r["CdrBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"].append(
        {"Sid": "Website", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": {"Fn::Sub": "${CdrBucket.Arn}/*"}}),
     "bucket policy allows everyone (Website)"),
])
def test_a_weakened_bucket_is_caught(
    transformed: dict[str, Any], spoil: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    # Given the real bucket, which passes
    snippet = cdr_bucket(transformed)
    assert checks.bucket_findings(snippet) == []

    # When one protection is taken away, Then that one is reported
    spoil(snippet["Resources"])
    assert checks.bucket_findings(snippet) == [f"CdrBucket: {expected}"]


def resource_policies(transformed: dict[str, Any]) -> dict[str, Any]:
    kinds = (*checks.RESOURCE_POLICIES, "AWS::Lambda::Permission")
    return {"Resources": {
        name: copy.deepcopy(resource)
        for name, resource in transformed["Resources"].items()
        if resource["Type"] in kinds
    }}


@pytest.mark.parametrize(("spoil", "expected"), [
    (lambda r: r["RechargeQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0].pop(
        "Condition"),
     "RechargeQueuePolicy: service principal without a source condition (AllowLowBalanceRule)"),
    (lambda r: r["CdrQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0].update(
        {"Principal": {"AWS": "*"}}),
     "CdrQueuePolicy: allows everyone (AllowCdrBucketNotifications)"),
    (lambda r: r["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0].update(
        {"Principal": "*"}),
     "AlarmTopicPolicy: allows everyone (CloudWatchAlarmsOfThisAccount)"),
    (lambda r: r["StripeWebhookFunctionStripeWebhookPermission"]["Properties"].pop("SourceArn"),
     "StripeWebhookFunctionStripeWebhookPermission: apigateway.amazonaws.com may invoke for "
     "any source"),
    (lambda r: r["StripeWebhookFunctionStripeWebhookPermission"]["Properties"].update(
        {"Principal": "*"}),
     "StripeWebhookFunctionStripeWebhookPermission: any principal may invoke the function"),
])
def test_a_resource_policy_open_to_anyone_is_caught(
    transformed: dict[str, Any], spoil: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    # Given the real queue, topic and bucket policies and the function permissions: clean
    snippet = resource_policies(transformed)
    assert checks.resource_policy_findings(snippet) == []
    assert len(snippet["Resources"]) >= 8

    # When one is opened up, Then it is reported
    spoil(snippet["Resources"])
    assert checks.resource_policy_findings(snippet) == [expected]


def queues(transformed: dict[str, Any]) -> dict[str, Any]:
    resources = transformed["Resources"]
    return {"Resources": {
        name: copy.deepcopy(resource)
        for name, resource in resources.items()
        if resource["Type"] in ("AWS::SQS::Queue", "AWS::CloudWatch::Alarm")
        or name == "InvoiceCycleFunction"
    }}


@pytest.mark.parametrize(("spoil", "expected"), [
    (lambda r: r["CdrQueue"]["Properties"].pop("RedrivePolicy"),
     ["CdrDeadLetterQueue: no dead-letter queue (RedrivePolicy)",
      "CdrQueue: no dead-letter queue (RedrivePolicy)"]),
    (lambda r: r.pop("RechargeDeadLetterAlarm"),
     ["RechargeDeadLetterQueue: dead-letter queue without a depth alarm"]),
    (lambda r: r["CdrDeadLetterAlarm"]["Properties"].pop("AlarmActions"),
     ["CdrDeadLetterQueue: dead-letter queue without a depth alarm"]),
    (lambda r: r["RechargeQueue"]["Properties"].pop("SqsManagedSseEnabled"),
     ["RechargeQueue: not encrypted"]),
])
def test_a_missing_dead_letter_queue_or_alarm_is_caught(
    transformed: dict[str, Any], spoil: Callable[[dict[str, Any]], Any], expected: list[str]
) -> None:
    snippet = queues(transformed)
    assert checks.queue_findings(snippet) == []

    spoil(snippet["Resources"])

    assert sorted(checks.queue_findings(snippet)) == expected


def test_a_scheduled_function_without_a_dead_letter_queue_is_caught() -> None:
    transformed = sam_function(Events={"Nightly": {
        "Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}
    }})

    assert checks.async_function_findings(transformed) == [
        "BadFunction: invoked asynchronously without a dead-letter queue or on-failure "
        "destination"
    ]


def tables(transformed: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": {
        name: copy.deepcopy(resource)
        for name, resource in transformed["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }}


def test_a_table_without_recovery_or_encryption_is_caught(transformed: dict[str, Any]) -> None:
    snippet = tables(transformed)
    breakouts = snippet["Resources"]["BreakoutsTable"]["Properties"]
    breakouts.pop("PointInTimeRecoverySpecification")
    breakouts["SSESpecification"]["SSEEnabled"] = False

    assert checks.table_findings(snippet, PROD) == [
        "BreakoutsTable: not encrypted with KMS",
        "BreakoutsTable: no point-in-time recovery",
    ]


def test_ledgers_are_protected_in_prod_only(transformed: dict[str, Any]) -> None:
    # Given the real tables: protected and retained when the stage is prod ...
    snippet = tables(transformed)
    assert checks.table_findings(snippet, PROD) == []

    # ... and retained in dev too, but deletion protection is prod's only, so a dev stack
    # can be torn down (the ledgers then stay behind as tables to delete by hand)
    dev = checks.table_findings(snippet, frozenset())
    assert sorted(dev) == [
        f"{table}: ledger without deletion protection" for table in sorted(checks.LEDGER_TABLES)
    ]

    # and a ledger whose protection is dropped in prod is caught
    snippet["Resources"]["LedgerTable"]["Properties"]["DeletionProtectionEnabled"] = False
    snippet["Resources"]["LedgerTable"].pop("DeletionPolicy")
    assert checks.table_findings(snippet, PROD) == [
        "LedgerTable: ledger without deletion protection",
        "LedgerTable: ledger DeletionPolicy is not Retain",
    ]


def test_a_deletion_policy_cloudformation_would_refuse_is_caught(
    template: dict[str, Any],
) -> None:
    # Given the template as written, which passes
    snippet = copy.deepcopy(template)
    assert checks.attribute_findings(snippet) == []

    # When a ledger's DeletionPolicy depends on the stage (fine for SAM and the linters)
    snippet["Resources"]["LedgerTable"]["DeletionPolicy"] = {
        "Fn::If": ["IsProd", "Retain", "Delete"]
    }

    # Then it is caught, unless the LanguageExtensions transform would resolve it
    assert checks.attribute_findings(snippet) == [
        "LedgerTable: DeletionPolicy is not a plain string"
    ]
    snippet["Transform"] = ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    assert checks.attribute_findings(snippet) == []


def test_a_function_without_its_log_group_or_tracing_is_caught(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    snippet = {"Resources": copy.deepcopy({
        name: resources[name]
        for name in ("RateCallFunction", "RateCallLogGroup", "WebhookApiAccessLogGroup")
    })}
    assert checks.function_findings(snippet) == []

    snippet["Resources"]["RateCallFunction"]["Properties"].pop("TracingConfig")
    snippet["Resources"]["WebhookApiAccessLogGroup"]["Properties"].pop("RetentionInDays")
    snippet["Resources"].pop("RateCallLogGroup")

    assert checks.function_findings(snippet) == [
        "WebhookApiAccessLogGroup: log group without RetentionInDays",
        "RateCallFunction: tracing is not Active",
        "RateCallFunction: no log group of its own (retention would be 'never expire')",
    ]


def test_an_unthrottled_api_is_caught() -> None:
    # SAM's implicit API for an HttpApi event: no throttling, no access log
    transformed = sam_function(Events={"Hook": {
        "Type": "HttpApi", "Properties": {"Path": "/hook", "Method": "POST"}
    }})

    findings = checks.api_findings(transformed)

    assert findings == [
        "ServerlessHttpApiApiGatewayDefaultStage: routes not throttled",
        "ServerlessHttpApiApiGatewayDefaultStage: no access log",
    ]
