"""The invoicing run: each tenant's due period invoiced exactly once, then delivered and paid.

``run_invoicing`` is invoice_cycle's daily job (``InvoiceRun`` schedule). For every tenant:

1. **Which period.** ``due_period``: the latest month (tenant's zone) whose end plus the
   settlement lag (24 h) has passed, after any month the runs missed since the tenant's
   last invoice. If ``invoice#<tenant>#<period>`` exists, go to 4.
2. **Build** the draft with the invoicing domain (``shared.domain.invoicing``) from rated
   calls only (``by_period``; never wallet movements), the pending invoice credits, late
   calls of earlier invoiced periods (those not in the call ids their invoices billed) and
   re-rating ledger entries (``rerate#…`` with an older ``period``) no invoice billed yet.
3. **Issue** in one transaction (``InvoiceStore.issue``): the issuer's counter n-1 → n, the
   invoice put only if its (tenant, period) key is free, the consumed credits pending →
   applied. The call ids billed are written first under ``invoices/<tenant>/<period>/``
   (a content-addressed key the invoice records), so late calls can be told apart later.
   A lost race for the number retries with the next; a double-fired schedule or a retry
   finds the invoice and issues nothing.
4. **Deliver**, each step recorded on the invoice so a crash resumes where it stopped: the
   PDF (``invoices/<tenant>/<number>.pdf``), the email with the PDF attached, auto-pay
   (``shared.services.invoice_payments.autopay``).
5. **Overdue**: every open invoice of the tenant past its due date becomes Overdue.

A failure for one tenant is logged and counted and the run goes on with the next; the run
reports the failures, and the handler raises so the invocation is retried (the tenants done
are found done).
"""

from __future__ import annotations

import gzip
import hashlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from shared.domain.errors import BillingError, ValidationError
from shared.domain.invoicing.build import (
    Adjustment,
    Credit,
    OneTimeCharge,
    TopUp,
    build_invoice,
    credits_applied,
)
from shared.domain.invoicing.invoice import Invoice
from shared.domain.invoicing.numbering import INVOICE_PREFIX, format_number
from shared.domain.invoicing.periods import (
    DEFAULT_SETTLEMENT_LAG_MS,
    BillingPeriod,
    due_period,
    zone_of,
)
from shared.domain.invoicing.tax import Party, TaxRules
from shared.domain.invoicing.usage import UsageRow
from shared.domain.rating.calendar import epoch_ms_to_local
from shared.domain.tenants import BillingMode, TenantSettings
from shared.observability import logger
from shared.ports import PaymentGateway, TenantDirectory
from shared.services.invoice_credits import (
    INVOICE_CREDIT_RANKS,
    InvoiceCredit,
    InvoiceCreditRecords,
    invoice_credit_key,
    parse_amount,
    pending_invoice_credits,
)
from shared.services.invoice_payments import AutopayDeps, Customers, as_domain, autopay
from shared.services.invoice_records import (
    OPEN_STATUSES,
    OVERDUE,
    CounterMoved,
    CreditTaken,
    InvoiceStore,
    PendingCharge,
    StoredInvoice,
    UsageInvoiced,
)

#: earlier invoiced periods searched for late calls, by default a year (as the catch-up
#: below); ``InvoicingDeps.late_lookback_periods`` (``LATE_LOOKBACK_PERIODS``) sets it.
#: Rated calls are kept 400 days, so it must stay at 12 or below with the default retention.
LATE_LOOKBACK_PERIODS = 12
_ISSUE_RETRIES = 20


class PeriodUsage(Protocol):
    """A tenant's rated calls of one period (``DynamoUsageStore.rated_calls``)."""

    def rated_calls(self, tenant: str, period: str) -> Sequence[UsageRow]: ...


class Adjustments(Protocol):
    """Re-rating ledger entries (``rerate#…``) of the tenant with their ``period``."""

    def rerate_entries(self, tenant: str) -> list[dict[str, Any]]: ...


