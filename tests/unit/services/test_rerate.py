"""Re-rating a period after a card fix: exact adjustments, idempotent runs, ledger = balance.

The fake ledger enforces DynamoUsageStore.apply_rerate's conditions: the entry
``rerate#<call>#v<k>`` must not exist (a collision first finishes the entry found, then is
``already`` for the same move or ``retry`` for another), the balance moves with the entry,
and the call's cost changes only from the old one at the entry's version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from shared.cli.rerate_command import summary_lines
from shared.domain.errors import ValidationError
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import compile_card
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.rerate import (
    RerateChange,
    breakout_moves,
    change_of_entry,
    entry_fields,
    periods_between,
    rerate_run_id,
)
from shared.domain.usage import BreakoutDelta
from shared.services.rerate import Applied, RerateRequest, rerate
from tests.unit.builders import card, ms, rate

D = Decimal


@dataclass
class FakeRerateStore:
    """Rated calls of a tenant by period, the ledger and the cached balance."""

    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    balance: Decimal = field(default_factory=lambda: Decimal("10"))
    crash_after_entry: bool = False

    def period_call_detail(self, tenant: str, period: str) -> list[dict[str, Any]]:
        return [
            self._detail(values)
            for values in sorted(self.calls.values(), key=lambda v: v["answer_ms"] or v["start_ms"])
            if values["tenant_period"] == f"{tenant}#{period}"
        ]

    def rated_call_detail(self, tenant: str, call_id: str) -> dict[str, Any] | None:
        found = self.calls.get(call_id)
        return None if found is None else self._detail(found)

    @staticmethod
    def _detail(values: dict[str, Any]) -> dict[str, Any]:
        return dict(values) | {"rerate_version": len(values.get("rerates", ()))}

    def apply_rerate(self, change: RerateChange) -> Applied:
        stored = self.ledger.get(change.entry_id)
        if stored is None:  # attribute_not_exists(entry_id), with the balance ADD
            self.ledger[change.entry_id] = entry_fields(change)
            self.balance += change.amount
            if self.crash_after_entry:
                self.crash_after_entry = False
                raise RuntimeError("crash between the commit and the call update")
            return Applied.WRITTEN if self._finish(change) else Applied.CONFLICT
        found = change_of_entry(stored)
        if not self._finish(found):
            return Applied.CONFLICT
        same = (found.old_cost, found.new_cost) == (change.old_cost, change.new_cost)
        return Applied.ALREADY if same else Applied.RETRY

    def _finish(self, change: RerateChange) -> bool:
        call = self.calls[change.call_id]
        applied = call.setdefault("rerates", set())
        if change.entry_id in applied:
            return True
        # the call update's condition: the old cost, at this entry's version
        if call["cost"] != change.old_cost or len(applied) != change.version:
            return False
        call.update(
            cost=change.new_cost, previous_cost=change.old_cost, rerated_by=change.entry_id
        )
        applied.add(change.entry_id)
        return True

    def ledger_sum(self) -> Decimal:
        return Decimal(10) + sum((e["amount"] for e in self.ledger.values()), Decimal(0))


@dataclass
class StaleReads:
    """The by_period index as another run read it before this one wrote (GSI reads are
    eventually consistent, and two runs started together see the same costs)."""

    rows: dict[str, list[dict[str, Any]]]

    def period_call_detail(self, tenant: str, period: str) -> list[dict[str, Any]]:
        return [dict(values) for values in self.rows.get(period, [])]


WRONG = card(
    rate("49", "0.0140", initial=60, increment=6, destination="Germany"),
    rate("44", "0.0300", initial=60, increment=60, destination="United Kingdom"),
)
FIXED = card(
    rate("49", "0.0120", initial=60, increment=6, destination="Germany"),
    rate("44", "0.0300", initial=60, increment=60, destination="United Kingdom"),
)


def _stored(call_id: str, callee: str, answer: str, talk_s: int, cost: str) -> dict[str, Any]:
    answer_ms = ms(answer)
    return {
        "tenant": "acme",
        "call_id": call_id,
        "service": "voice",
        "direction": "out",
        "callee": callee,
        "start_ms": answer_ms - 5000,
        "answer_ms": answer_ms,
        "end_ms": answer_ms + talk_s * 1000,
        "talk_ms": talk_s * 1000,
        "quantity": 0,
        "cost": D(cost),
        "destination": "Germany" if callee.startswith("49") else "United Kingdom",
        "tenant_period": f"acme#{answer[:7]}",
    }


def _store() -> FakeRerateStore:
    # costs as the wrong card charged them (0.0140/min, 60/6 on 49; 0.0300/min 60/60 on 44)
    calls = [
        # 75 s → 60 + 3 × 6 = 78 s × 0.0140 / 60 = 0.0182
        _stored("g1", "4930111", "2026-03-02T10:00:00Z", 75, "0.0182"),
        # 30 s → the 60 s minimum: 0.0140
        _stored("g2", "4930222", "2026-03-10T10:00:00Z", 30, "0.0140"),
        # 121 s → 60 + 11 × 6 = 126 s × 0.0140 / 60 = 0.0294
        _stored("g3", "4930333", "2026-03-31T23:00:00Z", 121, "0.0294"),
        # 90 s → 120 s × 0.0300 / 60 = 0.0600: unchanged by the fix
        _stored("u1", "442071234567", "2026-03-15T10:00:00Z", 90, "0.0600"),
        # outside the range (April): never considered
        _stored("g4", "4930444", "2026-04-01T10:00:00Z", 75, "0.0182"),
    ]
    return FakeRerateStore(calls={values["call_id"]: values for values in calls})


def _request(dry_run: bool = False) -> RerateRequest:
    return RerateRequest(
        tenant="acme",
        day_from=date(2026, 3, 1),
        day_to=date(2026, 3, 31),
        card=compile_card(load_card(FIXED)),
        card_hash="fixed-card-hash",
        plan=NumberingPlan(),
        dry_run=dry_run,
    )


def test_a_rate_fix_on_one_destination_changes_its_calls_by_exact_amounts() -> None:
    store = _store()
    summary = rerate(_request(), store, store)
    # at 0.0120: g1 78 s → 0.0156 (−0.0026), g2 60 s → 0.0120 (−0.0020),
    # g3 126 s → 0.0252 (−0.0042); total −0.0088; u1 unchanged; g4 is April
    assert (summary.considered, summary.changed, summary.unchanged) == (4, 3, 1)
    assert (summary.written, summary.already, summary.conflicts) == (3, 0, 0)
    assert summary.total_difference == D("-0.0088")
    assert summary.by_destination == {"Germany": D("-0.0088")}
    run = rerate_run_id("acme", date(2026, 3, 1), date(2026, 3, 31), "fixed-card-hash")
    amounts = {entry_id: entry["amount"] for entry_id, entry in store.ledger.items()}
    # the ledger's sign: usage is negative, so a cheaper call gives money back (old − new);
    # each call's first re-rate is its version 0
    assert amounts == {
        "rerate#g1#v0": D("0.0026"),
        "rerate#g2#v0": D("0.0020"),
        "rerate#g3#v0": D("0.0042"),
    }
    assert {e["run_id"] for e in store.ledger.values()} == {run}
    assert store.balance == D("10.0088")
    assert {e["period"] for e in store.ledger.values()} == {"2026-03"}
    g1 = store.calls["g1"]
    assert (g1["cost"], g1["previous_cost"], g1["rerated_by"]) == (
        D("0.0156"), D("0.0182"), "rerate#g1#v0"
    )
    assert store.calls["g4"]["cost"] == D("0.0182")
    receipt = json.loads(store.ledger["rerate#g1#v0"]["receipt"])
    assert (receipt["cost"], receipt["billed_s"], receipt["prefix"]) == ("0.0156", "78.000", "49")


def test_running_the_same_rerate_twice_changes_nothing() -> None:
    store = _store()
    rerate(_request(), store, store)
    ledger, balance = dict(store.ledger), store.balance
    again = rerate(_request(), store, store)
    # every call now costs what the fixed card says: nothing to adjust
    assert (again.changed, again.written, again.unchanged) == (0, 0, 4)
    assert again.total_difference == D(0)
    assert (store.ledger, store.balance) == (ledger, balance)


def test_a_crash_between_the_entry_and_the_call_is_finished_by_the_same_run() -> None:
    store = _store()
    store.crash_after_entry = True
    with pytest.raises(RuntimeError):
        rerate(_request(), store, store)
    # g1's entry and balance are in, its call still has the old cost
    assert store.calls["g1"]["cost"] == D("0.0182")
    summary = rerate(_request(), store, store)
    assert (summary.written, summary.already) == (2, 1)
    assert store.calls["g1"]["cost"] == D("0.0156")
    assert store.balance == D("10.0088")  # the balance moved once per call


def test_fixing_reverting_and_fixing_again_moves_each_call_once_per_change() -> None:
    # Given the fix applied (balance 10.0088), then reverted with the wrong card (another
    # run: its entries, each call's version 1, take 0.0088 back)
    store = _store()
    rerate(_request(), store, store)
    revert = RerateRequest(
        "acme", date(2026, 3, 1), date(2026, 3, 31), compile_card(load_card(WRONG)), "wrong",
        NumberingPlan(),
    )
    assert rerate(revert, store, store).written == 3
    assert store.balance == D("10.0000")
    # When the first fix is run again
    again = rerate(_request(), store, store)
    # Then it is a third move of each call (version 2), written once: the balance and the
    # costs follow the card, the balance is the ledger's sum
    assert (again.written, again.already, again.conflicts) == (3, 0, 0)
    assert store.balance == D("10.0088") == store.ledger_sum()
    assert store.calls["g1"]["cost"] == D("0.0156")
    assert sorted(k for k in store.ledger if k.startswith("rerate#g1#")) == [
        "rerate#g1#v0", "rerate#g1#v1", "rerate#g1#v2"
    ]
    assert rerate(_request(), store, store).written == 0


def _first_half() -> RerateRequest:
    # the same fixed card over 1-15 March: another run id, overlapping the whole month's
    return RerateRequest(
        "acme", date(2026, 3, 1), date(2026, 3, 15), compile_card(load_card(FIXED)),
        "fixed-card-hash", NumberingPlan(),
    )


def test_a_crashed_run_is_not_adjusted_again_by_an_overlapping_range() -> None:
    # Given March re-rated with the fixed card, dying after g1's ledger entry and balance
    # but before g1's cost is updated
    store = _store()
    store.crash_after_entry = True
    with pytest.raises(RuntimeError):
        rerate(_request(), store, store)
    assert (store.calls["g1"]["cost"], store.balance) == (D("0.0182"), D("10.0026"))
    # When another range (1-15 March, so another run id) re-rates with the same card and
    # still reads g1 at its old cost
    summary = rerate(_first_half(), store, store)
    # Then g1 collides with the crashed entry (its version 0), which is finished, not
    # written again; g2 is written; g3 (31 March) is outside this range
    assert (summary.written, summary.already, summary.conflicts) == (1, 1, 0)
    assert sorted(store.ledger) == ["rerate#g1#v0", "rerate#g2#v0"]
    # g1 moved once: 0.0182 → 0.0156 (+0.0026), g2 0.0140 → 0.0120 (+0.0020)
    assert store.calls["g1"]["cost"] == D("0.0156")
    assert store.balance == D("10.0046") == store.ledger_sum()


def test_two_overlapping_runs_that_read_the_same_costs_move_each_call_once() -> None:
    # Given two re-rates with the fixed card started together: both read March's calls at
    # the wrong card's costs before either wrote
    store = _store()
    stale = StaleReads({"2026-03": store.period_call_detail("acme", "2026-03")})
    first = rerate(_request(), store, store)
    # When the second (1-15 March, another run id) writes from what it read
    second = rerate(_first_half(), stale, store)
    # Then its g1 and g2 collide with the first run's versions 0: nothing written twice
    assert (first.written, second.written, second.already) == (3, 0, 2)
    assert len(store.ledger) == 3
    assert store.balance == D("10.0088") == store.ledger_sum()


def test_a_run_that_collides_with_another_card_re_rates_from_that_cost() -> None:
    # Given March re-rated with a card at 0.0100 that died after g1's entry (0.0182 → 78 s
    # at 0.0100 = 0.0130) and before g1's call update
    store = _store()
    cheap = card(
        rate("49", "0.0100", initial=60, increment=6, destination="Germany"),
        rate("44", "0.0300", initial=60, increment=60, destination="United Kingdom"),
    )
    request = RerateRequest(
        "acme", date(2026, 3, 1), date(2026, 3, 31), compile_card(load_card(cheap)), "cheap",
        NumberingPlan(),
    )
    store.crash_after_entry = True
    with pytest.raises(RuntimeError):
        rerate(request, store, store)
    # When the fixed card (0.0120) re-rates March from the old costs it read
    summary = rerate(_request(), store, store)
    # Then the crashed move is finished (0.0182 → 0.0130) and g1 re-rated from there
    # (0.0130 → 0.0156, version 1); the balance is the ledger's sum, g1 at the fixed price
    assert store.ledger["rerate#g1#v0"]["new_cost"] == D("0.0130")
    assert store.ledger["rerate#g1#v1"]["amount"] == D("-0.0026")
    assert store.calls["g1"]["cost"] == D("0.0156")
    assert (summary.written, summary.conflicts) == (3, 0)
    assert store.balance == D("10.0088") == store.ledger_sum()


def test_a_dry_run_writes_nothing() -> None:
    store = _store()
    summary = rerate(_request(dry_run=True), store, store)
    assert (summary.changed, summary.written) == (3, 0)
    assert summary.total_difference == D("-0.0088")
    assert (store.ledger, store.balance) == ({}, D("10"))


def test_calls_the_fixed_card_cannot_rate_are_counted_and_left_alone() -> None:
    store = _store()
    only_uk = card(rate("44", "0.0300", initial=60, increment=60, destination="United Kingdom"))
    request = RerateRequest(
        "acme", date(2026, 3, 1), date(2026, 3, 31), compile_card(load_card(only_uk)), "h",
        NumberingPlan(),
    )
    summary = rerate(request, store, store)
    assert summary.failed == {"no_rate": 3}
    assert (summary.unchanged, summary.changed, store.ledger) == (1, 0, {})


def test_periods_of_a_range_and_bad_ranges() -> None:
    assert periods_between(date(2026, 11, 30), date(2027, 2, 1)) == [
        "2026-11", "2026-12", "2027-01", "2027-02"
    ]
    with pytest.raises(ValidationError, match="before"):
        periods_between(date(2026, 3, 2), date(2026, 3, 1))


def test_the_run_id_depends_on_tenant_range_and_card_content() -> None:
    base = rerate_run_id("acme", date(2026, 3, 1), date(2026, 3, 31), "h1")
    assert base == rerate_run_id("acme", date(2026, 3, 1), date(2026, 3, 31), "h1")
    assert base != rerate_run_id("acme", date(2026, 3, 1), date(2026, 3, 31), "h2")
    assert base != rerate_run_id("acme", date(2026, 3, 1), date(2026, 3, 30), "h1")
    assert base != rerate_run_id("beta", date(2026, 3, 1), date(2026, 3, 31), "h1")


def test_a_message_is_rerated_on_its_stored_segment_count() -> None:
    # Given an SMS of 2 segments charged 2 × 0.0079 = 0.0158 (its encoding is not stored)
    answer = ms("2026-03-05T10:00:00Z")
    sms = {
        "tenant": "acme", "call_id": "m1", "service": "sms", "direction": "out",
        "callee": "4930111", "start_ms": answer, "answer_ms": None, "end_ms": None,
        "talk_ms": 0, "quantity": 2, "cost": D("0.0158"), "destination": "SMS",
        "tenant_period": "acme#2026-03",
    }
    store = FakeRerateStore(calls={"m1": sms})
    fixed = card(rate("", "0.0080", service="sms", destination="SMS"))
    request = RerateRequest(
        "acme", date(2026, 3, 1), date(2026, 3, 31), compile_card(load_card(fixed)), "h",
        NumberingPlan(),
    )
    # When re-rated at 0.0080 a segment: 2 × 0.0080 = 0.0160, 0.0002 more
    summary = rerate(request, store, store)
    assert (summary.changed, summary.total_difference) == (1, D("0.0002"))
    assert store.balance == D("9.9998")  # the ledger's sign: a rise is a debit


def _change(old_destination: str, destination: str) -> RerateChange:
    return RerateChange(
        tenant="acme", call_id="g1", entry_id="rerate#g1#v0", run_id="r", period="2026-03",
        currency="USD", old_cost=D("0.0182"), new_cost=D("0.0650"),
        old_destination=old_destination, destination=destination, prefix="4915", band="",
        card="fixed", billed_ms=60_000, receipt="{}", day="2026-03-02", old_billed_ms=78_000,
        old_prefix="49",
    )


def test_breakouts_follow_a_rerated_call() -> None:
    # the same destination: only billed time (60 − 78 s) and cost (0.0650 − 0.0182) move
    same = breakout_moves(_change("Germany", "Germany"))
    assert same == {("2026-03-02", "Germany"): BreakoutDelta(0, 0, -18_000, D("0.0468"))}
    # a fix that moves the call to a new prefix: it leaves one row and joins the other
    moved = breakout_moves(_change("Germany", "Germany mobile"))
    assert moved == {
        ("2026-03-02", "Germany"): BreakoutDelta(-1, -1, -78_000, D("-0.0182")),
        ("2026-03-02", "Germany mobile"): BreakoutDelta(1, 1, 60_000, D("0.0650")),
    }


def test_the_text_summary_names_counts_and_differences() -> None:
    store = _store()
    summary = rerate(_request(), store, store)
    lines = summary_lines(summary)
    assert lines[1] == "calls 4: changed 3, unchanged 1"
    assert lines[2] == "wrote 3 adjustments (0 already there, 0 conflicts)"
    assert lines[3] == "total difference -0.0088 USD (new - old)"
    assert lines[4] == "  Germany: 3 calls, -0.0088"
