"""The invoicing run with fakes and an injected clock: issued once, gapless numbers,
delivery resumed after a crash, auto-pay once, late calls billed once, pay now oldest first.

globex: postpaid USD, zone UTC, buyer without a country, so the seller's GB rules apply
(VAT 20 %). The run on 2026-11-02 00:00 UTC invoices October (its end, 1 November 00:00,
plus the 24 h settlement lag has just passed).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.errors import ValidationError
from shared.domain.invoicing.tax import Party, TaxProfile, TaxRules
from shared.domain.tenants import BillingMode, TenantSettings
from shared.services.invoice_credits import issue_invoice_credit
from shared.services.invoice_payments import AutopayDeps, apply_payment, pay_now
from shared.services.invoice_records import StoredInvoice
from shared.services.invoicing import (
    InvoicingDeps,
    RunReport,
    add_one_time_charge,
    domain_builder,
    pdf_key,
    run_invoicing,
)
from tests.fakes.invoices import (
    Customers,
    MemoryFiles,
    MemoryInvoiceStore,
    MemoryRerates,
    MemoryUsage,
    RecordingMailer,
    Row,
)
from tests.fakes.payments import FakeGateway


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


RUN = ms("2026-11-02T00:00:00")
SELLER = Party(name="Telecom Billing Ltd", country="GB", tax_id="GB123456789", business=True)
RULES = {"GB": TaxRules(country="GB", tax_name="VAT", default_rate=Decimal("20"))}


class Tenants:
    def __init__(self, *ids: str) -> None:
        self.settings = {
            tenant: TenantSettings(tenant_id=tenant, card="retail-usd", currency="USD",
                                   mode=BillingMode.POSTPAID)
            for tenant in ids
        }

    def get(self, tenant: str) -> TenantSettings | None:
        return self.settings.get(tenant)

    def tenant_ids(self) -> list[str]:
        return sorted(self.settings)


class Killed(BaseException):
    """Stands in for the process dying (a hard timeout): nothing in the run can catch it."""


class World:
    def __init__(self, *tenants: str, customers: dict[str, str] | None = None) -> None:
        self.tenants = Tenants(*(tenants or ("globex",)))
        self.store = MemoryInvoiceStore()
        self.usage = MemoryUsage()
        self.files = MemoryFiles()
        self.mailer = RecordingMailer()
        self.gateway = FakeGateway()
        self.customers = Customers(customers or {})
        self.rerates = MemoryRerates()
        self.now = RUN
        self.crash_at: str | None = None
        self.rendered: list[str] = []

    def after(self, step: str) -> None:
        if step == self.crash_at:
            self.crash_at = None
            raise Killed(f"injected crash after {step}")

    def render(self, invoice: object) -> bytes:
        number = str(getattr(invoice, "number", ""))
        self.rendered.append(number)
        return f"%PDF {number}".encode()

    def deps(self) -> InvoicingDeps:
        return InvoicingDeps(
            tenants=self.tenants, accounts=self.tenants, usage=self.usage,
            credits=self.store.credits, adjustments=self.rerates, store=self.store,
            files=self.files, mailer=self.mailer, gateway=self.gateway,
            customers=self.customers, build=domain_builder(SELLER, RULES),
            render=self.render, now_ms=lambda: self.now, sleep=lambda s: None,
            after_step=self.after,
        )

    def run_on(self, when: str) -> RunReport:
        """The daily invoice run at ``when`` (UTC), as the schedule fires it."""
        self.now = ms(when)
        return run_invoicing(self.deps())

    def issued(self, *periods: str, tenant: str = "globex") -> list[StoredInvoice]:
        """The tenant's invoices of ``periods``, each of which must have been issued."""
        invoices = []
        for period in periods:
            invoice = self.store.get(tenant, period)
            assert invoice is not None, f"no invoice of {tenant} for {period}"
            invoices.append(invoice)
        return invoices


