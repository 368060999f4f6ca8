"""What a tenant's switch may do right now: the call status (SPEC section 1).

Fed by the balance (prepaid wallet or postpaid unbilled usage), the credit limit, the
fraud guard's daily spend cap and the account status. Emergency numbers are always allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.domain.tenants import AccountStatus, BillingMode, TenantSettings


@dataclass(frozen=True, slots=True)
class CallStatusView:
    inbound_allowed: bool
    outbound_allowed: bool
    international_allowed: bool
    reasons: tuple[str, ...]
    emergency_allowed: bool = True


def call_status(
    settings: TenantSettings,
    balance: Decimal,
    spend_today: Decimal,
    recharge_pending: bool = False,
) -> CallStatusView:
    """``balance`` is the ledger balance (usage negative); for a postpaid tenant it is minus
    the *unbilled* usage, since each postpaid invoice credits back the usage it billed
    (``invoiced#<number>``, docs/invoicing.md). ``spend_today`` is the rated cost of the
    current UTC day (from breakouts)."""
    reasons: list[str] = []
    inbound = outbound = international = True
    if settings.status is AccountStatus.SUSPENDED:
        inbound = outbound = international = False
        reasons.append("account suspended")
    if settings.mode is BillingMode.PREPAID and balance <= 0 and not recharge_pending:
        outbound = international = False
        reasons.append(f"prepaid balance exhausted ({balance})")
    if (
        settings.mode is BillingMode.POSTPAID
        and settings.credit_limit is not None
        and -balance > settings.credit_limit
    ):
        outbound = international = False
        reasons.append(f"unbilled usage {-balance} over the credit limit {settings.credit_limit}")
    if settings.daily_spend_cap is not None and spend_today >= settings.daily_spend_cap:
        international = False
        reasons.append(
            f"daily spend {spend_today} reached the cap {settings.daily_spend_cap} (fraud guard)"
        )
    return CallStatusView(inbound, outbound, international, tuple(reasons))
