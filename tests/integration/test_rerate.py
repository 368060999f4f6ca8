"""`billing rerate` on the local stack: a rate fix on one destination becomes exact ledger
adjustments with receipts; the same re-rate again writes nothing; balance = ledger sum."""

from __future__ import annotations

import json
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.dynamodb import DynamoUsageStore, UsageTables
from shared.cli.main import main
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.rating.numbers import NumberingPlan
from shared.local.stack import LocalStack
from shared.services.rerate import RerateRequest, rerate
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
        "rerate#r1#v0": D("0.0026"),  # usage is negative: a cheaper call gives back
        "rerate#r2#v0": D("0.0020"),
        "rerate#r3#v0": D("0.0042"),
    }
    raw = local_stack.client("dynamodb").get_item(
        TableName=store.tables.ledger,
        Key={"tenant": {"S": "rr-t"}, "entry_id": {"S": "rerate#r1#v0"}},
    )["Item"]
    assert (raw["period"]["S"], raw["run_id"]["S"]) == ("2026-03", run)
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
    assert (call["previous_cost"]["N"], call["rerated_by"]["S"]) == ("0.0182", "rerate#r1#v0")
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
    # and running the first fix again is a third move of each call (its version 2)
    assert main(rerate) == 0
    third = last_json(capsys)
    assert (third["written"], third["already"], third["conflicts"]) == (3, 0, 0)
    assert store.balance("rr-t") == D("4.8690") == store.ledger_sum("rr-t")
    march = {row.call_id: row for row in store.rated_calls("rr-t", "2026-03")}
    assert march["r1"].cost == D("0.0156")
    assert store.breakouts("rr-t", "2026-03-02", "2026-03-02")[0]["cost"] == D("0.0156")


def _rated_with_the_wrong_card(
    local_stack: LocalStack, tmp_path: Path, tenant: str
) -> DynamoUsageStore:
    """``tenant`` with CDRS rated at the wrong Germany price (balance 4.8602)."""
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(_card("0.0140")))
    cdrs = tmp_path / "march.csv"
    cdrs.write_text(CDRS)
    add_prepaid_tenant(state_dir, wrong, tenant=tenant, card="rr-card", currency="EUR",
                       credit="5.00")
    rate_dropped_file(local_stack, state_dir, tenant, cdrs)
    store = _store(local_stack)
    assert store.balance(tenant) == D("4.8602")
    return store


def _store(local_stack: LocalStack, client: Any = None) -> DynamoUsageStore:
    return DynamoUsageStore(
        client or local_stack.client("dynamodb"),
        UsageTables.from_env(local_stack.function_environment("RateCallFunction")),
    )


def _fixed(tenant: str, day_to: int) -> RerateRequest:
    """The fixed card (0.0120) over 1 March to ``day_to`` March: each range its own run."""
    return RerateRequest(
        tenant, date(2026, 3, 1), date(2026, 3, day_to),
        compile_card(load_card(_card("0.0120"))), "fixed-hash", NumberingPlan(),
    )


class _DiesBeforeTheCallUpdate:
    """A DynamoDB client whose first UpdateItem on RatedCallsTable never happens: the
    process dies after a re-rate's ledger transaction, before the call moves."""

    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table, self.died = client, table, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_item(self, **request: Any) -> Any:
        if request["TableName"] == self.table and not self.died:
            self.died = True
            raise RuntimeError("killed between the ledger commit and the call update")
        return self.client.update_item(**request)


def _rerate_entries(store: DynamoUsageStore, tenant: str) -> dict[str, Decimal]:
    return {e.entry_id: e.amount for e in store.ledger_entries(tenant) if e.kind == "rerate"}


def test_a_crashed_rerate_is_not_adjusted_again_by_an_overlapping_range(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    # Given March re-rated with the fixed card, killed after r1's ledger entry and balance
    # but before r1's cost moved
    store = _rated_with_the_wrong_card(local_stack, tmp_path, "rr-crash")
    dying = _DiesBeforeTheCallUpdate(local_stack.client("dynamodb"), store.tables.rated_calls)
    with pytest.raises(RuntimeError, match="killed"):
        rerate(_fixed("rr-crash", 31), store, _store(local_stack, dying))
    assert store.balance("rr-crash") == D("4.8628")  # 4.8602 + 0.0026
    # When 1-20 March (another run id) is re-rated with the same card, reading r1 at 0.0182
    summary = rerate(_fixed("rr-crash", 20), store, store)
    # Then r1 collides with the crashed entry, which is finished instead of written again;
    # r2 and r3 are written; r1 moved once (0.0182 → 0.0156), breakouts included
    assert (summary.written, summary.already, summary.conflicts) == (2, 1, 0)
    assert _rerate_entries(store, "rr-crash") == {
        "rerate#r1#v0": D("0.0026"), "rerate#r2#v0": D("0.0020"), "rerate#r3#v0": D("0.0042"),
    }
    assert store.balance("rr-crash") == D("4.8690") == store.ledger_sum("rr-crash")
    march = {row.call_id: row.cost for row in store.rated_calls("rr-crash", "2026-03")}
    assert (march["r1"], march["r2"], march["r3"]) == (D("0.0156"), D("0.0120"), D("0.0252"))
    assert store.breakouts("rr-crash", "2026-03-02", "2026-03-02")[0]["cost"] == D("0.0156")
    # and the whole month again writes nothing
    assert rerate(_fixed("rr-crash", 31), store, store).written == 0


class _ReadTogether:
    """Both runs read their calls before either writes (a barrier after the read)."""

    def __init__(self, store: DynamoUsageStore, barrier: threading.Barrier) -> None:
        self.store, self.barrier = store, barrier

    def period_call_detail(self, tenant: str, period: str) -> list[dict[str, Any]]:
        rows = self.store.period_call_detail(tenant, period)
        self.barrier.wait(timeout=30)
        return rows


def test_two_concurrent_overlapping_rerates_move_each_call_once(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    # Given two re-rates of the same card over overlapping ranges (1-31 and 1-15 March),
    # run in two threads that both read the calls at the wrong costs before writing
    store = _rated_with_the_wrong_card(local_stack, tmp_path, "rr-race")
    barrier = threading.Barrier(2)
    summaries: dict[int, Any] = {}

    def run(day_to: int) -> None:
        own = _store(local_stack)
        summaries[day_to] = rerate(_fixed("rr-race", day_to), _ReadTogether(own, barrier), own)

    threads = [threading.Thread(target=run, args=(day,)) for day in (31, 15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Then each of the three calls has one entry, written by one run and found by the other
    # where they overlap; the balance moved once (+0.0088) and is the ledger's sum
    assert set(summaries) == {31, 15}
    done = [(s.written, s.already, s.conflicts) for s in summaries.values()]
    assert sum(w for w, _, _ in done) == 3 and sum(c for _, _, c in done) == 0
    assert sum(a for _, a, _ in done) == 2  # r3 (20 March) is only in the longer range
    assert sorted(_rerate_entries(store, "rr-race")) == [
        "rerate#r1#v0", "rerate#r2#v0", "rerate#r3#v0"
    ]
    assert store.balance("rr-race") == D("4.8690") == store.ledger_sum("rr-race")
    march = {row.call_id: row.cost for row in store.rated_calls("rr-race", "2026-03")}
    assert (march["r1"], march["r2"], march["r3"]) == (D("0.0156"), D("0.0120"), D("0.0252"))
    assert store.breakouts("rr-race", "2026-03-02", "2026-03-02")[0]["cost"] == D("0.0156")


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
