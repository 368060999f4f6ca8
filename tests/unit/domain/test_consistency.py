"""Consistency rules: a balance against its ledger, breakout rows against their calls."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.consistency import (
    ChargedCall,
    Difference,
    LedgerFacts,
    balance_differences,
    breakout_differences,
    expected_breakouts,
)
from shared.domain.usage import BreakoutDelta, breakouts_of
from tests.unit.builders import call as make_call
from tests.unit.builders import card, compiled, ms, rate, rate_one

DAY_MS = ms("2026-10-05T10:00:00Z")


def charged(chunk: str, status: str = "rated", billed: int = 120_000, cost: str = "0.2400",
            destination: str = "Germany", start: int | None = DAY_MS) -> ChargedCall:
    return ChargedCall("acme", chunk, status, start, start, destination, "49", billed,
                       Decimal(cost), "EUR")


def test_balance_equal_to_its_ledger_is_no_difference() -> None:
    facts = LedgerFacts(Decimal("0.7600"), frozenset())
    assert balance_differences("acme", Decimal("0.76"), facts) == []
    assert balance_differences("acme", Decimal("0.8600"), facts) == [
        Difference("acme", "balance", "balance", "balance", "0.7600", "0.8600")
    ]


def test_only_calls_of_applied_chunks_count() -> None:
    # two answered calls (120 s, 0.2400 each) and one unanswered attempt in chunk f:1 (applied),
    # one call in chunk f:2 (committed, not applied yet) and one orphan: 3 attempts,
    # 2 answered, 240 s, 0.4800
    calls = [charged("f:1"), charged("f:1"), charged("f:1", "unanswered", 0, "0"),
             charged("f:2"), charged("orphan")]
    expected = expected_breakouts(calls, frozenset({"f:1"}))
    assert expected == {
        ("2026-10-05", "Germany"): BreakoutDelta(3, 2, 240_000, Decimal("0.4800"))
    }


def test_the_aggregate_is_rate_calls_own_breakout_rule() -> None:
    # a call rated by the engine and its stored form land on the same (day, destination)
    rated_card = compiled(card(rate("49", "0.12", initial=60, increment=60,
                                    destination="Germany")))
    record = make_call("4930123456", answer="2026-10-05T10:00:00Z", talk=61)
    rating = rate_one(rated_card, record)
    stored = ChargedCall("acme", "f:1", str(rating.status), record.start_ms, record.answer_ms,
                         rating.destination, rating.prefix, rating.billed_ms, rating.cost, "USD")
    assert expected_breakouts([stored], frozenset({"f:1"})) == breakouts_of([(record, rating)])


def test_every_field_that_differs_is_named() -> None:
    key = ("2026-10-05", "Germany")
    expected = {key: BreakoutDelta(3, 2, 240_000, Decimal("0.4800"))}
    tampered = {key: BreakoutDelta(3, 2, 240_000, Decimal("0.9900")),
                ("2026-10-06", "France"): BreakoutDelta(1, 0, 0, Decimal(0)),
                ("2026-08-01", "Spain"): BreakoutDelta(9, 9, 9, Decimal(9))}  # before the window
    found = breakout_differences("acme", tampered, expected, "2026-09-01")
    assert found == [
        Difference("acme", "breakout", "2026-10-05#Germany", "cost", "0.4800", "0.9900"),
        Difference("acme", "breakout", "2026-10-06#France", "attempts", "0", "1"),
    ]
