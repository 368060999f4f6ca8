"""Settings per function, parsed from environment variables (never os.environ in code).

The variable names are the ones template.yaml gives each function; defaults are documented
here once.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RateCallSettings(BaseSettings):
    """rate_call: tables, bus and the knobs of the ingest service."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    tenants_table: str = Field(validation_alias="TENANTS_TABLE")
    rate_cards_table: str = Field(validation_alias="RATE_CARDS_TABLE")
    rated_calls_table: str = Field(validation_alias="RATED_CALLS_TABLE")
    ledger_table: str = Field(validation_alias="LEDGER_TABLE")
    balances_table: str = Field(validation_alias="BALANCES_TABLE")
    breakouts_table: str = Field(validation_alias="BREAKOUTS_TABLE")
    files_table: str = Field(validation_alias="FILES_TABLE")
    event_bus_name: str = Field(default="default", validation_alias="EVENT_BUS_NAME")
    #: rated calls are kept this long (DynamoDB TTL), then expire
    rated_call_retention_days: int = Field(
        default=400, validation_alias="RATED_CALL_RETENTION_DAYS"
    )
    #: bytes of CDR file rated per chunk (one ledger commit each)
    chunk_bytes: int = Field(default=1 << 20, validation_alias="CHUNK_BYTES")
    #: how long a rating lease lasts before another file of the tenant may take over
    lease_ms: int = Field(default=60_000, validation_alias="LEASE_MS")
    #: invoice_cycle's late-call lookback (same variable): a postpaid call of an older
    #: period is still charged but counted as ``CallsBeyondInvoiceLookback``
    late_lookback_periods: int = Field(default=12, ge=0, validation_alias="LATE_LOOKBACK_PERIODS")


class StripeWebhookSettings(BaseSettings):
    """stripe_webhook: tables, the signing secret's source and the request limits.

    In AWS the secret is the SSM SecureString parameter named by
    ``STRIPE_WEBHOOK_SECRET_PARAMETER`` (template.yaml); locally and in tests it may be given
    directly as ``STRIPE_WEBHOOK_SECRET``, which then wins. Several secrets (while one is
    rolled in the dashboard) are comma-separated. The value is never logged.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    payments_table: str = Field(validation_alias="PAYMENTS_TABLE")
    tenants_table: str = Field(validation_alias="TENANTS_TABLE")
    ledger_table: str = Field(validation_alias="LEDGER_TABLE")
    balances_table: str = Field(validation_alias="BALANCES_TABLE")
    #: a dispute's evidence pack: the call detail is read from this table's by_period index
    #: and written under evidence/ in this bucket; without both no pack is built
    rated_calls_table: str | None = Field(default=None, validation_alias="RATED_CALLS_TABLE")
    evidence_bucket: str | None = Field(default=None, validation_alias="EVIDENCE_BUCKET")
    #: the invoice store: with it a successful payment restores a suspended tenant whose
    #: invoices are no longer past the grace period, in the same request (issue 7)
    invoices_table: str | None = Field(default=None, validation_alias="INVOICES_TABLE")
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="STRIPE_WEBHOOK_SECRET")
    webhook_secret_parameter: str | None = Field(
        default=None, validation_alias="STRIPE_WEBHOOK_SECRET_PARAMETER"
    )
    #: bodies over this many bytes get 413 (Stripe events are a few KB; HTTP APIs have no limit)
    max_body_bytes: int = Field(default=64 * 1024, validation_alias="WEBHOOK_MAX_BODY_BYTES")
    #: a signature older than this is refused (Stripe's default, SPEC section 6)
    tolerance_seconds: int = Field(default=300, validation_alias="WEBHOOK_TOLERANCE_SECONDS")


class WalletRechargeSettings(BaseSettings):
    """wallet_recharge: tables, the Stripe key's source, the fake Stripe's address, SES.

    In AWS the Stripe secret API key is the SSM SecureString parameter named by
    ``STRIPE_API_KEY_PARAMETER`` (template.yaml); locally and in tests it may be given as
    ``STRIPE_API_KEY``, which then wins. ``STRIPE_API_BASE`` points the client at a fake Stripe
    server (localstripe on 127.0.0.1); unset, the real API. With no ``NOTIFICATION_SENDER``
    (a verified SES identity) tenant notifications are only logged. The key is never logged.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    payments_table: str = Field(validation_alias="PAYMENTS_TABLE")
    tenants_table: str = Field(validation_alias="TENANTS_TABLE")
    ledger_table: str = Field(validation_alias="LEDGER_TABLE")
    balances_table: str = Field(validation_alias="BALANCES_TABLE")
    stripe_api_key: SecretStr | None = Field(default=None, validation_alias="STRIPE_API_KEY")
    stripe_api_key_parameter: str | None = Field(
        default=None, validation_alias="STRIPE_API_KEY_PARAMETER"
    )
    stripe_api_base: str | None = Field(default=None, validation_alias="STRIPE_API_BASE")
    notification_sender: str | None = Field(default=None, validation_alias="NOTIFICATION_SENDER")
    #: a manual top-up below this (in the tenant's currency) is refused (SPEC section 1)
    manual_topup_minimum: Decimal = Field(
        default=Decimal("5.00"), validation_alias="MANUAL_TOPUP_MINIMUM"
    )


