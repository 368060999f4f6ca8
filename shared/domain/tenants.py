"""Tenant settings: the billing account's mode, card, zone, numbering plan and limits."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.domain.calls import Direction
from shared.domain.invoicing.invoice import DEFAULT_PAYMENT_TERMS_DAYS
from shared.domain.invoicing.plans import Subscription
from shared.domain.invoicing.tax import TaxProfile
from shared.domain.rating.numbers import DEFAULT_EMERGENCY_NUMBERS, NumberingPlan

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class BillingMode(StrEnum):
    PREPAID = "prepaid"  # usage is debited from the wallet as it is rated
    POSTPAID = "postpaid"  # usage accrues as unbilled, invoiced monthly


class AccountStatus(StrEnum):
    ACTIVE = "active"
    TRIAL = "trial"
    SUSPENDED = "suspended"


class Numbering(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    country_code: str = ""
    trunk_prefix: str = "0"
    exit_prefixes: tuple[str, ...] = ("00", "011")
    max_extension_digits: int = 6
    emergency_numbers: tuple[str, ...] = DEFAULT_EMERGENCY_NUMBERS

    def plan(self) -> NumberingPlan:
        return NumberingPlan(
            country_code=self.country_code,
            trunk_prefix=self.trunk_prefix,
            exit_prefixes=self.exit_prefixes,
            max_extension_digits=self.max_extension_digits,
            emergency_numbers=self.emergency_numbers,
        )


class TenantSettings(BaseModel):
    """One billing account (SPEC section 1). Amounts are in the tenant's currency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str
    name: str = ""
    mode: BillingMode = BillingMode.PREPAID
    status: AccountStatus = AccountStatus.ACTIVE
    card: str
    currency: str
    timezone: str | None = None  # rating zone; the card's when unset
    numbering: Numbering = Field(default_factory=Numbering)
    contexts: dict[str, Direction] = Field(default_factory=dict)
    #: prepaid: recharge when the balance falls below this
    low_balance_threshold: Decimal = Decimal("10")
    recharge_amount: Decimal = Decimal("50")
    #: postpaid: block outbound calls when unbilled usage exceeds this (None: no limit)
    credit_limit: Decimal | None = None
    #: fraud guard: block outbound international calls once a day's spend exceeds this
    daily_spend_cap: Decimal | None = None
    #: billing profile (issue 7, docs/invoicing.md); all optional so stored tenants load
    subscription: Subscription | None = None
    tax: TaxProfile = Field(default_factory=TaxProfile)
    billing_name: str = ""  # name on invoices; ``name`` when empty
    billing_address: tuple[str, ...] = ()
    payment_terms_days: int = Field(default=DEFAULT_PAYMENT_TERMS_DAYS, ge=0)
    #: days past an invoice's due date before the account is suspended (SPEC 7; warned a
    #: week and a day before: days 7 and 13 of the default 14)
    suspension_grace_days: int = Field(default=14, ge=1, le=365)

    @field_validator("tenant_id")
    @classmethod
    def _tenant_id(cls, value: str) -> str:
        if not TENANT_ID.match(value):
            raise ValueError("tenant ids are lowercase letters, digits and dashes (max 63)")
        return value
