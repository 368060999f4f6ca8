"""`billing balance`, `billing breakout` and `billing local load-card | add-tenant | drop`
against a running local stack, found through its state file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.cli.main import main
from shared.local.stack import LocalStack
from tests.integration.stack_helpers import (
    add_prepaid_tenant,
    last_json,
    rate_dropped_file,
    state_dir_for,
)

pytestmark = pytest.mark.integration


def test_a_tenant_set_up_and_rated_through_the_cli(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    card = tmp_path / "cli-card.json"
    card.write_text(
        json.dumps(
            {
                "card": "cli-card",
                "currency": "EUR",
                "rates": [
                    # 60/60 at 0.1200/min: a 61 s call bills 2 minutes = 0.2400
                    {
                        "prefix": "49",
                        "destination": "Germany",
                        "tiers": [{"price": "0.1200", "initial": 60, "increment": 60}],
                    }
                ],
            }
        )
    )
    cdrs = tmp_path / "day.csv"
    cdrs.write_text(
        "call_id,callee,start_time,answer_time,billsec\n"
        "k1,4930123456,2026-10-05T10:00:00Z,2026-10-05T10:00:04Z,61\n"
        "k2,4930123456,2026-10-05T11:00:00Z,,0\n"
    )
    flags = ["--state-dir", str(state_dir)]
    # Given a card and a prepaid tenant with 1.00 EUR loaded through the CLI
    add_prepaid_tenant(state_dir, card, tenant="cli-t", card="cli-card", currency="EUR",
                       credit="1.00")
    # When a file is dropped and the queue delivered to rate_call
    rate_dropped_file(local_stack, state_dir, "cli-t", cdrs)
    capsys.readouterr()
    # Then the balance is 1.00 - 0.2400 = 0.7600, equal to the ledger, and calls are allowed
    assert main(["balance", "--tenant", "cli-t", "--json", *flags]) == 0
    balance = last_json(capsys)
    assert (balance["balance"], balance["ledger_sum"]) == ("0.7600", "0.7600")
    assert balance["outbound_allowed"] and balance["consistent"]
    # and the breakout shows 2 attempts, 1 answered, 120 s billed, 0.2400 for Germany
    assert main(["breakout", "--tenant", "cli-t", "--json", *flags]) == 0
    rows = last_json(capsys)
    assert [
        (r["day"], r["destination"], r["attempts"], r["answered"], r["billed_ms"], r["cost"])
        for r in rows
    ] == [("2026-10-05", "Germany", 2, 1, 120_000, "0.2400")]
    assert Decimal(balance["balance"]) == Decimal("1.00") - Decimal("0.2400")


def test_commands_without_a_running_stack_say_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["balance", "--tenant", "x", "--state-dir", str(tmp_path)]) == 2
    assert "billing local up" in capsys.readouterr().err
