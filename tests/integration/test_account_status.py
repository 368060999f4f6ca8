"""`billing status` against a running local stack: call admission with the tenant's card
stored in RateCardsTable, its wallet in BalancesTable and its status in TenantsTable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.account_store import DynamoTenantAccounts
from shared.cli.main import main
from shared.domain.tenants import AccountStatus
from shared.local.stack import LocalStack
from tests.integration.stack_helpers import add_prepaid_tenant, last_json, state_dir_for

pytestmark = pytest.mark.integration


def test_status_admission_suspension_and_emergency(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    card = tmp_path / "status-card.json"
    card.write_text(json.dumps({
        "card": "status-card", "currency": "EUR",
        "rates": [{"prefix": "49", "destination": "Germany",
                   "tiers": [{"price": "0.10", "initial": 60, "increment": 60}]}],
    }))
    flags = ["--state-dir", str(state_dir)]
    # Given a prepaid tenant with 1.00 EUR on a 0.10/min, 60/60 card (no time bands)
    add_prepaid_tenant(state_dir, card, tenant="st-t", card="status-card", currency="EUR",
                       credit="1.00")
    capsys.readouterr()

    # When asked about a German number: 10 minutes = 1.00 fit, the 11th does not → 600 s
    assert main(["status", "--tenant", "st-t", "--number", "4930123456", "--json", *flags]) == 0
    found = last_json(capsys)
    assert (found["balance"], found["inbound_allowed"], found["outbound_allowed"]) == (
        "1.00", True, True
    )
    number = found["number"]
    assert (number["allowed"], number["longest_call_seconds"], number["cost_of_longest"],
            number["limited_by"], number["destination"]) == (
        True, 600, "1.0000", "money", "Germany"
    )
    # and the human form says the same in words
    assert main(["status", "--tenant", "st-t", "--number", "4930123456", *flags]) == 0
    assert "longest call: 600 s (0:10:00)" in capsys.readouterr().out

    # When the account is suspended: inbound and outbound blocked (exit 1), 112 still allowed
    env = local_stack.function_environment("RateCallFunction")
    accounts = DynamoTenantAccounts(local_stack.client("dynamodb"), env["TENANTS_TABLE"])
    assert accounts.set_status("st-t", AccountStatus.ACTIVE, AccountStatus.SUSPENDED)
    assert main(["status", "--tenant", "st-t", "--number", "4930123456", "--json", *flags]) == 1
    blocked = last_json(capsys)
    assert (blocked["inbound_allowed"], blocked["outbound_allowed"]) == (False, False)
    assert blocked["number"]["reasons"] == ["account suspended"]
    assert main(["status", "--tenant", "st-t", "--number", "112", "--json", *flags]) == 0
    emergency = last_json(capsys)["number"]
    assert (emergency["allowed"], emergency["kind"], emergency["unlimited"]) == (
        True, "emergency", True
    )


def test_bad_input_is_one_line_and_exit_2(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    flags = ["--state-dir", str(state_dir)]
    capsys.readouterr()
    assert main(["status", "--tenant", "nobody", *flags]) == 2
    error = capsys.readouterr().err
    assert error == "billing: error: no tenant 'nobody'\n"
