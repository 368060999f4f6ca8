"""Build a tenant's Draft invoice for a period from its subscription, rated calls and the
period's other items. Pure: the service reads the store, this decides every line.

Order of lines: recurring fees (subscription, extensions, DIDs, channels), plan minutes
(overage), usage by service and direction, minimum-charge top-ups, late usage of earlier
periods, adjustments, one-time charges, credits, top-up receipts. Each line is rounded once
(``round_invoice_amount``) from its exact value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from shared.domain.errors import ValidationError
from shared.domain.invoicing.invoice import Invoice
from shared.domain.invoicing.lines import InvoiceLine, LineKind
from shared.domain.invoicing.periods import BillingPeriod
from shared.domain.invoicing.plans import Segment, Subscription, SubscriptionStatus, segments
from shared.domain.invoicing.tax import Party, TaxRules, with_taxes
from shared.domain.invoicing.usage import UsageRow, UsageSummary, aggregate_usage
from shared.domain.money import (
    Rounding,
    round_invoice_amount,
    round_ratio,
    units_to_decimal,
    validate_currency,
)

PREPAID_NOTE = (
    "Usage was paid from your prepaid balance as it happened: usage lines and top-ups are "
    "a statement and not part of this invoice's total."
)
MS_PER_MINUTE = 60_000


@dataclass(frozen=True, slots=True)
class OneTimeCharge:
    """A one-time fee of the period (a number port, a set-up fee)."""

    description: str
    unit_price: Decimal
    quantity: Decimal = Decimal(1)
    reference: str = ""


@dataclass(frozen=True, slots=True)
class Credit:
    """A refund to credit on this invoice (a pending invoice credit): positive amount."""

    reference: str
    amount: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A re-rate correction: signed amount (positive: the tenant owes more), reason and the
    rating receipt it corrects. Adjustments sharing a ``group`` (a re-rate run) and period
    are summed exactly into one line, rounded once, whose reference is the group."""

    reference: str
    amount: Decimal
    reason: str
    period: str = ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class TopUp:
    """A prepaid wallet top-up received in the period (shown as a receipt)."""

    reference: str
    amount: Decimal
    received: str = ""  # the date as the receipt shows it


def display_minutes(minutes: Fraction) -> Decimal:
    """A line's minute count as printed: 3 decimals half-up. Display only: the amount is
    computed from the exact minutes, and the shown quantity is never summed."""
    return units_to_decimal(
        round_ratio(minutes.numerator, minutes.denominator, 3, Rounding.HALF_UP), 3
    )


def _share_text(share: Fraction) -> str:
    return "" if share == 1 else f" ({share.numerator}/{share.denominator} of the period)"


def _recurring(
    cuts: list[Segment], period: BillingPeriod, currency: str
) -> list[InvoiceLine]:
    """Fees of the non-trial segments, one line per (kind, what, unit price, quantity):
    amount = round(unit price × quantity × Σ days / days in period)."""
    groups: dict[tuple[LineKind, str, str, Decimal, int], Fraction] = {}

    def add(
        kind: LineKind, what: str, unit: str, price: Decimal, qty: int, share: Fraction
    ) -> None:
        if price and qty:
            key = (kind, what, unit, price, qty)
            groups[key] = groups.get(key, Fraction(0)) + share

    for cut in cuts:
        if cut.status is SubscriptionStatus.TRIAL:
            continue
        plan, share = cut.plan, cut.share(period)
        add(LineKind.SUBSCRIPTION, f"{plan.label} plan", "month", plan.monthly_fee, 1, share)
        extra = "extra " if plan.included_extensions else ""
        add(LineKind.EXTENSIONS, f"{plan.label}: {extra}extensions", "extension",
            plan.extension_price, max(0, cut.extensions - plan.included_extensions), share)
        extra = "extra " if plan.included_dids else ""
        add(LineKind.DIDS, f"{plan.label}: {extra}DIDs", "DID",
            plan.did_price, max(0, cut.dids - plan.included_dids), share)
        prices, counts = plan.channel_prices, cut.channels
        for label, price, qty in (
            ("outbound", prices.outbound, counts.outbound),
            ("inbound", prices.inbound, counts.inbound),
            ("two-way", prices.two_way, counts.two_way),
        ):
            add(LineKind.CHANNELS, f"{plan.label}: {label} SIP channels", "channel", price,
                qty, share)
    lines = []
    for (kind, what, unit, price, qty), share in groups.items():
        lines.append(InvoiceLine(
            kind=kind, description=what + _share_text(share), unit=unit,
            quantity=Decimal(qty), unit_price=price,
            amount=round_invoice_amount(Fraction(price) * qty * share, currency),
        ))
    return lines