class InvoiceFiles(Protocol):
    """Objects under ``invoices/`` (S3): PDFs and the call ids each invoice billed."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...


class InvoiceMailer(Protocol):
    def send_invoice(self, invoice: StoredInvoice, pdf: bytes) -> bool:
        """Email the invoice with its PDF; False when the tenant has no billing address."""
        ...


class TenantIds(Protocol):
    def tenant_ids(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class DraftInputs:
    """Everything the invoicing domain needs to build one tenant's draft."""

    settings: TenantSettings
    period: BillingPeriod
    usage: Sequence[UsageRow]
    credits: Sequence[InvoiceCredit]
    late: Sequence[UsageRow]
    adjustments: Sequence[dict[str, Any]]
    today: date
    charges: Sequence[PendingCharge] = ()
    #: prepaid: succeeded wallet top-ups of the period, (payment intent, amount, epoch s)
    top_ups: Sequence[tuple[str, Decimal, int]] = ()


@dataclass(frozen=True, slots=True)
class InvoicingDeps:
    tenants: TenantDirectory
    accounts: TenantIds
    usage: PeriodUsage
    credits: InvoiceCreditRecords
    adjustments: Adjustments
    store: InvoiceStore
    files: InvoiceFiles
    mailer: InvoiceMailer
    gateway: PaymentGateway | None
    customers: Customers
    #: the domain's builder: a Draft ``Invoice`` from the gathered inputs
    build: Callable[[DraftInputs], Invoice]
    #: the branded PDF of an issued invoice (``shared.formats.invoice_pdf``)
    render: Callable[[Invoice], bytes]
    #: epoch milliseconds: the schedule's event time in AWS, a fixed clock in tests
    now_ms: Callable[[], int]
    issuer: str = INVOICE_PREFIX
    settlement_lag_ms: int = DEFAULT_SETTLEMENT_LAG_MS
    #: invoiced periods before the one being invoiced that are searched for late calls; a
    #: call of an older period is never invoiced (rate_call counts it,
    #: ``CallsBeyondInvoiceLookback``)
    late_lookback_periods: int = LATE_LOOKBACK_PERIODS
    sleep: Callable[[float], None] = time.sleep
    #: a test's crash point: called with a step name after that step is done
    after_step: Callable[[str], None] = lambda step: None


@dataclass(frozen=True, slots=True)
class TenantRun:
    tenant: str
    period: str
    #: issued | existed | failed | skipped
    outcome: str
    number: str | None = None
    autopay: str | None = None
    overdue: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    tenants: tuple[TenantRun, ...] = field(default_factory=tuple)

    def with_outcome(self, outcome: str) -> list[TenantRun]:
        return [run for run in self.tenants if run.outcome == outcome]

    @property
    def failed(self) -> list[TenantRun]:
        return self.with_outcome("failed")


class InvoiceRunFailed(BillingError):
    """Some tenants could not be invoiced; the run is retried and resumes with them."""


def run_invoicing(deps: InvoicingDeps, tenants: Iterable[str] | None = None) -> RunReport:
    """Invoice every tenant's due period (or only ``tenants``), each exactly once."""
    runs = []
    for tenant in tenants if tenants is not None else deps.accounts.tenant_ids():
        settings = deps.tenants.get(tenant)
        if settings is None:
            runs.append(TenantRun(tenant, "", "skipped", error="no such tenant"))
            continue
        try:
            runs.append(invoice_tenant(settings, deps))
        except Exception as error:  # reported; the other tenants go on (every step resumes)
            # not only BillingError: a Stripe timeout, an S3 or SES error or a stored document
            # that no longer loads would otherwise stop the run at this tenant on every retry
            logger.exception("invoicing failed", extra={"tenant": tenant})
            message = str(error) if isinstance(error, BillingError) else (
                f"{type(error).__name__}: {error}")
            runs.append(TenantRun(tenant, "", "failed", error=message))
    return RunReport(tuple(runs))


