"""The production settings of ``template.yaml`` that docs/security.md promises, value by value:
storage lifecycle, webhook throttling, log retention, and alarms on the metrics the code emits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.infrastructure.policy_checks import as_list, resources_of_type

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("RateCall", "WalletRecharge", "InvoiceCycle", "StripeWebhook")


#: ``add_metric("Name", ...)``, or a module's ``METRIC = "Name"`` handed to add_metric
METRIC_NAME = re.compile(r'add_metric\(\s*"(\w+)"|^METRIC\s*=\s*"(\w+)"', re.MULTILINE)


def emitted_metrics() -> set[str]:
    """Metric names the code adds with Powertools."""
    sources = [*REPO_ROOT.glob("functions/*/app.py"), *REPO_ROOT.glob("shared/**/*.py")]
    return {
        literal or constant
        for source in sources
        for literal, constant in METRIC_NAME.findall(source.read_text(encoding="utf-8"))
    }


def test_the_cdr_bucket_keeps_sources_and_invoices_and_expires_triage_material(
    template: dict[str, Any],
) -> None:
    bucket = template["Resources"]["CdrBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}

    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    # CDR files (the source of every re-rating) and invoices (tax records) never expire
    assert "ExpirationInDays" not in rules["cdr-files"]
    assert "ExpirationInDays" not in rules["invoices"]
    assert rules["cdr-files"]["Prefix"] == "tenants/"
    assert [(t["StorageClass"], t["TransitionInDays"]) for t in rules["cdr-files"]["Transitions"]] \
        == [("STANDARD_IA", 30), ("GLACIER_IR", 400)]
    assert rules["invoices"]["Prefix"] == "invoices/"
    # rejects: 90 days of triage; summaries as long as rated calls (RatedCallRetentionDays)
    assert (rules["rejects"]["Prefix"], rules["rejects"]["ExpirationInDays"]) == ("rejects/", 90)
    assert (rules["results"]["Prefix"], rules["results"]["ExpirationInDays"]) == ("results/", 400)
    assert template["Parameters"]["RatedCallRetentionDays"]["Default"] == 400
    # dispute evidence: two years, beyond any card network's dispute window
    assert (rules["dispute-evidence"]["Prefix"], rules["dispute-evidence"]["ExpirationInDays"]) \
        == ("evidence/", 730)
    # every prefix the functions write to has a rule (their PutObject grants name them)
    written = {
        re.sub(r"^\$\{CdrBucket\.Arn\}/|\*$", "", resource["Fn::Sub"])
        for role in resources_of_type(template, "AWS::IAM::Role").values()
        for policy in role["Properties"]["Policies"]
        for statement in as_list(policy["PolicyDocument"]["Statement"])
        if "s3:PutObject" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    assert written == {"rejects/", "results/", "evidence/", "invoices/"}
    assert written <= {rule.get("Prefix") for rule in rules.values()}
    # overwritten or deleted objects can be restored for 30 days, then go
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    housekeeping = rules["old-versions-and-uploads"]
    assert housekeeping["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert housekeeping["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_the_webhook_api_is_throttled_logged_and_the_only_api(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    api = template["Resources"]["WebhookApi"]["Properties"]

    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "WebhookRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "WebhookBurstLimit"},
    }
    assert api["AccessLogSettings"]["DestinationArn"] == {
        "Fn::GetAtt": ["WebhookApiAccessLogGroup", "Arn"]
    }
    # the access log records who and what status, never a header or the body (signatures)
    fields = json.loads(api["AccessLogSettings"]["Format"].replace("\n", ""))
    assert set(fields) == {"requestId", "ip", "time", "route", "status", "latencyMs", "error"}
    assert "header" not in api["AccessLogSettings"]["Format"]
    # after the transform there is one API and one stage, SAM's implicit API is gone
    assert set(resources_of_type(transformed, "AWS::ApiGatewayV2::Api")) == {"WebhookApi"}
    url = template["Outputs"]["StripeWebhookUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${WebhookApi}.execute-api.")


def test_every_function_logs_to_its_own_group_for_log_retention_days_and_only_there(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    groups = resources_of_type(template, "AWS::Logs::LogGroup")

    for function, folder in zip(
        FUNCTIONS, ("rate_call", "wallet_recharge", "invoice_cycle", "stripe_webhook"),
        strict=True,
    ):
        # Given the function's group: named by stack and function, kept LogRetentionDays
        group = groups[f"{function}LogGroup"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{folder}"}
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        # Then the function writes there ...
        properties = resources[f"{function}Function"]["Properties"]
        assert properties["LoggingConfig"] == {"LogGroup": {"Ref": f"{function}LogGroup"}}
        # ... and its role may write streams and events there and nowhere else
        role = resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        logs = [
            (sorted(as_list(statement["Action"])), statement["Resource"])
            for policy in role["Policies"]
            for statement in as_list(policy["PolicyDocument"]["Statement"])
            if any(str(action).startswith("logs:") for action in as_list(statement["Action"]))
        ]
        assert logs == [(
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            {"Fn::GetAtt": [f"{function}LogGroup", "Arn"]},
        )], function
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 90


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in resources_of_type(template, "AWS::CloudWatch::Alarm").items()
    }


def test_every_alarm_notifies_the_alarm_topic_which_mails_alarm_email(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]

    for name, alarm in alarms(template).items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name  # quiet when idle
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    # only CloudWatch of this account may publish, and only over TLS
    statements = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Effect"], s["Principal"]) for s in statements] == [
        ("Allow", {"Service": "cloudwatch.amazonaws.com"}), ("Deny", "*"),
    ]
    assert statements[1]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_alarms_watch_lag_rejects_dead_letters_webhooks_and_consistency(
    template: dict[str, Any],
) -> None:
    watched = {
        name: (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"][0]["Value"])
        for name, alarm in alarms(template).items()
    }

    service = "billing"  # Powertools' service dimension (shared/observability.py)
    assert watched == {
        "RatingLagAlarm": (
            "AWS/SQS", "ApproximateAgeOfOldestMessage",
            {"Fn::GetAtt": ["CdrQueue", "QueueName"]},
        ),
        "RejectedRowsAlarm": ("TelecomBilling", "RejectedRows", service),
        "CdrDeadLetterAlarm": (
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            {"Fn::GetAtt": ["CdrDeadLetterQueue", "QueueName"]},
        ),
        "RechargeDeadLetterAlarm": (
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            {"Fn::GetAtt": ["RechargeDeadLetterQueue", "QueueName"]},
        ),
        "InvoiceCycleDeadLetterAlarm": (
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            {"Fn::GetAtt": ["InvoiceCycleDeadLetterQueue", "QueueName"]},
        ),
        "WebhookServerErrorsAlarm": ("AWS/ApiGateway", "5xx", {"Ref": "WebhookApi"}),
        "WebhooksRefusedAlarm": ("TelecomBilling", "WebhooksRefused", service),
        "RateCallErrorsAlarm": ("AWS/Lambda", "Errors", {"Ref": "RateCallFunction"}),
        "WalletRechargeErrorsAlarm": ("AWS/Lambda", "Errors", {"Ref": "WalletRechargeFunction"}),
        "InvoiceCycleErrorsAlarm": ("AWS/Lambda", "Errors", {"Ref": "InvoiceCycleFunction"}),
        "StripeWebhookErrorsAlarm": ("AWS/Lambda", "Errors", {"Ref": "StripeWebhookFunction"}),
        "ConsistencyDifferencesAlarm": ("TelecomBilling", "ConsistencyDifferences", service),
    }
    # a dead letter alarms on the first message; the lag alarm at the parameter's seconds
    assert alarms(template)["CdrDeadLetterAlarm"]["Threshold"] == 0
    assert alarms(template)["CdrDeadLetterAlarm"]["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarms(template)["RatingLagAlarm"]["Threshold"] == {"Ref": "RatingLagAlarmSeconds"}


def test_our_own_metrics_in_alarms_are_ones_the_code_emits(template: dict[str, Any]) -> None:
    # an alarm on a metric no code emits would stay green for ever
    ours = {
        alarm["MetricName"]
        for alarm in alarms(template).values()
        if alarm["Namespace"] == "TelecomBilling"
    }
    emitted = emitted_metrics()

    assert ours == {"RejectedRows", "WebhooksRefused", "ConsistencyDifferences"}
    assert ours <= emitted
    assert template["Globals"]["Function"]["Environment"]["Variables"][
        "POWERTOOLS_METRICS_NAMESPACE"
    ] == "TelecomBilling"


def test_the_dashboard_is_valid_json_with_a_widget_per_concern(template: dict[str, Any]) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]

    # Given the body with every ${...} substituted as CloudFormation would (numbers stay bare)
    substituted = re.sub(r"\$\{RatingLagAlarmSeconds\}", "900", body)
    substituted = re.sub(r"\$\{[^}]+\}", "x", substituted)
    widgets = json.loads(substituted)["widgets"]

    titles = [widget["properties"]["title"] for widget in widgets]
    assert len(titles) == 6
    for concern in ("Rating lag", "rejected", "Dead-letter", "Webhooks", "Consistency", "errors"):
        assert any(concern in title for title in titles), concern
    metrics = {tuple(m[:2]) for w in widgets for m in w["properties"]["metrics"]}
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in metrics
    assert ("TelecomBilling", "ConsistencyDifferences") in metrics
    # a graph of a metric no code emits would stay empty for ever
    ours = {name for namespace, name in metrics if namespace == "TelecomBilling"}
    assert ours <= emitted_metrics()
    assert {"RejectedRows", "WebhookFailures", "InvoiceRunFailures"} <= ours


#: what a Stripe secret looks like: a secret or restricted key, or a webhook signing secret
STRIPE_SECRET = re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{8,}|\bwhsec_[A-Za-z0-9]{8,}")


def test_no_secret_value_sits_in_the_template_or_the_stage_settings() -> None:
    # Given the files a deploy reads (the secrets themselves live in SSM)
    files = [REPO_ROOT / "template.yaml", REPO_ROOT / "infra" / "samconfig.toml"]

    # Then none holds anything shaped like a Stripe secret, and the pattern does find one
    for path in files:
        assert STRIPE_SECRET.search(path.read_text(encoding="utf-8")) is None, path
    assert STRIPE_SECRET.search("StripeApiKey=sk_live_51HxYzAbCdEfGh")
    assert STRIPE_SECRET.search("whsec_0123456789abcdef")
    assert STRIPE_SECRET.search("the signing secret (whsec_...)") is None
