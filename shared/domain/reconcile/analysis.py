"""The balance-mismatch investigation, in the order a billing team runs it by hand.

1. daily UTC totals of both sides: calls, connected calls, talk and billed time, cost;
2. the worst day (calls first, then connected calls, durations, cost: the hand order),
   narrowed to its worst hour;
3. call by call, after matching (:mod:`.matching`): missing from ours, extra in ours,
   answered on one side only, different duration, different cost;
4. the single call with the largest difference, with both rating receipts;
5. findings: each likely cause with its evidence, ranked (a clock shift first, since it
   moves every other number; then by the money at stake).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from shared.domain.errors import ValidationError
from shared.domain.rating.receipt import Receipt
from shared.domain.reconcile.matching import HOUR_MS, Offset, detect_offset, match_calls
from shared.domain.reconcile.model import (
    CallDiff,
    DiffKind,
    Finding,
    PeriodRow,
    ReconCall,
    Side,
    Totals,
    seconds,
    utc_datetime,
    utc_time,
)

_ZERO = Decimal(0)
#: a share of the differing calls at or above which one explanation counts as "constant"
_DOMINANT = Decimal("0.8")
#: call ids quoted as evidence per finding
_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Settings:
    """How tolerant the matching is: start times within ``time_tolerance_ms`` (after any
    detected clock offset) and talk times within ``duration_tolerance_ms`` are equal."""

    time_tolerance_ms: int = 5_000
    duration_tolerance_ms: int = 0
    detect_offset: bool = True


@dataclass(slots=True)
class Reconciliation:
    ours: Side
    theirs: Side
    settings: Settings
    offset: Offset
    total: PeriodRow
    days: list[PeriodRow]
    worst_day: str | None
    hours: list[PeriodRow]
    worst_hour: int | None
    matched: int
    diffs: list[CallDiff]
    largest: CallDiff | None
    largest_receipts: tuple[Receipt | None, Receipt | None] = (None, None)
    findings: list[Finding] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.ours.currency

    @property
    def conclusion(self) -> str:
        if not self.findings:
            return (
                f"the sources agree: {_calls(self.total.ours.calls)}, "
                f"{self.total.ours.cost} {self.currency}"
            )
        return self.findings[0].summary

    def count(self, kind: DiffKind) -> int:
        return sum(1 for diff in self.diffs if diff.kind is kind)


def reconcile(ours: Side, theirs: Side, settings: Settings | None = None) -> Reconciliation:
    """Compare two sides end to end; pure, deterministic for a given input order."""
    settings = settings or Settings()
    if ours.currency != theirs.currency:
        raise ValidationError(
            f"cannot reconcile {ours.currency} ({ours.label}) with {theirs.currency}"
            f" ({theirs.label}): rate both sides in one currency"
        )
    total = PeriodRow("total", Totals.of(ours.calls), Totals.of(theirs.calls))
    days = _periods(ours.calls, theirs.calls, lambda call: call.day)
    differing_days = [row for row in days if row.differs]
    worst_day = max(differing_days, key=lambda row: row.severity).key if differing_days else None
    hours: list[PeriodRow] = []
    worst_hour: int | None = None
    if worst_day is not None:
        hours = _hours_of(worst_day, ours.calls, theirs.calls)
        differing = [row for row in hours if row.differs]
        worst_hour = int(max(differing, key=lambda row: row.severity).key) if differing else None
    offset = (
        detect_offset(ours.calls, theirs.calls, settings.time_tolerance_ms)
        if settings.detect_offset
        else Offset(0, 0, 0)
    )
    matching = match_calls(ours.calls, theirs.calls, settings.time_tolerance_ms, offset.ms)
    diffs = _diffs(matching.pairs, matching.only_ours, matching.only_theirs, settings)
    largest = max(diffs, key=_largest_key) if diffs else None
    receipts = _receipts(largest, ours, theirs)
    findings = _findings(ours, theirs, offset, matching.pairs, diffs, settings)
    return Reconciliation(
        ours=ours,
        theirs=theirs,
        settings=settings,
        offset=offset,
        total=total,
        days=days,
        worst_day=worst_day,
        hours=hours,
        worst_hour=worst_hour,
        matched=len(matching.pairs),
        diffs=diffs,
        largest=largest,
        largest_receipts=receipts,
        findings=findings,
    )


def _periods(
    ours: Iterable[ReconCall], theirs: Iterable[ReconCall], key: Callable[[ReconCall], str]
) -> list[PeriodRow]:
    rows: dict[str, tuple[Totals, Totals]] = defaultdict(lambda: (Totals(), Totals()))
    for call in ours:
        rows[key(call)][0].add(call)
    for call in theirs:
        rows[key(call)][1].add(call)
    return [PeriodRow(name, *rows[name]) for name in sorted(rows)]


def _hours_of(day: str, ours: Iterable[ReconCall], theirs: Iterable[ReconCall]) -> list[PeriodRow]:
    """All 24 hours of ``day``, empty ones included, so the hourly chart has a fixed axis."""
    found = {
        row.key: row
        for row in _periods(
            (c for c in ours if c.day == day),
            (c for c in theirs if c.day == day),
            lambda call: f"{call.hour:02d}",
        )
    }
    return [found.get(f"{h:02d}", PeriodRow(f"{h:02d}", Totals(), Totals())) for h in range(24)]


def _diffs(
    pairs: Sequence[tuple[ReconCall, ReconCall]],
    only_ours: Sequence[ReconCall],
    only_theirs: Sequence[ReconCall],
    settings: Settings,
) -> list[CallDiff]:
    diffs = [CallDiff(DiffKind.EXTRA, call, None) for call in only_ours]
    diffs += [CallDiff(DiffKind.MISSING, None, call) for call in only_theirs]
    for mine, other in pairs:
        if mine.connected != other.connected:
            diffs.append(CallDiff(DiffKind.CONNECTION, mine, other))
        elif abs(mine.talk_ms - other.talk_ms) > settings.duration_tolerance_ms:
            diffs.append(CallDiff(DiffKind.DURATION, mine, other))
        elif mine.cost != other.cost:
            diffs.append(CallDiff(DiffKind.COST, mine, other))
    diffs.sort(key=lambda diff: (diff.any_call.time_ms, diff.any_call.call_id, diff.kind))
    return diffs


def _largest_key(diff: CallDiff) -> tuple[Decimal, int, int]:
    """Most money first, then most talk time, then the earliest call."""
    return (abs(diff.cost_diff), abs(diff.talk_diff_ms), -diff.any_call.time_ms)


def _receipts(
    largest: CallDiff | None, ours: Side, theirs: Side
) -> tuple[Receipt | None, Receipt | None]:
    if largest is None:
        return None, None
    mine = ours.explain(largest.ours) if ours.explain and largest.ours else None
    other = theirs.explain(largest.theirs) if theirs.explain and largest.theirs else None
    return mine, other


# ----------------------------------------------------------------------------- findings


def _findings(
    ours: Side,
    theirs: Side,
    offset: Offset,
    pairs: Sequence[tuple[ReconCall, ReconCall]],
    diffs: Sequence[CallDiff],
    settings: Settings,
) -> list[Finding]:
    by_kind: dict[DiffKind, list[CallDiff]] = defaultdict(list)
    for diff in diffs:
        by_kind[diff.kind].append(diff)
    found: list[Finding] = []
    found += _unmatched(
        by_kind[DiffKind.MISSING], "missing_calls", "missing from ours", -1, offset.ms
    )
    found += _unmatched(by_kind[DiffKind.EXTRA], "extra_calls", "in ours but not in theirs", 1)
    found += _connection(by_kind[DiffKind.CONNECTION])
    found += _durations(by_kind[DiffKind.DURATION], pairs)
    found += _rating(by_kind[DiffKind.COST], ours, theirs)
    found.sort(key=lambda f: (-abs(f.cost_impact), -f.calls, f.cause, f.summary))
    if offset.ms:
        found.insert(0, _shift(offset, pairs))
    return found


def _shift(offset: Offset, pairs: Sequence[tuple[ReconCall, ReconCall]]) -> Finding:
    sign = "+" if offset.ms > 0 else "-"
    if offset.whole_hours:
        amount = f"{sign}{abs(offset.ms) // HOUR_MS} h"
        summary = f"time-zone shift of {amount}: their times are {_later(offset.ms)} than ours"
        cause = "time_shift"
    else:
        amount = f"{sign}{seconds(abs(offset.ms))} s"
        summary = f"clock offset of {amount}: their times are {_later(offset.ms)} than ours"
        cause = "clock_offset"
    shifted = [(a, b) for a, b in pairs if b.time_ms != a.time_ms]
    evidence = [
        f"{offset.votes} of {offset.candidates} calls pair up with the same number"
        f" {amount} apart; matched with the shift: {len(pairs)}",
        "a source written in local time, or a switch clock set to the wrong zone",
    ]
    evidence += [
        f"{a.call_id}: ours {utc_time(a.time_ms)}, theirs {utc_time(b.time_ms)}"
        for a, b in shifted[:_EXAMPLES]
    ]
    return Finding(
        cause=cause,
        summary=summary,
        evidence=tuple(evidence),
        calls=len(pairs),
        cost_impact=_ZERO,
        call_ids=tuple(a.call_id for a, _ in shifted[:_EXAMPLES]),
    )


def _later(offset_ms: int) -> str:
    hours, rest = divmod(abs(offset_ms), HOUR_MS)
    amount = f"{hours} h" if not rest else f"{seconds(abs(offset_ms))} s"
    return f"{amount} {'later' if offset_ms > 0 else 'earlier'}"


def _unmatched(
    diffs: Sequence[CallDiff], cause: str, where: str, sign: int, shift_ms: int = 0
) -> list[Finding]:
    """Unmatched calls grouped into runs of consecutive UTC hours; the scattered rest in one.
    ``sign`` is how their cost counts in ours − theirs: -1 for calls missing from ours.
    Their times are moved back by a detected clock shift, so the hours named are on our
    (UTC) clock."""
    if not diffs:
        return []
    by_hour: dict[tuple[str, int], list[ReconCall]] = defaultdict(list)
    for diff in diffs:
        call = diff.any_call
        moment = utc_datetime(call.time_ms - shift_ms)
        by_hour[(moment.strftime("%Y-%m-%d"), moment.hour)].append(call)
    runs: list[list[tuple[str, int]]] = []
    for slot in sorted(by_hour):
        if runs and runs[-1][-1][0] == slot[0] and runs[-1][-1][1] + 1 == slot[1]:
            runs[-1].append(slot)
        else:
            runs.append([slot])
    threshold = max(2, len(diffs) // 10)
    findings: list[Finding] = []
    scattered: list[ReconCall] = []
    for run in runs:
        calls = [call for slot in run for call in by_hour[slot]]
        if len(calls) < threshold and len(runs) > 1:
            scattered += calls
            continue
        day, first, last = run[0][0], run[0][1], run[-1][1]
        summary = (
            f"{_calls(len(calls))} {where} between"
            f" {first:02d}:00 and {last + 1:02d}:00 UTC on {day}"
        )
        findings.append(_calls_finding(cause, summary, calls, sign, day=day, hour=first))
    if scattered:
        hours = len({(c.day, c.hour) for c in scattered})  # on their clock; a count only
        summary = f"{len(scattered)} more calls {where}, scattered over {hours} hours"
        findings.append(_calls_finding(cause, summary, scattered, sign))
    return findings


def _calls_finding(
    cause: str,
    summary: str,
    calls: Sequence[ReconCall],
    sign: int,
    *,
    day: str | None = None,
    hour: int | None = None,
) -> Finding:
    total = sum((call.cost for call in calls), _ZERO)
    impact = -total if sign < 0 and total else total  # never a "-0"
    connected = sum(1 for call in calls if call.connected)
    evidence = [
        f"{connected} of them connected, {seconds(sum(c.talk_ms for c in calls))} s of talk,"
        f" cost difference {impact}"
    ]
    evidence += [
        f"{call.call_id} at {utc_time(call.time_ms)}, {seconds(call.talk_ms)} s, cost {call.cost}"
        for call in calls[:_EXAMPLES]
    ]
    return Finding(
        cause=cause,
        summary=summary,
        evidence=tuple(evidence),
        calls=len(calls),
        cost_impact=impact,
        day=day,
        hour=hour,
        call_ids=tuple(call.call_id for call in calls[:_EXAMPLES]),
    )


def _connection(diffs: Sequence[CallDiff]) -> list[Finding]:
    findings = []
    for answered_in, unanswered_in, flag in (("theirs", "ours", False), ("ours", "theirs", True)):
        group = [d for d in diffs if d.ours is not None and d.ours.connected is flag]
        if not group:
            continue
        impact = sum((d.cost_diff for d in group), _ZERO)
        summary = (
            f"{_calls(len(group))} answered in {answered_in} but unanswered in {unanswered_in}:"
            " disposition or billsec 0 read differently"
        )
        evidence = (
            f"{d.any_call.call_id} at {utc_time(d.any_call.time_ms)}:"
            f" talk ours {seconds(d.ours.talk_ms if d.ours else 0)} s,"
            f" theirs {seconds(d.theirs.talk_ms if d.theirs else 0)} s"
            for d in group[:_EXAMPLES]
        )
        findings.append(_diff_finding("connection", summary, evidence, group, impact))
    return findings


def _durations(
    diffs: Sequence[CallDiff], pairs: Sequence[tuple[ReconCall, ReconCall]]
) -> list[Finding]:
    """One finding for talk-time differences, naming the pattern when one dominates."""
    if not diffs:
        return []
    connected = sum(1 for a, b in pairs if a.connected and b.connected)
    shifts = Counter(-d.talk_diff_ms for d in diffs)  # theirs − ours
    shift, count = max(shifts.items(), key=lambda item: (item[1], -abs(item[0])))
    impact = sum((d.cost_diff for d in diffs), _ZERO)
    ring = [
        d
        for d in diffs
        if d.ours is not None and d.theirs is not None and _ring_time_billed(d.ours, d.theirs)
    ]
    if Decimal(len(ring)) >= _DOMINANT * len(diffs):
        summary = (
            f"their durations include ring time on {len(ring)} of {connected} connected calls:"
            " they bill duration (end − start), we bill billsec"
        )
        cause = "ring_time"
    elif len(diffs) > 1 and Decimal(count) >= _DOMINANT * len(diffs):
        summary = (
            f"durations differ by a constant {_signed_s(shift)} (theirs − ours) on"
            f" {count} of {connected} connected calls: rounding, or billsec vs duration"
        )
        cause = "duration_shift"
    else:
        low, high = min(shifts), max(shifts)
        spread = _signed_s(low) if low == high else f"{_signed_s(low)} to {_signed_s(high)}"
        summary = (
            f"durations differ on {len(diffs)} of {connected} connected calls,"
            f" theirs − ours {spread}"
        )
        cause = "duration_mismatch"
    evidence = [f"cost difference over these calls {impact}"]
    evidence += [
        f"{d.any_call.call_id} at {utc_time(d.any_call.time_ms)}: talk ours"
        f" {seconds(d.ours.talk_ms if d.ours else 0)} s, theirs"
        f" {seconds(d.theirs.talk_ms if d.theirs else 0)} s"
        for d in diffs[:_EXAMPLES]
    ]
    return [_diff_finding(cause, summary, evidence, diffs, impact)]


def _diff_finding(
    cause: str, summary: str, evidence: Iterable[str], diffs: Sequence[CallDiff], impact: Decimal
) -> Finding:
    """A finding over calls both sides hold but read differently: it counts them and names
    the first few as examples."""
    return Finding(
        cause=cause,
        summary=summary,
        evidence=tuple(evidence),
        calls=len(diffs),
        cost_impact=impact,
        call_ids=tuple(d.any_call.call_id for d in diffs[:_EXAMPLES]),
    )


def _signed_s(ms: int) -> str:
    return f"{'+' if ms > 0 else '-' if ms < 0 else ''}{seconds(abs(ms))} s"


def _calls(count: int) -> str:
    return f"{count} call{'' if count == 1 else 's'}"


def _ring_time_billed(ours: ReconCall, theirs: ReconCall) -> bool:
    """Their talk time equals our whole call (start to end), within a second."""
    if ours.start_ms is None or ours.end_ms is None or ours.answer_ms in (None, ours.start_ms):
        return False
    return abs(theirs.talk_ms - (ours.end_ms - ours.start_ms)) <= 1000


def _rating(diffs: Sequence[CallDiff], ours: Side, theirs: Side) -> list[Finding]:
    """Same talk time, different cost: grouped by the prefix each side rated under."""
    groups: dict[tuple[str, str, str, str], list[CallDiff]] = defaultdict(list)
    for diff in diffs:
        assert diff.ours is not None and diff.theirs is not None
        key = (diff.ours.prefix, diff.theirs.prefix, diff.ours.problem, diff.theirs.problem)
        groups[key].append(diff)
    findings = []
    for (our_prefix, their_prefix, our_problem, their_problem), group in sorted(groups.items()):
        impact = sum((d.cost_diff for d in group), _ZERO)
        sample = max(group, key=_largest_key)
        assert sample.ours is not None and sample.theirs is not None
        destination = sample.ours.destination or sample.theirs.destination
        name = f"{our_prefix} ({destination})" if destination else our_prefix or "(default)"
        mine = ours.explain(sample.ours) if ours.explain else None
        other = theirs.explain(sample.theirs) if theirs.explain else None
        if our_problem or their_problem:
            side, problem = ("ours", our_problem) if our_problem else ("theirs", their_problem)
            rated = their_prefix if our_problem else our_prefix
            summary = (
                f"{_calls(len(group))} not rated by {side} ({problem}) that the other side"
                f" rates under prefix {rated or '(default)'}: a destination missing from the"
                f" card that rated {side}"
            )
            cause = "not_rated"
        elif our_prefix != their_prefix:
            summary = (
                f"numbers rated under prefix {our_prefix or '(default)'} by ours but"
                f" {their_prefix or '(default)'} by theirs on {len(group)} calls:"
                " a prefix missing from one deck"
            )
            cause = "prefix_mismatch"
        else:
            summary, cause = _price_change(name, mine, other, len(group))
        evidence = [f"cost difference over these calls {impact} {ours.currency}"]
        evidence += [
            f"{d.any_call.call_id}: ours {d.ours.cost if d.ours else '-'},"
            f" theirs {d.theirs.cost if d.theirs else '-'}"
            for d in group[:_EXAMPLES]
        ]
        findings.append(_diff_finding(cause, summary, evidence, group, impact))
    return findings


def _price_change(
    name: str, mine: Receipt | None, other: Receipt | None, calls: int
) -> tuple[str, str]:
    """Names the rate term that differs between the two receipts of one call."""
    if mine is not None and other is not None:
        our_price, their_price = _per_minute(mine), _per_minute(other)
        if our_price != their_price:
            return (
                f"destination {name} rated at {our_price} by ours vs {their_price} by theirs"
                f" per minute on {calls} calls: rate change",
                "rate_change",
            )
        if mine.connect_fee != other.connect_fee:
            return (
                f"destination {name} connect fee {mine.connect_fee} by ours vs"
                f" {other.connect_fee} by theirs on {calls} calls: fee change",
                "fee_change",
            )
        if mine.billed_s != other.billed_s:
            return (
                f"destination {name} billed {mine.billed_s} s by ours vs {other.billed_s} s by"
                f" theirs for the same talk time on {calls} calls: increments differ",
                "increment_change",
            )
    return (
        f"destination {name} costs differ for the same talk time on {calls} calls:"
        " rating difference",
        "rating_difference",
    )


def _per_minute(receipt: Receipt) -> Decimal | None:
    """The anchor tier's price per 60 s: as the card writes it when it is per minute."""
    if not receipt.parts or not receipt.parts[0].per:
        return None
    part = receipt.parts[0]
    if part.per == 60:
        return part.price
    price = part.price * 60 / part.per
    return price.normalize() if price != price.to_integral_value() else price.quantize(1)