def october_usage(world: World, tenant: str = "globex") -> None:
    # two answered calls in October: 10.00 + 2.50 = 12.50 USD of voice out
    world.usage.add(tenant, "2026-10",
                    Row("c1", Decimal("10.00"), ms("2026-10-05T10:00:00")),
                    Row("c2", Decimal("2.50"), ms("2026-10-20T10:00:00")))


def test_a_double_fired_schedule_issues_one_invoice_with_one_number() -> None:
    # Given October's usage (12.50) and a pending credit of 5.00
    world = World()
    october_usage(world)
    issue_invoice_credit("globex", "cn-1", "5.00", "outage", world.store.credits,
                         world.tenants, 1)

    # When the schedule fires twice
    first = run_invoicing(world.deps())
    second = run_invoicing(world.deps())

    # Then one invoice, number INV-000001, and the second run found it
    assert [run.outcome for run in first.tenants] == ["issued"]
    assert [run.outcome for run in second.tenants] == ["existed"]
    assert world.store.counters == {"INV": 1}
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None and invoice.number == "INV-000001"
    # 12.50 usage - 5.00 credit = 7.50 subtotal; VAT 20 % = 1.50; total 9.00
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("7.50"), Decimal("1.50"), Decimal("9.00"))
    assert invoice.status == "Sent" and invoice.balance_due == Decimal("9.00")
    # issued on the run's day, due 14 days later
    assert (invoice.issue_date, invoice.due_date) == ("2026-11-02", "2026-11-16")
    # the credit was consumed by this invoice, once
    assert world.store.credits.items["invoice_credit#globex#cn-1"]["status"] == "applied"
    assert invoice.credits == ("invoice_credit#globex#cn-1",)
    # one PDF, one email
    assert world.files.objects[pdf_key(invoice)] == b"%PDF INV-000001"
    assert world.mailer.sent == [("globex", "INV-000001", len(b"%PDF INV-000001"))]


def test_tenants_invoiced_concurrently_get_gapless_numbers() -> None:
    # Given eight tenants with usage, invoiced by eight threads at once
    tenants = [f"t{n}" for n in range(8)]
    world = World(*tenants)
    for tenant in tenants:
        world.usage.add(tenant, "2026-10", Row(f"{tenant}-c", Decimal("1.00"),
                                               ms("2026-10-10T00:00:00")))
    deps = world.deps()
    threads = [threading.Thread(target=run_invoicing, args=(deps, [tenant]))
               for tenant in tenants]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then numbers 1..8, each used exactly once, whatever the interleaving
    numbers = sorted(int(i.number.split("-")[1]) for i in world.store.invoices.values())
    assert numbers == list(range(1, 9))
    assert world.store.counters == {"INV": 8}


def test_a_crash_between_issue_and_pdf_ends_with_one_invoice_pdf_and_email() -> None:
    # Given a run that dies right after the issue transaction
    world = World()
    october_usage(world)
    world.crash_at = "issued"
    with pytest.raises(Killed, match="injected crash after issued"):
        run_invoicing(world.deps())
    assert world.files.puts == [k for k in world.files.puts if k.endswith(".txt.gz")]

    # When the run is retried
    again = run_invoicing(world.deps())

    # Then the invoice issued before is delivered: one number, one PDF, one email
    assert [run.outcome for run in again.tenants] == ["existed"]
    assert world.store.counters == {"INV": 1}
    assert [k for k in world.files.puts if k.endswith(".pdf")] == [
        "invoices/globex/INV-000001.pdf"]
    assert len(world.mailer.sent) == 1


def test_a_crash_after_the_email_does_not_send_it_again() -> None:
    world = World()
    october_usage(world)
    world.crash_at = "email"
    with pytest.raises(Killed):
        run_invoicing(world.deps())

    run_invoicing(world.deps())

    assert len(world.mailer.sent) == 1
    assert world.rendered == ["INV-000001"]


