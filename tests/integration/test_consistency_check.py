"""The daily consistency check on the local stack: a file rated by the real rate_call
handler is consistent; a tampered balance and a tampered breakout row are both reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.consistency_store import DynamoConsistencyReads
from shared.adapters.dynamodb import UsageTables
from shared.domain.consistency import Difference
from shared.local.stack import LocalStack
from shared.services.consistency_check import run_consistency_check
from tests.integration.stack_helpers import add_prepaid_tenant, rate_dropped_file, state_dir_for

pytestmark = pytest.mark.integration

NOW = datetime(2026, 10, 6, 3, 30, tzinfo=UTC)  # the 03:30 UTC schedule the day after


def test_clean_then_tampered_balance_and_breakout(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    card = tmp_path / "cc-card.json"
    card.write_text(json.dumps({
        "card": "cc-card", "currency": "EUR",
        "rates": [{"prefix": "49", "destination": "Germany",
                   "tiers": [{"price": "0.1200", "initial": 60, "increment": 60}]}],
    }))
    cdrs = tmp_path / "cc.csv"
    cdrs.write_text(
        "call_id,callee,start_time,answer_time,billsec\n"
        "q1,4930123456,2026-10-05T10:00:00Z,2026-10-05T10:00:04Z,61\n"
        "q2,4930123456,2026-10-05T11:00:00Z,,0\n"
    )
    # Given tenant cc-t (1.00 EUR) whose file of two calls was rated by the real handler:
    # one answered 61 s call at 0.12/min on 60/60 = 0.2400, one unanswered attempt
    add_prepaid_tenant(state_dir, card, tenant="cc-t", card="cc-card", currency="EUR",
                       credit="1.00")
    env = rate_dropped_file(local_stack, state_dir, "cc-t", cdrs)
    capsys.readouterr()
    dynamodb = local_stack.client("dynamodb")
    reads = DynamoConsistencyReads(dynamodb, UsageTables.from_env(env), env["TENANTS_TABLE"])

    # When the check runs on a clean stack, Then cc-t has no difference
    clean = run_consistency_check(reads, lambda: NOW)
    assert clean.first_day == "2026-09-01"  # 35 days before 2026-10-06
    assert [d for d in clean.differences if d.tenant == "cc-t"] == []

    # When someone adds 0.10 to the cached balance and 0.01 to the breakout's cost
    dynamodb.update_item(
        TableName=env["BALANCES_TABLE"], Key={"tenant": {"S": "cc-t"}},
        UpdateExpression="ADD #b :d", ExpressionAttributeNames={"#b": "balance"},
        ExpressionAttributeValues={":d": {"N": "0.10"}},
    )
    dynamodb.update_item(
        TableName=env["BREAKOUTS_TABLE"],
        Key={"tenant": {"S": "cc-t"}, "day_destination": {"S": "2026-10-05#Germany"}},
        UpdateExpression="ADD #c :d", ExpressionAttributeNames={"#c": "cost"},
        ExpressionAttributeValues={":d": {"N": "0.01"}},
    )
    tampered = run_consistency_check(reads, lambda: NOW)
    # Then both are reported: ledger 1.00 - 0.24 = 0.76 against 0.86 cached, and the
    # breakout cost 0.2400 from the calls against 0.2500 stored
    mine = [d for d in tampered.differences if d.tenant == "cc-t"]
    assert [(d.kind, d.key, d.field) for d in mine] == [
        ("balance", "balance", "balance"), ("breakout", "2026-10-05#Germany", "cost"),
    ]
    assert mine[0] == Difference("cc-t", "balance", "balance", "balance", "0.7600", "0.8600")
    assert (mine[1].expected, mine[1].found) == ("0.2400", "0.2500")
    assert not tampered.consistent
