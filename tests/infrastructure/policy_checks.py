"""Checks on the template SAM would deploy, as functions that return findings.

Each check walks the *transformed* template (plain CloudFormation: SAM's policy templates are
already expanded into inline statements, generated roles are explicit), so what is checked is
what IAM, S3, SQS and DynamoDB would receive. A check returns a list of findings, one readable
line each, instead of asserting, so the tests can feed it a deliberately bad snippet and see
the finding appear: a check that cannot fail proves nothing.

What is allowed, and why, is listed here once (docs/security.md repeats it for people).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

#: Actions that IAM cannot scope to a resource, so ``"Resource": "*"`` is the only form:
#: X-Ray's write and sampling calls, and CloudWatch's PutMetricData (scoped by a namespace
#: condition instead). Nothing else may name every resource.
WILDCARD_RESOURCE_ACTIONS = frozenset({
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
    "cloudwatch:PutMetricData",
})

#: AWS managed policies a role may attach, by name after ``:policy/``. Their statements are
#: not in the template, so each is allowed by name for a reason: X-Ray's write-only policy (its
#: actions cannot be scoped anyway). Not AWSLambdaBasicExecutionRole, whose logs actions name
#: every log group: each role writes to its function's own group by an inline statement.
MANAGED_POLICY_ALLOWLIST = frozenset({"AWSXrayWriteOnlyAccess"})

#: Tables that hold money or its proof: deletion-protected in prod and kept when the stack goes.
LEDGER_TABLES = frozenset({"LedgerTable", "BalancesTable", "PaymentsTable", "InvoicesTable"})

_POLICY_NAME = re.compile(r":policy/(.+)$")
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == kind
    }


def resolve_conditions(value: Any, true_conditions: frozenset[str]) -> Any:
    """``value`` with every ``Fn::If`` decided as the stage would decide it."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            condition, if_true, if_false = value["Fn::If"]
            chosen = if_true if condition in true_conditions else if_false
            return resolve_conditions(chosen, true_conditions)
        return {key: resolve_conditions(item, true_conditions) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_conditions(item, true_conditions) for item in value]
    return value


# ------------------------------------------------------------------------------ IAM