class InvoiceCycleSettings(BaseSettings):
    """invoice_cycle: tables, the PDF bucket, the issuer, the seller and its tax rules.

    The seller (``INVOICE_SELLER``, a JSON ``Party``: name, address, country, tax id) is
    printed on every tax invoice; ``TAX_RULES`` is a JSON list of ``TaxRules``, one per
    jurisdiction (buyer's country, else the seller's). A jurisdiction without rules stops
    that tenant's invoice with a clear error instead of taxing it at 0. The Stripe key comes
    as for wallet_recharge (SSM parameter in AWS, ``STRIPE_API_KEY`` locally); without
    either, invoices are issued and emailed but not auto-paid.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    invoices_table: str = Field(validation_alias="INVOICES_TABLE")
    tenants_table: str = Field(validation_alias="TENANTS_TABLE")
    rated_calls_table: str = Field(validation_alias="RATED_CALLS_TABLE")
    ledger_table: str = Field(validation_alias="LEDGER_TABLE")
    balances_table: str = Field(validation_alias="BALANCES_TABLE")
    breakouts_table: str = Field(default="", validation_alias="BREAKOUTS_TABLE")
    payments_table: str = Field(validation_alias="PAYMENTS_TABLE")
    #: PDFs under invoices/<tenant>/<number>.pdf (the CDR bucket, outside tenants/)
    invoice_bucket: str = Field(validation_alias="INVOICE_BUCKET")
    #: invoice numbers are <issuer>-NNNNNN, gapless per issuer
    invoice_issuer: str = Field(default="INV", validation_alias="INVOICE_ISSUER")
    #: usage is invoiced once the period has been closed this long (SPEC 7: 24 h)
    settlement_lag_hours: int = Field(default=24, ge=0, validation_alias="SETTLEMENT_LAG_HOURS")
    #: invoiced months before the one being invoiced searched for late calls (a year, as
    #: the catch-up of missed months); a call of an older month is never invoiced
    #: (docs/invoicing.md). Keep it under the rated calls' retention (400 days: 12)
    late_lookback_periods: int = Field(default=12, ge=0, validation_alias="LATE_LOOKBACK_PERIODS")
    invoice_seller: str = Field(
        default='{"name": "Telecom Billing Ltd", "address": ["1 Exchange Street", "London"], '
        '"country": "GB", "tax_id": "GB123456789", "business": true}',
        validation_alias="INVOICE_SELLER",
    )
    tax_rules: str = Field(
        default='[{"country": "GB", "tax_name": "VAT", "default_rate": "20"}]',
        validation_alias="TAX_RULES",
    )
    stripe_api_key: SecretStr | None = Field(default=None, validation_alias="STRIPE_API_KEY")
    stripe_api_key_parameter: str | None = Field(
        default=None, validation_alias="STRIPE_API_KEY_PARAMETER"
    )
    stripe_api_base: str | None = Field(default=None, validation_alias="STRIPE_API_BASE")
    notification_sender: str | None = Field(default=None, validation_alias="NOTIFICATION_SENDER")


class OfflineRatingSettings(BaseSettings):
    """`billing rate` (offline): which implementation of the native fast path runs."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    #: true (1): the pure-Python fast path even where the compiled one was built
    #: (docs/rating.md, performance); both write the same bytes
    pure_python: bool = Field(default=False, validation_alias="BILLING_PURE_PYTHON")
