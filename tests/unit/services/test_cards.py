"""Card management with fakes: the tenant → customer mapping in (in-memory) PaymentsTable
records, the cards in a fake Stripe."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from shared.domain.errors import ValidationError
from shared.domain.tenants import TenantSettings
from shared.services.cards import (
    CardDeps,
    ensure_customer,
    list_cards,
    remove_card,
    save_card,
    set_default,
)
from tests.fakes.cards import FakeCardGateway
from tests.fakes.payments import MemoryRechargeRecords


@dataclass
class World:
    records: MemoryRechargeRecords = field(default_factory=MemoryRechargeRecords)
    gateway: FakeCardGateway = field(default_factory=FakeCardGateway)

    def get(self, tenant: str) -> TenantSettings | None:
        if tenant not in {"acme", "globex"}:
            return None
        return TenantSettings(tenant_id=tenant, card="c", currency="EUR")

    @property
    def deps(self) -> CardDeps:
        return CardDeps(tenants=self, records=self.records, gateway=self.gateway)


def test_the_first_save_creates_the_customer_and_records_the_mapping_both_ways() -> None:
    world = World()

    setup = save_card("acme", world.deps)

    # a SetupIntent waiting for the browser, on a new customer recorded for acme
    assert (setup.status, setup.client_secret) == ("requires_payment_method",
                                                   "seti_fake_1_secret_x")
    assert world.records.customer_of("acme") == "cus_fake_1"
    assert world.records.get("customer#cus_fake_1") == {"tenant": "acme"}
    assert world.gateway.calls == ["create_customer acme", "create_setup_intent cus_fake_1"]


def test_later_saves_reuse_the_customer() -> None:
    world = World()
    save_card("acme", world.deps, "pm_card_visa")
    save_card("acme", world.deps, "pm_card_mastercard")

    assert len(world.gateway.customers) == 1
    assert [c.last4 for c in list_cards("acme", world.deps)] == ["4242", "4444"]


def test_a_customer_recorded_concurrently_wins_over_the_one_just_created() -> None:
    # Given another save recorded cus_winner between our read and our link
    world = World()

    class Racing(MemoryRechargeRecords):
        reads = 0

        def customer_of(self, tenant: str) -> str | None:
            self.reads += 1
            if self.reads == 1:
                return None
            return "cus_winner"

    world.records = Racing()

    # Then our customer is not used; the recorded one is
    assert ensure_customer("acme", world.deps) == "cus_winner"
    assert world.records.get("customer#cus_winner") == {"tenant": "acme"}


def test_the_first_confirmed_card_becomes_the_default_and_later_ones_do_not() -> None:
    world = World()

    visa = save_card("acme", world.deps, "pm_card_visa").payment_method
    save_card("acme", world.deps, "pm_card_mastercard")

    cards = list_cards("acme", world.deps)
    assert [(c.payment_method == visa, c.default) for c in cards] == [(True, True), (False, False)]


def test_listing_shows_brand_last4_expiry_and_the_default_first() -> None:
    world = World()
    save_card("acme", world.deps, "pm_card_visa")
    master = save_card("acme", world.deps, "pm_card_mastercard").payment_method
    assert master is not None

    set_default("acme", master, world.deps)
    cards = list_cards("acme", world.deps)

    assert [(c.brand, c.last4, c.expiry, c.default) for c in cards] == [
        ("mastercard", "4444", "06/2031", True),
        ("visa", "4242", "12/2034", False),
    ]


def test_a_tenant_without_a_customer_has_no_cards_and_none_is_created() -> None:
    world = World()

    assert list_cards("acme", world.deps) == []
    assert world.gateway.calls == []


def test_removing_the_default_card_leaves_no_default() -> None:
    world = World()
    visa = save_card("acme", world.deps, "pm_card_visa").payment_method
    amex = save_card("acme", world.deps, "pm_card_amex").payment_method
    assert visa and amex

    removed = remove_card("acme", visa, world.deps)

    assert removed.last4 == "4242"
    assert [(c.payment_method, c.default) for c in list_cards("acme", world.deps)] == [
        (amex, False)
    ]


def test_setting_an_existing_default_again_calls_nothing() -> None:
    world = World()
    visa = save_card("acme", world.deps, "pm_card_visa").payment_method
    assert visa
    calls = len(world.gateway.calls)

    set_default("acme", visa, world.deps)

    assert len(world.gateway.calls) == calls


def test_another_tenants_card_cannot_be_made_default_or_removed() -> None:
    world = World()
    # globex's card, attached in the browser (its customer has no default yet)
    save_card("globex", world.deps)
    theirs = world.gateway.create_setup_intent("cus_fake_1", {}, "pm_card_visa").payment_method
    assert theirs
    save_card("acme", world.deps, "pm_card_amex")

    for action in (set_default, remove_card):
        with pytest.raises(ValidationError, match=r"acme.*has no saved card"):
            action("acme", theirs, world.deps)
    assert theirs in world.gateway.attached
    assert world.gateway.customers["cus_fake_1"]["default"] is None


def test_an_unknown_tenant_is_refused_before_stripe_is_called() -> None:
    world = World()

    for call in (lambda: save_card("nobody", world.deps), lambda: list_cards("nobody", world.deps),
                 lambda: remove_card("nobody", "pm_x", world.deps)):
        with pytest.raises(ValidationError, match="no tenant 'nobody'"):
            call()
    assert world.gateway.calls == []
