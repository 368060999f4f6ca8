"""Breakout report lines: traffic per UTC day and destination, with margin against a
buy-side card (SPEC 5, 8). Pure: counters in, exact figures out.

- ASR = answered / attempts, as a percentage; ACD = billed seconds / answered (the stored
  breakouts keep billed time, not talk time, so ACD is on billed seconds here too).
- Billed minutes = billed ms / 60,000; costs are sums of the calls' rounded costs, never
  rounded again; margin = sell cost − buy cost, margin % = margin / sell cost × 100.
- The display figures (ASR %, ACD, minutes, margin %) are ratios, not money: each is cut to
  a fixed number of decimals by :func:`ratio`, half-even, in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from shared.domain.calls import CallRecord, CallStatus
from shared.domain.rating.compiled import CompiledCard
from shared.domain.rating.engine import rate_call
from shared.domain.rating.numbers import NumberingPlan
from shared.domain.usage import utc_day

_ZERO = Decimal(0)


def ratio(numerator: Decimal | int, denominator: Decimal | int, places: int) -> Decimal | None:
    """``numerator / denominator`` to ``places`` decimals, half-even; None when dividing by 0."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN
    )


@dataclass(slots=True)
class BuyCost:
    """What the answered calls of one (day, destination) cost on the buy-side card."""

    cost: Decimal = _ZERO
    calls: int = 0
    unrated: int = 0  # calls the buy card has no rate for: margin is incomplete


@dataclass(frozen=True, slots=True)
class BreakoutLine:
    day: str
    destination: str
    attempts: int
    answered: int
    billed_ms: int
    cost: Decimal
    buy: BuyCost | None = None

    @property
    def asr(self) -> Decimal | None:
        """Answer-seizure ratio, percent, 2 decimals."""
        return ratio(100 * self.answered, self.attempts, 2)

    @property
    def acd(self) -> Decimal | None:
        """Average call duration, billed seconds, 1 decimal."""
        return ratio(self.billed_ms, 1000 * self.answered, 1)

    @property
    def minutes(self) -> Decimal:
        """Billed minutes, 3 decimals."""
        found = ratio(self.billed_ms, 60_000, 3)
        return found if found is not None else _ZERO

    @property
    def buy_cost(self) -> Decimal | None:
        return None if self.buy is None else self.buy.cost

    @property
    def margin(self) -> Decimal | None:
        return None if self.buy is None else self.cost - self.buy.cost

    @property
    def margin_pct(self) -> Decimal | None:
        margin = self.margin
        return None if margin is None else ratio(100 * margin, self.cost, 2)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: amounts and ratios as strings (None when undefined)."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        values: dict[str, object] = {
            "day": self.day,
            "destination": self.destination,
            "attempts": self.attempts,
            "answered": self.answered,
            "billed_ms": self.billed_ms,
            "cost": str(self.cost),
            "asr": text(self.asr),
            "acd": text(self.acd),
            "minutes": str(self.minutes),
        }
        if self.buy is not None:
            values |= {
                "buy_cost": str(self.buy.cost),
                "margin": text(self.margin),
                "margin_pct": text(self.margin_pct),
                "buy_unrated": self.buy.unrated,
            }
        return values


Counters = tuple[str, str, int, int, int, Decimal]  # day, destination, attempts, ans, ms, cost


def breakout_lines(
    rows: Iterable[Counters], buy: Mapping[tuple[str, str], BuyCost] | None = None
) -> list[BreakoutLine]:
    """One line per (day, destination), ordered by day then destination; with ``buy``,
    every line carries its buy cost (zero when none of its calls was answered)."""
    merged: dict[tuple[str, str], tuple[int, int, int, Decimal]] = {}
    for day, destination, attempts, answered, billed_ms, cost in rows:
        a, n, b, c = merged.get((day, destination), (0, 0, 0, _ZERO))
        merged[(day, destination)] = (a + attempts, n + answered, b + billed_ms, c + cost)
    return [
        BreakoutLine(
            day,
            destination,
            attempts,
            answered,
            billed,
            cost,
            None if buy is None else buy.get((day, destination), BuyCost()),
        )
        for (day, destination), (attempts, answered, billed, cost) in sorted(merged.items())
    ]


def totals_by_destination(lines: Iterable[BreakoutLine]) -> list[BreakoutLine]:
    """The range's lines summed per destination (``day`` = "all"), by destination."""
    sums: dict[str, BreakoutLine] = {}
    for line in lines:
        found = sums.get(line.destination)
        if found is None:
            sums[line.destination] = BreakoutLine(
                "all", line.destination, line.attempts, line.answered, line.billed_ms,
                line.cost, None if line.buy is None else BuyCost(
                    line.buy.cost, line.buy.calls, line.buy.unrated
                ),
            )
            continue
        buy = None
        if found.buy is not None and line.buy is not None:
            buy = BuyCost(
                found.buy.cost + line.buy.cost,
                found.buy.calls + line.buy.calls,
                found.buy.unrated + line.buy.unrated,
            )
        sums[line.destination] = BreakoutLine(
            "all",
            line.destination,
            found.attempts + line.attempts,
            found.answered + line.answered,
            found.billed_ms + line.billed_ms,
            found.cost + line.cost,
            buy,
        )
    return [sums[name] for name in sorted(sums)]


def buy_costs(
    calls: Iterable[tuple[CallRecord, str]], buy_card: CompiledCard, plan: NumberingPlan
) -> dict[tuple[str, str], BuyCost]:
    """Re-price the answered calls on the buy-side card, keyed like the breakouts: UTC day
    of the start time and the *sell* card's destination (``sell_destination``), so each
    line's margin compares the same calls."""
    costs: dict[tuple[str, str], BuyCost] = {}
    for call, sell_destination in calls:
        add_buy_cost(costs, call, sell_destination, buy_card, plan)
    return costs


def add_buy_cost(
    costs: dict[tuple[str, str], BuyCost],
    call: CallRecord,
    sell_destination: str,
    buy_card: CompiledCard,
    plan: NumberingPlan,
) -> None:
    """One answered call into ``costs`` (see :func:`buy_costs`)."""
    when = call.start_ms if call.start_ms is not None else call.answer_ms
    key = (utc_day(when) if when is not None else "unknown", sell_destination)
    found = costs.setdefault(key, BuyCost())
    rating = rate_call(call, buy_card, plan)
    if rating.status is CallStatus.RATED:
        found.cost += rating.cost
        found.calls += 1
    else:
        found.unrated += 1
