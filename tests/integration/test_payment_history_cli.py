"""`billing credit-note` and `billing payments` on the local stack: a refund as a credit for
the next invoice is created exactly once, and the history shows what the signed webhooks
recorded (Succeeded, Failed, Refunded) next to the credit. Real CLI, services, handler and
DynamoDB adapters (moto); webhook payloads are Stripe's fixtures signed with a test secret.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from shared.local.stack import LocalStack
from tests.fakes.payments import event, payment_intent, refunded_charge
from tests.integration.stack_helpers import state_dir_for
from tests.integration.test_stripe_webhook import Webhook
from tests.unit.cli.conftest import Billing, billing_runner

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def webhook(local_stack: LocalStack) -> Webhook:
    return Webhook(local_stack)


@pytest.fixture
def billing(
    capsys: pytest.CaptureFixture[str], local_stack: LocalStack, tmp_path: Path
) -> Billing:
    return billing_runner(capsys, "--state-dir", str(state_dir_for(local_stack, tmp_path)))


def test_a_refund_as_credit_issued_twice_is_one_credit_and_moves_no_balance(
    webhook: Webhook, billing: Billing
) -> None:
    # Given hooli paid 30.00 EUR into its wallet
    tenant = webhook.tenant("ph-hooli")
    webhook.post(event("payment_intent.succeeded",
                       payment_intent("pi_ph1", tenant, 3000, charge="ch_ph1"), "evt_ph1"))

    # When the operator refunds 7.50 EUR as a credit on the next invoice, and the command is
    # run again (a retry after a lost answer)
    first = billing("credit-note", "--tenant", tenant, "--amount", "7.50",
                    "--reason", "outage 2026-11-02", "--id", "cn-ph-1", "--json")
    second = billing("credit-note", "--tenant", tenant, "--amount", "7.50",
                     "--reason", "outage 2026-11-02", "--id", "cn-ph-1", "--json")

    # Then one pending credit of 7.50 EUR exists, and the wallet is untouched (30.00)
    assert (first.code, second.code) == (0, 0), first.err + second.err
    assert (first.summary["created"], second.summary["created"]) == (True, False)
    credits = [item for item in webhook.dynamodb.scan(
        TableName=webhook.env["PAYMENTS_TABLE"])["Items"]
        if item["record_key"]["S"].startswith(f"invoice_credit#{tenant}#")]
    assert len(credits) == 1
    assert credits[0]["status"] == {"S": "pending"}
    assert credits[0]["amount"] == {"N": "7.50"}
    assert webhook.store.balance(tenant) == Decimal("30.00")
    assert [e.entry_id for e in webhook.store.ledger_entries(tenant)] == ["topup#pi_ph1"]


def test_the_same_credit_id_with_another_amount_is_one_clear_line(
    webhook: Webhook, billing: Billing
) -> None:
    tenant = webhook.tenant("ph-pied")
    billing("credit-note", "--tenant", tenant, "--amount", "2.00", "--reason", "r",
            "--id", "cn-ph-2")

    refused = billing("credit-note", "--tenant", tenant, "--amount", "3.00", "--reason", "r",
                      "--id", "cn-ph-2")

    assert refused.code == 2
    assert refused.err.count("\n") == 1 and "already issued for 2.00 EUR" in refused.err


def test_the_payment_history_shows_succeeded_failed_refunded_and_the_credit(
    webhook: Webhook, billing: Billing
) -> None:
    tenant = webhook.tenant("ph-initech")
    now = int(time.time())
    webhook.post(event("payment_intent.succeeded",
                       payment_intent("pi_ph3", tenant, 2000, charge="ch_ph3"),
                       "evt_ph3", now - 30))
    webhook.post(event("payment_intent.payment_failed",
                       payment_intent("pi_ph4", tenant, 1500, status="requires_payment_method"),
                       "evt_ph4", now - 20))
    webhook.post(event("charge.refunded",
                       refunded_charge("ch_ph3", "pi_ph3", [("re_ph3", 500)]),
                       "evt_ph5", now - 10))
    billing("credit-note", "--tenant", tenant, "--amount", "1.25", "--reason", "goodwill",
            "--id", "cn-ph-3")

    listed = billing("payments", "--tenant", tenant, "--json")
    shown = billing("payments", "--tenant", tenant)

    assert listed.code == 0, listed.err
    rows = json.loads(listed.out)
    assert [(r["status"], r["reference"], r["amount"], r["currency"]) for r in rows] == [
        ("Succeeded", "pi_ph3", "20.00", "EUR"),
        ("Failed", "pi_ph4", "15.00", "EUR"),
        ("Refunded", "re_ph3", "5.00", "EUR"),
        ("Credit for next invoice", "cn-ph-3", "1.25", "EUR"),
    ]
    assert rows[1]["detail"] == "insufficient_funds"
    assert shown.code == 0 and "Refunded" in shown.out and "pi_ph3" in shown.out
    assert billing("payments", "--tenant", "ph-nobody").code == 2
