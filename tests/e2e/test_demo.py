"""The demo flow end to end on the local stack: what `make demo` shows must hold."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from shared.cli.main import main

pytestmark = pytest.mark.e2e


def test_the_demo_rates_every_tenant_consistently(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["demo", "--rows", "1500", "--invoices-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # every tenant's balance equals its ledger sum
    balances = re.findall(r"^== .*\(ledger sum .*?, (equal|MISMATCH)\)$", out, re.M)
    assert balances == ["equal", "equal", "equal"]
    # the re-sent prepaid file charged nothing: all 1,500 rows duplicates
    assert re.search(r"cdrs-resent\.csv\s+rows\s+1500\s+rated\s+0 .*duplicates\s+1500", out)
    # the mixed file: one rated, the other tenant's row and the bad row rejected with reasons
    assert "wrong_tenant" in out and "malformed" in out
    # nothing stuck: every message handled, none in the dead-letter queue
    assert re.search(r"\(0 failed\)", out)
    assert "dead-letter queue: 0 messages" in out
    payments, month_end = out.split("== payments:", 1)[1].split("== month end:", 1)
    _check_payments(payments)
    _check_month_end(month_end, tmp_path)
    assert "fake stripe and webhook endpoint stopped" in month_end


def _wallets(out: str, tenant: str) -> list[tuple[Decimal, Decimal, str]]:
    """(balance, ledger sum, payments) of each wallet line of ``tenant``, in order."""
    return [
        (Decimal(balance), Decimal(ledger), payments)
        for balance, ledger, payments in re.findall(
            rf"^   {tenant}: wallet (\S+) USD \(ledger sum (\S+), equal\); payments: (.*)$",
            out, re.M,
        )
    ]


def _check_payments(out: str) -> None:
    # Each tenant opens at 30.00 (threshold 25.00, recharge 100.00) and rates two 20-minute
    # Rest-of-world calls at 0.25 a minute: 30.00 - 2 x 5.00 = 20.00, under the threshold, so
    # rate_call publishes one low-balance event per tenant and the rule queues both.
    for tenant in ("hooli-voip", "wayne-tel"):
        found = re.search(rf"{tenant}: rated usage took the wallet from 30\.00 to (\S+) USD", out)
        assert found and Decimal(found[1]) == Decimal("20.00")
    assert "RechargeQueue holds 2 low-balance events" in out
    assert "wallet_recharge handled 2 events (0 failed)" in out

    # hooli's good card: one PaymentIntent of 100.00, succeeded; localstripe's signed
    # payment_intent.succeeded reaches the webhook; one top-up entry: 20.00 + 100.00 = 120.00
    intent = re.search(r"hooli-voip: PaymentIntents: 1 — (pi_\w+) 100\.00 USD succeeded$", out,
                       re.M)
    assert intent, out
    assert re.search(r"payment_intent\.succeeded evt_\w+ \(signed\) to the webhook: "
                     r"intent succeeded$", out, re.M)
    topped_up, refunded = _wallets(out, "hooli-voip")
    assert topped_up == (Decimal("120.00"), Decimal("120.00"), f"topup#{intent[1]} 100.00")

    # wayne's card is declined: no credit, one email, a one-hour back-off during which another
    # low-balance event creates no PaymentIntent and sends no email
    assert re.search(r"wayne-tel: PaymentIntents: 1 — pi_\w+ requires_payment_method$", out, re.M)
    assert re.search(r"payment_intent\.payment_failed evt_\w+ \(signed\) to the webhook: "
                     r"intent failed$", out, re.M)
    assert "wayne-tel: recharge declined, declines 1, next try in 1 h; emails sent: 1" in out
    assert "PaymentIntents still 1, emails sent still 1" in out
    assert _wallets(out, "wayne-tel") == [(Decimal("20.00"), Decimal("20.00"), "none")]

    # a 30.00 refund of the top-up, its signed charge.refunded delivered twice: debited once,
    # 120.00 - 30.00 = 90.00
    refund = re.search(r"refund (re_\w+) of 30\.00 USD; charge\.refunded delivered twice: "
                       r"200 processed, 200 duplicate$", out, re.M)
    assert refund, out
    assert refunded == (Decimal("90.00"), Decimal("90.00"),
                        f"refund#{refund[1]} -30.00, topup#{intent[1]} 100.00")


def _check_month_end(out: str, pdfs: Path) -> None:
    # Seven tenants had October to invoice (acme, globex, initech, hooli, wayne, umbrella,
    # cyberdyne): seven invoices, numbered INV-000001..7 with no gap; the run fired again
    # issues none
    assert "invoice-run issued 7 invoices; fired again: 0 more" in out
    rows = re.findall(r"^   (INV-\d{6}) (\S+) +2026-10 (\S+(?: Paid)?) +total +(\S+) USD, "
                      r"balance due +(\S+); PDF invoices/(\S+)/(INV-\d{6})\.pdf", out, re.M)
    assert sorted(row[0] for row in rows) == [f"INV-{n:06d}" for n in range(1, 8)]
    invoices = {tenant: (number, status, Decimal(total), Decimal(due))
                for number, tenant, status, total, due, _, _ in rows}
    # umbrella: two 20-minute calls at 0.25 a minute = 10.00, + 20 % VAT = 12.00, paid by
    # auto-pay on issue with one PaymentIntent of 12.00
    number, status, total, due = invoices["umbrella-pbx"]
    assert (status, total, due) == ("Paid", Decimal("12.00"), Decimal("0"))
    assert re.search(r"umbrella-pbx: auto-pay PaymentIntents: 1 — pi_\w+ 12\.00 USD succeeded; "
                     rf"{number} Paid, paid 12\.00$", out, re.M)
    # the postpaid issue credited the usage it billed (10.00 and 5.00) to the ledger: no
    # usage is left unbilled, so a credit limit would allow calls again
    for tenant in ("umbrella-pbx", "cyberdyne-pbx"):
        assert re.search(rf"^   {tenant}: unbilled usage 0(\.0+)? USD once invoiced "
                         r"\(ledger sum 0(\.0+)?, equal\)$", out, re.M), tenant
    # prepaid tenants' usage was paid from the wallet: their invoices are statements, 0 due
    for tenant in ("acme-voip", "hooli-voip", "wayne-tel", "initech"):
        assert invoices[tenant][1:] == ("Paid", Decimal("0"), Decimal("0")), tenant
    # cyberdyne: one call, 5.00 + 1.00 VAT = 6.00; its card declines; due 14 days after the
    # 2 November issue
    late, status, total, due = invoices["cyberdyne-pbx"]
    assert (status, total, due) == ("Sent", Decimal("6.00"), Decimal("6.00"))
    assert f"cyberdyne-pbx: auto-pay declined; {late} Sent, 6.00 due 2026-11-16" in out
    # overdue the day after; warned on days 7 and 13 (still active); suspended on day 14
    assert f"2026-11-17 invoice-run: {late} Overdue" in out
    for day, status in (("2026-11-23", "active"), ("2026-11-29", "active"),
                        ("2026-11-30", "suspended")):
        line = re.search(rf"^   {day} suspension-check: (.*)$", out, re.M)
        assert line and line[1].endswith(f"cyberdyne-pbx is {status}"), (day, out)
    assert re.search(r"^   2026-11-30 suspension-check: .*suspended [^;]*cyberdyne-pbx", out, re.M)
    # paid with a new card: the invoice is Paid and the webhook call restored the account
    assert re.search(r"cyberdyne-pbx: new card, pay now succeeded \(pi_\w+\); localstripe "
                     r"delivered payment_intent\.succeeded evt_\w+ \(signed\) to the webhook; "
                     rf"{late} Paid, balance due 0\.00; account active$", out, re.M)
    # the PDFs were written: one per invoice, the umbrella one shows its number and total
    assert sorted(path.name for path in pdfs.glob("*.pdf")) == [
        f"INV-{n:06d}.pdf" for n in range(1, 8)]
    text = PdfReader(io.BytesIO((pdfs / f"{number}.pdf").read_bytes())).pages[0].extract_text()
    assert number in text and "12.00" in text