def test_auto_pay_charges_the_default_card_once_and_marks_the_invoice_paid() -> None:
    # Given a tenant with a card: its 15.00 invoice (12.50 + 20 % VAT) is charged on issue
    world = World(customers={"globex": "cus_1"})
    october_usage(world)

    run_invoicing(world.deps())
    run_invoicing(world.deps())  # the schedule again

    # Then one PaymentIntent of 1500 cents, applied once: Paid, nothing due
    assert [(i.amount_minor, i.status) for i in world.gateway.intents.values()] == [
        (1500, "succeeded")]
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None
    assert (invoice.status, invoice.paid, invoice.balance_due) == (
        "Paid", Decimal("15.00"), Decimal("0.00"))
    assert invoice.payments == frozenset({"pi_fake_1"})


def test_auto_pay_retried_after_stripe_answered_but_before_our_record_finds_the_intent() -> None:
    world = World(customers={"globex": "cus_1"})
    october_usage(world)
    world.gateway.fail_after_create = True  # the answer is lost after Stripe created it

    first = run_invoicing(world.deps())
    assert [run.outcome for run in first.failed] == ["failed"]  # the handler raises: retried
    run_invoicing(world.deps())

    assert len(world.gateway.intents) == 1
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None and invoice.status == "Paid"


def test_a_declined_auto_pay_leaves_the_invoice_open_and_it_becomes_overdue() -> None:
    world = World(customers={"globex": "cus_1"})
    october_usage(world)
    world.gateway.outcome = "declined"
    run_invoicing(world.deps())
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None and invoice.status == "Sent"

    # due 2026-11-16: on the 17th the daily run marks it Overdue, and no second charge
    report = world.run_on("2026-11-17T02:00:00")

    assert report.tenants[0].overdue == ("INV-000001",)
    assert world.store.statuses() == {"INV-000001": "Overdue"}
    assert len(world.gateway.intents) == 1


def test_a_late_call_goes_on_the_next_invoice_once() -> None:
    # Given October invoiced with c1 and c2
    world = World()
    october_usage(world)
    run_invoicing(world.deps())
    # When a call answered on 31 October arrives after that invoice (7.00 USD)
    world.usage.add("globex", "2026-10", Row("c3-late", Decimal("7.00"),
                                             ms("2026-10-31T23:00:00")))
    world.usage.add("globex", "2026-11", Row("n1", Decimal("1.00"), ms("2026-11-05T00:00:00")))
    world.run_on("2026-12-02T00:00:00")
    # and December is invoiced too, with no new October call
    world.run_on("2027-01-02T00:00:00")

    november, december = world.issued("2026-11", "2026-12")
    lines = [(line["kind"], line["amount"], line["period"])
             for line in november.document["lines"]]
    # November: its own 1.00 and the late October call 7.00 as a late line
    assert ("usage", "1.00", "") in lines and ("late_usage", "7.00", "2026-10") in lines
    assert november.subtotal == Decimal("8.00")
    # December bills nothing of October again
    assert all(line["kind"] != "late_usage" for line in december.document["lines"])
    assert december.subtotal == Decimal("0")


def test_a_rerate_of_an_invoiced_period_is_an_adjustment_on_the_next_invoice_once() -> None:
    world = World()
    october_usage(world)
    run_invoicing(world.deps())
    # a re-rate after October's invoice: c1 cost 10.00, now 12.00 (difference +2.00)
    world.rerates.entries["globex"] = [{
        "entry_id": "rerate#run1#c1", "period": "2026-10", "difference": Decimal("2.00"),
        "amount": Decimal("-2.00"), "call_id": "c1",
    }]
    world.run_on("2026-12-02T00:00:00")
    world.run_on("2027-01-02T00:00:00")

    november, december = world.issued("2026-11", "2026-12")
    assert [(line["kind"], line["amount"]) for line in november.document["lines"]] == [
        ("adjustment", "2.00")]
    assert december.subtotal == Decimal("0")


