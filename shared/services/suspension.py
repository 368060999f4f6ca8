"""The daily suspension check and the restore on payment (SPEC section 7).

``run_suspension_check`` is invoice_cycle's daily job: for every tenant it reads the open
invoices, decides (``shared.domain.suspension.decide``) and acts:

* a dunning warning is recorded once per tenant, invoice and milestone day
  (``dunning#<tenant>#<invoice>#<day>`` in PaymentsTable, a conditional put) and only the run
  that created the record sends the email, so a schedule firing twice sends nothing twice;
* a suspension is a compare-and-set of the tenant's status (active or trial → suspended),
  in one transaction with its reason (``suspension#<tenant>``): only the run that moved it
  logs, counts the metric and notifies.

``restore_if_settled`` is the payment webhook's collaborator: called in the same request as a
successful payment, after the payment is recorded, it moves a suspended tenant back to active
once no unpaid invoice remains past the grace period, without waiting for the daily run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aws_lambda_powertools.metrics import MetricUnit

from shared.domain.errors import BillingError
from shared.domain.suspension import decide, past_grace, policy_for
from shared.domain.tenants import AccountStatus, TenantSettings
from shared.observability import logger, metrics
from shared.ports import (
    Notifier,
    OpenInvoices,
    PaymentRecords,
    PaymentsInFlight,
    TenantAccounts,
    TenantDirectory,
)


@dataclass(frozen=True, slots=True)
class SuspensionDeps:
    tenants: TenantDirectory
    accounts: TenantAccounts
    invoices: OpenInvoices
    payments: PaymentsInFlight
    #: the once-only dunning records (``PaymentRecords.create``)
    records: PaymentRecords
    notifier: Notifier
    #: the current instant, timezone-aware
    now: Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class TenantOutcome:
    tenant: str
    #: suspended | held_by_payment | warned | already_suspended | current
    outcome: str
    days_past_due: int = 0
    invoice: str | None = None
    warnings_sent: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SuspensionReport:
    outcomes: tuple[TenantOutcome, ...] = field(default_factory=tuple)

    def tenants(self, outcome: str) -> list[str]:
        return [item.tenant for item in self.outcomes if item.outcome == outcome]


class SuspensionCheckFailed(BillingError):
    """Some tenants could not be checked; the others were. Raised after trying them all, so
    the invocation fails and is retried (every step is idempotent)."""


def run_suspension_check(deps: SuspensionDeps) -> SuspensionReport:
    """The daily job: every tenant, one at a time; one tenant's failure (a throttled read,
    a bad record) is logged and does not keep the others from being checked."""
    outcomes = []
    failed: list[str] = []
    for tenant in deps.accounts.tenant_ids():
        try:
            settings = deps.tenants.get(tenant)
            if settings is not None:
                outcomes.append(check_tenant(settings, deps))
        except Exception as error:  # reported below; the other tenants go on
            logger.exception("suspension check failed", extra={"tenant": tenant})
            failed.append(f"{tenant} ({type(error).__name__}: {error})")
    report = SuspensionReport(tuple(outcomes))
    metrics.add_metric("AccountsSuspended", MetricUnit.Count, len(report.tenants("suspended")))
    metrics.add_metric("DunningWarningsSent", MetricUnit.Count,
                       sum(len(item.warnings_sent) for item in outcomes))
    if failed:
        raise SuspensionCheckFailed("the suspension check failed for " + ", ".join(failed))
    return report


def _today(settings: TenantSettings, now: datetime) -> datetime:
    """Due dates are calendar dates in the tenant's zone (UTC when it has none)."""
    return now.astimezone(ZoneInfo(settings.timezone or "UTC"))