def policy_documents(template: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity policy document: ``(where, document)``; both branches of an ``Fn::If``."""
    for name, resource in template.get("Resources", {}).items():
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            for policy in _branches(props.get("Policies", [])):
                yield f"{name}/{policy.get('PolicyName', '?')}", policy["PolicyDocument"]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield name, props["PolicyDocument"]


def _branches(items: list[Any]) -> Iterator[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            yield from _branches([branch for branch in item["Fn::If"][1:]
                                  if branch != {"Ref": "AWS::NoValue"}])
        else:
            yield item


def resource_text(resource: Any) -> str:
    """A policy resource as text, every reference to a named resource or parameter as NAMED.

    ``Fn::Sub`` variables given a literal value (as SAM's policy templates do for a name
    passed as a string) are substituted, so ``TableName: "*"`` shows as ``table/*``.
    """
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict):
        if "Ref" in resource or "Fn::GetAtt" in resource or "Fn::ImportValue" in resource:
            return "NAMED"
        if "Fn::Sub" in resource:
            body, variables = resource["Fn::Sub"], {}
            if isinstance(body, list):
                body, variables = body[0], body[1]

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                value = variables.get(name)
                if isinstance(value, str):
                    return value
                return "NAMED" if not name.startswith("AWS::") else "PSEUDO"

            return _SUB_VARIABLE.sub(substitute, body)
        if "Fn::Join" in resource:
            separator, parts = resource["Fn::Join"]
            return str(separator).join(resource_text(part) for part in parts)
    return repr(resource)


def is_wildcard_resource(text: str) -> bool:
    """True when ``text`` names every resource, or every resource of a kind.

    A ``*`` is fine only after a named resource and a ``/`` or ``:`` (objects under a prefix
    of a named bucket, the indexes of a named table, the streams of a named log group).
    """
    if "*" not in text:
        return False
    before = text.split("*", 1)[0]
    if "NAMED" not in before:
        return True
    return not before.endswith(("/", ":"))


def wildcard_findings(template: Mapping[str, Any]) -> list[str]:
    """Allowed wildcard actions (none), wildcard resources outside the allowlist, NotAction."""
    findings: list[str] = []
    for where, document in policy_documents(template):
        for statement in as_list(document.get("Statement", [])):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement or "NotResource" in statement:
                findings.append(f"{where}: Allow with NotAction/NotResource grants everything else")
                continue
            actions = [str(action) for action in as_list(statement.get("Action", []))]
            findings += [
                f"{where}: wildcard action {action}" for action in actions if "*" in action
            ]
            wild = [
                text
                for text in (resource_text(r) for r in as_list(statement.get("Resource", [])))
                if is_wildcard_resource(text)
            ]
            if not wild:
                continue
            if wild == ["*"] and set(actions) <= WILDCARD_RESOURCE_ACTIONS:
                if "cloudwatch:PutMetricData" in actions and not _namespace_condition(statement):
                    findings.append(f"{where}: PutMetricData on * without a namespace condition")
                continue
            findings.append(f"{where}: {', '.join(sorted(actions))} on {', '.join(wild)}")
    return findings


def _namespace_condition(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition", {})
    return any("cloudwatch:namespace" in block for block in condition.values())


def managed_policy_findings(template: Mapping[str, Any]) -> list[str]:
    """Managed policies attached to a role that are not on the allowlist, by name."""
    findings: list[str] = []
    for name, role in resources_of_type(template, "AWS::IAM::Role").items():
        for arn in role.get("Properties", {}).get("ManagedPolicyArns", []):
            match = _POLICY_NAME.search(resource_text(arn))
            policy = match.group(1) if match else resource_text(arn)
            if policy not in MANAGED_POLICY_ALLOWLIST:
                findings.append(f"{name}: managed policy {policy} is not on the allowlist")
    return findings


# ------------------------------------------------------------------------------ S3


def bucket_findings(template: Mapping[str, Any]) -> list[str]:
    """Every bucket: encrypted, public access blocked, TLS-only, lifecycle rules, not public."""
    findings: list[str] = []
    policies = resources_of_type(template, "AWS::S3::BucketPolicy").values()
    for name, bucket in resources_of_type(template, "AWS::S3::Bucket").items():
        props = bucket.get("Properties", {})
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        algorithms = {
            rule.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules
        }
        if not rules or not algorithms <= {"AES256", "aws:kms", "aws:kms:dsse"}:
            findings.append(f"{name}: no default encryption")
        block = props.get("PublicAccessBlockConfiguration", {})
        flags = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                 "RestrictPublicBuckets")
        if not all(block.get(flag) is True for flag in flags):
            findings.append(f"{name}: public access not blocked")
        if props.get("AccessControl", "Private") != "Private":
            findings.append(f"{name}: canned ACL {props['AccessControl']}")
        if not props.get("LifecycleConfiguration", {}).get("Rules"):
            findings.append(f"{name}: no lifecycle rules")
        own = [
            policy["Properties"]["PolicyDocument"]
            for policy in policies
            if policy["Properties"]["Bucket"] == {"Ref": name}
        ]
        statements = [s for document in own for s in as_list(document["Statement"])]
        if not any(_denies_plain_http(statement, name) for statement in statements):
            findings.append(f"{name}: no Deny of aws:SecureTransport false on bucket and objects")
        findings += [
            f"{name}: bucket policy allows everyone ({statement.get('Sid', '?')})"
            for statement in statements
            if statement.get("Effect") == "Allow" and _everyone(statement.get("Principal"))
        ]
    return findings


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in as_list(principal.get("AWS", []))


def _denies_plain_http(statement: Mapping[str, Any], bucket: str) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    resources = {resource_text(r) for r in as_list(statement.get("Resource", []))}
    actions = set(as_list(statement.get("Action", [])))
    return (
        statement.get("Effect") == "Deny"
        and _everyone(statement.get("Principal"))
        and str(condition.get("aws:SecureTransport")).lower() == "false"
        and bool(actions & {"s3:*", "*"})
        and {"NAMED", "NAMED/*"} <= resources
    )


# ------------------------------------------------------------------------------ resource policies

RESOURCE_POLICIES = {
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
}
#: conditions that tie a service principal to our own resource or account (confused deputy)
SOURCE_KEYS = ("aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner")


def resource_policy_findings(template: Mapping[str, Any]) -> list[str]:
    """Bucket, queue and topic policies and Lambda permissions: nothing allowed to everyone,
    and a service principal only on behalf of a named source (its ARN or our account)."""
    findings: list[str] = []
    for kind, key in RESOURCE_POLICIES.items():
        for name, policy in resources_of_type(template, kind).items():
            for statement in as_list(policy["Properties"][key]["Statement"]):
                if statement.get("Effect") != "Allow":
                    continue
                principal = statement.get("Principal")
                if _everyone(principal):
                    findings.append(f"{name}: allows everyone ({statement.get('Sid', '?')})")
                elif isinstance(principal, dict) and "Service" in principal:
                    conditions = statement.get("Condition", {}).values()
                    if not any(k in block for block in conditions for k in SOURCE_KEYS):
                        findings.append(
                            f"{name}: service principal without a source condition "
                            f"({statement.get('Sid', '?')})"
                        )
    for name, permission in resources_of_type(template, "AWS::Lambda::Permission").items():
        props = permission["Properties"]
        if props.get("Principal") == "*":
            findings.append(f"{name}: any principal may invoke the function")
        elif "SourceArn" not in props and "SourceAccount" not in props:
            findings.append(f"{name}: {props.get('Principal')} may invoke for any source")
    return findings


# ------------------------------------------------------------------------------ queues, DLQs


def _ref_or_arn_of(value: Any) -> str | None:
    """The logical id a ``Ref`` / ``Fn::GetAtt`` / ``${X.Arn}`` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def dead_letter_queues(template: Mapping[str, Any]) -> set[str]:
    """Queues named as a redrive target or as a function's dead-letter target."""
    queues = set()
    for queue in resources_of_type(template, "AWS::SQS::Queue").values():
        target = queue.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
        if (logical := _ref_or_arn_of(target)) is not None:
            queues.add(logical)
    for function in resources_of_type(template, "AWS::Lambda::Function").values():
        target = function.get("Properties", {}).get("DeadLetterConfig", {}).get("TargetArn")
        if (logical := _ref_or_arn_of(target)) is not None:
            queues.add(logical)
    return queues


def queue_findings(template: Mapping[str, Any]) -> list[str]:
    """Every queue encrypted; every consumed queue has a DLQ; every DLQ has an alarm."""
    findings: list[str] = []
    queues = resources_of_type(template, "AWS::SQS::Queue")
    dlqs = dead_letter_queues(template)
    for name, queue in queues.items():
        props = queue.get("Properties", {})
        if not (props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props):
            findings.append(f"{name}: not encrypted")
        if name not in dlqs and "RedrivePolicy" not in props:
            findings.append(f"{name}: no dead-letter queue (RedrivePolicy)")
    alarmed = {
        _ref_or_arn_of(dimension.get("Value"))
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/SQS"
        and alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"].get("AlarmActions")
        for dimension in alarm["Properties"].get("Dimensions", [])
        if dimension.get("Name") == "QueueName"
    }
    findings += [
        f"{dlq}: dead-letter queue without a depth alarm" for dlq in sorted(dlqs - alarmed)
    ]
    return findings


def async_function_findings(template: Mapping[str, Any]) -> list[str]:
    """A function invoked asynchronously (schedules, rules, S3, SNS) keeps its failed events."""
    asynchronous = {"events.amazonaws.com", "scheduler.amazonaws.com", "s3.amazonaws.com",
                    "sns.amazonaws.com"}
    invoked = {
        _ref_or_arn_of(permission["Properties"].get("FunctionName"))
        for permission in resources_of_type(template, "AWS::Lambda::Permission").values()
        if permission["Properties"].get("Principal") in asynchronous
    }
    with_destination = {
        _ref_or_arn_of(config["Properties"].get("FunctionName"))
        for config in resources_of_type(template, "AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"].get("DestinationConfig", {}).get("OnFailure")
    }
    functions = resources_of_type(template, "AWS::Lambda::Function")
    return [
        f"{name}: invoked asynchronously without a dead-letter queue or on-failure destination"
        for name in sorted(n for n in invoked if n is not None)
        if name in functions
        and "DeadLetterConfig" not in functions[name].get("Properties", {})
        and name not in with_destination
    ]


# ------------------------------------------------------------------------------ tables


def table_findings(template: Mapping[str, Any], true_conditions: frozenset[str]) -> list[str]:
    """Every table: encrypted, PITR; ledgers: deletion-protected and retained (as staged)."""
    findings: list[str] = []
    for name, table in resources_of_type(template, "AWS::DynamoDB::Table").items():
        table = resolve_conditions(table, true_conditions)
        props = table.get("Properties", {})
        if props.get("SSESpecification", {}).get("SSEEnabled") is not True:
            findings.append(f"{name}: not encrypted with KMS")
        pitr = props.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled") is not True:
            findings.append(f"{name}: no point-in-time recovery")
        if name in LEDGER_TABLES:
            if props.get("DeletionProtectionEnabled") is not True:
                findings.append(f"{name}: ledger without deletion protection")
            for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
                if table.get(policy) not in ("Retain", "Snapshot"):
                    findings.append(f"{name}: ledger {policy} is not Retain")
    return findings


def attribute_findings(template: Mapping[str, Any]) -> list[str]:
    """DeletionPolicy / UpdateReplacePolicy must be plain strings: CloudFormation refuses an
    intrinsic function there unless the template uses the AWS::LanguageExtensions transform,
    and neither the SAM transform nor the linters say so before a deploy fails."""
    transforms = as_list(template.get("Transform", []))
    if "AWS::LanguageExtensions" in transforms:
        return []
    return [
        f"{name}: {attribute} is not a plain string"
        for name, resource in template.get("Resources", {}).items()
        for attribute in ("DeletionPolicy", "UpdateReplacePolicy")
        if attribute in resource and not isinstance(resource[attribute], str)
    ]


# ------------------------------------------------------------------------------ functions


def function_findings(template: Mapping[str, Any]) -> list[str]:
    """Every function traced, with a log group that has a retention; every log group too."""
    findings: list[str] = []
    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    findings += [
        f"{name}: log group without RetentionInDays"
        for name, group in groups.items()
        if "RetentionInDays" not in group.get("Properties", {})
    ]
    named = {
        resource_text(group["Properties"].get("LogGroupName", "")): name
        for name, group in groups.items()
    }
    for name, function in resources_of_type(template, "AWS::Lambda::Function").items():
        props = function.get("Properties", {})
        if props.get("TracingConfig", {}).get("Mode") != "Active":
            findings.append(f"{name}: tracing is not Active")
        own_group = {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
        configured = props.get("LoggingConfig", {}).get("LogGroup")
        if (
            not any(group["Properties"].get("LogGroupName") == own_group
                    for group in groups.values())
            and _ref_or_arn_of(configured) not in groups
            and resource_text(configured) not in named
        ):
            findings.append(f"{name}: no log group of its own (retention would be 'never expire')")
    return findings


def api_findings(template: Mapping[str, Any]) -> list[str]:
    """Every HTTP API stage throttles its routes and writes an access log."""
    findings: list[str] = []
    for name, stage in resources_of_type(template, "AWS::ApiGatewayV2::Stage").items():
        props = stage.get("Properties", {})
        settings = props.get("DefaultRouteSettings", {})
        if not {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(settings):
            findings.append(f"{name}: routes not throttled")
        if "DestinationArn" not in props.get("AccessLogSettings", {}):
            findings.append(f"{name}: no access log")
    apis = resources_of_type(template, "AWS::ApiGatewayV2::Api")
    staged = {
        _ref_or_arn_of(stage["Properties"].get("ApiId"))
        for stage in resources_of_type(template, "AWS::ApiGatewayV2::Stage").values()
    }
    findings += [f"{name}: HTTP API without a stage of ours" for name in apis if name not in staged]
    return findings


def all_findings(template: Mapping[str, Any], true_conditions: frozenset[str]) -> list[str]:
    return [
        *wildcard_findings(template),
        *managed_policy_findings(template),
        *bucket_findings(template),
        *resource_policy_findings(template),
        *queue_findings(template),
        *async_function_findings(template),
        *table_findings(template, true_conditions),
        *attribute_findings(template),
        *function_findings(template),
        *api_findings(template),
    ]
