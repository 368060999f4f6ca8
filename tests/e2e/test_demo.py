"""The demo flow end to end on the local stack: what `make demo` shows must hold."""

from __future__ import annotations

import re

import pytest

from shared.cli.main import main

pytestmark = pytest.mark.e2e


def test_the_demo_rates_every_tenant_consistently(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--rows", "1500"]) == 0
    out = capsys.readouterr().out
    # every tenant's balance equals its ledger sum
    balances = re.findall(r"^== .*\(ledger sum .*?, (equal|MISMATCH)\)$", out, re.M)
    assert balances == ["equal", "equal", "equal"]
    # the re-sent prepaid file charged nothing: all 1,500 rows duplicates
    assert re.search(r"cdrs-resent\.csv\s+rows\s+1500\s+rated\s+0 .*duplicates\s+1500", out)
    # the mixed file: one rated, the other tenant's row and the bad row rejected with reasons
    assert "wrong_tenant" in out and "malformed" in out
    # nothing stuck: every message handled, none in the dead-letter queue
    assert re.search(r"\(0 failed\)", out)
    assert "dead-letter queue: 0 messages" in out