def invoice_tenant(settings: TenantSettings, deps: InvoicingDeps) -> TenantRun:
    """The due period, and any period the runs missed since the tenant's last invoice
    (oldest first, so each invoice's late calls are measured against the one before)."""
    tenant = settings.tenant_id
    now = deps.now_ms()
    period = due_period(now, settings.timezone, deps.settlement_lag_ms)
    outcome = "existed"
    for missed in _periods_to_issue(tenant, period, deps.store, deps.usage):
        _, made = issue_invoice(settings, missed, deps)
        outcome = made if missed == period else outcome
    deps.after_step("issued")
    result = None
    # the due invoice, and any delivery a crash left unfinished (the index may lag behind
    # an invoice just issued, so the due period is read by its key)
    periods = {listed.period for listed in deps.store.of_tenant(tenant)} | {period.key}
    for key in sorted(periods):
        found = deps.store.get(tenant, key)
        if found is not None and (_undelivered(found) or key == period.key):
            delivered = deliver(found, deps)
            result = delivered if key == period.key else result
    invoice = deps.store.get(tenant, period.key)
    if invoice is None:  # pragma: no cover - issued above or before
        raise BillingError(f"no invoice of {tenant} for {period.key}")
    overdue = mark_overdue(tenant, _local_date(now, settings), deps.store)
    logger.info("tenant invoiced", extra={
        "tenant": tenant, "period": period.key, "outcome": outcome, "invoice": invoice.number,
        "total": str(invoice.total), "autopay": result,
    })
    return TenantRun(tenant, period.key, outcome, invoice.number, result, tuple(overdue))


#: a one-time charge's quantity: at most this, to 6 decimals (with ``MAX_AMOUNT`` a line
#: stays exact in Decimal's 28 digits, so one bad charge cannot stop an invoice run)
MAX_CHARGE_QUANTITY = Decimal(1_000_000)
_QUANTITY_STEP = Decimal("0.000001")

#: at most this many missed periods are caught up in one run (a year)
MAX_CATCH_UP_PERIODS = 12


def _undelivered(invoice: StoredInvoice) -> bool:
    """A delivery step (PDF, email, auto-pay of an open invoice) is still to do."""
    autopay_open = invoice.is_open and invoice.autopay.get("outcome") in (None, "processing")
    return invoice.pdf_key is None or not invoice.emailed or autopay_open


def _periods_to_issue(
    tenant: str, due: BillingPeriod, store: InvoiceStore, usage: PeriodUsage
) -> list[BillingPeriod]:
    """Periods without an invoice from the month after the tenant's latest invoice up to
    ``due``; for a tenant never invoiced, from the earliest of the year's periods before
    ``due`` with rated calls (a first run that came late, or failed for months, would
    otherwise skip them: no later invoice looks back at a period no invoice billed); none
    when ``due`` is invoiced."""
    if store.get(tenant, due.key) is not None:
        return []
    earlier = [invoice.period for invoice in store.of_tenant(tenant) if invoice.period < due.key]
    if earlier:
        cursor = BillingPeriod.parse(max(earlier), due.zone).next()
    else:
        cursor, back = due, due
        for _ in range(MAX_CATCH_UP_PERIODS - 1):
            back = back.previous()
            if usage.rated_calls(tenant, back.key):
                cursor = back
    periods: list[BillingPeriod] = []
    while cursor.key < due.key and len(periods) < MAX_CATCH_UP_PERIODS - 1:
        periods.append(cursor)
        cursor = cursor.next()
    return [*periods, due]


# ------------------------------------------------------------------------------ build


def domain_builder(
    seller: Party, tax_rules: Mapping[str, TaxRules]
) -> Callable[[DraftInputs], Invoice]:
    """``InvoicingDeps.build`` on the invoicing domain's ``build_invoice``: the tenant's
    billing profile (subscription, tax position, name and address) and the operator's
    seller details and tax rules per jurisdiction."""

    def build(inputs: DraftInputs) -> Invoice:
        settings = inputs.settings
        buyer = Party.buyer(
            settings.billing_name or settings.name or settings.tenant_id,
            settings.billing_address, settings.tax,
        )
        return build_invoice(
            tenant=settings.tenant_id, period=inputs.period, currency=settings.currency,
            prepaid=settings.mode is BillingMode.PREPAID, seller=seller, buyer=buyer,
            tax_rules=tax_rules, subscription=settings.subscription, rows=inputs.usage,
            late_rows=inputs.late,
            credits=[Credit(c.credit_id, c.amount, c.reason) for c in inputs.credits],
            adjustments=[
                Adjustment(
                    reference=str(entry["entry_id"]),
                    amount=Decimal(str(entry.get("difference") or 0)),
                    reason=f"re-rated call {entry.get('call_id') or entry['entry_id']}",
                    period=str(entry.get("period") or ""),
                    # one line per re-rate run and period, summed before its one rounding
                    group=str(entry.get("run_id") or ""),
                )
                for entry in inputs.adjustments
            ],
            one_time=[
                OneTimeCharge(c.description, c.unit_price, c.quantity, c.charge_id)
                for c in inputs.charges
            ],
            top_ups=[
                TopUp(reference, amount,
                      epoch_ms_to_local(created * 1000, zone_of(settings.timezone))
                      .date().isoformat())
                for reference, amount, created in inputs.top_ups
            ] if settings.mode is BillingMode.PREPAID else [],
        )

    return build


