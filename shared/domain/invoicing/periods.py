"""Billing periods: calendar months in the tenant's zone, ``[start, end)``, and which one
is due for invoicing once its settlement lag has passed (SPEC 5, 7)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.errors import ValidationError
from shared.domain.rating.calendar import epoch_ms_to_local, local_midnight_ms

#: usage is invoiced once the period has been closed this long (late CDRs settle)
DEFAULT_SETTLEMENT_LAG_MS = 24 * 3_600_000
_KEY = re.compile(r"^(\d{4})-(\d{2})$")


def zone_of(name: str | None) -> ZoneInfo:
    """The tenant's IANA zone (UTC when unset), with a clear error for an unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True, slots=True, order=True)
class BillingPeriod:
    """One calendar month in a zone: local dates ``[start, end)`` and the instants bounding it.

    ``key`` is ``YYYY-MM``, the same text the rated-calls index files a call under
    (``tenant_period``), so the store can read a period's calls by it."""

    year: int
    month: int
    zone: str = "UTC"

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValidationError(f"no billing period {self.year:04d}-{self.month:02d}")
        zone_of(self.zone)

    @classmethod
    def parse(cls, key: str, zone: str | None = None) -> BillingPeriod:
        found = _KEY.match(key)
        if not found:
            raise ValidationError(f"a billing period is written YYYY-MM, got {key!r}")
        return cls(int(found[1]), int(found[2]), zone or "UTC")

    @classmethod
    def containing(cls, ms: int, zone: str | None = None) -> BillingPeriod:
        """The period of an instant (a call's answer time) by the local calendar in ``zone``."""
        local = epoch_ms_to_local(ms, zone_of(zone))
        return cls(local.year, local.month, zone or "UTC")

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> date:
        """First local day of the period (inclusive)."""
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        """First local day after the period (exclusive)."""
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def start_ms(self) -> int:
        return local_midnight_ms(self.start, zone_of(self.zone))

    @property
    def end_ms(self) -> int:
        return local_midnight_ms(self.end, zone_of(self.zone))

    def contains(self, ms: int) -> bool:
        return self.start_ms <= ms < self.end_ms

    def next(self) -> BillingPeriod:
        return BillingPeriod(self.end.year, self.end.month, self.zone)

    def previous(self) -> BillingPeriod:
        before = date(self.year - (self.month == 1), (self.month - 2) % 12 + 1, 1)
        return BillingPeriod(before.year, before.month, self.zone)

    def __str__(self) -> str:
        return self.key


def due_period(
    now_ms: int, zone: str | None = None, lag_ms: int = DEFAULT_SETTLEMENT_LAG_MS
) -> BillingPeriod:
    """The latest period whose end plus the settlement lag is at or before ``now``.

    The scheduler invoices it unless that period's invoice exists already (the store's
    one-invoice-per-period condition makes a double fire harmless)."""
    if lag_ms < 0:
        raise ValidationError(f"the settlement lag must not be negative, got {lag_ms} ms")
    period = BillingPeriod.containing(now_ms, zone).previous()
    while period.end_ms + lag_ms > now_ms:
        period = period.previous()
    return period
