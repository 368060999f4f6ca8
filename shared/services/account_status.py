"""``billing status``: what a tenant's switch may do now (SPEC 1 and 7).

Inbound and outbound with the reasons when blocked (suspended, exhausted prepaid wallet,
postpaid credit limit, daily fraud cap for international numbers), emergency numbers always
allowed, and for one number the longest call the money pays for
(``shared.domain.admission``), priced by the tenant's own card at the current time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from shared.domain.admission import NumberAdmission, admit
from shared.domain.call_status import CallStatusView, call_status
from shared.domain.errors import ValidationError
from shared.domain.rating.compiled import CompiledCard
from shared.domain.tenants import TenantSettings
from shared.ports import AccountUsage, TenantDirectory


@dataclass(frozen=True, slots=True)
class StatusDeps:
    tenants: TenantDirectory
    usage: AccountUsage
    #: the tenant's compiled card (parents resolved), e.g. ``shared.wiring.compiled_cards``
    cards: Callable[[TenantSettings], CompiledCard]
    now: Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AccountStatusReport:
    settings: TenantSettings
    balance: Decimal
    spend_today: Decimal
    day: str
    status: CallStatusView
    number: NumberAdmission | None


def account_status(tenant: str, number: str | None, deps: StatusDeps) -> AccountStatusReport:
    settings = deps.tenants.get(tenant)
    if settings is None:
        raise ValidationError(f"no tenant {tenant!r}")
    now = deps.now().astimezone(UTC)
    day = now.strftime("%Y-%m-%d")  # the fraud cap counts UTC days, as the breakouts do
    balance = deps.usage.balance(tenant)
    spend = deps.usage.day_spend(tenant, day)
    admission = None
    if number is not None:
        admission = admit(settings, deps.cards(settings), number, int(now.timestamp() * 1000),
                          balance, spend)
    return AccountStatusReport(settings, balance, spend, day,
                               call_status(settings, balance, spend), admission)


def report_json(report: AccountStatusReport) -> dict[str, object]:
    """The report as JSON values (amounts as strings)."""
    status = report.status
    document: dict[str, object] = {
        "tenant": report.settings.tenant_id,
        "mode": str(report.settings.mode),
        "status": str(report.settings.status),
        "currency": report.settings.currency,
        "balance": str(report.balance),
        "spend_today": str(report.spend_today),
        "inbound_allowed": status.inbound_allowed,
        "outbound_allowed": status.outbound_allowed,
        "international_allowed": status.international_allowed,
        "emergency_allowed": True,
        "reasons": list(status.reasons),
    }
    found = report.number
    if found is not None:
        longest = found.longest
        document["number"] = {
            "number": found.number,
            "kind": found.kind,
            "international": found.international,
            "allowed": found.allowed,
            "reasons": list(found.reasons),
            "available": None if found.available is None else str(found.available),
            "longest_call_seconds": None if longest is None else longest.seconds,
            "unlimited": None if longest is None else longest.unlimited,
            "cost_of_longest": None if longest is None else str(longest.cost),
            "limited_by": None if longest is None else longest.limited_by,
            "destination": None if longest is None else longest.destination,
            "max_cost": None if longest is None or longest.max_cost is None
            else str(longest.max_cost),
            "max_cost_strategy": None if longest is None else longest.max_cost_strategy,
        }
    return document


def report_lines(report: AccountStatusReport) -> list[str]:
    """The report for a person, one fact a line."""
    settings, status = report.settings, report.status
    lines = [
        f"{settings.tenant_id} ({settings.mode}, {settings.status}): balance {report.balance} "
        f"{settings.currency}, spend today {report.spend_today} ({report.day} UTC)",
        f"  inbound {'allowed' if status.inbound_allowed else 'blocked'}, outbound "
        f"{'allowed' if status.outbound_allowed else 'blocked'}, international "
        f"{'allowed' if status.international_allowed else 'blocked'}, emergency allowed",
    ]
    lines += [f"  - {reason}" for reason in status.reasons]
    found = report.number
    if found is None:
        return lines
    verdict = "allowed" if found.allowed else "blocked"
    lines.append(f"  call to {found.number} ({found.kind}"
                 f"{', international' if found.international else ''}): {verdict}")
    lines += [f"    - {reason}" for reason in found.reasons]
    longest = found.longest
    if longest is not None and found.allowed:
        if longest.unlimited:
            cap = (f" (max_cost {longest.max_cost} {longest.max_cost_strategy})"
                   if longest.max_cost is not None else "")
            lines.append(f"    longest call: unlimited{cap}, up to the "
                         f"{longest.seconds} s rating limit")
        else:
            lines.append(
                f"    longest call: {longest.seconds} s ({_clock(longest.seconds)}) costing "
                f"{longest.cost} {settings.currency} of {found.available} available, "
                f"limited by {longest.limited_by}"
            )
    return lines


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
