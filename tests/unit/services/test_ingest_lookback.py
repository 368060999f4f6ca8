"""A postpaid call older than the invoices' late-call lookback is still charged, but logged
and counted as ``CallsBeyondInvoiceLookback`` (no invoice will look for it), never silent.

Clock: 2026-10-26 (``NOW_MS``), so the current period is 2026-10 and, with the default
lookback of 12 months, the oldest period a late call can still be invoiced for is 2025-10.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import shared.services.ingest as ingest
from shared.domain.tenants import BillingMode
from shared.services.ingest import BEYOND_LOOKBACK_METRIC, IngestOptions, ingest_file
from tests.unit.services.test_ingest import HEADER, OPTIONS, World


class Recorded:
    def __init__(self) -> None:
        self.metrics: list[tuple[str, Any]] = []

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.metrics.append((name, value))


def call(call_id: str, day: str) -> str:
    # a 61 s UK call: 0.0660
    return f"{call_id},acme,442071234567,{day}T10:00:00Z,{day}T10:00:05Z,61,ANSWERED\n"


LATE_FILE = (HEADER + call("old", "2025-09-30") + call("edge", "2025-10-01")
             + call("now", "2026-10-05")).encode()


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    found = Recorded()
    monkeypatch.setattr(ingest, "metrics", found)
    return found


def postpaid_world() -> World:
    world = World()
    world.settings["acme"] = world.settings["acme"].model_copy(
        update={"mode": BillingMode.POSTPAID})
    return world


def test_a_postpaid_call_older_than_the_lookback_is_charged_and_counted(
    recorded: Recorded,
) -> None:
    # Given a postpaid tenant and a file with calls of 2025-09 (13 months back), 2025-10
    # (12 months back, the oldest invoiced) and 2026-10
    world = postpaid_world()
    file = world.drop("tenants/acme/late.csv", LATE_FILE)

    # When it is rated
    result = ingest_file(file, world.deps(), OPTIONS)

    # Then all three are charged (3 × 0.0660), and the September call alone is counted
    assert result.summary.rated == 3
    assert world.store.balance("acme") == Decimal("-0.1980")
    assert recorded.metrics == [(BEYOND_LOOKBACK_METRIC, 1)]


def test_a_shorter_lookback_counts_more_and_a_prepaid_tenant_counts_none(
    recorded: Recorded,
) -> None:
    # Given a lookback of 3 months: 2025-09 and 2025-10 are both beyond it (oldest 2026-07)
    world = postpaid_world()
    options = IngestOptions(chunk_bytes=OPTIONS.chunk_bytes, late_lookback_periods=3)
    ingest_file(world.drop("tenants/acme/late.csv", LATE_FILE), world.deps(), options)
    assert recorded.metrics == [(BEYOND_LOOKBACK_METRIC, 2)]

    # and a prepaid tenant's wallet paid its calls already: no invoice needed, nothing counted
    recorded.metrics.clear()
    prepaid = World()
    ingest_file(prepaid.drop("tenants/acme/late.csv", LATE_FILE), prepaid.deps(), options)
    assert recorded.metrics == []


def test_the_lookback_is_one_setting_for_both_functions_default_a_year() -> None:
    from shared.config import InvoiceCycleSettings, RateCallSettings
    from shared.wiring import ingest_options

    rate_tables = {f"{name}_TABLE": name.lower() for name in (
        "TENANTS", "RATE_CARDS", "RATED_CALLS", "LEDGER", "BALANCES", "BREAKOUTS", "FILES")}
    cycle = {f"{name}_TABLE": name.lower() for name in (
        "INVOICES", "TENANTS", "RATED_CALLS", "LEDGER", "BALANCES", "PAYMENTS")}
    cycle["INVOICE_BUCKET"] = "cdrs"

    # default: 12 months, as the catch-up of missed months (MAX_CATCH_UP_PERIODS)
    assert RateCallSettings.model_validate(rate_tables).late_lookback_periods == 12
    assert InvoiceCycleSettings.model_validate(cycle).late_lookback_periods == 12
    # LATE_LOOKBACK_PERIODS sets both; rate_call's ingest options carry it
    rate = RateCallSettings.model_validate({**rate_tables, "LATE_LOOKBACK_PERIODS": "6"})
    assert ingest_options(rate).late_lookback_periods == 6
    assert InvoiceCycleSettings.model_validate(
        {**cycle, "LATE_LOOKBACK_PERIODS": "6"}).late_lookback_periods == 6
    with pytest.raises(ValueError):
        InvoiceCycleSettings.model_validate({**cycle, "LATE_LOOKBACK_PERIODS": "-1"})
