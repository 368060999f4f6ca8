"""``billing rate`` shows a progress bar on stderr for long files, never on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.cli.conftest import Billing

CARD = {"card": "p", "currency": "USD", "rates": [{"prefix": "", "tiers": [{"price": "0.06"}]}]}


def _files(tmp_path: Path, rows: int) -> tuple[Path, Path]:
    card = tmp_path / "card.json"
    card.write_text(json.dumps(CARD))
    cdrs = tmp_path / "cdrs.csv"
    lines = [f"c{i},4930123456,2026-10-05T10:00:00Z,2026-10-05T10:00:01Z,1\n" for i in range(rows)]
    cdrs.write_text("call_id,callee,start_time,answer_time,billsec\n" + "".join(lines))
    return card, cdrs


def test_a_forced_progress_bar_goes_to_stderr_and_the_json_stays_last_on_stdout(
    billing: Billing, tmp_path: Path
) -> None:
    card, cdrs = _files(tmp_path, 20_000)
    run = billing("rate", "--card", card, "--cdrs", cdrs, "--json", "--progress", "always")
    assert run.code == 0
    assert "rating" in run.err and "B" in run.err  # tqdm's bar counts bytes read
    # 20,000 one-second calls at 0.06/min, 1 s increments: 0.001 each → 20.0000
    assert run.summary["total_cost"] == "20.0000"


def test_no_bar_when_asked_not_to(billing: Billing, tmp_path: Path) -> None:
    card, cdrs = _files(tmp_path, 10)
    run = billing("rate", "--card", card, "--cdrs", cdrs, "--json", "--progress", "never")
    assert run.code == 0 and run.err == ""
