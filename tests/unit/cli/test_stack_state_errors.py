"""A state file that is not what `billing local up` writes is one line and exit 2 for every
command that reads it, never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.conftest import Billing

BROKEN_STATES = {
    "a JSON list": "[]",
    "no functions": '{"endpoint": "http://127.0.0.1:9", "region": "eu-west-1"}',
    "no region": '{"endpoint": "http://127.0.0.1:9", "functions": {"RateCallFunction": '
    '{"environment": {}}}, "resources": {"CdrBucket": {"ref": "b"}}}',
    "not JSON": "{",
}

COMMANDS = [
    ["balance", "--tenant", "acme"],
    ["topup", "--tenant", "acme", "--amount", "20.00"],
    ["invoices"],
]


@pytest.fixture(autouse=True)
def _no_stripe_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")


@pytest.mark.parametrize("state", BROKEN_STATES.values(), ids=BROKEN_STATES.keys())
@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_a_broken_state_file_is_one_line_and_exit_2(
    billing: Billing, tmp_path: Path, argv: list[str], state: str
) -> None:
    (tmp_path / "state.json").write_text(state)

    run = billing(*argv, "--state-dir", tmp_path)

    assert (run.code, run.err.count("\n"), run.out) == (2, 1, "")
    assert "state" in run.err
    assert "internal error" not in run.err