def test_a_late_call_rerated_before_the_next_invoice_is_billed_once_at_its_new_price() -> None:
    # Given October invoiced (12.50), then a late October call l1 rated at 1.00 and re-rated
    # to 1.20 (the re-rate prices the stored call in place and writes a +0.20 entry)
    world = World()
    october_usage(world)
    run_invoicing(world.deps())
    world.usage.add("globex", "2026-10", Row("l1", Decimal("1.20"), ms("2026-10-30T10:00:00")))
    world.rerates.entries["globex"] = [{
        "entry_id": "rerate#run1#l1", "period": "2026-10", "run_id": "run1",
        "difference": Decimal("0.20"), "amount": Decimal("-0.20"), "call_id": "l1",
    }]

    world.run_on("2026-12-02T00:00:00")

    # Then November bills l1 once, as a late line at 1.20: the +0.20 is already in that
    # price, so no adjustment line adds it again (1.40 for a 1.20 call); VAT 0.24
    (november,) = world.issued("2026-11")
    assert [(line["kind"], line["amount"]) for line in november.document["lines"]] == [
        ("late_usage", "1.20")]
    assert november.total == Decimal("1.44")


def test_a_rerate_runs_sub_cent_changes_are_summed_into_one_line_before_rounding() -> None:
    # Given October invoiced, then one re-rate run (run1) raising four calls by 0.004 each
    world = World()
    october_usage(world)
    run_invoicing(world.deps())
    world.rerates.entries["globex"] = [{
        "entry_id": f"rerate#run1#{call}", "period": "2026-10", "run_id": "run1",
        "difference": Decimal("0.004"), "amount": Decimal("-0.004"), "call_id": call,
    } for call in ("c1", "c2", "c3", "c4")]

    world.run_on("2026-12-02T00:00:00")

    (november,) = world.issued("2026-11")
    # one line for the run: 4 × 0.004 = 0.016 → 0.02 (each alone rounds to 0.00 and the
    # fix would be rounded away call by call); VAT 20 %: 0.004 → 0.00; total 0.02
    assert [(line["kind"], line["amount"], line["quantity"], line["reference"])
            for line in november.document["lines"]] == [("adjustment", "0.02", "4", "run1")]
    assert november.total == Decimal("0.02")


@pytest.mark.parametrize(("amount", "message"), [
    ("5.005", "more than 2 decimal places for USD"),
    ("0.001", "more than 2 decimal places for USD"),
    ("1e400", "at most the 15.00 USD due"),  # never reaches the quantize (InvalidOperation)
])
def test_pay_now_refuses_an_amount_finer_than_the_currency_and_charges_nothing(
    amount: str, message: str
) -> None:
    # Given October open (15.00 USD) and a card on file
    world = World(customers={"globex": "cus_1"})
    world.gateway.outcome = "declined"
    october_usage(world)
    run_invoicing(world.deps())
    charged_before = len(world.gateway.intents)
    payer = AutopayDeps(world.store, world.gateway, world.customers)

    # When 5.005 (or 0.001) is asked for: Stripe takes whole cents, so it was silently charged
    # 5.00 (or a 0-cent intent was attempted)
    with pytest.raises(ValidationError, match=message):
        pay_now("globex", Decimal(amount), "r1", payer)

    # Then no payment intent was created
    assert len(world.gateway.intents) == charged_before


def test_pay_now_pays_the_oldest_open_invoice_first_and_once_per_payment() -> None:
    # Given October (15.00) and November (6.00 = 5.00 + VAT) open, a card on file
    world = World(customers={"globex": "cus_1"})
    world.gateway.outcome = "declined"  # auto-pay fails, both stay open
    october_usage(world)
    world.usage.add("globex", "2026-11", Row("n1", Decimal("5.00"), ms("2026-11-05T00:00:00")))
    run_invoicing(world.deps())
    world.run_on("2026-12-02T00:00:00")
    world.gateway.outcome = "succeeded"
    payer = AutopayDeps(world.store, world.gateway, world.customers)

    # When the tenant pays 18.00 now, and the same request is repeated
    first = pay_now("globex", Decimal("18.00"), "r1", payer)
    again = pay_now("globex", Decimal("18.00"), "r1", payer)

    # Then October is paid (15.00), November partly (3.00 of 6.00), one charge only
    assert first.outcome == again.outcome == "succeeded"
    assert first.intent_id == again.intent_id
    october, november = world.issued("2026-10", "2026-11")
    assert (october.status, october.balance_due) == ("Paid", Decimal("0.00"))
    assert (november.status, november.paid, november.balance_due) == (
        "Partially Paid", Decimal("3.00"), Decimal("3.00"))
    assert again.applied is not None and not again.applied.changed