def check_tenant(settings: TenantSettings, deps: SuspensionDeps) -> TenantOutcome:
    tenant = settings.tenant_id
    now = deps.now()
    today = _today(settings, now).date()
    suspended = settings.status is AccountStatus.SUSPENDED
    invoices = deps.invoices.open_invoices(tenant)
    policy = policy_for(settings.suspension_grace_days)
    in_flight = (
        not suspended
        and past_grace(invoices, today, policy)
        and deps.payments.payment_in_flight(tenant, int(now.timestamp()))
    )
    decision = decide(
        invoices, today, suspended=suspended, payment_in_flight=in_flight, policy=policy
    )
    number = decision.oldest.number if decision.oldest else None
    if suspended:
        return TenantOutcome(tenant, "already_suspended", decision.days_past_due, number)
    if decision.held_by_payment:
        logger.info("suspension held: a payment is in flight",
                    extra={"tenant": tenant, "invoice": number, "days": decision.days_past_due})
        return TenantOutcome(tenant, "held_by_payment", decision.days_past_due, number)
    if decision.suspend:
        # the status and its reason in one transaction: only an account suspended for
        # non-payment is restored by a payment, and a reason written without its status
        # (a crash, an operator's edit in between) would reopen a suspension made by hand
        reason = {
            "state": "suspended", "tenant_id": tenant, "invoice": number,
            "days_past_due": decision.days_past_due, "previous": str(settings.status),
            "rank": 1, "created": int(now.timestamp()),
        }
        if deps.accounts.move_status(tenant, settings.status, AccountStatus.SUSPENDED,
                                     suspension_key(tenant), reason):
            logger.warning("account suspended",
                           extra={"tenant": tenant, "invoice": number,
                                  "days": decision.days_past_due})
            deps.notifier.notify(tenant, "suspended", {
                "invoice": number or "", "days_past_due": str(decision.days_past_due),
            })
            return TenantOutcome(tenant, "suspended", decision.days_past_due, number)
        return TenantOutcome(tenant, "already_suspended", decision.days_past_due, number)
    sent = []
    for warning in decision.warnings:
        key = f"dunning#{tenant}#{warning.key}"
        created = deps.records.create(key, None, {
            "tenant_id": tenant, "invoice": warning.invoice.number, "day": warning.day,
            "days_past_due": warning.days_past_due, "sent_at": int(now.timestamp()),
        })
        if not created:
            continue  # sent by an earlier (or concurrent) run
        deps.notifier.notify(tenant, "dunning_warning", {
            "invoice": warning.invoice.number,
            "due_date": warning.invoice.due_date.isoformat(),
            "balance_due": f"{warning.invoice.balance_due} {warning.invoice.currency}",
            "days_past_due": str(warning.days_past_due),
            "suspension_in_days": str(policy.grace_days - warning.days_past_due),
        })
        logger.info("dunning warning sent",
                    extra={"tenant": tenant, "invoice": warning.invoice.number,
                           "day": warning.day})
        sent.append(warning.key)
    outcome = "warned" if sent else "current"
    return TenantOutcome(tenant, outcome, decision.days_past_due, number, tuple(sent))


def suspension_key(tenant: str) -> str:
    """PaymentsTable record of why the tenant was suspended: ``state`` suspended (for
    non-payment, by this check) or restored; both rank 1, so the later one wins."""
    return f"suspension#{tenant}"


@dataclass(frozen=True, slots=True)
class RestoreDeps:
    tenants: TenantDirectory
    accounts: TenantAccounts
    invoices: OpenInvoices
    #: the ``suspension#<tenant>`` record (``PaymentRecords.get``; written with the status
    #: by ``TenantAccounts.move_status``)
    records: PaymentRecords
    now: Callable[[], datetime]


def restore_if_settled(tenant: str, deps: RestoreDeps) -> bool:
    """Back to its status before (active or trial) when suspended for non-payment and no
    unpaid invoice is past the grace period any more; True when this call restored it.
    Safe to call on every successful payment. An account an operator suspended (fraud,
    abuse: no ``suspension#`` record in state suspended) is left as it is."""
    settings = deps.tenants.get(tenant)
    if settings is None or settings.status is not AccountStatus.SUSPENDED:
        return False
    reason = deps.records.get(suspension_key(tenant)) or {}
    if reason.get("state") != "suspended":
        logger.info("payment received, account stays suspended: not suspended for "
                    "non-payment", extra={"tenant": tenant})
        return False
    now = deps.now()
    today = _today(settings, now).date()
    policy = policy_for(settings.suspension_grace_days)
    if past_grace(deps.invoices.open_invoices(tenant), today, policy):
        logger.info("payment received, account stays suspended: an invoice is still past due",
                    extra={"tenant": tenant})
        return False
    # back to what it was before (a trial stays a trial), active when not recorded
    previous = AccountStatus(str(reason.get("previous") or AccountStatus.ACTIVE))
    if previous is AccountStatus.SUSPENDED:
        previous = AccountStatus.ACTIVE
    # the status and the record together, the record still the suspension read above
    restored = {"state": "restored", "tenant_id": tenant, "previous": str(previous),
                "rank": 1, "created": int(now.timestamp())}
    if not deps.accounts.move_status(tenant, AccountStatus.SUSPENDED, previous,
                                     suspension_key(tenant), restored,
                                     record_state="suspended"):
        return False
    logger.info("account restored on payment", extra={"tenant": tenant})
    metrics.add_metric("AccountsRestored", MetricUnit.Count, 1)
    return True
