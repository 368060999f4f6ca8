"""What reconciliation compares: one call of a side, per-day and per-hour totals, call diffs.

A side is a list of :class:`ReconCall`, built by the service from a CDR file rated with a card
(or from our rated calls). Costs are ``Decimal`` in the side's currency; times are UTC epoch
milliseconds and durations milliseconds, as in :class:`shared.domain.calls.CallRecord`.
Differences are always **ours − theirs**: a negative count on a day means calls missing from
ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from shared.domain.calls import CallRecord
from shared.domain.rating.receipt import Receipt

_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ReconCall:
    """One call of one side, rated: what the comparison needs and where it came from."""

    call_id: str
    callee: str
    time_ms: int  # start (setup) time, else answer time: the time both sides log
    talk_ms: int
    connected: bool
    billed_ms: int
    cost: Decimal
    prefix: str = ""
    destination: str = ""
    caller: str = ""
    start_ms: int | None = None
    answer_ms: int | None = None
    end_ms: int | None = None
    line_no: int = 0
    #: why our engine could not price it (a reject reason), else ""
    problem: str = ""
    #: the parsed record, to re-rate with a receipt (None when read from a store)
    record: CallRecord | None = field(default=None, compare=False, repr=False)

    @property
    def day(self) -> str:
        return utc_day(self.time_ms)

    @property
    def hour(self) -> int:
        return utc_datetime(self.time_ms).hour


#: re-rates one call of a side with its receipt (None when the side cannot)
Explainer = Callable[[ReconCall], Receipt | None]


@dataclass(slots=True)
class Side:
    """One source: its calls, currency, a label for the report, and rows it could not use."""

    label: str
    currency: str
    calls: list[ReconCall]
    explain: Explainer | None = None
    #: rows read but not usable as calls (unreadable rows, duplicates, …) by reason
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Totals:
    """Attempts, connected calls, talk and billed time, and cost of a set of calls."""

    calls: int = 0
    connected: int = 0
    talk_ms: int = 0
    billed_ms: int = 0
    cost: Decimal = _ZERO

    def add(self, call: ReconCall) -> None:
        self.calls += 1
        self.connected += call.connected
        self.talk_ms += call.talk_ms
        self.billed_ms += call.billed_ms
        self.cost += call.cost

    @classmethod
    def of(cls, calls: Iterable[ReconCall]) -> Totals:
        totals = cls()
        for call in calls:
            totals.add(call)
        return totals


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """Totals of one day (``2026-03-04``) or hour (``14``) on both sides."""

    key: str
    ours: Totals
    theirs: Totals

    @property
    def calls_diff(self) -> int:
        return self.ours.calls - self.theirs.calls

    @property
    def connected_diff(self) -> int:
        return self.ours.connected - self.theirs.connected

    @property
    def billed_diff_ms(self) -> int:
        return self.ours.billed_ms - self.theirs.billed_ms

    @property
    def talk_diff_ms(self) -> int:
        return self.ours.talk_ms - self.theirs.talk_ms

    @property
    def cost_diff(self) -> Decimal:
        return self.ours.cost - self.theirs.cost

    @property
    def severity(self) -> tuple[int, int, int, Decimal]:
        """The order of the hand investigation: calls, then connected, durations, rating."""
        return (
            abs(self.calls_diff),
            abs(self.connected_diff),
            abs(self.talk_diff_ms),
            abs(self.cost_diff),
        )

    @property
    def differs(self) -> bool:
        return any(self.severity)


class DiffKind(StrEnum):
    MISSING = "missing"  # in theirs, not in ours: we did not bill it
    EXTRA = "extra"  # in ours, not in theirs
    CONNECTION = "connection"  # answered on one side only
    DURATION = "duration"  # talk time differs
    COST = "cost"  # same talk time, different cost


@dataclass(frozen=True, slots=True)
class CallDiff:
    """One call that differs, with the call of each side that has it."""

    kind: DiffKind
    ours: ReconCall | None
    theirs: ReconCall | None

    @property
    def talk_diff_ms(self) -> int:
        return (self.ours.talk_ms if self.ours else 0) - (self.theirs.talk_ms if self.theirs else 0)

    @property
    def cost_diff(self) -> Decimal:
        return (self.ours.cost if self.ours else _ZERO) - (
            self.theirs.cost if self.theirs else _ZERO
        )

    @property
    def any_call(self) -> ReconCall:
        found = self.ours or self.theirs
        assert found is not None
        return found


@dataclass(frozen=True, slots=True)
class Finding:
    """One likely cause, with the numbers behind it; findings are ranked most likely first."""

    cause: str  # a short key: time_shift, missing_calls, extra_calls, duration_shift, …
    summary: str  # the sentence a person reads
    evidence: tuple[str, ...]
    calls: int
    cost_impact: Decimal  # ours − theirs over the calls of this finding
    day: str | None = None
    hour: int | None = None
    call_ids: tuple[str, ...] = ()


def utc_datetime(time_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime, exactly (no float seconds)."""
    return _EPOCH + timedelta(milliseconds=time_ms)


def utc_day(time_ms: int) -> str:
    return utc_datetime(time_ms).strftime("%Y-%m-%d")


def utc_time(time_ms: int) -> str:
    """ISO-8601 UTC to the millisecond, trailing zeros of a whole second dropped."""
    text = utc_datetime(time_ms).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def seconds(ms: int) -> Decimal:
    """Milliseconds as exact seconds (``1500`` → ``1.5``), no float on the way."""
    value = Decimal(ms).scaleb(-3)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