def test_a_payment_delivered_twice_is_applied_once() -> None:
    world = World()
    october_usage(world)
    run_invoicing(world.deps())

    apply_payment("globex", "pi_x", Decimal("5.00"), "USD", world.store, "INV-000001")
    repeat = apply_payment("globex", "pi_x", Decimal("5.00"), "USD", world.store, "INV-000001")

    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None
    assert (invoice.paid, invoice.balance_due, invoice.status) == (
        Decimal("5.00"), Decimal("10.00"), "Partially Paid")
    assert not repeat.changed


def test_an_issued_invoice_cannot_be_edited() -> None:
    world = World()
    october_usage(world)
    run_invoicing(world.deps())

    with pytest.raises(ValueError, match="never change"):
        world.store.mark("globex", "2026-10", {"total": Decimal("1")})


def test_a_number_port_is_charged_once_on_the_next_invoice() -> None:
    # Given October's usage (12.50) and a number port of 25.00 ordered in October
    world = World()
    october_usage(world)
    port, added = add_one_time_charge("globex", "port-1", "Number port", "25.00", "1", None,
                                      world.tenants, world.store, ms("2026-10-15T00:00:00"))
    again, added_again = add_one_time_charge("globex", "port-1", "Number port", "25.00", "1",
                                             None, world.tenants, world.store,
                                             ms("2026-10-16T00:00:00"))
    assert (added, added_again, port.period, again.period) == (True, False, "2026-10", "2026-10")

    # When October and November are invoiced
    run_invoicing(world.deps())
    world.run_on("2026-12-02T00:00:00")

    october, november = world.issued("2026-10", "2026-11")
    # October: 12.50 + 25.00 = 37.50, VAT 7.50, total 45.00; November bills no port again
    assert ("one_time", "25.00") in [(line["kind"], line["amount"])
                                     for line in october.document["lines"]]
    assert (october.subtotal, october.tax, october.total) == (
        Decimal("37.50"), Decimal("7.50"), Decimal("45.00"))
    assert november.subtotal == Decimal("0")
    assert world.store.charges["charge#globex#port-1"].billed_by == october.number


@pytest.mark.parametrize(("amount", "quantity", "message"), [
    # an amount Decimal's 28 digits cannot quantize (was InvalidOperation, exit 3)
    ("1e400", "1", "--amount"),
    # a quantity DynamoDB cannot store (was decimal.Overflow at the adapter, exit 3), or one
    # whose line would overflow the invoice run of every later tenant
    ("25.00", "1e400", "--quantity"),
    ("25.00", "1000001", "--quantity"),
    ("25.00", "1.0000001", "--quantity"),
])
def test_a_one_time_charge_out_of_range_is_one_input_error_and_records_nothing(
    amount: str, quantity: str, message: str
) -> None:
    world = World()

    with pytest.raises(ValidationError, match=message):
        add_one_time_charge("globex", "port-1", "Number port", amount, quantity, None,
                            world.tenants, world.store, ms("2026-10-15T00:00:00"))

    assert world.store.pending_charges("globex") == []


