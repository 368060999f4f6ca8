"""billing reconcile --ours local:<tenant>:<YYYY-MM>: our rated calls as the pipeline stored
them on the local stack, against a switch file with calls we never received."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.cli.main import main
from shared.local.stack import LocalStack
from tests.integration.stack_helpers import add_prepaid_tenant, rate_dropped_file, state_dir_for
from tests.support.reconcile_data import PRICES, card, make_calls, write_asterisk, write_native

pytestmark = pytest.mark.integration


def test_our_stored_calls_reconcile_against_a_switch_file(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    flags = ["--state-dir", str(state_dir)]
    day = [c for c in make_calls() if c.start.strftime("%Y-%m-%d") == "2026-03-04"]
    dropped = [c for c in day if c.start.hour == 14]
    answered_dropped = [c for c in dropped if c.talk_s]
    assert answered_dropped  # the seed puts answered calls in that hour
    # Given acme's card on the stack and our file rated by the pipeline without the 14:00 calls
    card_file = card(tmp_path / "ours-usd.json")
    add_prepaid_tenant(state_dir, card_file, tenant="acme", card="ours-usd", currency="USD",
                       credit="1000.00")
    ours = write_native(tmp_path / "ours.csv", [c for c in day if c not in dropped])
    rate_dropped_file(local_stack, state_dir, "acme", ours)
    theirs = write_asterisk(tmp_path / "theirs.csv", day)
    capsys.readouterr()
    # When reconciled against the stored calls of March
    out = tmp_path / "out"
    code = main(
        [
            "reconcile",
            "--ours",
            "local:acme:2026-03",
            "--theirs",
            str(theirs),
            "--card",
            str(card_file),
            "--out-dir",
            str(out),
            *flags,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # Then only answered calls are compared (the period index holds no attempts), and the
    # answered calls of 14:00 are missing from ours with their hand-computed cost
    n = len(answered_dropped)
    assert report["conclusion"] == (
        f"{n} call{'s' if n > 1 else ''} missing from ours between 14:00 and 15:00 UTC"
        " on 2026-03-04"
    )
    assert report["ours"]["calls"] == len([c for c in day if c.talk_s]) - n
    assert report["theirs"]["skipped"] == {
        "unanswered (not in the other source)": len([c for c in day if not c.talk_s])
    }
    expected = sum((c.cost(PRICES[c.prefix][1]) for c in answered_dropped), Decimal(0))
    assert Decimal(report["findings"][0]["cost_impact"]) == -expected
    assert report["largest"]["receipt_theirs"]["card"] == "ours-usd"


def test_a_period_without_rated_calls_is_one_line(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    theirs = write_native(tmp_path / "theirs.csv", make_calls()[:3])
    code = main(
        [
            "reconcile",
            "--ours",
            "local:nobody:2026-03",
            "--theirs",
            str(theirs),
            "--card",
            str(card(tmp_path / "c.json")),
            "--state-dir",
            str(state_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "billing: error: no rated calls of tenant 'nobody' in 2026-03 on the local stack"
    )
