"""Builders shared by the invoicing tests: rated-call rows, parties, tax rules, instants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.domain.invoicing import (
    BillingPeriod,
    LineKind,
    Party,
    Surcharge,
    TaxRules,
)

BERLIN = "Europe/Berlin"
JAN = BillingPeriod(2026, 1, BERLIN)  # 31 days
FEB = BillingPeriod(2026, 2, BERLIN)  # 28 days
SELLER = Party(name="Wire GmbH", address=("Hauptstr. 1", "Berlin"), country="DE", tax_id="DE111")
BUYER = Party(name="Acme", address=("Acme Way 2",), country="DE")
#: a jurisdiction without tax, so plan tests show only the plan's arithmetic
NO_TAX = {"DE": TaxRules(country="DE")}
DE_RULES = TaxRules(
    country="DE",
    default_rate=Decimal("19"),
    rates={LineKind.ONE_TIME: Decimal("7")},  # a made-up reduced rate for one-time fees
    surcharges=(Surcharge(name="Telecom levy", rate=Decimal("2.5")),),
)
FR_RULES = TaxRules(country="FR", tax_name="TVA", default_rate=Decimal("20"))
TAX = {"DE": DE_RULES, "FR": FR_RULES}


def local_ms(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> int:
    """Epoch ms of a Berlin wall-clock time (independent of the code under test)."""
    moment = datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(BERLIN))
    return int(moment.timestamp()) * 1000


@dataclass(frozen=True)
class Row:
    """The fields of a rated call the invoicing domain reads (as RatedCallRow has them)."""

    call_id: str
    cost: Decimal
    answer_ms: int | None
    billed_ms: int = 60_000
    service: str = "voice"
    direction: str = "out"
    account: str = ""
    status: str = "rated"
    currency: str = "EUR"
    quantity: int = 0
    start_ms: int | None = None


def call(
    call_id: str, cost: str, day: int = 10, seconds: int = 60, direction: str = "out",
    account: str = "", month: int = 1,
) -> Row:
    """A call answered at noon Berlin time on ``day`` of ``month`` 2026."""
    return Row(
        call_id, Decimal(cost), local_ms(2026, month, day), seconds * 1000,
        direction=direction, account=account,
    )
