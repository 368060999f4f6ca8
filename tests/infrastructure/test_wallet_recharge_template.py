"""wallet_recharge in ``template.yaml``: low-balance event -> rule -> queue (with its DLQ) ->
function, and a role that names every queue, table, parameter and identity it touches."""

from __future__ import annotations

from typing import Any

RECHARGE_QUEUE = {"Fn::GetAtt": ["RechargeQueue", "Arn"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(document: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role_ref = document["Resources"][function]["Properties"]["Role"]
    role = document["Resources"][role_ref["Fn::GetAtt"][0]]["Properties"]
    return [
        statement
        for policy in role.get("Policies", [])
        for statement in as_list(policy["PolicyDocument"]["Statement"])
    ]


def grants(statements: list[dict[str, Any]], service: str) -> dict[str, set[str]]:
    """Resource (as JSON-ish text) -> the actions of ``service`` allowed on it."""
    found: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = {a for a in as_list(statement["Action"]) if a.startswith(f"{service}:")}
        for resource in as_list(statement["Resource"]) if actions else []:
            found.setdefault(repr(resource), set()).update(actions)
    return found


def test_the_low_balance_event_is_routed_to_the_recharge_queue(template: dict[str, Any]) -> None:
    rule = template["Resources"]["LowBalanceRule"]["Properties"]

    # the event rate_call publishes (shared/adapters/events.py), on the default bus
    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"] == {"source": ["telecom.billing"],
                                    "detail-type": ["WalletLowBalance"]}
    assert rule["State"] == "ENABLED"
    assert [target["Arn"] for target in rule["Targets"]] == [RECHARGE_QUEUE]


def test_only_the_low_balance_rule_may_send_to_the_recharge_queue(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["RechargeQueuePolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]

    assert policy["Queues"] == [{"Ref": "RechargeQueue"}]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == RECHARGE_QUEUE
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["LowBalanceRule", "Arn"]}}
    }


def test_the_recharge_queue_parks_poison_messages_in_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    queue = resources["RechargeQueue"]["Properties"]
    dlq = resources["RechargeDeadLetterQueue"]

    assert dlq["Type"] == "AWS::SQS::Queue"
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RechargeDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert dlq["Properties"]["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    # six times the function's timeout (its own, else Globals), as AWS recommends
    timeout = resources["WalletRechargeFunction"]["Properties"].get(
        "Timeout", template["Globals"]["Function"]["Timeout"]
    )
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_wallet_recharge_consumes_its_queue_reporting_batch_item_failures(
    template: dict[str, Any],
) -> None:
    events = template["Resources"]["WalletRechargeFunction"]["Properties"]["Events"]

    (source,) = [event["Properties"] for event in events.values() if event["Type"] == "SQS"]
    assert source["Queue"] == RECHARGE_QUEUE
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_wallet_recharge_has_least_privilege(deployed: dict[str, Any]) -> None:
    # Given wallet_recharge's explicit role (SAM's generated one would allow every queue)
    statements = statements_of(deployed, "WalletRechargeFunction")

    def table(name: str) -> str:
        return repr({"Fn::GetAtt": [name, "Arn"]})

    # Then its one queue
    assert grants(statements, "sqs") == {repr(RECHARGE_QUEUE): {
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }}
    # item actions on the four tables it needs, by ARN; the ledger append-only
    assert grants(statements, "dynamodb") == {
        table("TenantsTable"): {"dynamodb:GetItem"},
        table("LedgerTable"): {"dynamodb:PutItem"},
        table("BalancesTable"): {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        table("PaymentsTable"): {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    }
    # the Stripe API key: one SSM parameter, named by the template parameter
    assert grants(statements, "ssm") == {repr({
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                   "parameter${StripeApiKeyParameter}"
    }): {"ssm:GetParameter"}}
    # mail only from the configured sender identity
    assert grants(statements, "ses") == {repr({
        "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:"
                   "identity/${NotificationSender}"
    }): {"ses:SendEmail"}}
    # its own log group, and X-Ray: nothing else
    assert grants(statements, "logs") == {
        repr({"Fn::GetAtt": ["WalletRechargeLogGroup", "Arn"]}): {
            "logs:CreateLogStream", "logs:PutLogEvents",
        }
    }
    services = {a.split(":")[0] for s in statements for a in as_list(s["Action"])}
    assert services == {"sqs", "dynamodb", "ssm", "ses", "logs"}
    role_ref = deployed["Resources"]["WalletRechargeFunction"]["Properties"]["Role"]
    role = deployed["Resources"][role_ref["Fn::GetAtt"][0]]["Properties"]
    managed = {arn["Fn::Sub"].rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]}
    assert managed == {"AWSXrayWriteOnlyAccess"}  # logs: its own group (test_hardening.py)


def test_wallet_recharge_gets_table_names_and_the_key_parameter_never_the_key(
    template: dict[str, Any],
) -> None:
    variables = template["Resources"]["WalletRechargeFunction"]["Properties"]["Environment"][
        "Variables"
    ]

    assert variables == {
        "PAYMENTS_TABLE": {"Ref": "PaymentsTable"},
        "TENANTS_TABLE": {"Ref": "TenantsTable"},
        "LEDGER_TABLE": {"Ref": "LedgerTable"},
        "BALANCES_TABLE": {"Ref": "BalancesTable"},
        "STRIPE_API_KEY_PARAMETER": {"Ref": "StripeApiKeyParameter"},
        "NOTIFICATION_SENDER": {"Ref": "NotificationSender"},
    }
    assert template["Parameters"]["StripeApiKeyParameter"]["Type"] == "String"
    assert "Default" in template["Parameters"]["StripeApiKeyParameter"]
