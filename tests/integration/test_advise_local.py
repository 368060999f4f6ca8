"""`billing advise --tenant` on the local stack: the tenant's charged calls at the cost they
were rated with, against channels from their start and end times (hand-computed)."""

from __future__ import annotations

import json
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

CARD = {
    "card": "adv-local",
    "currency": "USD",
    "rates": [
        {"prefix": "49", "destination": "Germany",
         "tiers": [{"price": "0.0120", "initial": 60, "increment": 60}]},
        {"prefix": "", "destination": "Local in", "direction": "in",
         "tiers": [{"price": "0.0060", "initial": 60, "increment": 60}]},
    ],
}
CDRS = (
    "call_id,direction,callee,start_time,answer_time,end_time,billsec\n"
    # outbound o1 [10:00:00, 10:02:05) and o2 [10:01:00, 10:03:00); o3 rang only (it is not
    # stored per call, so it holds no channel here); inbound i1 [10:02:00, 10:04:02) and
    # i2 [10:05:00, 10:06:01); one call in April
    "o1,out,4930111,2026-03-02T10:00:00Z,2026-03-02T10:00:05Z,,120\n"
    "o2,out,4930222,2026-03-02T10:01:00Z,2026-03-02T10:01:10Z,,110\n"
    "o3,out,4930333,2026-03-02T10:02:05Z,,2026-03-02T10:02:30Z,0\n"
    "i1,in,4930999000,2026-03-02T10:02:00Z,2026-03-02T10:02:02Z,,120\n"
    "i2,in,4930999000,2026-03-02T10:05:00Z,2026-03-02T10:05:01Z,,60\n"
    "p1,out,4930444,2026-04-02T10:00:00Z,2026-04-02T10:00:05Z,,30\n"
)


def test_advise_on_the_local_stack(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = state_dir_for(local_stack, tmp_path / "state")
    flags = ["--state-dir", str(state_dir)]
    card, cdrs = tmp_path / "adv-local.json", tmp_path / "traffic.csv"
    card.write_text(json.dumps(CARD))
    cdrs.write_text(CDRS)
    add_prepaid_tenant(state_dir, card, tenant="adv-t", card="adv-local", currency="USD",
                       credit="5.00")
    rate_dropped_file(local_stack, state_dir, "adv-t", cdrs)
    capsys.readouterr()
    # When March is advised with 0.02 / 0.01 / 0.025 a channel
    assert main(["advise", "--tenant", "adv-t", "--from", "2026-03-01", "--to", "2026-03-31",
                 "--outbound-price", "0.02", "--inbound-price", "0.01", "--two-way-price",
                 "0.025", "--json", *flags]) == 0
    advice = last_json(capsys)
    # Then: rated 0.0240 + 0.0240 + 0.0120 + 0.0060 = 0.0660 per minute; peaks out 2, in 1,
    # together 3 (10:02:00-10:02:05: o1, o2, i1); dedicated 0.05 < two-way 0.075;
    # per channel cheaper by 0.0160. April's call is outside the range
    (month,) = advice["months"]
    assert (month["month"], month["calls"]) == ("2026-03", 4)
    assert (month["peak_outbound"], month["peak_inbound"], month["peak_two_way"]) == (2, 1, 3)
    assert (advice["per_minute"], advice["per_channel"]) == ("0.0660", "0.05")
    assert (advice["cheaper"], advice["difference"]) == ("per-channel", "0.0160")
    # and without a source the command says what it needs, in one line
    assert main(["advise", "--two-way-price", "1", *flags]) == 2
    assert capsys.readouterr().err.strip() == (
        "billing: error: advise needs --cdrs and --card, or --tenant --from --to (local stack)"
    )
