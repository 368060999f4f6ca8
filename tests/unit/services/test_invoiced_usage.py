"""A postpaid invoice credits the usage it billed to the ledger, so the balance is minus the
*unbilled* usage and the credit limit (SPEC 1) bounds that, not lifetime usage; and late
calls are looked for a year back (``late_lookback_periods``), not three months.

globex: postpaid USD, zone UTC, VAT 20 % (the fakes of ``test_invoicing``). The rated
usage's ledger debits (rate_call's ``usage#<file>:<chunk>`` entries) are written into the
same fake ledger the issue credits, so ``store.wallet.balance`` is the cached balance.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from shared.domain.call_status import call_status
from shared.domain.tenants import BillingMode, TenantSettings
from shared.services.invoicing import run_invoicing
from tests.fakes.invoices import Row
from tests.unit.services.test_invoicing import World, ms

LIMIT = Decimal("10.00")


def limited(world: World, mode: BillingMode = BillingMode.POSTPAID) -> TenantSettings:
    settings = world.tenants.settings["globex"].model_copy(
        update={"credit_limit": LIMIT, "mode": mode})
    world.tenants.settings["globex"] = settings
    return settings


def rate(world: World, period: str, entry: str, *rows: Row) -> None:
    """What rate_call does: the calls stored, their total debited to the ledger."""
    world.usage.add("globex", period, *rows)
    total = sum((row.cost for row in rows), Decimal(0))
    world.store.wallet.credit("globex", f"usage#{entry}", -total, "USD")


def invoice_january_to_may(world: World, lookback: int) -> None:
    """One 1.00 call a month, January to May, each month invoiced on the 2nd of the next."""
    for month in range(1, 6):
        rate(world, f"2026-{month:02d}", f"m{month}:0",
             Row(f"m{month}", Decimal("1.00"), ms(f"2026-{month:02d}-10T10:00:00")))
        world.now = ms(f"2026-{month + 1:02d}-02T00:00:00")
        run_invoicing(dataclasses.replace(world.deps(), late_lookback_periods=lookback))


def outbound_allowed(world: World, settings: TenantSettings) -> bool:
    return call_status(settings, world.store.wallet.balance("globex"), Decimal(0)).outbound_allowed


def test_a_postpaid_tenant_over_its_limit_is_allowed_again_once_invoiced() -> None:
    # Given a postpaid tenant with a credit limit of 10.00 and 12.50 of October usage
    world = World()
    settings = limited(world)
    rate(world, "2026-10", "f1:0", Row("c1", Decimal("10.00"), ms("2026-10-05T10:00:00")),
         Row("c2", Decimal("2.50"), ms("2026-10-20T10:00:00")))
    # 12.50 unbilled > 10.00: blocked
    assert world.store.wallet.balance("globex") == Decimal("-12.50")
    assert not outbound_allowed(world, settings)

    # When October is invoiced (the schedule fires twice)
    run_invoicing(world.deps())
    run_invoicing(world.deps())

    # Then one ledger entry invoiced#INV-000001 of +12.50, balance 0: allowed again
    invoiced = {key: value for key, value in world.store.wallet.entries.items()
                if key[1].startswith("invoiced#")}
    assert invoiced == {("globex", "invoiced#INV-000001"): (Decimal("12.50"), "USD")}
    assert world.store.wallet.balance("globex") == Decimal("0")
    assert outbound_allowed(world, settings)

    # When November's usage after the invoice reaches 3.00 + 7.01 = 10.01
    rate(world, "2026-11", "f2:0", Row("n1", Decimal("3.00"), ms("2026-11-03T10:00:00")))
    assert outbound_allowed(world, settings)  # 3.00 unbilled
    rate(world, "2026-11", "f3:0", Row("n2", Decimal("7.01"), ms("2026-11-04T10:00:00")))

    # Then it counts again: 10.01 unbilled > 10.00, blocked until November is invoiced
    assert world.store.wallet.balance("globex") == Decimal("-10.01")
    assert not outbound_allowed(world, settings)
    world.run_on("2026-12-02T00:00:00")
    assert world.store.wallet.entries[("globex", "invoiced#INV-000002")] == (
        Decimal("10.01"), "USD")
    assert outbound_allowed(world, settings)


def test_the_credit_is_the_exact_unrounded_usage_with_late_calls_and_rerates() -> None:
    # Given October: two calls rated at 4 decimals, 0.0125 + 0.0130 = 0.0255 (the invoice
    # line says 0.03), invoiced
    world = World()
    limited(world)
    rate(world, "2026-10", "f1:0", Row("c1", Decimal("0.0125"), ms("2026-10-05T10:00:00")),
         Row("c2", Decimal("0.0130"), ms("2026-10-06T10:00:00")))
    run_invoicing(world.deps())
    assert world.store.wallet.entries[("globex", "invoiced#INV-000001")][0] == Decimal("0.0255")
    # When November has 1.0001, a late October call arrives (0.3333) and a re-rate of c1
    # raises it by 0.00005 (its ledger entry: old - new = -0.00005)
    rate(world, "2026-11", "f2:0", Row("n1", Decimal("1.0001"), ms("2026-11-05T10:00:00")))
    rate(world, "2026-10", "f3:0", Row("late", Decimal("0.3333"), ms("2026-10-31T10:00:00")))
    world.rerates.entries["globex"] = [{
        "entry_id": "rerate#run1#c1", "period": "2026-10", "run_id": "run1",
        "difference": Decimal("0.00005"), "amount": Decimal("-0.00005"), "call_id": "c1",
    }]
    world.store.wallet.credit("globex", "rerate#run1#c1", Decimal("-0.00005"), "USD")
    world.run_on("2026-12-02T00:00:00")

    # Then November's credit is 1.0001 + 0.3333 + 0.00005 = 1.33345, exactly, and nothing
    # is left unbilled: -0.0255 - 1.0001 - 0.3333 - 0.00005 + 0.0255 + 1.33345 = 0
    assert world.store.wallet.entries[("globex", "invoiced#INV-000002")][0] == Decimal(
        "1.33345")
    assert world.store.wallet.balance("globex") == Decimal("0")


def test_a_prepaid_tenants_invoice_writes_no_ledger_entry() -> None:
    # Given a prepaid tenant whose 12.50 of October usage came out of its wallet
    world = World()
    limited(world, BillingMode.PREPAID)
    world.store.wallet.credit("globex", "topup#pi_1", Decimal("20.00"), "USD")
    rate(world, "2026-10", "f1:0", Row("c1", Decimal("12.50"), ms("2026-10-05T10:00:00")))

    run_invoicing(world.deps())

    # Then the invoice is informational for usage: the wallet keeps 7.50
    assert world.store.get("globex", "2026-10") is not None
    assert not any(key[1].startswith("invoiced#") for key in world.store.wallet.entries)
    assert world.store.wallet.balance("globex") == Decimal("7.50")


def test_a_month_without_usage_writes_no_ledger_entry() -> None:
    world = World()
    limited(world)

    run_invoicing(world.deps())

    assert world.store.get("globex", "2026-10") is not None
    assert world.store.wallet.entries == {}


def test_a_call_five_months_late_goes_on_the_next_invoice() -> None:
    # Given monthly invoices from January to May 2026 (one call each month)
    world = World()
    limited(world)
    for month in range(1, 6):
        rate(world, f"2026-{month:02d}", f"m{month}:0",
             Row(f"m{month}", Decimal("1.00"), ms(f"2026-{month:02d}-10T10:00:00")))
        world.run_on(f"2026-{month + 1:02d}-02T00:00:00")
    # When a January call (4.00) arrives in June, five months late
    rate(world, "2026-01", "late:0", Row("jan-late", Decimal("4.00"),
                                          ms("2026-01-31T10:00:00")))
    world.run_on("2026-07-02T00:00:00")

    # Then June's invoice bills it as late usage (the default lookback is a year), and its
    # ledger credit takes it out of the unbilled usage
    (june,) = world.issued("2026-06")
    assert [(line["kind"], line["amount"], line["period"])
            for line in june.document["lines"]] == [("late_usage", "4.00", "2026-01")]
    assert world.store.wallet.balance("globex") == Decimal("0")


def test_a_call_older_than_a_configured_lookback_is_not_invoiced() -> None:
    # Given the same invoices with the lookback set to 3 months
    world = World()
    limited(world)
    invoice_january_to_may(world, lookback=3)
    rate(world, "2026-01", "late:0", Row("jan-late", Decimal("4.00"),
                                          ms("2026-01-31T10:00:00")))
    world.now = ms("2026-07-02T00:00:00")
    run_invoicing(dataclasses.replace(world.deps(), late_lookback_periods=3))

    # Then June's invoice does not look back to January: the 4.00 stays unbilled (rate_call
    # counted it as CallsBeyondInvoiceLookback when it arrived)
    (june,) = world.issued("2026-06")
    assert june.document["lines"] == []
    assert world.store.wallet.balance("globex") == Decimal("-4.00")


def test_raising_the_lookback_finds_late_calls_of_periods_the_last_invoice_dropped() -> None:
    # Given invoices January to May issued with a lookback of 3 (May's keeps only Feb-May)
    world = World()
    limited(world)
    invoice_january_to_may(world, lookback=3)
    may = world.store.get("globex", "2026-05")
    assert may is not None and sorted(may.usage_billed) == [
        "2026-02", "2026-03", "2026-04", "2026-05"]
    # When the lookback is raised to 12 and a January call (4.00) arrives before June's run
    rate(world, "2026-01", "late:0", Row("jan-late", Decimal("4.00"),
                                          ms("2026-01-31T10:00:00")))
    world.run_on("2026-07-02T00:00:00")
    world.run_on("2026-08-02T00:00:00")

    # Then June bills the late call only (January's m1, billed by January's invoice, is not
    # billed again) and July bills nothing of January
    june, july = world.issued("2026-06", "2026-07")
    assert [(line["kind"], line["amount"], line["period"])
            for line in june.document["lines"]] == [("late_usage", "4.00", "2026-01")]
    assert july.document["lines"] == []
    assert world.store.wallet.balance("globex") == Decimal("0")
