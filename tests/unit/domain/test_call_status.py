"""SPEC section 1: what blocks calls, and that emergency numbers never are."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.call_status import call_status
from shared.domain.tenants import AccountStatus, BillingMode, TenantSettings


def tenant(**changes: object) -> TenantSettings:
    base = TenantSettings(tenant_id="acme", card="retail", currency="USD")
    return base.model_copy(update=changes)


def test_a_funded_prepaid_tenant_may_call_anywhere() -> None:
    status = call_status(tenant(), Decimal("5.00"), Decimal("0"))
    assert (status.inbound_allowed, status.outbound_allowed, status.international_allowed) == (
        True,
        True,
        True,
    )
    assert status.reasons == ()


def test_an_exhausted_prepaid_wallet_blocks_outbound_but_not_inbound_or_emergency() -> None:
    status = call_status(tenant(), Decimal("-0.0660"), Decimal("0"))
    assert status.inbound_allowed and not status.outbound_allowed
    assert status.emergency_allowed
    # a recharge in flight keeps the line open (the top-up counts toward the threshold)
    assert call_status(tenant(), Decimal("0"), Decimal("0"), recharge_pending=True).outbound_allowed


def test_postpaid_usage_over_the_credit_limit_blocks_outbound() -> None:
    postpaid = tenant(mode=BillingMode.POSTPAID, credit_limit=Decimal("100.00"))
    # balance -100.00 is exactly at the limit: still allowed; one cent more is over it
    assert call_status(postpaid, Decimal("-100.00"), Decimal("0")).outbound_allowed
    assert not call_status(postpaid, Decimal("-100.01"), Decimal("0")).outbound_allowed
    # a postpaid tenant without a limit is never blocked by usage
    assert call_status(
        tenant(mode=BillingMode.POSTPAID), Decimal("-99999"), Decimal("0")
    ).outbound_allowed


def test_the_fraud_guard_blocks_international_calls_once_the_day_reaches_the_cap() -> None:
    capped = tenant(daily_spend_cap=Decimal("50.00"))
    below = call_status(capped, Decimal("500"), Decimal("49.9999"))
    at_cap = call_status(capped, Decimal("500"), Decimal("50.00"))
    assert below.international_allowed
    assert at_cap.outbound_allowed and not at_cap.international_allowed
    assert "fraud guard" in at_cap.reasons[0]


def test_a_suspended_account_has_inbound_and_outbound_blocked_emergency_excepted() -> None:
    status = call_status(tenant(status=AccountStatus.SUSPENDED), Decimal("10"), Decimal("0"))
    assert not status.inbound_allowed and not status.outbound_allowed
    assert status.emergency_allowed
