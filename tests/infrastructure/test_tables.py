"""The DynamoDB tables of docs/data-model.md, and who may touch them (least privilege)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.table_keys import RATE_CALL_TABLE_VARIABLES, TABLE_KEYS

REPO_ROOT = Path(__file__).resolve().parents[2]

#: the tables rate_call reaches (payments are stripe_webhook's)
RATING_TABLES = set(TABLE_KEYS) - {"PaymentsTable", "InvoicesTable"}
READ_ONLY = {"TenantsTable", "RateCardsTable"}
READ_WRITE = set(TABLE_KEYS) - READ_ONLY
WRITE_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of_type(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in document["Resources"].items()
        if resource["Type"] == kind
    }


def key_schema(keys: list[dict[str, str]]) -> tuple[str, str | None]:
    by_type = {key["KeyType"]: key["AttributeName"] for key in keys}
    return by_type["HASH"], by_type.get("RANGE")


def role_statements(document: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The inline policy statements of a function's execution role."""
    role_ref = document["Resources"][function]["Properties"]["Role"]
    role = document["Resources"][role_ref["Fn::GetAtt"][0]]["Properties"]
    return [
        statement
        for policy in role.get("Policies", [])
        for statement in as_list(policy["PolicyDocument"]["Statement"])
    ]


def tables(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in resources_of_type(document, "AWS::DynamoDB::Table").items()
    }


def test_the_tables_have_the_documented_string_keys(deployed: dict[str, Any]) -> None:
    declared = tables(deployed)

    assert set(declared) == set(TABLE_KEYS)
    for name, props in declared.items():
        assert key_schema(props["KeySchema"]) == TABLE_KEYS[name], name
        types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        key_attributes = {attribute for attribute in TABLE_KEYS[name] if attribute}
        index_attributes = {
            key["AttributeName"]
            for index in props.get("GlobalSecondaryIndexes", [])
            for key in index["KeySchema"]
        }
        # every declared attribute is a key (CloudFormation rejects any other); table keys
        # are strings, an index may sort by a number (PaymentsTable's created)
        assert set(types) == key_attributes | index_attributes, name
        assert {types[attribute] for attribute in key_attributes} == {"S"}, name