def test_a_prepaid_invoice_lists_the_periods_top_ups_as_receipts_not_charges() -> None:
    # Given a prepaid tenant whose October calls (12.50) were paid from its wallet, and a
    # 50.00 top-up received on 10 October (a succeeded payment intent the webhook recorded)
    world = World()
    world.tenants.settings["globex"] = world.tenants.settings["globex"].model_copy(
        update={"mode": BillingMode.PREPAID})
    october_usage(world)
    world.store.credits.items["payment_intent#pi_top"] = {
        "record_key": "payment_intent#pi_top", "tenant": "globex", "status": "succeeded",
        "amount": Decimal("50.00"), "currency": "USD",
        "created": ms("2026-10-10T12:00:00") // 1000,
    }

    run_invoicing(world.deps())

    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None
    lines = [(line["kind"], line["amount"], line["informational"])
             for line in invoice.document["lines"]]
    # the usage statement and the receipt are shown, neither is charged: total 0, Paid
    assert ("usage", "12.50", True) in lines and ("top_up", "50.00", True) in lines
    assert (invoice.total, invoice.status) == (Decimal("0"), "Paid")


def test_a_credit_larger_than_the_invoice_leaves_its_rest_for_the_next_one() -> None:
    # Given October's usage of 12.50 and a credit of 20.00
    world = World()
    october_usage(world)
    world.usage.add("globex", "2026-11", Row("n1", Decimal("10.00"), ms("2026-11-05T00:00:00")))
    issue_invoice_credit("globex", "cn-big", "20.00", "outage", world.store.credits,
                         world.tenants, 1)

    run_invoicing(world.deps())
    world.run_on("2026-12-02T00:00:00")

    october, november = world.issued("2026-10", "2026-11")
    # October takes 12.50 of it (nothing left to tax): total 0; the rest 7.50 goes on
    # November: 10.00 - 7.50 = 2.50, VAT 0.50, total 3.00
    assert (october.subtotal, october.total) == (Decimal("0.00"), Decimal("0.00"))
    rest = world.store.credits.items["invoice_credit#globex#cn-big.rest"]
    assert (rest["amount"], rest["status"]) == (Decimal("7.50"), "applied")
    assert (november.subtotal, november.tax, november.total) == (
        Decimal("2.50"), Decimal("0.50"), Decimal("3.00"))


def test_periods_the_runs_missed_are_invoiced_in_order_on_the_next_run() -> None:
    # Given October invoiced, then no run at all until 2 January
    world = World()
    october_usage(world)
    run_invoicing(world.deps())
    world.usage.add("globex", "2026-11", Row("n1", Decimal("1.00"), ms("2026-11-05T00:00:00")))
    world.usage.add("globex", "2026-12", Row("d1", Decimal("2.00"), ms("2026-12-05T00:00:00")))
    world.now = ms("2027-01-02T00:00:00")

    report = run_invoicing(world.deps())

    # Then November and December are both issued, in that order, numbers 2 and 3
    assert [(i.period, i.number, i.subtotal) for i in world.store.of_tenant("globex")] == [
        ("2026-10", "INV-000001", Decimal("12.50")),
        ("2026-11", "INV-000002", Decimal("1.00")),
        ("2026-12", "INV-000003", Decimal("2.00")),
    ]
    assert report.tenants[0].outcome == "issued" and report.tenants[0].number == "INV-000003"
    assert len(world.mailer.sent) == 3


def test_a_tenants_first_run_after_a_later_month_closed_invoices_its_earlier_usage() -> None:
    # Given October (12.50) and November (1.00) calls, and no invoice yet: October's runs
    # failed (or the tenant's first run came late) until 2 December
    world = World()
    october_usage(world)
    world.usage.add("globex", "2026-11", Row("n1", Decimal("1.00"), ms("2026-11-05T00:00:00")))

    # When the first run that succeeds is on 2 December
    world.run_on("2026-12-02T00:00:00")

    # Then October is invoiced before November: only November was, and October's calls
    # were never billed (neither then nor as late calls of a later invoice)
    assert [(i.period, i.number, i.subtotal) for i in world.store.of_tenant("globex")] == [
        ("2026-10", "INV-000001", Decimal("12.50")),
        ("2026-11", "INV-000002", Decimal("1.00")),
    ]


