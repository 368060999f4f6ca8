"""The fake Stripe server (localstripe, started and stopped by our code) and StripeGateway
against it: the real HTTP client, the real Stripe SDK, no request leaves 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from shared.adapters.stripe_gateway import StripeGateway
from shared.local.fake_stripe import (
    CARD_AUTHENTICATION,
    CARD_DECLINED,
    CARD_OK,
    FAKE_API_KEY,
    FakeStripe,
)

pytestmark = pytest.mark.integration


def test_it_listens_on_127_0_0_1_and_frees_its_port_when_stopped() -> None:
    server = FakeStripe().start()
    port = server.port
    assert server.api_base == f"http://127.0.0.1:{port}"
    socket.create_connection(("127.0.0.1", port), timeout=1).close()

    server.stop()

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_two_servers_run_side_by_side_with_separate_state() -> None:
    with FakeStripe() as one, FakeStripe() as two:
        customer = one.customer_with_card()

        assert one.port != two.port
        assert [c["id"] for c in one.request("GET", "/v1/customers")["data"]] == [customer]
        assert two.request("GET", "/v1/customers")["data"] == []


def test_the_gateway_charges_the_default_card_off_session(fake_stripe: FakeStripe) -> None:
    gateway = StripeGateway(FAKE_API_KEY, fake_stripe.api_base)
    customer = fake_stripe.customer_with_card(CARD_OK)

    charge = gateway.charge_off_session(customer, 5000, "eur", "k-1", {"tenant": "gw-ok"})

    assert (charge.status, charge.amount_minor, charge.currency) == ("succeeded", 5000, "eur")
    (intent,) = fake_stripe.payment_intents(customer)
    assert intent["id"] == charge.intent_id
    assert intent["metadata"] == {"tenant": "gw-ok"}
    assert gateway.retrieve(charge.intent_id) == charge


def test_a_declined_card_and_a_card_needing_authentication(fake_stripe: FakeStripe) -> None:
    gateway = StripeGateway(FAKE_API_KEY, fake_stripe.api_base)

    declined = gateway.charge_off_session(
        fake_stripe.customer_with_card(CARD_DECLINED), 5000, "eur", "k-2", {}
    )
    authentication = gateway.charge_off_session(
        fake_stripe.customer_with_card(CARD_AUTHENTICATION), 5000, "eur", "k-3", {}
    )

    assert declined.status == "declined"
    assert (authentication.status, authentication.amount_minor) == ("authentication_required", 0)


def test_the_gateway_finds_the_intent_a_trigger_created_on_its_customer_only(
    fake_stripe: FakeStripe,
) -> None:
    gateway = StripeGateway(FAKE_API_KEY, fake_stripe.api_base)
    customer, other = fake_stripe.customer_with_card(), fake_stripe.customer_with_card()
    made = gateway.charge_off_session(customer, 1500, "eur", "k-4", {"trigger": "evt-find"})
    gateway.charge_off_session(other, 1500, "eur", "k-5", {"trigger": "evt-find"})

    assert gateway.find_charge(customer, "evt-find") == made
    assert gateway.find_charge(customer, "evt-other") is None
    assert [pi["customer"] for pi in fake_stripe.payment_intents(other)] == [other]