def test_rated_calls_are_listed_per_tenant_and_month_for_invoices(
    deployed: dict[str, Any],
) -> None:
    rated = tables(deployed)["RatedCallsTable"]

    (index,) = rated["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_period"
    assert key_schema(index["KeySchema"]) == ("tenant_period", "answered_at")
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_payment_records_are_listed_per_tenant_by_time_for_the_payment_history(
    deployed: dict[str, Any],
) -> None:
    payments = tables(deployed)["PaymentsTable"]

    (index,) = payments["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_tenant"
    assert key_schema(index["KeySchema"]) == ("tenant", "created")
    types = {a["AttributeName"]: a["AttributeType"] for a in payments["AttributeDefinitions"]}
    assert (types["tenant"], types["created"]) == ("S", "N")
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_every_table_is_on_demand_encrypted_and_deletion_protected_in_prod(
    template: dict[str, Any],
) -> None:
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    for name, props in tables(template).items():
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["SSESpecification"] == {"SSEEnabled": True}, name
        assert props["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}, name
        assert "TableName" not in props, f"{name}: a fixed name forbids replacement on key change"


def test_the_ledger_and_the_balances_can_be_restored_to_any_point_in_time(
    deployed: dict[str, Any],
) -> None:
    with_pitr = {
        name
        for name, props in tables(deployed).items()
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled")
    }

    assert {"LedgerTable", "BalancesTable", "PaymentsTable"} <= with_pitr


def test_rated_calls_and_idempotency_records_expire_by_ttl(deployed: dict[str, Any]) -> None:
    ttl = {
        name: props["TimeToLiveSpecification"]
        for name, props in tables(deployed).items()
        if "TimeToLiveSpecification" in props
    }

    assert ttl == {
        "RatedCallsTable": {"AttributeName": "expires_at", "Enabled": True},
        # Powertools' DynamoDBPersistenceLayer default expiry attribute
        "IdempotencyTable": {"AttributeName": "expiration", "Enabled": True},
        # processed Stripe event ids, kept past Stripe's three-day retry window
        "PaymentsTable": {"AttributeName": "expires_at", "Enabled": True},
    }


def test_rate_call_gets_every_table_name_and_the_retention_from_its_environment(
    template: dict[str, Any],
) -> None:
    variables = template["Resources"]["RateCallFunction"]["Properties"]["Environment"][
        "Variables"
    ]

    for variable, table in RATE_CALL_TABLE_VARIABLES.items():
        assert variables[variable] == {"Ref": table}, variable
    assert variables["RATED_CALL_RETENTION_DAYS"] == {"Ref": "RatedCallRetentionDays"}
    assert variables["EVENT_BUS_NAME"] == "default"


def test_sam_merges_the_global_environment_into_rate_calls(transformed: dict[str, Any]) -> None:
    variables = transformed["Resources"]["RateCallFunction"]["Properties"]["Environment"][
        "Variables"
    ]

    assert variables["STAGE"] == {"Ref": "Stage"}
    assert {name: variables[name] for name in RATE_CALL_TABLE_VARIABLES} == {
        name: {"Ref": table} for name, table in RATE_CALL_TABLE_VARIABLES.items()
    }


def _index_arn(resource: Any) -> str | None:
    """``Table/index/name`` for ``!Sub ${Table.Arn}/index/name``, else None."""
    text = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    found = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/(\w+)", text) if isinstance(text, str) else None
    return f"{found.group(1)}/index/{found.group(2)}" if found else None


def dynamodb_grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Table logical id -> DynamoDB actions allowed on it, from resources naming tables."""
    grants: dict[str, set[str]] = {}
    for statement in statements:
        actions = [a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")]
        if statement["Effect"] != "Allow" or not actions:
            continue
        for resource in as_list(statement["Resource"]):
            index = _index_arn(resource)
            if index is not None:
                grants.setdefault(index, set()).update(actions)
                continue
            assert isinstance(resource, dict) and "Fn::GetAtt" in resource, (
                f"DynamoDB access must name a table, got {resource!r}"
            )
            table, attribute = resource["Fn::GetAtt"]
            assert attribute == "Arn"
            grants.setdefault(table, set()).update(actions)
    return grants


def test_rate_call_reads_tenants_and_cards_and_writes_only_its_results(
    deployed: dict[str, Any],
) -> None:
    # Given rate_call's role
    grants = dynamodb_grants(role_statements(deployed, "RateCallFunction"))

    # Then it reaches exactly the eight rating tables, item-level actions only, named by ARN
    assert set(grants) == RATING_TABLES
    for table, actions in grants.items():
        assert "dynamodb:*" not in actions
        assert actions <= {
            "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", *WRITE_ACTIONS
        }, table
        if table in READ_ONLY:
            assert not actions & WRITE_ACTIONS, table
        else:
            assert {"dynamodb:PutItem", "dynamodb:ConditionCheckItem"} & actions, table
    # the ledger is append-only: entries are put once, never removed, and the one update
    # allowed may touch only the breakouts_applied marker (not the amount)
    assert not grants["LedgerTable"] & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    ledger_updates = [
        statement
        for statement in role_statements(deployed, "RateCallFunction")
        if "dynamodb:UpdateItem" in as_list(statement["Action"])
        and statement["Resource"] == {"Fn::GetAtt": ["LedgerTable", "Arn"]}
    ]
    assert [s["Condition"] for s in ledger_updates] == [{
        "ForAllValues:StringEquals": {
            "dynamodb:Attributes": ["tenant", "entry_id", "breakouts_applied"]
        }
    }]
    # only Powertools' idempotency records are ever deleted
    assert {t for t, actions in grants.items() if "dynamodb:DeleteItem" in actions} == {
        "IdempotencyTable"
    }
    # rated calls go in with BatchWriteItem (see docs/data-model.md)
    assert "dynamodb:BatchWriteItem" in grants["RatedCallsTable"]


def test_rate_call_may_publish_events_only_to_the_default_bus(deployed: dict[str, Any]) -> None:
    statements = [
        statement
        for statement in role_statements(deployed, "RateCallFunction")
        if any(action.startswith("events:") for action in as_list(statement["Action"]))
    ]

    (statement,) = statements
    assert as_list(statement["Action"]) == ["events:PutEvents"]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:"
        "event-bus/default"
    }


def test_no_role_of_the_deployed_template_grants_dynamodb_on_every_resource(
    transformed: dict[str, Any],
) -> None:
    # Every role after the transform, SAM-generated ones and policy templates included
    for name, role in resources_of_type(transformed, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                actions = as_list(statement["Action"])
                if not any(str(action).startswith("dynamodb:") for action in actions):
                    continue
                assert "dynamodb:*" not in actions, name
                resources = json.dumps(as_list(statement["Resource"]))
                assert '"*"' not in resources and ":*" not in resources, (name, resources)


@pytest.mark.parametrize("table", sorted(TABLE_KEYS))
def test_each_table_is_documented_in_the_data_model(table: str) -> None:
    doc = (REPO_ROOT / "docs" / "data-model.md").read_text(encoding="utf-8")
    assert f"`{table}`" in doc
    for key in TABLE_KEYS[table]:
        if key:
            assert f"`{key}`" in doc, (table, key)


def test_stripe_webhook_appends_to_the_ledger_and_reads_one_secret(
    deployed: dict[str, Any],
) -> None:
    # Given stripe_webhook's role
    statements = role_statements(deployed, "StripeWebhookFunction")
    grants = dynamodb_grants(statements)

    # Then it reads tenants, appends to the ledger, moves balances and keeps payment records
    assert grants == {
        # read; the one update is the restore of a suspended account after a payment
        "TenantsTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        "LedgerTable": {"dynamodb:PutItem"},
        "BalancesTable": {"dynamodb:UpdateItem"},
        "PaymentsTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        # a dispute's evidence pack: the disputed period's rated calls, by index only
        "RatedCallsTable/index/by_period": {"dynamodb:Query"},
        # invoice payments: the paying tenant's invoices, settled once per payment
        "InvoicesTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "InvoicesTable/index/by_tenant": {"dynamodb:Query"},
    }
    # and writes evidence packs only under evidence/ (never under tenants/, which is rated)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert [(as_list(s["Action"]), s["Resource"]) for s in s3] == [
        (["s3:PutObject"], {"Fn::Sub": "${CdrBucket.Arn}/evidence/*"})
    ]
    # and reads exactly one SSM parameter, the one the template parameter names
    ssm = [s for s in statements if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
    assert [(as_list(s["Action"]), s["Resource"]) for s in ssm] == [(
        ["ssm:GetParameter"],
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
                    "parameter${StripeWebhookSecretParameter}"},
    )]
    variables = deployed["Resources"]["StripeWebhookFunction"]["Properties"]["Environment"][
        "Variables"
    ]
    assert variables["STRIPE_WEBHOOK_SECRET_PARAMETER"] == {"Ref": "StripeWebhookSecretParameter"}
    assert variables["EVIDENCE_BUCKET"] == {"Ref": "CdrBucket"}
    assert variables["RATED_CALLS_TABLE"] == {"Ref": "RatedCallsTable"}
    assert "STRIPE_WEBHOOK_SECRET" not in variables  # the value never sits in the template


def test_stripe_webhook_is_post_stripe_webhook_on_an_http_api(template: dict[str, Any]) -> None:
    events = template["Resources"]["StripeWebhookFunction"]["Properties"]["Events"]

    # on the stack's own, throttled HTTP API (tests/infrastructure/test_hardening.py)
    assert events == {
        "StripeWebhook": {
            "Type": "HttpApi",
            "Properties": {
                "ApiId": {"Ref": "WebhookApi"}, "Path": "/stripe/webhook", "Method": "POST"
            },
        }
    }
