"""The invoice rounding's rule, and the billing profile on tenant settings (old stored
tenants still load; a profile survives a JSON round trip)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pydantic
import pytest

from shared.domain.invoicing import (
    ChannelPrices,
    Channels,
    Party,
    Plan,
    PlanKind,
    Subscription,
    SubscriptionChange,
    SubscriptionStatus,
    TaxProfile,
)
from shared.domain.money import round_invoice_amount
from shared.domain.tenants import TenantSettings

D = Decimal


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (D("0.125"), "EUR", D("0.13")),  # a tie goes up (half-even would give 0.12)
        (D("-0.125"), "EUR", D("-0.13")),  # and away from zero for credits
        (D("0.1249"), "EUR", D("0.12")),
        (D("2.5"), "JPY", D("3")),  # no minor unit
        (D("1.0005"), "KWD", D("1.001")),  # three places
        (Fraction(50 * 17, 31), "EUR", D("27.42")),  # 27.419354…: exact fraction, once
        (D("7"), "EUR", D("7.00")),
    ],
)
def test_invoice_rounding_is_half_up_to_the_minor_unit(
    amount: Decimal | Fraction, currency: str, expected: Decimal
) -> None:
    result = round_invoice_amount(amount, currency)
    assert result == expected and str(result) == str(expected)


def test_a_stored_tenant_without_a_billing_profile_still_loads() -> None:
    stored = {"tenant_id": "acme", "card": "retail", "currency": "EUR", "mode": "postpaid"}
    settings = TenantSettings.model_validate(stored)
    assert settings.subscription is None
    assert settings.tax == TaxProfile()
    assert (settings.billing_name, settings.billing_address) == ("", ())
    assert settings.payment_terms_days == 14


def test_a_billing_profile_survives_a_json_round_trip() -> None:
    plan = Plan(kind=PlanKind.PER_CHANNEL, channel_prices=ChannelPrices(two_way=D("12.50")),
                minimum_per_server=D("25"))
    settings = TenantSettings(
        tenant_id="acme", card="retail", currency="EUR",
        subscription=Subscription(
            plan=plan, channels=Channels(two_way=4), servers=("pbx-a",),
            status=SubscriptionStatus.TRIAL,
            changes=(SubscriptionChange(effective=date(2026, 2, 1),
                                        status=SubscriptionStatus.ACTIVE),),
        ),
        tax=TaxProfile(country="FR", business=True, tax_id="FR999"),
        billing_name="Client SA", billing_address=("1 rue de la Paix", "Paris"),
        payment_terms_days=30,
    )
    again = TenantSettings.model_validate_json(settings.model_dump_json())
    assert again == settings
    buyer = Party.buyer(again.billing_name, again.billing_address, again.tax)
    assert (buyer.country, buyer.business, buyer.tax_id) == ("FR", True, "FR999")


def test_a_bad_profile_is_refused_with_the_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="payment_terms_days"):
        TenantSettings(tenant_id="acme", card="c", currency="EUR", payment_terms_days=-1)
    with pytest.raises(pydantic.ValidationError, match="alpha-2"):
        TaxProfile(country="France")
    with pytest.raises(pydantic.ValidationError, match="same day"):
        Subscription(plan=Plan(kind=PlanKind.FLAT_RATE), changes=(
            SubscriptionChange(effective=date(2026, 1, 5), extensions=1),
            SubscriptionChange(effective=date(2026, 1, 5), dids=1),
        ))
    with pytest.raises(pydantic.ValidationError, match="ends"):
        Subscription(plan=Plan(kind=PlanKind.FLAT_RATE), starts=date(2026, 1, 5),
                     ends=date(2026, 1, 5))
