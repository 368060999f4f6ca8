"""The status service behind `billing status`, with fakes and an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.domain.errors import ValidationError
from shared.domain.rating.compiled import CompiledCard
from shared.domain.tenants import Numbering, TenantSettings
from shared.services.account_status import StatusDeps, account_status, report_json, report_lines
from tests.unit.builders import card, compiled, rate

PRICES = compiled(card(rate("49", "0.10", initial=60, increment=60, destination="Germany",
                            max_cost="0.50")))


@dataclass
class Usage:
    balances: dict[str, Decimal] = field(default_factory=dict)
    spend: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    days_asked: list[str] = field(default_factory=list)

    def balance(self, tenant: str) -> Decimal:
        return self.balances.get(tenant, Decimal(0))

    def day_spend(self, tenant: str, day: str) -> Decimal:
        self.days_asked.append(day)
        return self.spend.get((tenant, day), Decimal(0))


@dataclass
class Tenants:
    known: dict[str, TenantSettings] = field(default_factory=dict)

    def get(self, tenant: str) -> TenantSettings | None:
        return self.known.get(tenant)


def deps(usage: Usage, now: datetime) -> StatusDeps:
    tenants = Tenants({"acme": TenantSettings(tenant_id="acme", card="test", currency="USD",
                                              numbering=Numbering(country_code="1"))})

    def cards(settings: TenantSettings) -> CompiledCard:
        return PRICES

    return StatusDeps(tenants, usage, cards, lambda: now)


def test_the_fraud_cap_counts_the_utc_day_of_now() -> None:
    # 2026-03-02 01:00 at UTC+05:00 is still 2026-03-01 in UTC
    usage = Usage(balances={"acme": Decimal("0.30")})
    now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    report = account_status("acme", None, deps(usage, now))
    assert usage.days_asked == ["2026-03-01"] and report.day == "2026-03-01"


def test_a_number_limited_by_money_in_words_and_json() -> None:
    # 0.30 at 0.10/min on 60/60 pays 3 minutes (the 0.50 free cap is above the money)
    usage = Usage(balances={"acme": Decimal("0.30")})
    report = account_status("acme", "4930123456", deps(usage, datetime(2026, 3, 2, 10, tzinfo=UTC)))
    lines = report_lines(report)
    assert lines[2] == "  call to 4930123456 (e164, international): allowed"
    assert lines[3] == ("    longest call: 180 s (0:03:00) costing 0.3000 USD of 0.30 available, "
                        "limited by money")
    number = report_json(report)["number"]
    assert isinstance(number, dict)
    assert (number["longest_call_seconds"], number["cost_of_longest"], number["max_cost"],
            number["max_cost_strategy"]) == (180, "0.3000", "0.50", "free")


def test_a_free_cap_under_the_money_is_unlimited_in_words() -> None:
    usage = Usage(balances={"acme": Decimal("5.00")})
    report = account_status("acme", "4930123456", deps(usage, datetime(2026, 3, 2, 10, tzinfo=UTC)))
    assert report_lines(report)[3] == (
        "    longest call: unlimited (max_cost 0.50 free), up to the 86400 s rating limit"
    )


def test_unknown_tenant_and_bad_number_are_clear_errors() -> None:
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    with pytest.raises(ValidationError, match="no tenant 'nobody'"):
        account_status("nobody", None, deps(Usage(), now))
    with pytest.raises(ValidationError, match="'49abc' is not a dialable number"):
        account_status("acme", "49abc", deps(Usage(balances={"acme": Decimal(1)}), now))