def _plan_minutes(
    cuts: list[Segment], period: BillingPeriod, usage: UsageSummary, currency: str
) -> list[InvoiceLine]:
    """Plan minutes beyond the included ones (flat rate: included prorated by days in force;
    pay-as-you-go: none included), priced by the plan in force at the end of the period."""
    if not cuts:
        return []
    plan = cuts[-1].plan
    if not plan.minute_price:
        return []
    included = sum((Fraction(c.plan.included_minutes) * c.share(period) for c in cuts), Fraction(0))
    counted = Fraction(usage.billed_ms("voice", plan.minute_directions), MS_PER_MINUTE)
    extra = counted - included
    if extra <= 0:
        return []
    shown = display_minutes(extra)
    what = "minutes beyond the included" if included else "minutes"
    return [InvoiceLine(
        kind=LineKind.OVERAGE, description=f"{plan.label}: {what}", unit="minute",
        quantity=shown, unit_price=plan.minute_price,
        amount=round_invoice_amount(extra * Fraction(plan.minute_price), currency),
    )]


def _usage_lines(
    usage: UsageSummary, kind: LineKind, prepaid: bool, currency: str
) -> list[InvoiceLine]:
    lines = []
    for key, totals in usage.totals.items():
        late = kind is LineKind.LATE_USAGE
        lines.append(InvoiceLine(
            kind=kind,
            description=f"{'Late ' if late else ''}{key.service} {key.direction}"
            + (f" ({key.period})" if late else ""),
            quantity=Decimal(totals.calls), unit="call" if key.service == "voice" else "item",
            billed_seconds=Decimal(totals.billed_ms).scaleb(-3),
            service=key.service, direction=key.direction, period=key.period if late else "",
            amount=round_invoice_amount(totals.cost, currency), informational=prepaid,
        ))
    return lines


def _minimum(
    subscription: Subscription, cuts: list[Segment], period: BillingPeriod,
    usage: UsageSummary, base_lines: list[InvoiceLine], currency: str,
) -> list[InvoiceLine]:
    """Top each server up to the plan's minimum (prorated by non-trial days). A named
    server's charges are its calls' rated cost; without named servers the tenant is one
    server and its charges are the period's recurring, plan-minute and usage lines."""
    paying = [cut for cut in cuts if cut.status is not SubscriptionStatus.TRIAL]
    if not paying or not paying[-1].plan.minimum_per_server:
        return []
    share = sum((cut.share(period) for cut in paying), Fraction(0))
    minimum = Fraction(paying[-1].plan.minimum_per_server) * share
    spent: dict[str, Fraction]
    if subscription.servers:
        spent = {s: Fraction(usage.cost_by_server.get(s, Decimal(0))) for s in subscription.servers}
    else:
        spent = {"": sum((Fraction(line.amount) for line in base_lines), Fraction(0))}
    lines = []
    for server, charged in spent.items():
        if charged < minimum:
            lines.append(InvoiceLine(
                kind=LineKind.MINIMUM, server=server,
                description=f"Minimum charge top-up{f' for server {server}' if server else ''}"
                + _share_text(share),
                amount=round_invoice_amount(minimum - charged, currency),
            ))
    return lines


def _adjustment_lines(
    adjustments: Sequence[Adjustment], prepaid: bool, currency: str
) -> list[InvoiceLine]:
    """One line per ungrouped adjustment; one per (group, period) for grouped ones."""
    grouped: dict[tuple[str, str, int], list[Adjustment]] = {}
    for index, adjustment in enumerate(adjustments):
        if not adjustment.amount.is_finite():
            raise ValidationError(f"adjustment {adjustment.reference}: amount is not finite")
        # an ungrouped adjustment is keyed by its position, so it stays alone
        key = (adjustment.group, adjustment.period, -1 if adjustment.group else index)
        grouped.setdefault(key, []).append(adjustment)
    lines = []
    for (group, period, _), members in grouped.items():
        first = members[0]
        single = not first.group
        lines.append(InvoiceLine(
            kind=LineKind.ADJUSTMENT, period=period, informational=prepaid,
            description=f"Adjustment: {first.reason}" if single
            else f"Adjustment: {group}, {len(members)} re-rated item(s)",
            reference=first.reference if single else group,
            quantity=Decimal(len(members)),
            amount=round_invoice_amount(sum((a.amount for a in members), Decimal(0)), currency),
        ))
    return lines


