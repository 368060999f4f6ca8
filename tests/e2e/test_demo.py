"""The demo flow end to end on the local stack: what `make demo` shows must hold."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from shared.cli.main import main

pytestmark = pytest.mark.e2e


def test_the_demo_rates_every_tenant_consistently(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--rows", "1500"]) == 0
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
    _check_payments(out.split("== payments:", 1)[1])


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
    assert "fake stripe and webhook endpoint stopped" in out
