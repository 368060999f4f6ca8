"""The consistency job with in-memory reads: differences returned, logged and counted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.consistency import ChargedCall, LedgerFacts
from shared.domain.usage import BreakoutDelta
from shared.observability import metrics
from shared.services.consistency_check import (
    METRIC,
    ConsistencyCheckFailed,
    run_consistency_check,
)
from tests.unit.builders import ms

NOW = datetime(2026, 10, 6, 3, 30, tzinfo=UTC)


@dataclass
class Reads:
    balances: dict[str, Decimal] = field(default_factory=dict)
    ledgers: dict[str, LedgerFacts] = field(default_factory=dict)
    rows: dict[str, dict[tuple[str, str], BreakoutDelta]] = field(default_factory=dict)
    calls: list[ChargedCall] = field(default_factory=list)
    #: the tenants TenantsTable lists
    listed: list[str] = field(default_factory=lambda: ["acme", "globex"])

    def tenant_ids(self) -> list[str]:
        return list(self.listed)

    def balance(self, tenant: str) -> Decimal:
        return self.balances[tenant]

    def ledger_facts(self, tenant: str) -> LedgerFacts:
        return self.ledgers.get(tenant, LedgerFacts(Decimal(0), frozenset()))

    def breakout_rows(self, tenant: str, first_day: str) -> dict[tuple[str, str], BreakoutDelta]:
        return {k: v for k, v in self.rows.get(tenant, {}).items() if k[0] >= first_day}

    def charged_calls(self, first_start_ms: int) -> Iterable[ChargedCall]:
        return [c for c in self.calls if (c.start_ms or 0) >= first_start_ms]


def world() -> Reads:
    # acme: 1.00 top-up, one 0.2400 call on 2026-10-05 → ledger 0.7600, breakout 1/1/60 s
    at = ms("2026-10-05T10:00:00Z")
    return Reads(
        balances={"acme": Decimal("0.7600"), "globex": Decimal("0")},
        ledgers={"acme": LedgerFacts(Decimal("0.7600"), frozenset({"f:1"}))},
        rows={"acme": {("2026-10-05", "Germany"): BreakoutDelta(1, 1, 60_000, Decimal("0.24"))}},
        calls=[ChargedCall("acme", "f:1", "rated", at, at, "Germany", "49", 60_000,
                           Decimal("0.2400"), "EUR")],
    )


def metric_value() -> list[float]:
    found = metrics.metric_set.get(METRIC, {})
    values: list[float] = found.get("Value", [])
    return values


def test_a_consistent_day_reports_nothing_and_counts_zero() -> None:
    metrics.clear_metrics()
    report = run_consistency_check(world(), lambda: NOW)
    assert report.consistent and report.tenants == 2
    assert metric_value() == [0.0]


def test_a_tampered_balance_and_breakout_are_both_reported() -> None:
    reads = world()
    reads.balances["acme"] = Decimal("5.00")
    reads.rows["acme"][("2026-10-05", "Germany")] = BreakoutDelta(2, 1, 60_000, Decimal("0.24"))
    metrics.clear_metrics()
    report = run_consistency_check(reads, lambda: NOW)
    assert [(d.kind, d.field, d.expected, d.found) for d in report.differences] == [
        ("balance", "balance", "0.7600", "5.00"), ("breakout", "attempts", "1", "2"),
    ]
    assert metric_value() == [2.0]
    metrics.clear_metrics()


def test_a_tenant_with_calls_but_no_settings_is_checked_too() -> None:
    reads = world()
    at = ms("2026-10-05T12:00:00Z")
    reads.calls.append(ChargedCall("ghost", "g:1", "rated", at, at, "France", "33", 1000,
                                   Decimal("1"), "EUR"))
    reads.ledgers["ghost"] = LedgerFacts(Decimal("-1"), frozenset({"g:1"}))
    reads.balances["ghost"] = Decimal("-1")
    report = run_consistency_check(reads, lambda: NOW)
    assert report.tenants == 3  # acme, globex (listed) and ghost (found by its calls)
    # ghost's call is charged and applied but no breakout row exists: 4 fields differ
    assert [(d.tenant, d.field) for d in report.differences] == [
        ("ghost", "attempts"), ("ghost", "answered"), ("ghost", "billed_ms"), ("ghost", "cost"),
    ]
    metrics.clear_metrics()


def test_an_unreadable_tenant_fails_the_job_after_the_others_are_checked() -> None:
    @dataclass
    class Flaky(Reads):
        def ledger_facts(self, tenant: str) -> LedgerFacts:
            if tenant == "acme":
                raise RuntimeError("throttled")
            return super().ledger_facts(tenant)

    reads = Flaky(**{name: getattr(world(), name) for name in ("balances", "ledgers", "rows",
                                                                "calls", "listed")})
    reads.balances["globex"] = Decimal("1")  # globex's ledger is empty: a difference
    metrics.clear_metrics()
    with pytest.raises(ConsistencyCheckFailed, match=r"acme \(RuntimeError: throttled\)"):
        run_consistency_check(reads, lambda: NOW)
    assert metric_value() == [1.0]  # globex's difference was still counted
    metrics.clear_metrics()