# ------------------------------------------------------------------------------ issue


def issue_invoice(
    settings: TenantSettings, period: BillingPeriod, deps: InvoicingDeps
) -> tuple[StoredInvoice, str]:
    """Build and issue the tenant's invoice of ``period``; (invoice, "issued") or, when an
    earlier or concurrent run issued it, (that invoice, "existed")."""
    tenant = settings.tenant_id
    for attempt in range(_ISSUE_RETRIES):
        today = _local_date(deps.now_ms(), settings)
        invoices = deps.store.of_tenant(tenant)
        previous = _latest_before(invoices, period.key, deps.store)
        usage = list(deps.usage.rated_calls(tenant, period.key))
        credits = [c for c in pending_invoice_credits(tenant, deps.credits)
                   if c.currency == settings.currency]
        history = _billed_history(tenant, period, previous, invoices, deps)
        late, late_ids = _late_calls(tenant, period, history, deps)
        # re-rating entries of periods already invoiced are billed as adjustments, once;
        # those of this period are already in the usage (the calls were re-priced in place)
        adjusted = set(previous.adjusted_entries) if previous else set()
        entries = [entry for entry in deps.adjustments.rerate_entries(tenant)
                   if str(entry.get("period") or "") <= period.key]
        # a late call is billed now at its stored cost, which a re-rate already changed in
        # place: its entries are in that price (and are recorded as adjusted below)
        billed_late = {call_id for call_ids in late_ids.values() for call_id in call_ids}
        adjustments = [
            entry for entry in entries
            if str(entry.get("period")) < period.key and entry["entry_id"] not in adjusted
            and str(entry.get("call_id") or "") not in billed_late
        ] if previous is not None else []
        charges = [c for c in deps.store.pending_charges(tenant) if c.period <= period.key]
        draft = deps.build(DraftInputs(settings, period, usage, credits, late, adjustments,
                                       today, charges, _top_ups(tenant, period, deps)))
        billed = _billed_usage(tenant, period, history, usage, late_ids, deps)
        sequence = deps.store.last_number(deps.issuer) + 1
        number = format_number(deps.issuer, sequence)
        issued = draft.issue(number, today, settings.payment_terms_days)
        used = credits_applied(issued)
        consumed = [c for c in credits if used.get(c.credit_id, Decimal(0)) > 0]
        remainders = _remainders(consumed, used, number, deps.now_ms() // 1000)
        stored = StoredInvoice(
            tenant=tenant, period=period.key, number=number, issuer=deps.issuer,
            currency=issued.currency, status=str(issued.status), issued_ms=deps.now_ms(),
            issue_date=today.isoformat(), due_date=_iso(issued.due_date),
            subtotal=issued.subtotal, tax=issued.tax, total=issued.total,
            paid=Decimal(0), balance_due=issued.total,
            document=issued.model_dump(mode="json"),
            usage_billed=billed,
            credits=tuple(invoice_credit_key(tenant, c.credit_id) for c in consumed),
            adjusted_entries=tuple(sorted(adjusted | {str(e["entry_id"]) for e in entries})),
        )
        invoiced = _usage_invoiced(settings, stored, usage, late, adjustments)
        try:
            if deps.store.issue(stored, sequence, stored.credits, [c.key for c in charges],
                                remainders, invoiced):
                logger.info("invoice issued", extra={
                    "tenant": tenant, "period": period.key, "invoice": number,
                    "total": str(stored.total), "currency": stored.currency})
                return stored, "issued"
        except (CounterMoved, CreditTaken):
            deps.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
            continue
        existing = deps.store.get(tenant, period.key)
        if existing is not None:
            return existing, "existed"
    raise CounterMoved(f"could not take an invoice number for {tenant} {period.key}; retry")


def _usage_invoiced(
    settings: TenantSettings, invoice: StoredInvoice, usage: Sequence[UsageRow],
    late: Sequence[UsageRow], adjustments: Sequence[dict[str, Any]],
) -> UsageInvoiced | None:
    """A postpaid invoice's ledger credit: the exact sum of the rated usage it bills (each
    call's rated cost, never the rounded lines) and of the re-rate differences it bills, so
    the ledger balance is minus the usage no invoice has billed yet (SPEC 1: the credit
    limit bounds *unbilled* usage). Prepaid tenants paid their usage from the wallet: none.
    Nothing to credit (no usage billed): none either, so idle months add no entries."""
    if settings.mode is not BillingMode.POSTPAID:
        return None
    amount = sum((row.cost for row in (*usage, *late) if not row.status or row.status == "rated"),
                 Decimal(0))
    amount += sum((Decimal(str(entry.get("difference") or 0)) for entry in adjustments),
                  Decimal(0))
    if amount == 0:
        return None
    return UsageInvoiced(invoice.tenant, invoice.number, invoice.period, amount,
                         invoice.currency)


def _remainders(
    consumed: Sequence[InvoiceCredit], used: Mapping[str, Decimal], number: str, now_s: int
) -> list[tuple[str, dict[str, Any]]]:
    """A credit larger than what the invoice could take leaves the rest as a new pending
    credit (``<id>.rest``) for the next invoice, created in the issue transaction."""
    found = []
    for credit in consumed:
        left = credit.amount - used[credit.credit_id]
        if left > 0:
            ident = f"{credit.credit_id}.rest"
            found.append((invoice_credit_key(credit.tenant, ident), {
                "credit_id": ident, "amount": left, "currency": credit.currency,
                "reason": f"{credit.reason} (rest after {number})", "status": "pending",
                "rank": INVOICE_CREDIT_RANKS["pending"], "created": now_s,
                "kind": "invoice_credit", "tenant": credit.tenant,
            }))
    return found


def _top_ups(
    tenant: str, period: BillingPeriod, deps: InvoicingDeps
) -> list[tuple[str, Decimal, int]]:
    """Succeeded wallet top-ups received in the period (their receipts on a prepaid
    invoice): payment intents recorded by the webhook, not invoice payments."""
    start, end = period.start_ms // 1000, period.end_ms // 1000
    found = []
    for item in deps.credits.by_tenant(tenant):
        key = str(item.get("record_key", ""))
        if not key.startswith("payment_intent#") or item.get("status") != "succeeded":
            continue
        if item.get("invoices") or not start <= int(item.get("created") or 0) < end:
            continue
        found.append((key.split("#", 1)[1], Decimal(str(item["amount"])), int(item["created"])))
    return found


def add_one_time_charge(
    tenant: str, charge_id: str, description: str, amount_text: str, quantity_text: str,
    period_text: str | None, tenants: TenantDirectory, store: InvoiceStore, now_ms: int,
) -> tuple[PendingCharge, bool]:
    """Record a one-time charge (a number port) for the tenant's next invoice, once per id:
    the same id again returns the first charge and adds nothing. ``period`` (YYYY-MM, default
    the current month in the tenant's zone) is the first invoice that may bill it."""
    settings = tenants.get(tenant)
    if settings is None:
        raise ValidationError(f"no tenant {tenant!r}")
    ident = charge_id.strip()
    if not ident or len(ident) > 64 or not all(c.isalnum() or c in "-_." for c in ident):
        raise ValidationError(f"--id must be 1-64 letters, digits, '-', '_' or '.', got "
                              f"{charge_id!r}")
    text = description.strip()
    if not text or len(text) > 200:
        raise ValidationError("--description must be 1-200 characters")
    price = parse_amount(amount_text, settings.currency)
    try:
        quantity = Decimal(quantity_text)
    except InvalidOperation:
        raise ValidationError(f"--quantity must be a number, got {quantity_text!r}") from None
    if not quantity.is_finite() or quantity <= 0:
        raise ValidationError(f"--quantity must be positive, got {quantity_text!r}")
    if quantity > MAX_CHARGE_QUANTITY or quantity != quantity.quantize(_QUANTITY_STEP):
        raise ValidationError(
            f"--quantity must be at most {MAX_CHARGE_QUANTITY} with at most 6 decimal places, "
            f"got {quantity_text!r}"
        )
    period = (BillingPeriod.parse(period_text, settings.timezone) if period_text
              else BillingPeriod.containing(now_ms, settings.timezone))
    charge = PendingCharge(tenant, ident, period.key, text, price, quantity)
    if store.add_charge(charge):
        return charge, True
    existing = next((c for c in store.pending_charges(tenant) if c.charge_id == ident), None)
    return existing or charge, False


def _latest_before(
    invoices: list[StoredInvoice], period: str, store: InvoiceStore
) -> StoredInvoice | None:
    earlier = [invoice for invoice in invoices if invoice.period < period]
    if not earlier:
        return None
    latest = max(earlier, key=lambda invoice: invoice.period)
    return store.get(latest.tenant, latest.period) or latest


def _window(period: BillingPeriod, lookback: int) -> set[str]:
    """The ``lookback`` periods before ``period`` (the late-call search)."""
    keys, cursor = set(), period
    for _ in range(max(lookback, 0)):
        cursor = cursor.previous()
        keys.add(cursor.key)
    return keys


def _billed_history(
    tenant: str, period: BillingPeriod, previous: StoredInvoice | None,
    invoices: Sequence[StoredInvoice], deps: InvoicingDeps,
) -> dict[str, Mapping[str, Any]]:
    """What was billed per period, as the previous invoice carries it forward; a period of
    the lookback it no longer carries (it was issued with a shorter lookback) but that has
    its own invoice is rebuilt from the invoices that billed it (each one's ``ids`` for that
    period), so raising the lookback never treats billed calls as late, nor skips a period."""
    if previous is None:
        return {}
    history: dict[str, Mapping[str, Any]] = dict(previous.usage_billed)
    invoiced = {invoice.period for invoice in invoices} | {previous.period}
    missing = sorted((_window(period, deps.late_lookback_periods) & invoiced) - set(history))
    if not missing:
        return history
    found: dict[str, dict[str, Any]] = {}
    for key in sorted(invoiced):
        if not missing[0] <= key < period.key:
            continue
        stored = deps.store.get(tenant, key)
        for gap in missing:
            billed = (stored.usage_billed if stored else {}).get(gap)
            if billed:
                entry = found.setdefault(gap, {"calls": 0, "ids": []})
                entry["ids"] = sorted(set(entry["ids"]) | set(billed.get("ids", [])))
                entry["calls"] = max(int(entry["calls"]), int(billed.get("calls", 0)))
    return {**history, **found}


def _late_calls(
    tenant: str, period: BillingPeriod, history: Mapping[str, Mapping[str, Any]],
    deps: InvoicingDeps,
) -> tuple[list[UsageRow], dict[str, list[str]]]:
    """Calls of the last ``late_lookback_periods`` invoiced periods that no invoice billed
    yet (they arrived after); ``history``: the call ids billed per period."""
    late: list[UsageRow] = []
    ids: dict[str, list[str]] = {}
    window = _window(period, deps.late_lookback_periods)
    for key, billed in sorted(history.items()):
        if key not in window:
            continue
        known: set[str] = set()
        for object_key in billed.get("ids", []):
            known |= set(_read_ids(deps.files.get_bytes(object_key)))
        found = [row for row in deps.usage.rated_calls(tenant, key) if row.call_id not in known]
        if found:
            late += found
            ids[key] = [row.call_id for row in found]
    return late, ids


def _billed_usage(
    tenant: str, period: BillingPeriod, history: Mapping[str, Mapping[str, Any]],
    usage: Sequence[UsageRow], late_ids: dict[str, list[str]], deps: InvoicingDeps,
) -> dict[str, Any]:
    """The usage billed so far per period (``history``, carried forward from the previous
    invoice), with this invoice's call ids written once under a content-addressed key."""
    billed: dict[str, Any] = {key: dict(value) for key, value in history.items()}
    batches = {period.key: [row.call_id for row in usage], **late_ids}
    for key, call_ids in batches.items():
        if not call_ids and key != period.key:
            continue
        object_key = _write_ids(tenant, key, call_ids, deps.files)
        entry = billed.setdefault(key, {"calls": 0, "ids": []})
        entry["calls"] = int(entry.get("calls", 0)) + len(call_ids)
        entry["ids"] = [*entry.get("ids", []), object_key]
    # only the periods a later invoice may still look back at
    kept = sorted(billed)[-(max(deps.late_lookback_periods, 0) + 1):]
    return {key: billed[key] for key in kept}


def _write_ids(tenant: str, period: str, call_ids: list[str], files: InvoiceFiles) -> str:
    data = gzip.compress("\n".join(sorted(call_ids)).encode("utf-8"), mtime=0)
    digest = hashlib.sha256(data).hexdigest()[:16]
    key = f"invoices/{tenant}/{period}/calls-{digest}.txt.gz"
    files.put_bytes(key, data, "application/gzip")
    return key


def _read_ids(data: bytes) -> list[str]:
    text = gzip.decompress(data).decode("utf-8")
    return [line for line in text.split("\n") if line]


# ------------------------------------------------------------------------------ delivery


def pdf_key(invoice: StoredInvoice) -> str:
    """Where an invoice's PDF lives: outside ``tenants/``, so it never re-enters rating."""
    return f"invoices/{invoice.tenant}/{invoice.number}.pdf"


def issued_document(invoice: StoredInvoice) -> Invoice:
    """The invoice as issued (lines, parties, totals), as the domain model."""
    return Invoice.model_validate(dict(invoice.document))


def deliver(invoice: StoredInvoice, deps: InvoicingDeps) -> str | None:
    """The steps after the issue, each once: PDF, email, auto-pay. Returns auto-pay's
    outcome (None when there is no gateway)."""
    pdf: bytes | None = None
    if invoice.pdf_key is None:
        pdf = deps.render(issued_document(invoice))
        key = pdf_key(invoice)
        deps.files.put_bytes(key, pdf, "application/pdf")
        deps.store.mark(invoice.tenant, invoice.period, {"pdf_key": key})
        invoice = _reload(invoice, deps.store)
    deps.after_step("pdf")
    if not invoice.emailed:
        if pdf is None:
            pdf = deps.files.get_bytes(invoice.pdf_key or pdf_key(invoice))
        sent = deps.mailer.send_invoice(invoice, pdf)
        deps.store.mark(invoice.tenant, invoice.period, {"emailed": True})
        if not sent:
            logger.warning("invoice not emailed: no billing address",
                           extra={"tenant": invoice.tenant, "invoice": invoice.number})
        invoice = _reload(invoice, deps.store)
    deps.after_step("email")
    if deps.gateway is None:
        return None
    return autopay(invoice, AutopayDeps(deps.store, deps.gateway, deps.customers))


def _reload(invoice: StoredInvoice, store: InvoiceStore) -> StoredInvoice:
    return store.get(invoice.tenant, invoice.period) or invoice


def mark_overdue(tenant: str, today: date, store: InvoiceStore) -> list[str]:
    """Open invoices whose due date has passed become Overdue (once; safe daily)."""
    moved = []
    for listed in store.of_tenant(tenant):
        invoice = store.get(listed.tenant, listed.period) or listed
        if invoice.status not in OPEN_STATUSES - {OVERDUE} or invoice.balance_due <= 0:
            continue
        # the domain decides (past the due date with something still due)
        if as_domain(invoice).mark_overdue(today).status != OVERDUE:
            continue
        if store.set_status(tenant, invoice.period, invoice.status, OVERDUE):
            moved.append(invoice.number)
    return moved


# ------------------------------------------------------------------------------ helpers


def _local_date(now_ms: int, settings: TenantSettings) -> date:
    return epoch_ms_to_local(now_ms, zone_of(settings.timezone)).date()


def _iso(value: date | None) -> str:
    if value is None:  # pragma: no cover - an issued invoice has its dates
        raise BillingError("an issued invoice has a due date")
    return value.isoformat()

