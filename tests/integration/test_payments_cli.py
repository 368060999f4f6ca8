"""`billing cards …` and `billing topup` against the local stack and a fake Stripe HTTP server
(tests/fakes/stripe_server.py): the real CLI, services, DynamoDB adapters, StripeGateway and
stripe client; only Stripe itself is fake, on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
from shared.domain.tenants import TenantSettings
from shared.local.stack import LocalStack
from tests.fakes.stripe_server import FakeStripe
from tests.unit.cli.conftest import Billing, Run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def state_dir(
    local_stack: LocalStack, fake_stripe: FakeStripe, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    state = {"pid": 0, **local_stack.describe(),
             "stripe": {"webhook_url": None, "webhook_secret": None, "api_base": fake_stripe.url}}
    (tmp_path / "state.json").write_text(json.dumps(state))
    return tmp_path


@pytest.fixture
def billing(capsys: pytest.CaptureFixture[str], state_dir: Path) -> Billing:
    from shared.cli.main import main

    def run(*argv: str | Path) -> Run:
        try:
            code = main([*map(str, argv), "--state-dir", str(state_dir)])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def _tenant(stack: LocalStack, name: str) -> DynamoUsageStore:
    env = stack.function_environment("StripeWebhookFunction")
    dynamodb = stack.client("dynamodb")
    DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"]).put(
        TenantSettings(tenant_id=name, card="any", currency="EUR")
    )
    return DynamoUsageStore(dynamodb, UsageTables(
        rated_calls="", ledger=env["LEDGER_TABLE"], balances=env["BALANCES_TABLE"],
        breakouts="", files="",
    ))


def test_cards_are_saved_listed_made_default_and_removed(
    local_stack: LocalStack, billing: Billing
) -> None:
    _tenant(local_stack, "cli-cards")

    # Given no card yet, a browser-confirmed SetupIntent and two cards saved at once
    assert "has no saved cards" in billing("cards", "list", "--tenant", "cli-cards").out
    pending = billing("cards", "add", "--tenant", "cli-cards")
    assert pending.code == 0 and "client secret" in pending.out
    added = [billing("cards", "add", "--tenant", "cli-cards", "--payment-method", token)
             for token in ("pm_card_visa", "pm_card_mastercard")]
    assert [run.code for run in added] == [0, 0]

    listed = json.loads(billing("cards", "list", "--tenant", "cli-cards", "--json").out)
    assert [(c["brand"], c["last4"], c["exp_month"], c["exp_year"], c["default"])
            for c in listed] == [("visa", "4242", 12, 2034, True),
                                 ("mastercard", "4444", 6, 2031, False)]
    visa, master = listed[0]["payment_method"], listed[1]["payment_method"]

    # When the mastercard becomes the default and the visa is removed
    assert billing("cards", "default", "--tenant", "cli-cards", master).code == 0
    assert billing("cards", "remove", "--tenant", "cli-cards", visa).code == 0

    # Then one card is left, the default
    text = billing("cards", "list", "--tenant", "cli-cards").out
    assert text.splitlines() == [f"{master:<28}mastercard  **** 4444  06/2031  default"]


def test_another_tenants_card_is_no_such_card(local_stack: LocalStack, billing: Billing) -> None:
    _tenant(local_stack, "cli-owner")
    _tenant(local_stack, "cli-other")
    billing("cards", "add", "--tenant", "cli-owner", "--payment-method", "pm_card_visa")
    theirs = json.loads(billing("cards", "list", "--tenant", "cli-owner", "--json").out)[0]

    run = billing("cards", "remove", "--tenant", "cli-other", theirs["payment_method"])

    assert run.code == 2
    assert run.err == (f"billing: error: tenant 'cli-other' has no saved card "
                       f"'{theirs['payment_method']}'\n")


def test_a_manual_top_up_charges_the_default_card_once_per_request(
    local_stack: LocalStack, billing: Billing, fake_stripe: FakeStripe
) -> None:
    store = _tenant(local_stack, "cli-topup")
    billing("cards", "add", "--tenant", "cli-topup", "--payment-method", "pm_card_visa")

    # below the minimum: refused before Stripe is asked
    small = billing("topup", "--tenant", "cli-topup", "--amount", "4.99")
    assert (small.code, small.err) == (
        2, "billing: error: a manual top-up is at least 5.00 EUR, got 4.99\n"
    )

    # the same request twice (a retried command): one PaymentIntent, one credit of 20.00
    first = billing("topup", "--tenant", "cli-topup", "--amount", "20.00", "--request-id", "r1")
    again = billing("topup", "--tenant", "cli-topup", "--amount", "20.00", "--request-id", "r1")

    assert first.code == 0 and "topped up 20.00 EUR" in first.out, first.err
    assert again.code == 0 and "already handled" in again.out
    intents = [o for o in fake_stripe.objects.values() if o.get("object") == "payment_intent"
               and o["customer"] and o["metadata"].get("tenant") == "cli-topup"]
    assert [(i["amount"], i["currency"]) for i in intents] == [(2000, "eur")]
    assert store.balance("cli-topup") == Decimal("20.00")


def test_a_declined_top_up_credits_nothing_and_notifies(
    local_stack: LocalStack, billing: Billing
) -> None:
    store = _tenant(local_stack, "cli-declined")
    billing("cards", "add", "--tenant", "cli-declined", "--payment-method",
            "pm_card_chargeDeclined")

    run = billing("topup", "--tenant", "cli-declined", "--amount", "10.00")

    assert run.code == 1
    assert run.err.splitlines()[0] == "notified cli-declined: declined"
    assert run.err.splitlines()[1].startswith("billing: error: the card was declined")
    assert store.balance("cli-declined") == Decimal("0")


def test_a_top_up_without_a_card_says_how_to_add_one(
    local_stack: LocalStack, billing: Billing
) -> None:
    _tenant(local_stack, "cli-nocard")

    run = billing("topup", "--tenant", "cli-nocard", "--amount", "10.00")

    assert run.code == 2
    assert "has no default card: add one with `billing cards add`" in run.err
