"""Composition root: builds the adapters and hands them to the services.

It is the only module besides the adapters, the CLI and the local stack that may construct
boto3 or Stripe clients (the import-linter contracts in ``pyproject.toml`` enforce that).
Clients honour ``AWS_ENDPOINT_URL``, which is how the local stack points them at moto.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import boto3
from pydantic import SecretStr

from shared.adapters.account_store import DynamoPaymentsInFlight, DynamoTenantAccounts
from shared.adapters.consistency_store import DynamoConsistencyReads
from shared.adapters.dynamodb import (
    DynamoCardStore,
    DynamoTenantDirectory,
    DynamoUsageStore,
    UsageTables,
)
from shared.adapters.events import EventBridgePublisher
from shared.adapters.invoice_store import (
    DynamoInvoiceStore,
    DynamoRerateEntries,
    S3InvoiceFiles,
)
from shared.adapters.payments_store import DynamoPaymentRecords
from shared.adapters.s3 import S3CdrObjects
from shared.adapters.secrets import ssm_secret
from shared.adapters.ses import LogNotifier, SesInvoiceMailer, SesNotifier
from shared.adapters.stripe_gateway import StripeGateway
from shared.adapters.stripe_signature import StripeSignatureVerifier
from shared.config import (
    InvoiceCycleSettings,
    RateCallSettings,
    StripeWebhookSettings,
    WalletRechargeSettings,
)
from shared.domain.errors import BillingError
from shared.domain.invoicing.tax import Party, TaxRules
from shared.domain.rating.compiled import CompiledCard, compile_card
from shared.domain.tenants import TenantSettings
from shared.ports import Notifier, OpenInvoices
from shared.services.consistency_check import ConsistencyReport, run_consistency_check
from shared.services.dispute_evidence import EvidenceDeps
from shared.services.ingest import IngestDeps, IngestOptions
from shared.services.invoice_payments import AppliedPayment, ReversedRefund, reverse_refund
from shared.services.invoice_payments import apply_payment as apply_invoice_payment
from shared.services.invoicing import InvoicingDeps, domain_builder
from shared.services.payments_webhook import WebhookDeps
from shared.services.recharge import RechargeDeps
from shared.services.suspension import RestoreDeps, SuspensionDeps, restore_if_settled


class CardMissing(BillingError):
    pass


class CachedTenants:
    """Tenant settings cached per container for ``ttl_s`` seconds: a warm Lambda rating many
    files (and every chunk's billing-period zone) reads each tenant once a minute at most."""

    def __init__(
        self,
        inner: DynamoTenantDirectory,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner, self._ttl, self._clock = inner, ttl_s, clock
        self._cache: dict[str, tuple[float, TenantSettings | None]] = {}

    def get(self, tenant: str) -> TenantSettings | None:
        now = self._clock()
        hit = self._cache.get(tenant)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        found = self._inner.get(tenant)
        self._cache[tenant] = (now, found)
        return found


def compiled_cards(cards: DynamoCardStore) -> Callable[[TenantSettings], CompiledCard]:
    """Per-container cache of compiled cards, keyed by card version and rating zone; the
    parent chain is resolved from the same store."""
    cache: dict[tuple[str, str, str | None], CompiledCard] = {}

    def compiled(settings: TenantSettings) -> CompiledCard:
        return _compile(settings.card, settings.timezone, set())

    def _compile(name: str, zone: str | None, seen: set[str]) -> CompiledCard:
        version = cards.version(name)
        if version is None:
            raise CardMissing(f"rate card {name!r} is not loaded")
        key = (name, version, zone)
        found = cache.get(key)
        if found is None:
            card = cards.get(name)
            if card is None:
                raise CardMissing(f"rate card {name!r} is not loaded")
            if card.parent in seen | {name}:
                raise CardMissing(f"rate card {name!r}: parent chain loops")
            parent = _compile(card.parent, zone, seen | {name}) if card.parent else None
            found = compile_card(card, zone, parent=parent)
            cache[key] = found
        return found

    return compiled


def ingest_options(settings: RateCallSettings) -> IngestOptions:
    return IngestOptions(
        chunk_bytes=settings.chunk_bytes,
        lease_ms=settings.lease_ms,
        retention_days=settings.rated_call_retention_days,
        late_lookback_periods=settings.late_lookback_periods,
    )


@lru_cache(maxsize=1)
def rate_call_deps() -> IngestDeps:
    """Built once per Lambda container (module-level caches survive warm invocations)."""
    settings = RateCallSettings()  # read from the environment
    session = boto3.session.Session()
    dynamodb = session.client("dynamodb")
    s3 = session.client("s3")
    tables = UsageTables(
        rated_calls=settings.rated_calls_table,
        ledger=settings.ledger_table,
        balances=settings.balances_table,
        breakouts=settings.breakouts_table,
        files=settings.files_table,
    )
    objects = S3CdrObjects(s3)
    tenants = CachedTenants(DynamoTenantDirectory(dynamodb, settings.tenants_table))
    cards = compiled_cards(DynamoCardStore(dynamodb, settings.rate_cards_table))

    def rating_zone(tenant: str) -> str | None:
        """Billing periods follow the tenant's zone, else its card's (SPEC 5)."""
        found = tenants.get(tenant)
        return None if found is None else (found.timezone or cards(found).zone.key)

    return IngestDeps(
        objects=objects,
        outputs=objects,
        tenants=tenants,
        cards=cards,
        store=DynamoUsageStore(dynamodb, tables, zone_of=rating_zone),
        events=EventBridgePublisher(session.client("events"), settings.event_bus_name),
    )


def rate_call_settings() -> RateCallSettings:
    return RateCallSettings()


def _secret(
    session: boto3.session.Session,
    direct: SecretStr | None,
    parameter: str | None,
    function: str,
    variable: str,
) -> str:
    """A secret from the environment (local runs) or else its SSM SecureString (AWS)."""
    if direct is not None:
        return direct.get_secret_value()
    if parameter:
        return ssm_secret(session.client("ssm"), parameter)
    raise BillingError(
        f"{function} needs {variable}_PARAMETER (an SSM SecureString) or, locally, {variable}"
    )


@lru_cache(maxsize=1)
def stripe_webhook_settings() -> StripeWebhookSettings:
    return StripeWebhookSettings()  # read from the environment


@lru_cache(maxsize=1)
def stripe_webhook_deps() -> WebhookDeps:
    """Built once per container: the secret is fetched once, not per request."""
    settings = stripe_webhook_settings()
    session = boto3.session.Session()
    dynamodb = session.client("dynamodb")
    secret = _secret(
        session,
        settings.webhook_secret,
        settings.webhook_secret_parameter,
        "stripe_webhook",
        "STRIPE_WEBHOOK_SECRET",
    )
    # the webhook touches the ledger and the balances of the usage tables, and reads the
    # rated calls of a disputed period for the evidence pack
    tables = UsageTables(
        rated_calls=settings.rated_calls_table or "",
        ledger=settings.ledger_table,
        balances=settings.balances_table,
        breakouts="",
        files="",
    )
    evidence = None
    if settings.rated_calls_table and settings.evidence_bucket:
        evidence = EvidenceDeps(
            calls=DynamoUsageStore(dynamodb, tables),
            outputs=S3CdrObjects(session.client("s3")),
            bucket=settings.evidence_bucket,
        )
    return WebhookDeps(
        verifier=StripeSignatureVerifier(
            tuple(part.strip() for part in secret.split(",")), settings.tolerance_seconds
        ),
        records=DynamoPaymentRecords(dynamodb, settings.payments_table),
        wallet=DynamoUsageStore(dynamodb, tables),
        tenants=DynamoTenantDirectory(dynamodb, settings.tenants_table),
        evidence=evidence,
        restore=restore_on_payment(
            dynamodb, settings.tenants_table, settings.payments_table,
            DynamoInvoiceStore(dynamodb, settings.invoices_table, settings.payments_table),
        ) if settings.invoices_table else None,
        invoices=_invoice_payments(
            DynamoInvoiceStore(dynamodb, settings.invoices_table, settings.payments_table)
        ) if settings.invoices_table else None,
        refund_invoices=_invoice_refunds(
            DynamoInvoiceStore(dynamodb, settings.invoices_table, settings.payments_table)
        ) if settings.invoices_table else None,
    )


def _invoice_payments(
    store: DynamoInvoiceStore,
) -> Callable[[str, str, Decimal, str, str | None], AppliedPayment]:
    """``WebhookDeps.invoices``: a succeeded invoice payment applied once per intent."""

    def apply(
        tenant: str, intent: str, amount: Decimal, currency: str, number: str | None
    ) -> AppliedPayment:
        return apply_invoice_payment(tenant, intent, amount, currency, store, number)

    return apply


def _invoice_refunds(
    store: DynamoInvoiceStore,
) -> Callable[[str, str, str, Decimal, str, date], ReversedRefund | None]:
    """``WebhookDeps.refund_invoices``: a refund of an invoice payment taken off its
    invoices once per refund id."""

    def reverse(
        tenant: str, intent: str, refund: str, amount: Decimal, currency: str, on: date
    ) -> ReversedRefund | None:
        return reverse_refund(tenant, intent, refund, amount, currency, on, store)

    return reverse


@lru_cache(maxsize=1)
def wallet_recharge_settings() -> WalletRechargeSettings:
    return WalletRechargeSettings()  # read from the environment


@lru_cache(maxsize=1)
def wallet_recharge_deps() -> RechargeDeps:
    """Built once per container: the Stripe key is fetched once, not per message."""
    settings = wallet_recharge_settings()
    session = boto3.session.Session()
    dynamodb = session.client("dynamodb")
    api_key = _secret(
        session,
        settings.stripe_api_key,
        settings.stripe_api_key_parameter,
        "wallet_recharge",
        "STRIPE_API_KEY",
    )
    # the recharge touches only the ledger and the balances of the usage tables
    tables = UsageTables(
        rated_calls="",
        ledger=settings.ledger_table,
        balances=settings.balances_table,
        breakouts="",
        files="",
    )
    usage = DynamoUsageStore(dynamodb, tables)
    records = DynamoPaymentRecords(dynamodb, settings.payments_table)

    def billing_email(tenant: str) -> str | None:
        """The address kept with the tenant's Stripe customer link (``stripe#<tenant>``)."""
        email = (records.get(f"stripe#{tenant}") or {}).get("email")
        return str(email) if email else None

    notifier: LogNotifier | SesNotifier = LogNotifier()
    if settings.notification_sender:
        notifier = SesNotifier(session.client("ses"), settings.notification_sender, billing_email)
    return RechargeDeps(
        tenants=CachedTenants(DynamoTenantDirectory(dynamodb, settings.tenants_table)),
        balances=usage,
        wallet=usage,
        records=records,
        gateway=StripeGateway(api_key, settings.stripe_api_base),
        notifier=notifier,
        now=lambda: int(time.time()),
        manual_minimum=settings.manual_topup_minimum,
    )


def clients_for_local(environment: dict[str, str]) -> dict[str, Any]:  # pragma: no cover
    session = boto3.session.Session(
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        region_name=environment["AWS_DEFAULT_REGION"],
    )
    endpoint = environment["AWS_ENDPOINT_URL"]
    return {
        name: session.client(name, endpoint_url=endpoint)
        for name in ("dynamodb", "s3", "sqs", "events")
    }


# -- suspension (issue 7): invoice_cycle's daily check and the webhook's restore -------------


def suspension_deps(
    dynamodb: Any, tenants_table: str, payments_table: str, invoices: OpenInvoices,
    notifier: Notifier,
) -> SuspensionDeps:
    """The daily suspension check on TenantsTable and PaymentsTable, with the invoice
    store's ``open_invoices`` (``invoices``) and the tenant notifier (SES or the log)."""
    from datetime import UTC, datetime

    records = DynamoPaymentRecords(dynamodb, payments_table)
    return SuspensionDeps(
        tenants=DynamoTenantDirectory(dynamodb, tenants_table),
        accounts=DynamoTenantAccounts(dynamodb, tenants_table, payments_table),
        invoices=invoices,
        payments=DynamoPaymentsInFlight(records),
        records=records,
        notifier=notifier,
        now=lambda: datetime.now(UTC),
    )


def restore_on_payment(
    dynamodb: Any, tenants_table: str, payments_table: str, invoices: OpenInvoices
) -> Callable[[str], bool]:
    """``WebhookDeps.restore``: a suspended tenant back to active in the payment's request."""
    from datetime import UTC, datetime

    deps = RestoreDeps(
        tenants=DynamoTenantDirectory(dynamodb, tenants_table),
        accounts=DynamoTenantAccounts(dynamodb, tenants_table, payments_table),
        invoices=invoices,
        records=DynamoPaymentRecords(dynamodb, payments_table),
        now=lambda: datetime.now(UTC),
    )
    return lambda tenant: restore_if_settled(tenant, deps)


# -- invoicing (issue 7): invoice_cycle's invoice run, pay now, the webhook's invoice payments


@lru_cache(maxsize=1)
def invoice_cycle_settings() -> InvoiceCycleSettings:
    return InvoiceCycleSettings()  # read from the environment


def invoice_store(
    dynamodb: Any, invoices_table: str, payments_table: str, ledger_table: str = "",
    balances_table: str = "",
) -> DynamoInvoiceStore:
    """The invoice store; an issuing one (invoice_cycle) also names the ledger and balances,
    where a postpaid issue credits the usage it billed."""
    return DynamoInvoiceStore(dynamodb, invoices_table, payments_table, ledger_table,
                              balances_table)


@lru_cache(maxsize=1)
def _invoice_cycle_base() -> InvoicingDeps:
    """Built once per container; the clock is set per invocation (the schedule's time)."""
    # here, not at the top: the PDF renderer (reportlab) is invoice_cycle's alone, so the
    # other functions' cold starts never load it
    from shared.services.invoice_delivery import BillingAddressMailer, render_pdf

    settings = invoice_cycle_settings()
    session = boto3.session.Session()
    dynamodb = session.client("dynamodb")
    records = DynamoPaymentRecords(dynamodb, settings.payments_table)
    store = invoice_store(dynamodb, settings.invoices_table, settings.payments_table,
                          settings.ledger_table, settings.balances_table)
    tables = UsageTables(
        rated_calls=settings.rated_calls_table, ledger=settings.ledger_table,
        balances=settings.balances_table, breakouts=settings.breakouts_table, files="",
    )
    gateway: StripeGateway | None = None
    if settings.stripe_api_key is not None or settings.stripe_api_key_parameter:
        api_key = _secret(session, settings.stripe_api_key, settings.stripe_api_key_parameter,
                          "invoice_cycle", "STRIPE_API_KEY")
        gateway = StripeGateway(api_key, settings.stripe_api_base)

    def billing_email(tenant: str) -> str | None:
        email = (records.get(f"stripe#{tenant}") or {}).get("email")
        return str(email) if email else None

    ses = (SesInvoiceMailer(session.client("ses"), settings.notification_sender)
           if settings.notification_sender else None)
    seller = Party.model_validate_json(settings.invoice_seller)
    rules = {rule.country: rule for rule in
             (TaxRules.model_validate(item) for item in json.loads(settings.tax_rules))}
    return InvoicingDeps(
        tenants=DynamoTenantDirectory(dynamodb, settings.tenants_table),
        accounts=DynamoTenantAccounts(dynamodb, settings.tenants_table),
        usage=DynamoUsageStore(dynamodb, tables),
        credits=records,
        adjustments=DynamoRerateEntries(dynamodb, settings.ledger_table),
        store=store,
        files=S3InvoiceFiles(session.client("s3"), settings.invoice_bucket),
        mailer=BillingAddressMailer(ses, billing_email),
        gateway=gateway,
        customers=records,
        build=domain_builder(seller, rules),
        render=render_pdf,
        now_ms=lambda: int(time.time() * 1000),
        issuer=settings.invoice_issuer,
        settlement_lag_ms=settings.settlement_lag_hours * 3_600_000,
        late_lookback_periods=settings.late_lookback_periods,
    )


def invoice_cycle_deps(now_ms: int | None = None) -> InvoicingDeps:
    """The invoicing run's collaborators, its clock fixed at ``now_ms`` (the scheduled
    event's time) so a retried invocation decides exactly as the first did."""
    base = _invoice_cycle_base()
    if now_ms is None:
        return base
    return dataclasses.replace(base, now_ms=lambda: now_ms)


def invoice_cycle_suspension_deps(now: datetime) -> SuspensionDeps:
    """The daily suspension check on invoice_cycle's tables, its clock the event's time."""
    settings = invoice_cycle_settings()
    dynamodb = boto3.session.Session().client("dynamodb")
    notifier: LogNotifier | SesNotifier = LogNotifier()
    if settings.notification_sender:
        records = DynamoPaymentRecords(dynamodb, settings.payments_table)

        def billing_email(tenant: str) -> str | None:
            email = (records.get(f"stripe#{tenant}") or {}).get("email")
            return str(email) if email else None

        notifier = SesNotifier(boto3.session.Session().client("ses"),
                               settings.notification_sender, billing_email)
    store = invoice_store(dynamodb, settings.invoices_table, settings.payments_table)
    deps = suspension_deps(dynamodb, settings.tenants_table, settings.payments_table, store,
                           notifier)
    return dataclasses.replace(deps, now=lambda: now)


def invoice_cycle_consistency(now: datetime) -> ConsistencyReport:
    """invoice_cycle's ``consistency-check`` job on its tables, its clock the event's time."""
    settings = invoice_cycle_settings()
    tables = UsageTables(
        rated_calls=settings.rated_calls_table, ledger=settings.ledger_table,
        balances=settings.balances_table, breakouts=settings.breakouts_table, files="",
    )
    reads = DynamoConsistencyReads(boto3.session.Session().client("dynamodb"), tables,
                                   settings.tenants_table)
    return run_consistency_check(reads, lambda: now)
