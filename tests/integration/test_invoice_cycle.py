"""invoice_cycle end to end on the local stack: the real handler, scheduled events in the
shape EventBridge delivers, InvoicesTable's one-transaction issue, PDFs in S3.

Each tenant here is postpaid USD in UTC with a 10.00 and a 2.50 call answered in October
2026; the run on 2 November 02:00 UTC invoices October (its end plus the 24 h settlement lag
has passed). No country on the buyer: the seller's GB rules apply, VAT 20 %, so every
invoice is 12.50 + 2.50 = 15.00. The stack is shared by the module: numbers are compared
with the counter before and after, never as absolute values.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from shared.adapters.dynamodb import DynamoTenantDirectory
from shared.adapters.invoice_store import DynamoInvoiceStore
from shared.local.dispatcher import LocalLambdaContext, function_environment, load_handler
from shared.local.fake_stripe import FAKE_API_KEY, FakeStripe
from shared.local.stack import LocalStack
from tests.integration.invoice_cycle_steps import postpaid_tenant_with_october_calls, scheduled
from tests.integration.stack_helpers import state_dir_for
from tests.unit.cli.conftest import Billing, billing_runner

pytestmark = pytest.mark.integration

class Cycle:
    def __init__(self, stack: LocalStack, stripe: FakeStripe) -> None:
        self.stack = stack
        self.env = {
            **stack.function_environment("InvoiceCycleFunction"),
            **stack.aws_environment(),
            "STRIPE_API_KEY": FAKE_API_KEY,  # wins over STRIPE_API_KEY_PARAMETER locally
            "STRIPE_API_BASE": stripe.api_base,
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        dynamodb = stack.client("dynamodb")
        self.dynamodb = dynamodb
        self.s3 = stack.client("s3")
        self.store = DynamoInvoiceStore(dynamodb, self.env["INVOICES_TABLE"],
                                        self.env["PAYMENTS_TABLE"])
        self.directory = DynamoTenantDirectory(dynamodb, self.env["TENANTS_TABLE"])

    def tenant(self, tenant: str) -> None:
        postpaid_tenant_with_october_calls(self.dynamodb, self.env, tenant)

    def counter(self) -> int:
        return self.store.last_number("INV")

    def handler(self, event: dict[str, Any]) -> dict[str, Any]:
        with function_environment(self.env):
            result: dict[str, Any] = load_handler(self.stack, "InvoiceCycleFunction")(
                event, LocalLambdaContext(function_name="invoice_cycle"))
            return result


@pytest.fixture
def cycle(local_stack: LocalStack, fake_stripe: FakeStripe) -> Iterator[Cycle]:
    made = Cycle(local_stack, fake_stripe)
    with function_environment(made.env):
        from shared.wiring import _invoice_cycle_base, invoice_cycle_settings

        _invoice_cycle_base.cache_clear()  # a cold container on this stack
        invoice_cycle_settings.cache_clear()
        yield made
        _invoice_cycle_base.cache_clear()
        invoice_cycle_settings.cache_clear()


def test_a_double_fired_schedule_issues_one_invoice(cycle: Cycle) -> None:
    # Given a postpaid tenant with October usage
    cycle.tenant("dbl-fire")
    before = cycle.counter()

    # When the invoice-run rule fires twice (two deliveries of the same minute)
    first = cycle.handler(scheduled("invoice-run", cycle.stack))
    second = cycle.handler(scheduled("invoice-run", cycle.stack))

    # Then one invoice, one number used, and the second run issued nothing
    invoice = cycle.store.get("dbl-fire", "2026-10")
    assert invoice is not None
    assert invoice.number in first["issued"] and second["issued"] == []
    assert [i.number for i in cycle.store.of_tenant("dbl-fire")] == [invoice.number]
    assert cycle.counter() == before + len(first["issued"])
    # 12.50 of calls + 20 % VAT
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("12.50"), Decimal("2.50"), Decimal("15.00"))
    assert (invoice.status, invoice.issue_date, invoice.due_date) == (
        "Sent", "2026-11-02", "2026-11-16")


def test_tenants_invoiced_at_once_get_gapless_numbers(cycle: Cycle) -> None:
    # Given six tenants invoiced by six threads at the same moment
    tenants = [f"gapless-{n}" for n in range(6)]
    for tenant in tenants:
        cycle.tenant(tenant)
    from shared.services.invoicing import run_invoicing
    from shared.wiring import invoice_cycle_deps

    before = cycle.counter()
    deps = invoice_cycle_deps(1_793_671_200_000)  # 2026-11-02T02:00:00Z
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda t=tenant: reports.append(run_invoicing(deps, [t])))
               for tenant in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then the six numbers are exactly the next six, none skipped, none twice
    assert all(run.outcome == "issued" for report in reports for run in report.tenants)
    numbers = sorted(int(cycle.store.get(t, "2026-10").number.split("-")[1])  # type: ignore[union-attr]
                     for t in tenants)
    assert numbers == list(range(before + 1, before + 7))
    assert cycle.counter() == before + 6


def test_a_crash_between_issue_and_pdf_is_finished_by_the_retry(cycle: Cycle) -> None:
    # Given a run that dies right after the issue transaction committed
    cycle.tenant("crashy")
    from shared.services.invoicing import run_invoicing
    from shared.wiring import invoice_cycle_deps

    class Died(BaseException):
        """The process dying (a hard timeout): nothing in the run can catch it."""

    def crash(step: str) -> None:
        if step == "issued":
            raise Died("injected: the Lambda died here")

    deps = dataclasses.replace(invoice_cycle_deps(1_793_671_200_000), after_step=crash)
    before = cycle.counter()
    with pytest.raises(Died, match="injected"):
        run_invoicing(deps, ["crashy"])
    issued = cycle.store.get("crashy", "2026-10")
    assert issued is not None and issued.pdf_key is None

    # When Lambda retries the scheduled invocation
    cycle.handler(scheduled("invoice-run", cycle.stack))

    # Then still one invoice and one number, now with its PDF under invoices/
    invoice = cycle.store.get("crashy", "2026-10")
    assert invoice is not None and invoice.number == issued.number
    assert cycle.counter() == before + 1
    assert invoice.pdf_key == f"invoices/crashy/{invoice.number}.pdf"
    body = cycle.s3.get_object(Bucket=cycle.env["INVOICE_BUCKET"], Key=invoice.pdf_key)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(body["Body"].read())).pages)
    assert invoice.number in text and "15.00" in text


def test_an_unpaid_invoice_becomes_overdue_after_its_due_date(cycle: Cycle) -> None:
    cycle.tenant("late-payer")
    cycle.handler(scheduled("invoice-run", cycle.stack))
    invoice = cycle.store.get("late-payer", "2026-10")
    assert invoice is not None and invoice.status == "Sent"  # no card: auto-pay had none

    # the daily run the day after the due date (16 November)
    cycle.handler(scheduled("invoice-run", cycle.stack, "2026-11-17T02:00:00Z"))

    overdue = cycle.store.get("late-payer", "2026-10")
    assert overdue is not None and overdue.status == "Overdue"
    assert [o.number for o in cycle.store.open_invoices("late-payer")] == [invoice.number]


@pytest.fixture
def billing(
    capsys: pytest.CaptureFixture[str], local_stack: LocalStack, tmp_path: Path
) -> Billing:
    return billing_runner(capsys, "--state-dir", str(state_dir_for(local_stack, tmp_path)))


def test_billing_invoices_lists_and_invoice_show_downloads_the_pdf(
    cycle: Cycle, billing: Billing, tmp_path: Path
) -> None:
    # Given an issued invoice
    cycle.tenant("cli-shown")
    cycle.handler(scheduled("invoice-run", cycle.stack))
    invoice = cycle.store.get("cli-shown", "2026-10")
    assert invoice is not None

    # When the operator lists the tenant's invoices and shows the one
    listed = billing("invoices", "--tenant", "cli-shown", "--json")
    shown = billing("invoice", "show", invoice.number, "--out", tmp_path / "pdfs")

    # Then the list has number, period, status, total and balance due
    assert listed.code == 0
    assert json.loads(listed.out) == [{
        "number": invoice.number, "tenant": "cli-shown", "period": "2026-10",
        "status": "Sent", "total": "15.00", "balance_due": "15.00", "currency": "USD",
        "issue_date": "2026-11-02", "due_date": "2026-11-16",
    }]
    # and show prints the lines and totals and where it put the PDF, a real PDF
    assert shown.code == 0, shown.err
    assert "voice out" in shown.out and "total" in shown.out and "15.00 USD" in shown.out
    pdf = tmp_path / "pdfs" / f"{invoice.number}.pdf"
    assert f"pdf: {pdf.resolve()}" in shown.out
    assert invoice.number in PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].extract_text()


def test_billing_invoice_show_of_an_unknown_number_is_one_line_and_non_zero(
    billing: Billing,
) -> None:
    missing = billing("invoice", "show", "INV-999999")
    malformed = billing("invoice", "show", "nope")

    assert (missing.code, missing.err.strip()) == (2, "billing: error: no invoice INV-999999")
    assert malformed.code == 2 and len(malformed.err.strip().splitlines()) == 1
    assert "PREFIX-NNNNNN" in malformed.err


def test_billing_pay_for_an_unknown_tenant_is_one_line_and_non_zero(billing: Billing) -> None:
    # was "nobody has nothing due" and exit 0, as if a real account owed nothing
    paid = billing("pay", "--tenant", "nobody", "--amount", "1.00")

    assert (paid.code, paid.out, paid.err.strip()) == (2, "", "billing: error: no tenant 'nobody'")


def test_a_number_port_added_twice_is_billed_once_on_the_next_invoice(
    cycle: Cycle, billing: Billing
) -> None:
    # Given a tenant with October usage and a number port of 25.00 for October, added twice
    cycle.tenant("porting")
    added = billing("charge", "--tenant", "porting", "--id", "port-7", "--description",
                    "Number port", "--amount", "25.00", "--period", "2026-10", "--json")
    again = billing("charge", "--tenant", "porting", "--id", "port-7", "--description",
                    "Number port", "--amount", "25.00", "--period", "2026-10", "--json")
    assert json.loads(added.out)["added"] is True and json.loads(again.out)["added"] is False

    # When October is invoiced
    cycle.handler(scheduled("invoice-run", cycle.stack))

    # Then 12.50 of calls + 25.00 port = 37.50, VAT 7.50, total 45.00; the port is billed
    invoice = cycle.store.get("porting", "2026-10")
    assert invoice is not None
    assert (invoice.subtotal, invoice.total) == (Decimal("37.50"), Decimal("45.00"))
    assert cycle.store.pending_charges("porting") == []
    bad = billing("charge", "--tenant", "porting", "--id", "x", "--description", "d",
                  "--amount", "1.234")
    assert bad.code == 2 and "decimal places" in bad.err


def test_billing_pay_settles_the_open_invoice_in_parts_once_per_request(
    cycle: Cycle, billing: Billing, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.adapters.payments_store import DynamoPaymentRecords
    from shared.adapters.stripe_gateway import StripeGateway
    from shared.local.fake_stripe import CARD_DECLINED, CARD_OK
    from shared.services.cards import CardDeps, save_card, set_default

    # Given a tenant whose card declined auto-pay: its 15.00 invoice is open
    cycle.tenant("payer")
    records = DynamoPaymentRecords(cycle.dynamodb, cycle.env["PAYMENTS_TABLE"])
    cards = CardDeps(cycle.directory, records, StripeGateway(FAKE_API_KEY, fake_stripe.api_base))

    def card(number: str) -> str:
        method: str = fake_stripe.request("POST", "/v1/payment_methods", {
            "type": "card", "card[number]": number, "card[exp_month]": "12",
            "card[exp_year]": "2034", "card[cvc]": "123"})["id"]
        save_card("payer", cards, method)
        return method

    card(CARD_DECLINED)
    cycle.handler(scheduled("invoice-run", cycle.stack))
    invoice = cycle.store.get("payer", "2026-10")
    assert invoice is not None and (invoice.status, invoice.autopay.get("outcome")) == (
        "Sent", "declined")
    set_default("payer", card(CARD_OK), cards)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.api_base)

    # When the tenant pays 10.00 now, the same request twice, then the rest
    first = billing("pay", "--tenant", "payer", "--amount", "10.00", "--request-id", "r1",
                    "--json")
    again = billing("pay", "--tenant", "payer", "--amount", "10.00", "--request-id", "r1",
                    "--json")
    partly = cycle.store.get("payer", "2026-10")
    rest = billing("pay", "--tenant", "payer", "--request-id", "r2", "--json")

    # Then 10.00 is applied once (15.00 - 10.00 = 5.00 left), then the 5.00 rest: Paid
    assert first.code == again.code == rest.code == 0, (first.err, again.err, rest.err)
    one, two = json.loads(first.out), json.loads(again.out)
    assert one["payment_intent"] == two["payment_intent"]
    assert one["applied"] == [[invoice.number, "10.00"]]
    assert partly is not None and (partly.status, partly.balance_due) == (
        "Partially Paid", Decimal("5.00"))
    assert json.loads(rest.out)["applied"] == [[invoice.number, "5.00"]]
    paid = cycle.store.get("payer", "2026-10")
    assert paid is not None and (paid.status, paid.paid, paid.balance_due) == (
        "Paid", Decimal("15.00"), Decimal("0.00"))
    customer = records.customer_of("payer")
    succeeded = [i for i in fake_stripe.payment_intents(customer) if i["status"] == "succeeded"]
    assert sorted(i["amount"] for i in succeeded) == [500, 1000]


def test_a_credit_note_is_consumed_by_the_issue_and_its_rest_kept_pending(cycle: Cycle) -> None:
    from shared.adapters.payments_store import DynamoPaymentRecords
    from shared.services.invoice_credits import issue_invoice_credit, pending_invoice_credits

    # Given October's 12.50 of calls and a credit note of 20.00 for the next invoice
    cycle.tenant("credited")
    records = DynamoPaymentRecords(cycle.dynamodb, cycle.env["PAYMENTS_TABLE"])
    issue_invoice_credit("credited", "cn-20", "20.00", "outage", records, cycle.directory, 1)

    cycle.handler(scheduled("invoice-run", cycle.stack))

    # Then the invoice uses 12.50 of it (total 0.00) and 7.50 waits for the next one
    invoice = cycle.store.get("credited", "2026-10")
    assert invoice is not None and invoice.total == Decimal("0.00")
    assert (records.get("invoice_credit#credited#cn-20") or {}).get("status") == "applied"
    assert [(c.credit_id, c.amount) for c in pending_invoice_credits("credited", records)] == [
        ("cn-20.rest", Decimal("7.50"))]


def test_the_suspension_and_consistency_schedules_run_their_jobs(cycle: Cycle) -> None:
    # Given the invoices of the tests above, some open
    cycle.tenant("scheduled-jobs")
    cycle.handler(scheduled("invoice-run", cycle.stack))

    # When the two other daily rules fire
    suspension = cycle.handler(scheduled("suspension-check", cycle.stack,
                                         "2026-11-20T06:00:00Z"))
    consistency = cycle.handler(scheduled("consistency-check", cycle.stack,
                                          "2026-11-20T03:30:00Z"))

    # Then each ran its own job: 4 days past due nobody is warned or suspended yet, and the
    # consistency check visited every tenant
    assert suspension == {"job": "suspension-check", "suspended": [], "warned": []}
    assert consistency["job"] == "consistency-check"
    tenants = cycle.dynamodb.scan(TableName=cycle.env["TENANTS_TABLE"], Select="COUNT")["Count"]
    assert consistency["tenants"] >= tenants


def test_a_postpaid_tenant_over_its_credit_limit_is_allowed_again_once_invoiced(
    cycle: Cycle,
) -> None:
    # Given a postpaid tenant with a credit limit of 10.00, its October calls (12.50) debited
    # to the ledger as rate_call debits them
    from shared.adapters.dynamodb import DynamoUsageStore, UsageTables
    from shared.domain.call_status import call_status

    cycle.tenant("limited")
    settings = cycle.directory.get("limited")
    assert settings is not None
    settings = settings.model_copy(update={"credit_limit": Decimal("10.00")})
    cycle.directory.put(settings)
    ledger = DynamoUsageStore(cycle.dynamodb, UsageTables(
        rated_calls=cycle.env["RATED_CALLS_TABLE"], ledger=cycle.env["LEDGER_TABLE"],
        balances=cycle.env["BALANCES_TABLE"], breakouts="", files=""))
    ledger.credit("limited", "usage#seed:0", Decimal("-12.50"), "USD")
    assert not call_status(settings, ledger.balance("limited"), Decimal(0)).outbound_allowed

    # When October is invoiced by a schedule that fires twice
    cycle.handler(scheduled("invoice-run", cycle.stack))
    cycle.handler(scheduled("invoice-run", cycle.stack))

    # Then the issue transaction wrote one ledger credit invoiced#<number> of exactly the
    # 12.50 of usage billed; balance 0 == ledger sum; outbound calls allowed again
    invoice = cycle.store.get("limited", "2026-10")
    assert invoice is not None
    entries = [(e.entry_id, e.kind, e.amount) for e in ledger.ledger_entries("limited")]
    assert entries == [(f"invoiced#{invoice.number}", "invoiced", Decimal("12.50")),
                       ("usage#seed:0", "usage", Decimal("-12.50"))]
    assert ledger.balance("limited") == ledger.ledger_sum("limited") == Decimal("0")
    assert call_status(settings, ledger.balance("limited"), Decimal(0)).outbound_allowed
