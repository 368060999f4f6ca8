"""`billing cards …` and `billing topup` against the local stack and localstripe (the
``fake_stripe`` fixture): the real CLI, services, DynamoDB adapters, StripeGateway and stripe
client; only Stripe itself is fake, on 127.0.0.1."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
from shared.domain.tenants import TenantSettings
from shared.local.fake_stripe import CARD_DECLINED, CARD_OK, FakeStripe
from shared.local.stack import LocalStack
from tests.unit.cli.conftest import Billing, billing_runner

pytestmark = pytest.mark.integration


MASTERCARD = "5555555555554444"


def _card(fake: FakeStripe, number: str, month: int = 12, year: int = 2034) -> str:
    """A PaymentMethod as Stripe.js would create it in the browser; its id."""
    method = fake.request("POST", "/v1/payment_methods", {
        "type": "card", "card[number]": number, "card[exp_month]": str(month),
        "card[exp_year]": str(year), "card[cvc]": "123",
    })
    return str(method["id"])


@pytest.fixture
def state_dir(
    local_stack: LocalStack, fake_stripe: FakeStripe, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    stripe = {"webhook_url": None, "webhook_secret": None, "api_base": fake_stripe.api_base}
    state = {"pid": 0, **local_stack.describe(), "stripe": stripe}
    (tmp_path / "state.json").write_text(json.dumps(state))
    return tmp_path


@pytest.fixture
def billing(capsys: pytest.CaptureFixture[str], state_dir: Path) -> Billing:
    return billing_runner(capsys, "--state-dir", str(state_dir))


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
    local_stack: LocalStack, billing: Billing, fake_stripe: FakeStripe
) -> None:
    _tenant(local_stack, "cli-cards")

    # Given no card yet, a browser-confirmed SetupIntent and two cards saved at once
    assert "has no saved cards" in billing("cards", "list", "--tenant", "cli-cards").out
    pending = billing("cards", "add", "--tenant", "cli-cards")
    assert pending.code == 0 and "client secret" in pending.out
    added = [billing("cards", "add", "--tenant", "cli-cards", "--payment-method", method)
             for method in (_card(fake_stripe, CARD_OK),
                            _card(fake_stripe, MASTERCARD, 6, 2031))]
    assert [run.code for run in added] == [0, 0], [run.err for run in added]

    listed = json.loads(billing("cards", "list", "--tenant", "cli-cards", "--json").out)
    assert [(c["brand"], c["last4"], c["exp_month"], c["exp_year"], c["default"])
            for c in listed] == [("visa", "4242", 12, 2034, True),
                                 ("visa", "4444", 6, 2031, False)]  # localstripe: all visa
    visa, master = listed[0]["payment_method"], listed[1]["payment_method"]

    # When the second card becomes the default and the visa is removed
    assert billing("cards", "default", "--tenant", "cli-cards", master).code == 0
    assert billing("cards", "remove", "--tenant", "cli-cards", visa).code == 0

    # Then one card is left, the default
    text = billing("cards", "list", "--tenant", "cli-cards").out
    assert text.splitlines() == [f"{master:<28}visa        **** 4444  06/2031  default"]


def test_another_tenants_card_is_no_such_card(
    local_stack: LocalStack, billing: Billing, fake_stripe: FakeStripe
) -> None:
    _tenant(local_stack, "cli-owner")
    _tenant(local_stack, "cli-other")
    billing("cards", "add", "--tenant", "cli-owner", "--payment-method",
            _card(fake_stripe, CARD_OK))
    theirs = json.loads(billing("cards", "list", "--tenant", "cli-owner", "--json").out)[0]

    run = billing("cards", "remove", "--tenant", "cli-other", theirs["payment_method"])

    assert run.code == 2
    assert run.err == (f"billing: error: tenant 'cli-other' has no saved card "
                       f"'{theirs['payment_method']}'\n")


def test_a_manual_top_up_charges_the_default_card_once_per_request(
    local_stack: LocalStack, billing: Billing, fake_stripe: FakeStripe
) -> None:
    store = _tenant(local_stack, "cli-topup")
    billing("cards", "add", "--tenant", "cli-topup", "--payment-method",
            _card(fake_stripe, CARD_OK))

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
    intents = [i for i in fake_stripe.payment_intents()
               if (i.get("metadata") or {}).get("tenant") == "cli-topup"]
    assert [(i["amount"], i["currency"], i["status"]) for i in intents] == [
        (2000, "eur", "succeeded")
    ]
    assert store.balance("cli-topup") == Decimal("20.00")


def test_a_declined_top_up_credits_nothing_and_notifies(
    local_stack: LocalStack, billing: Billing, fake_stripe: FakeStripe
) -> None:
    store = _tenant(local_stack, "cli-declined")
    billing("cards", "add", "--tenant", "cli-declined", "--payment-method",
            _card(fake_stripe, CARD_DECLINED))

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