def test_a_tenant_that_cannot_be_invoiced_fails_alone_with_a_clear_reason() -> None:
    # Given two tenants, one a buyer in France, where no tax rules are configured
    world = World("globex", "gaulois")
    october_usage(world)
    october_usage(world, "gaulois")
    french = world.tenants.settings["gaulois"]
    world.tenants.settings["gaulois"] = french.model_copy(
        update={"tax": TaxProfile(country="FR")})

    report = run_invoicing(world.deps())

    # Then globex is invoiced, gaulois is reported failed naming the missing jurisdiction,
    # and no number was used for it
    outcomes = {run.tenant: (run.outcome, run.error) for run in report.tenants}
    assert outcomes["globex"] == ("issued", None)
    assert outcomes["gaulois"][0] == "failed"
    assert "no tax rules for FR" in str(outcomes["gaulois"][1])
    assert world.store.counters == {"INV": 1}


def test_a_stripe_timeout_for_one_tenant_fails_it_alone_and_the_retry_charges_it_once() -> None:
    # Given two tenants with cards, and Stripe's answer to acme's auto-pay lost (a timeout
    # after Stripe created the PaymentIntent: a ConnectionError, not a billing error)
    world = World("acme", "globex", customers={"acme": "cus_a", "globex": "cus_g"})
    october_usage(world, "acme")
    october_usage(world)
    world.gateway.fail_after_create = True

    # When the run goes through both tenants
    report = run_invoicing(world.deps())

    # Then acme is reported failed (the handler raises, so the invocation is retried), and
    # globex, after it, is still invoiced and auto-paid in this run: it used to abort the run
    outcomes = {run.tenant: (run.outcome, run.autopay) for run in report.tenants}
    assert outcomes["globex"] == ("issued", "succeeded")
    assert outcomes["acme"][0] == "failed"
    assert "ConnectionError" in str(report.failed[0].error)

    # When the retry runs: acme's intent is found by its trigger, not created again
    again = run_invoicing(world.deps())

    assert {run.tenant: run.outcome for run in again.tenants} == {
        "acme": "existed", "globex": "existed"}
    assert len(world.gateway.intents) == 2  # one per tenant
    acme, globex = world.store.get("acme", "2026-10"), world.store.get("globex", "2026-10")
    assert acme is not None and globex is not None
    assert (acme.status, globex.status) == ("Paid", "Paid")


def test_a_payment_on_an_overdue_invoice_keeps_it_overdue_until_paid_in_full() -> None:
    # Given October's 15.00 invoice, overdue since 17 November
    world = World()
    october_usage(world)
    run_invoicing(world.deps())
    world.run_on("2026-11-17T02:00:00")

    # When 5.00 is paid, then the 10.00 rest
    apply_payment("globex", "pi_a", Decimal("5.00"), "USD", world.store)
    part = world.store.get("globex", "2026-10")
    apply_payment("globex", "pi_b", Decimal("10.00"), "USD", world.store)

    # Then it stays Overdue with 10.00 due (suspension still applies), then is Paid
    assert part is not None and (part.status, part.balance_due) == ("Overdue", Decimal("10.00"))
    paid = world.store.get("globex", "2026-10")
    assert paid is not None and (paid.status, paid.balance_due) == ("Paid", Decimal("0.00"))


def test_a_split_fixed_before_another_payment_settled_the_invoice_never_overpays_it() -> None:
    from shared.services.invoice_records import Allocation

    # Given pi_old's split fixed on October's 15.00 (it crashed before applying it) ...
    world = World()
    october_usage(world)
    run_invoicing(world.deps())
    world.store.save_allocation(Allocation("pi_old", "globex", "USD", Decimal("15.00"),
                                           (("2026-10", Decimal("15.00")),), Decimal(0)))
    # ... and pi_new paid the invoice in full meanwhile
    apply_payment("globex", "pi_new", Decimal("15.00"), "USD", world.store)

    # When pi_old's retry applies its split
    retried = apply_payment("globex", "pi_old", Decimal("15.00"), "USD", world.store)

    # Then nothing more is applied: 15.00 paid, not 30.00
    invoice = world.store.get("globex", "2026-10")
    assert invoice is not None and (invoice.paid, invoice.status) == (Decimal("15.00"), "Paid")
    assert not retried.changed
