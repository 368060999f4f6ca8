"""Invoicing domain (issue #7): plans and subscriptions, tax, the invoice and its status,
credit notes, numbering, payment allocation and billing periods. Pure: no I/O.

Entry points are listed in docs/invoicing.md ("API")."""

from shared.domain.invoicing.build import (
    Adjustment,
    Credit,
    OneTimeCharge,
    TopUp,
    build_invoice,
    credits_applied,
)
from shared.domain.invoicing.invoice import (
    DEFAULT_PAYMENT_TERMS_DAYS,
    OPEN_STATUSES,
    TRANSITIONS,
    CreditNote,
    Invoice,
    InvoiceStateError,
    InvoiceStatus,
    Settlement,
    SettlementKind,
    credit_note,
)
from shared.domain.invoicing.lines import TELECOM_KINDS, InvoiceLine, LineKind, TaxCode
from shared.domain.invoicing.numbering import (
    CREDIT_NOTE_PREFIX,
    INVOICE_PREFIX,
    format_number,
    parse_number,
)
from shared.domain.invoicing.payments import (
    Allocation,
    AllocationResult,
    allocate_payment,
    apply_payment,
)
from shared.domain.invoicing.periods import (
    DEFAULT_SETTLEMENT_LAG_MS,
    BillingPeriod,
    due_period,
)
from shared.domain.invoicing.plans import (
    ChannelPrices,
    Channels,
    Plan,
    PlanKind,
    Subscription,
    SubscriptionChange,
    SubscriptionStatus,
    segments,
)
from shared.domain.invoicing.tax import (
    Party,
    Surcharge,
    TaxGroup,
    TaxProfile,
    TaxRules,
    Treatment,
    treatment,
)
from shared.domain.invoicing.usage import (
    UsageKey,
    UsageRow,
    UsageSummary,
    UsageTotals,
    aggregate_usage,
    late_calls,
)

__all__ = [
    "CREDIT_NOTE_PREFIX", "DEFAULT_PAYMENT_TERMS_DAYS", "DEFAULT_SETTLEMENT_LAG_MS",
    "INVOICE_PREFIX", "OPEN_STATUSES", "TELECOM_KINDS", "TRANSITIONS", "Adjustment",
    "Allocation", "AllocationResult", "BillingPeriod", "ChannelPrices", "Channels", "Credit",
    "CreditNote", "Invoice", "InvoiceLine", "InvoiceStateError", "InvoiceStatus", "LineKind",
    "OneTimeCharge", "Party", "Plan", "PlanKind", "Settlement", "SettlementKind",
    "Subscription", "SubscriptionChange", "SubscriptionStatus", "Surcharge", "TaxCode",
    "TaxGroup", "TaxProfile", "TaxRules", "TopUp", "Treatment", "UsageKey", "UsageRow",
    "UsageSummary", "UsageTotals", "aggregate_usage", "allocate_payment", "apply_payment",
    "build_invoice", "credit_note", "credits_applied", "due_period", "format_number",
    "late_calls", "parse_number", "segments", "treatment",
]
