"""Plans and subscriptions: what a tenant pays per period, prorated by days in force.

A subscription holds the plan and quantities (extensions, DIDs, trunk channels) and a list
of dated changes. For a period it is cut into segments of whole local days during which
nothing changes; each recurring fee is

    fee = Σ over segments  monthly price × quantity × days in segment / days in period

summed exactly (fractions) and rounded once per line with ``round_invoice_amount``.
Trial days charge no fee; suspended days are charged like active ones (suspension for
non-payment does not end the contract). docs/invoicing.md has the whole story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.domain.calls import Direction
from shared.domain.invoicing.periods import BillingPeriod


class PlanKind(StrEnum):
    FLAT_RATE = "flat_rate"  # monthly fee with included extensions, DIDs and minutes
    PAY_AS_YOU_GO = "pay_as_you_go"  # units × rate, nothing included
    PER_CHANNEL = "per_channel"  # SIP trunk channels × monthly price per type


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    TRIAL = "trial"  # no recurring fee and no minimum; usage is still billed
    SUSPENDED = "suspended"  # fees continue; the switch blocks calls (emergency excepted)


def _non_negative(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError(f"expected an amount of 0 or more, got {value}")
    return value


#: an amount of 0 or more (prices, fees, included minutes)
Amount = Annotated[Decimal, AfterValidator(_non_negative)]


class ChannelPrices(BaseModel):
    """Monthly price of one SIP trunk channel, per type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outbound: Amount = Decimal(0)
    inbound: Amount = Decimal(0)
    two_way: Amount = Decimal(0)


class Channels(BaseModel):
    """Trunk channel counts per type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outbound: int = Field(default=0, ge=0)
    inbound: int = Field(default=0, ge=0)
    two_way: int = Field(default=0, ge=0)


class Plan(BaseModel):
    """A price plan. Amounts are per period (month) in the tenant's currency, except
    ``minute_price`` (per billed minute). What applies depends on ``kind``:

    * flat rate: ``monthly_fee``; ``included_*``; ``extension_price``, ``did_price``,
      ``minute_price`` are overage prices beyond the included quantities;
    * pay-as-you-go: every extension, DID and minute × its price (nothing included, no fee);
    * per channel: ``channel_prices`` × channel counts, plus ``monthly_fee`` if any.

    Any plan may set ``minimum_per_server``. Plan minutes count the billed time of voice
    calls in ``minute_directions``; they are a platform charge on top of the rated cost of
    the calls (the rate card prices the carriage)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PlanKind
    name: str = ""
    monthly_fee: Amount = Decimal(0)
    included_extensions: int = Field(default=0, ge=0)
    included_dids: int = Field(default=0, ge=0)
    included_minutes: Amount = Decimal(0)
    extension_price: Amount = Decimal(0)
    did_price: Amount = Decimal(0)
    minute_price: Amount = Decimal(0)
    minute_directions: tuple[Direction, ...] = (Direction.OUT,)
    channel_prices: ChannelPrices = Field(default_factory=ChannelPrices)
    minimum_per_server: Amount = Decimal(0)

    @model_validator(mode="after")
    def _fits_kind(self) -> Plan:
        if self.kind is PlanKind.PAY_AS_YOU_GO and (
            self.monthly_fee or self.included_extensions or self.included_dids
            or self.included_minutes
        ):
            raise ValueError("a pay-as-you-go plan has no monthly fee and includes nothing")
        return self

    @property
    def label(self) -> str:
        return self.name or self.kind.value.replace("_", " ").title()


class SubscriptionChange(BaseModel):
    """A change in force from local day ``effective`` (inclusive); unset fields keep their
    value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effective: date
    plan: Plan | None = None
    extensions: int | None = Field(default=None, ge=0)
    dids: int | None = Field(default=None, ge=0)
    channels: Channels | None = None
    status: SubscriptionStatus | None = None


class Subscription(BaseModel):
    """A tenant's plan and quantities, and their dated changes. ``starts``/``ends`` bound
    it (local days, ``ends`` exclusive); ``servers`` are the call ``account`` values that
    each get ``minimum_per_server``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan: Plan
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    extensions: int = Field(default=0, ge=0)
    dids: int = Field(default=0, ge=0)
    channels: Channels = Field(default_factory=Channels)
    servers: tuple[str, ...] = ()
    starts: date | None = None
    ends: date | None = None
    changes: tuple[SubscriptionChange, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> Subscription:
        if self.starts and self.ends and self.ends <= self.starts:
            raise ValueError(f"subscription ends {self.ends} on or before it starts")
        days = [change.effective for change in self.changes]
        if len(set(days)) != len(days):
            raise ValueError("two subscription changes take effect on the same day")
        return self


@dataclass(frozen=True, slots=True)
class Segment:
    """Local days ``[first, end)`` of a period in which the subscription does not change."""

    first: date
    end: date
    plan: Plan
    status: SubscriptionStatus
    extensions: int
    dids: int
    channels: Channels

    @property
    def days(self) -> int:
        return (self.end - self.first).days

    def share(self, period: BillingPeriod) -> Fraction:
        """This segment's share of the period: days in segment / days in period."""
        return Fraction(self.days, period.days)


def segments(subscription: Subscription, period: BillingPeriod) -> list[Segment]:
    """The period cut where the subscription changes, limited to its start and end."""
    first = max(period.start, subscription.starts or period.start)
    last = min(period.end, subscription.ends or period.end)
    if first >= last:
        return []
    plan, status = subscription.plan, subscription.status
    extensions, dids, channels = subscription.extensions, subscription.dids, subscription.channels
    cuts: list[Segment] = []
    cursor = first
    for change in sorted(subscription.changes, key=lambda c: c.effective):
        if change.effective > cursor:
            end = min(change.effective, last)
            if end > cursor:
                cuts.append(Segment(cursor, end, plan, status, extensions, dids, channels))
                cursor = end
        plan = change.plan or plan
        status = change.status or status
        extensions = extensions if change.extensions is None else change.extensions
        dids = dids if change.dids is None else change.dids
        channels = change.channels or channels
    if cursor < last:
        cuts.append(Segment(cursor, last, plan, status, extensions, dids, channels))
    return cuts
