"""`billing rerate` on the local stack: a rate fix on one destination becomes exact ledger
adjustments with receipts; the same re-rate again writes nothing; balance = ledger sum."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoUsageStore, UsageTables
from shared.cli.main import main
from shared.local.stack import LocalStack
from tests.integration.stack_helpers import (
    add_prepaid_tenant,
    last_json,
    rate_dropped_file,
    state_dir_for,
)

pytestmark = pytest.mark.integration

D = Decimal


def _card(germany_price: str) -> dict[str, Any]:
    return {
        "card": "rr-card",
        "currency": "EUR",
        "rates": [
            {"prefix": "49", "destination": "Germany",
             "tiers": [{"price": germany_price, "initial": 60, "increment": 6}]},
            {"prefix": "44", "destination": "United Kingdom",
             "tiers": [{"price": "0.0300", "initial": 60, "increment": 60}]},
        ],
    }


CDRS = (
    "call_id,callee,start_time,answer_time,billsec\n"
    # at the wrong 0.0140/min, 60/6: 75 s → 78 s = 0.0182; 30 s → 60 s = 0.0140;
    # 121 s → 126 s = 0.0294; the UK call 90 s → 120 s at 0.0300 = 0.0600
    "r1,4930111,2026-03-02T09:59:55Z,2026-03-02T10:00:00Z,75\n"
    "r2,4930222,2026-03-10T09:59:55Z,2026-03-10T10:00:00Z,30\n"
    "r3,4930333,2026-03-20T09:59:55Z,2026-03-20T10:00:00Z,121\n"
    "r4,442071234567,2026-03-15T09:59:55Z,2026-03-15T10:00:00Z,90\n"
    "r5,4930444,2026-04-01T09:59:55Z,2026-04-01T10:00:00Z,75\n"
)


def test_a_rate_fix_becomes_exact_idempotent_adjustments(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    flags = ["--state-dir", str(state_dir)]
    wrong, fixed = tmp_path / "wrong.json", tmp_path / "fixed.json"
    wrong.write_text(json.dumps(_card("0.0140")))
    fixed.write_text(json.dumps(_card("0.0120")))
    cdrs = tmp_path / "march.csv"
    cdrs.write_text(CDRS)
    # Given a tenant rated with the wrong Germany price (0.0140 instead of 0.0120)
    add_prepaid_tenant(state_dir, wrong, tenant="rr-t", card="rr-card", currency="EUR",
                       credit="5.00")
    rate_dropped_file(local_stack, state_dir, "rr-t", cdrs)
    store = DynamoUsageStore(
        local_stack.client("dynamodb"),
        UsageTables.from_env(local_stack.function_environment("RateCallFunction")),
    )
    # 5.00 - (0.0182 + 0.0140 + 0.0294 + 0.0600 + 0.0182) = 5.00 - 0.1398 = 4.8602
    assert store.balance("rr-t") == D("4.8602")
    capsys.readouterr()

    # When March is re-rated with the fixed card, first as a dry run
    rerate = ["rerate", "--tenant", "rr-t", "--from", "2026-03-01", "--to", "2026-03-31",
              "--card", str(fixed), "--json", *flags]
    assert main([*rerate, "--dry-run"]) == 0
    dry = last_json(capsys)
    assert (dry["changed"], dry["written"], dry["total_difference"]) == (3, 0, "-0.0088")
    assert store.balance("rr-t") == D("4.8602")
    assert main(rerate) == 0
    result = last_json(capsys)

    # Then the three German calls of March change: at 0.0120, 78 s → 0.0156 (-0.0026),
    # 60 s → 0.0120 (-0.0020), 126 s → 0.0252 (-0.0042): -0.0088; UK and April untouched
    assert (result["considered"], result["changed"], result["unchanged"]) == (4, 3, 1)
    assert (result["written"], result["total_difference"]) == (3, "-0.0088")
    assert result["by_destination"] == {"Germany": {"calls": 3, "difference": "-0.0088"}}
    run = result["run_id"]
    entries = {e.entry_id: e for e in store.ledger_entries("rr-t") if e.kind == "rerate"}
    assert {k: e.amount for k, e in entries.items()} == {
        f"rerate#{run}#r1": D("0.0026"),  # usage is negative: a cheaper call gives back
        f"rerate#{run}#r2": D("0.0020"),
        f"rerate#{run}#r3": D("0.0042"),
    }
    raw = local_stack.client("dynamodb").get_item(
        TableName=store.tables.ledger,
        Key={"tenant": {"S": "rr-t"}, "entry_id": {"S": f"rerate#{run}#r1"}},
    )["Item"]
    assert raw["period"]["S"] == "2026-03"
    receipt = json.loads(raw["receipt"]["S"])
    assert (receipt["cost"], receipt["billed_s"], receipt["card"]) == (
        "0.0156", "78.000", "rr-card"
    )
    # 4.8602 + 0.0088 = 4.8690, and the balance is the ledger's sum
    assert store.balance("rr-t") == D("4.8690") == store.ledger_sum("rr-t")
    march = {row.call_id: row for row in store.rated_calls("rr-t", "2026-03")}
    assert march["r1"].cost == D("0.0156")
    call = local_stack.client("dynamodb").get_item(
        TableName=store.tables.rated_calls, Key={"call_key": {"S": "rr-t#r1"}}
    )["Item"]
    assert (call["previous_cost"]["N"], call["rerated_by"]["S"]) == (
        "0.0182", f"rerate#{run}#r1"
    )
    assert {row.call_id: row.cost for row in store.rated_calls("rr-t", "2026-04")} == {
        "r5": D("0.0182")
    }

    # and the breakouts follow: 2 Mar Germany 0.0182 → 0.0156, 20 Mar 0.0294 → 0.0252
    assert [(r["day"], r["destination"], r["answered"], r["billed_ms"], r["cost"])
            for r in store.breakouts("rr-t", "2026-03-02", "2026-03-02")] == [
        ("2026-03-02", "Germany", 1, 78_000, D("0.0156"))
    ]
    assert store.breakouts("rr-t", "2026-03-20", "2026-03-20")[0]["cost"] == D("0.0252")

    # And the same re-rate again writes nothing
    assert main(rerate) == 0
    again = last_json(capsys)
    assert (again["changed"], again["written"], again["unchanged"]) == (0, 0, 4)
    assert len([e for e in store.ledger_entries("rr-t") if e.kind == "rerate"]) == 3
    assert store.balance("rr-t") == D("4.8690") == store.ledger_sum("rr-t")
    assert store.breakouts("rr-t", "2026-03-02", "2026-03-02")[0]["cost"] == D("0.0156")

    # When the fix is reverted with the card still loaded in the stack (by name: another run)
    revert = ["rerate", "--tenant", "rr-t", "--from", "2026-03-01", "--to", "2026-03-31",
              "--card", "rr-card", "--json", *flags]
    assert main(revert) == 0
    back = last_json(capsys)
    # Then the three calls go back (+0.0088 more), the balance with them
    assert (back["written"], back["total_difference"]) == (3, "0.0088")
    assert store.balance("rr-t") == D("4.8602") == store.ledger_sum("rr-t")
    assert store.breakouts("rr-t", "2026-03-02", "2026-03-02")[0]["cost"] == D("0.0182")
    # and running the first fix again applies none of its entries a second time
    assert main(rerate) == 0
    third = last_json(capsys)
    assert (third["written"], third["already"], third["conflicts"]) == (0, 0, 3)
    assert store.balance("rr-t") == D("4.8602") == store.ledger_sum("rr-t")
    march = {row.call_id: row for row in store.rated_calls("rr-t", "2026-03")}
    assert march["r1"].cost == D("0.0182")


def test_rerate_bad_input_is_one_line(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    base = ["rerate", "--tenant", "nobody", "--card", "x", "--state-dir", str(state_dir)]
    assert main([*base, "--from", "2026-03-01", "--to", "March"]) == 2
    assert capsys.readouterr().err.strip() == (
        "billing: error: --to: 'March' is not a date (expected YYYY-MM-DD)"
    )
    assert main([*base, "--from", "2026-03-01", "--to", "2026-03-31"]) == 2
    assert "no tenant 'nobody'" in capsys.readouterr().err
