"""`billing cards` / `billing topup` refuse cleanly, in one line, before touching anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.conftest import Billing


@pytest.fixture(autouse=True)
def _no_stripe_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)


def _state(tmp_path: Path, stripe: dict[str, object] | None = None) -> Path:
    state = {"pid": 0, "endpoint": "http://127.0.0.1:9", "region": "eu-west-1",
             "functions": {}, **({"stripe": stripe} if stripe is not None else {})}
    (tmp_path / "state.json").write_text(json.dumps(state))
    return tmp_path


@pytest.mark.parametrize("argv", [
    ["cards", "list", "--tenant", "acme"],
    ["cards", "add", "--tenant", "acme"],
    ["cards", "default", "--tenant", "acme", "pm_1"],
    ["cards", "remove", "--tenant", "acme", "pm_1"],
    ["topup", "--tenant", "acme", "--amount", "20.00"],
])
def test_without_a_fake_stripe_every_command_says_so_in_one_line(
    billing: Billing, tmp_path: Path, argv: list[str]
) -> None:
    run = billing(*argv, "--state-dir", _state(tmp_path, {"webhook_url": "x", "api_base": None}))

    assert run.code == 2
    assert run.err.count("\n") == 1
    assert run.err.startswith("billing: error: no fake Stripe is configured: set STRIPE_API_BASE")
    assert run.out == ""


def test_without_a_local_stack_the_command_says_how_to_start_one(
    billing: Billing, tmp_path: Path
) -> None:
    run = billing("cards", "list", "--tenant", "acme", "--state-dir", tmp_path / "none")

    assert (run.code, run.err.count("\n")) == (2, 1)
    assert "`billing local up`" in run.err


@pytest.mark.parametrize("amount", ["lots", "-5", "0", "NaN"])
def test_a_bad_amount_is_one_line_and_exit_2(billing: Billing, tmp_path: Path, amount: str) -> None:
    run = billing("topup", "--tenant", "acme", "--amount", amount, "--state-dir", _state(tmp_path))

    assert (run.code, run.err.count("\n")) == (2, 1)
    assert "--amount" in run.err