def _check_periods(usage: UsageSummary, period: BillingPeriod, late: bool) -> None:
    for key in usage.totals:
        if (key.period >= period.key) if late else (key.period != period.key):
            raise ValidationError(
                f"{'late' if late else 'usage'} calls answered in {key.period} cannot go on "
                f"the {period.key} invoice"
                + (" (late calls are of earlier periods)" if late else "")
            )


def build_invoice(
    *,
    tenant: str,
    period: BillingPeriod,
    currency: str,
    prepaid: bool,
    seller: Party,
    buyer: Party,
    tax_rules: Mapping[str, TaxRules],
    subscription: Subscription | None = None,
    rows: Iterable[UsageRow] = (),
    late_rows: Iterable[UsageRow] = (),
    one_time: Sequence[OneTimeCharge] = (),
    credits: Sequence[Credit] = (),
    adjustments: Sequence[Adjustment] = (),
    top_ups: Sequence[TopUp] = (),
) -> Invoice:
    """The Draft invoice of ``tenant`` for ``period`` (zone: ``period.zone``).

    Postpaid: usage is charged. Prepaid: usage, late usage and re-rate adjustments are
    informational (already paid from the wallet) and top-ups are listed as receipts.
    Credits are applied in the order given up to the charged subtotal (never below 0);
    ``credits_applied`` tells how much of each was used."""
    validate_currency(currency)
    current, late = list(rows), list(late_rows)
    both = {row.call_id for row in current} & {row.call_id for row in late}
    if both:
        raise ValidationError(f"call {sorted(both)[0]} is both current and late usage")
    usage = aggregate_usage(current, currency, period.zone)
    _check_periods(usage, period, late=False)
    late_usage = aggregate_usage(late, currency, period.zone)
    _check_periods(late_usage, period, late=True)

    cuts = segments(subscription, period) if subscription else []
    lines = _recurring(cuts, period, currency)
    lines += _plan_minutes(cuts, period, usage, currency)
    lines += _usage_lines(usage, LineKind.USAGE, prepaid, currency)
    if subscription is not None:
        lines += _minimum(subscription, cuts, period, usage, lines, currency)
    lines += _usage_lines(late_usage, LineKind.LATE_USAGE, prepaid, currency)
    lines += _adjustment_lines(adjustments, prepaid, currency)
    for charge in one_time:
        if charge.unit_price < 0 or charge.quantity <= 0:
            raise ValidationError(
                f"one-time charge {charge.description!r}: price must be ≥ 0 and quantity > 0"
            )
        lines.append(InvoiceLine(
            kind=LineKind.ONE_TIME, description=charge.description, reference=charge.reference,
            quantity=charge.quantity, unit_price=charge.unit_price,
            amount=round_invoice_amount(charge.unit_price * charge.quantity, currency),
        ))
    room = sum((line.amount for line in lines if line.charged), Decimal(0))
    for credit in credits:
        if credit.amount <= 0:
            raise ValidationError(f"credit {credit.reference}: amount must be positive")
        used = min(round_invoice_amount(credit.amount, currency), max(room, Decimal(0)))
        if used > 0:
            room -= used
            lines.append(InvoiceLine(
                kind=LineKind.CREDIT, description=f"Credit: {credit.reason}",
                reference=credit.reference, amount=-used,
            ))
    for top_up in top_ups:
        lines.append(InvoiceLine(
            kind=LineKind.TOP_UP, description=f"Top-up received {top_up.received}".rstrip(),
            reference=top_up.reference, informational=True,
            amount=round_invoice_amount(top_up.amount, currency),
        ))
    taxed, notes = with_taxes(lines, seller, buyer, tax_rules)
    if prepaid:
        notes = (*notes, PREPAID_NOTE)
    return Invoice.draft(
        tenant=tenant, period=period.key, zone=period.zone, currency=currency, prepaid=prepaid,
        seller=seller, buyer=buyer, lines=taxed, notes=notes,
    )


def credits_applied(invoice: Invoice) -> dict[str, Decimal]:
    """How much of each credit reference the invoice used (positive amounts); a credit
    not listed, or listed for less than its amount, has a remainder for a later invoice."""
    used: dict[str, Decimal] = {}
    for line in invoice.lines:
        if line.kind is LineKind.CREDIT:
            used[line.reference] = used.get(line.reference, Decimal(0)) - line.amount
    return used
