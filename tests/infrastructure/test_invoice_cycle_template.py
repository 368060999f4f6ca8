"""invoice_cycle in the template: three named daily schedules it routes by, its own
least-privilege role, and the invoices table keyed so a (tenant, period) invoice exists once."""

from __future__ import annotations

import json
from typing import Any

from tests.infrastructure.test_tables import (
    as_list,
    dynamodb_grants,
    key_schema,
    role_statements,
    tables,
)


def test_the_three_schedules_are_named_for_the_job_the_handler_routes_to(
    template: dict[str, Any],
) -> None:
    events = template["Resources"]["InvoiceCycleFunction"]["Properties"]["Events"]

    names = {
        key: event["Properties"]["Name"]["Fn::Sub"] for key, event in events.items()
        if event["Type"] == "Schedule"
    }
    # the handler takes the job from the end of the rule's name (functions/invoice_cycle)
    assert names == {
        "InvoiceRun": "telecom-billing-${Stage}-invoice-run",
        "SuspensionCheck": "telecom-billing-${Stage}-suspension-check",
        "ConsistencyCheck": "telecom-billing-${Stage}-consistency-check",
    }
    for event in events.values():  # daily: a run issues every period that closed meanwhile
        assert event["Properties"]["Schedule"].endswith("* * ? *)"), event


def test_an_invoice_is_keyed_by_tenant_and_period_with_indexes_by_tenant_and_number(
    deployed: dict[str, Any],
) -> None:
    invoices = tables(deployed)["InvoicesTable"]

    assert key_schema(invoices["KeySchema"]) == ("invoice_key", None)
    indexes = {index["IndexName"]: key_schema(index["KeySchema"])
               for index in invoices["GlobalSecondaryIndexes"]}
    assert indexes == {"by_tenant": ("tenant", "period"), "by_number": ("number", None)}
    assert invoices["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_invoice_cycle_has_item_grants_on_named_tables_only(deployed: dict[str, Any]) -> None:
    statements = role_statements(deployed, "InvoiceCycleFunction")
    grants = dynamodb_grants(statements)

    # no Scan or Delete on invoices: the counter and the invoice move in one transaction
    assert grants["InvoicesTable"] == {
        "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    }
    assert grants["InvoicesTable/index/by_tenant"] == {"dynamodb:Query"}
    # rated calls: the period index, and the consistency check's Scan; never a write
    assert grants["RatedCallsTable/index/by_period"] == {"dynamodb:Query"}
    assert grants["RatedCallsTable"] == {"dynamodb:Scan"}
    # breakouts are only read; the ledger and balances too, except the postpaid issue's
    # credit (a ledger put, conditional on the entry being absent, and the balance ADD)
    assert grants["BreakoutsTable"] == {"dynamodb:GetItem", "dynamodb:Query"}
    assert grants["LedgerTable"] == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
    assert grants["BalancesTable"] == {"dynamodb:GetItem", "dynamodb:Query",
                                       "dynamodb:UpdateItem"}
    assert all("dynamodb:DeleteItem" not in actions for actions in grants.values())
    # PDFs only under invoices/ (never tenants/, whose uploads are rated)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert [json.dumps(s["Resource"]) for s in s3] == [
        json.dumps({"Fn::Sub": "${CdrBucket.Arn}/invoices/*"})]


def test_invoice_cycle_gets_its_tables_and_the_pdf_bucket_from_its_environment(
    template: dict[str, Any],
) -> None:
    variables = template["Resources"]["InvoiceCycleFunction"]["Properties"]["Environment"][
        "Variables"
    ]

    assert variables["INVOICES_TABLE"] == {"Ref": "InvoicesTable"}
    assert variables["INVOICE_BUCKET"] == {"Ref": "CdrBucket"}
    assert variables["STRIPE_API_KEY_PARAMETER"] == {"Ref": "StripeApiKeyParameter"}
    assert "STRIPE_API_KEY" not in variables  # the key itself never sits in the template
