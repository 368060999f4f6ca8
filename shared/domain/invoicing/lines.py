"""Invoice lines: what each line is, its amount (already rounded once) and its taxes."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator


class LineKind(StrEnum):
    SUBSCRIPTION = "subscription"  # the plan's monthly fee
    EXTENSIONS = "extensions"  # per extension (PAYG) or beyond the included ones (overage)
    DIDS = "dids"  # per DID (PAYG) or beyond the included ones (overage)
    CHANNELS = "channels"  # SIP trunk channels × monthly price per type
    USAGE = "usage"  # rated calls of the period, by service and direction
    OVERAGE = "overage"  # plan minutes beyond the included ones, or PAYG minutes
    MINIMUM = "minimum"  # top-up to a server's minimum charge
    ONE_TIME = "one_time"  # number ports, set-up fees
    CREDIT = "credit"  # a refund credited on this invoice (negative)
    LATE_USAGE = "late_usage"  # calls of an invoiced period that arrived after its invoice
    ADJUSTMENT = "adjustment"  # a re-rate correction: signed, with a reason and a receipt
    TOP_UP = "top_up"  # prepaid: a wallet top-up received (informational)


#: telecom service lines: a telecom surcharge (levy) applies to these unless a rule says
#: otherwise
TELECOM_KINDS: frozenset[LineKind] = frozenset(
    {
        LineKind.SUBSCRIPTION,
        LineKind.EXTENSIONS,
        LineKind.DIDS,
        LineKind.CHANNELS,
        LineKind.USAGE,
        LineKind.OVERAGE,
        LineKind.MINIMUM,
        LineKind.LATE_USAGE,
        LineKind.ADJUSTMENT,
    }
)


def _rate(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError(f"a tax rate is a percentage of 0 or more, got {value}")
    return value


#: a tax or levy rate in percent (20 means 20 %)
Rate = Annotated[Decimal, AfterValidator(_rate)]


class TaxCode(BaseModel):
    """One tax applied to a line: its name (VAT, a levy) and rate in percent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rate: Rate


class InvoiceLine(BaseModel):
    """One line. ``amount`` is rounded once (``round_invoice_amount``) from its exact value.

    An informational line (prepaid usage statement, top-up receipt) shows its amount but is
    not in the subtotal and carries no tax."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: LineKind
    description: str
    amount: Decimal
    quantity: Decimal = Decimal(1)
    unit: str = ""
    unit_price: Decimal | None = None
    informational: bool = False
    service: str = ""
    direction: str = ""
    billed_seconds: Decimal | None = None
    #: the period the line is about when it is not the invoice's (late usage)
    period: str = ""
    #: a receipt, credit id, rating receipt or top-up reference
    reference: str = ""
    #: the server (call ``account``) a minimum-charge line tops up
    server: str = ""
    taxes: tuple[TaxCode, ...] = ()

    @field_validator("amount", "quantity")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError(f"expected a finite number, got {value}")
        return value

    @property
    def charged(self) -> bool:
        """Counts in the subtotal (and is taxed)."""
        return not self.informational
