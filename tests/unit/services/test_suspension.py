"""The daily suspension check and the restore, with fakes and an injected clock.

acme: postpaid USD, one invoice INV-0001 of 42.00 due 2026-03-01 (day 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.domain.suspension import OpenInvoice
from shared.domain.tenants import AccountStatus, BillingMode, TenantSettings
from shared.services.suspension import (
    RestoreDeps,
    SuspensionCheckFailed,
    SuspensionDeps,
    restore_if_settled,
    run_suspension_check,
)
from tests.fakes.payments import MemoryPaymentRecords, RecordingNotifier

DUE = date(2026, 3, 1)


@dataclass
class Accounts:
    """TenantDirectory + TenantAccounts in memory; set_status is a compare-and-set."""

    settings: dict[str, TenantSettings] = field(default_factory=dict)
    #: PaymentsTable, where move_status writes its record with the status (one transaction)
    records: MemoryPaymentRecords = field(default_factory=MemoryPaymentRecords)

    def get(self, tenant: str) -> TenantSettings | None:
        return self.settings.get(tenant)

    def tenant_ids(self) -> list[str]:
        return sorted(self.settings)

    def set_status(self, tenant: str, expected: AccountStatus, status: AccountStatus) -> bool:
        found = self.settings.get(tenant)
        if found is None or found.status is not expected:
            return False
        self.settings[tenant] = found.model_copy(update={"status": status})
        return True

    def move_status(
        self, tenant: str, expected: AccountStatus, status: AccountStatus, record_key: str,
        record: Mapping[str, Any], *, record_state: str | None = None,
    ) -> bool:
        stored = self.records.items.get(record_key) or {}
        if record_state is not None and stored.get("state") != record_state:
            return False
        if not self.set_status(tenant, expected, status):
            return False
        self.records.items[record_key] = {k: v for k, v in record.items() if v is not None}
        return True


@dataclass
class Invoices:
    open: dict[str, list[OpenInvoice]] = field(default_factory=dict)

    def open_invoices(self, tenant: str) -> list[OpenInvoice]:
        return list(self.open.get(tenant, []))


@dataclass
class InFlight:
    tenants: set[str] = field(default_factory=set)

    def payment_in_flight(self, tenant: str, now: int) -> bool:
        return tenant in self.tenants


@dataclass
class World:
    accounts: Accounts = field(default_factory=Accounts)
    invoices: Invoices = field(default_factory=Invoices)
    in_flight: InFlight = field(default_factory=InFlight)
    records: MemoryPaymentRecords = field(default_factory=MemoryPaymentRecords)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    now: datetime = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)

    def __post_init__(self) -> None:
        self.accounts.records = self.records
        self.accounts.settings["acme"] = TenantSettings(
            tenant_id="acme", card="retail", currency="USD", mode=BillingMode.POSTPAID
        )
        self.invoices.open["acme"] = [OpenInvoice("INV-0001", DUE, Decimal("42.00"), "USD")]

    def deps(self) -> SuspensionDeps:
        return SuspensionDeps(self.accounts, self.accounts, self.invoices, self.in_flight,
                              self.records, self.notifier, lambda: self.now)

    def restore_deps(self) -> RestoreDeps:
        return RestoreDeps(self.accounts, self.accounts, self.invoices, self.records,
                           lambda: self.now)

    def day(self, n: int) -> None:
        self.now = datetime(2026, 3, 1, 6, 0, tzinfo=UTC) + timedelta(days=n)

    def status(self) -> AccountStatus:
        return self.accounts.settings["acme"].status


def test_daily_runs_warn_on_days_7_and_13_and_suspend_on_day_14() -> None:
    world = World()
    sent_on: dict[int, list[str]] = {}
    for n in range(0, 15):
        world.day(n)
        before = len(world.notifier.sent)
        run_suspension_check(world.deps())
        sent_on[n] = [kind for _tenant, kind in world.notifier.sent[before:]]
    assert {n: kinds for n, kinds in sent_on.items() if kinds} == {
        7: ["dunning_warning"], 13: ["dunning_warning"], 14: ["suspended"],
    }
    assert world.status() is AccountStatus.SUSPENDED
    assert set(world.records.items) == {
        "dunning#acme#INV-0001#7", "dunning#acme#INV-0001#13", "suspension#acme",
    }
    assert world.records.items["suspension#acme"]["state"] == "suspended"


def test_a_second_run_the_same_day_sends_no_duplicate_warning() -> None:
    world = World()
    world.day(7)
    first = run_suspension_check(world.deps())
    second = run_suspension_check(world.deps())
    assert first.tenants("warned") == ["acme"] and second.tenants("warned") == []
    assert world.notifier.sent == [("acme", "dunning_warning")]


def test_day_8_after_the_day_7_warning_sends_nothing() -> None:
    world = World()
    world.day(7)
    run_suspension_check(world.deps())
    world.day(8)
    run_suspension_check(world.deps())
    assert world.notifier.sent == [("acme", "dunning_warning")]


def test_an_in_flight_payment_prevents_suspension_on_day_14() -> None:
    world = World()
    world.in_flight.tenants.add("acme")
    world.day(14)
    report = run_suspension_check(world.deps())
    assert report.tenants("held_by_payment") == ["acme"]
    assert world.status() is AccountStatus.ACTIVE and world.notifier.sent == []


def test_a_doubled_run_on_day_14_suspends_and_notifies_once() -> None:
    world = World()
    world.day(14)
    run_suspension_check(world.deps())
    again = run_suspension_check(world.deps())
    assert again.tenants("already_suspended") == ["acme"]
    assert world.notifier.sent == [("acme", "suspended")]


def test_due_dates_follow_the_tenant_zone() -> None:
    # 2026-03-14 23:30 UTC is already March 15 in Tokyo: day 14 there, day 13 in UTC
    world = World()
    world.accounts.settings["acme"] = world.accounts.settings["acme"].model_copy(
        update={"timezone": "Asia/Tokyo"}
    )
    world.now = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    assert run_suspension_check(world.deps()).tenants("suspended") == ["acme"]


def test_restore_once_nothing_is_past_grace() -> None:
    world = World()
    world.day(14)
    run_suspension_check(world.deps())
    restore = world.restore_deps()
    # still owing: stays suspended
    assert not restore_if_settled("acme", restore)
    assert world.status() is AccountStatus.SUSPENDED
    # paid: restored, and a second call changes nothing
    world.invoices.open["acme"] = []
    assert restore_if_settled("acme", restore)
    assert world.status() is AccountStatus.ACTIVE
    assert not restore_if_settled("acme", restore)


def test_restore_leaves_an_invoice_not_yet_past_grace_open() -> None:
    # a newer invoice 3 days past due does not keep the account suspended
    world = World()
    world.day(14)
    run_suspension_check(world.deps())  # suspended for INV-0001, then it was paid
    world.day(20)
    world.invoices.open["acme"] = [
        OpenInvoice("INV-0002", DUE + timedelta(days=17), Decimal("9.00"), "USD")
    ]
    restore = world.restore_deps()
    assert restore_if_settled("acme", restore)


def test_the_dunning_email_names_the_invoice_the_amount_and_the_days_left() -> None:
    from shared.adapters.ses import message

    # day 7 of INV-0001 (42.00 USD due 2026-03-01): suspension in 14 - 7 = 7 days
    subject, body = message("dunning_warning", {
        "invoice": "INV-0001", "due_date": "2026-03-01", "balance_due": "42.00 USD",
        "days_past_due": "7", "suspension_in_days": "7",
    })
    assert subject == "Invoice INV-0001 is overdue: calls suspended in 7 days"
    assert body.startswith("Invoice INV-0001 (42.00 USD) was due on 2026-03-01 and is 7 days")
    assert message("suspended", {"invoice": "INV-0001", "days_past_due": "14"})[0] == (
        "Your account is suspended: invoice INV-0001 is unpaid"
    )


def test_an_account_an_operator_suspended_is_not_restored_by_a_payment() -> None:
    # suspended by hand (no suspension# record): a payment must not reopen it
    world = World()
    world.accounts.settings["acme"] = world.accounts.settings["acme"].model_copy(
        update={"status": AccountStatus.SUSPENDED}
    )
    world.invoices.open["acme"] = []
    restore = world.restore_deps()
    assert not restore_if_settled("acme", restore)
    assert world.status() is AccountStatus.SUSPENDED


def test_restored_then_overdue_again_is_suspended_and_restored_again() -> None:
    world = World()
    world.day(14)
    run_suspension_check(world.deps())
    restore = world.restore_deps()
    world.invoices.open["acme"] = []
    world.day(15)
    assert restore_if_settled("acme", restore)
    assert world.records.items["suspension#acme"]["state"] == "restored"
    # a new invoice INV-0002 due 2026-04-01 goes unpaid: day 14 is 2026-04-15 (45 days on)
    world.invoices.open["acme"] = [OpenInvoice("INV-0002", date(2026, 4, 1), Decimal("9"), "USD")]
    world.day(45)
    assert run_suspension_check(world.deps()).tenants("suspended") == ["acme"]
    world.invoices.open["acme"] = []
    world.day(46)
    assert restore_if_settled("acme", restore)


def test_one_tenant_failing_does_not_stop_the_others() -> None:
    @dataclass
    class Broken(Invoices):
        def open_invoices(self, tenant: str) -> list[OpenInvoice]:
            if tenant == "aaa-broken":
                raise RuntimeError("throttled")
            return super().open_invoices(tenant)

    world = World()
    world.invoices = Broken(dict(world.invoices.open))
    world.accounts.settings["aaa-broken"] = world.accounts.settings["acme"].model_copy(
        update={"tenant_id": "aaa-broken"}
    )
    world.day(14)
    with pytest.raises(SuspensionCheckFailed, match=r"aaa-broken \(RuntimeError: throttled\)"):
        run_suspension_check(world.deps())
    # acme, checked after the broken tenant, was still suspended
    assert world.status() is AccountStatus.SUSPENDED


def test_a_trial_account_comes_back_as_a_trial() -> None:
    world = World()
    world.accounts.settings["acme"] = world.accounts.settings["acme"].model_copy(
        update={"status": AccountStatus.TRIAL}
    )
    world.day(14)
    assert run_suspension_check(world.deps()).tenants("suspended") == ["acme"]
    world.invoices.open["acme"] = []
    restore = world.restore_deps()
    assert restore_if_settled("acme", restore)
    assert world.status() is AccountStatus.TRIAL
