"""Pairing the calls of two sides that are the same call, tolerantly.

Two CDR sources never agree byte for byte: one writes ``+44 20 7123 4567``, the other
``00442071234567`` or the national ``02071234567``; their clocks differ by a second or two;
and a source exported in local time instead of UTC is off by whole hours. So:

* numbers are compared as digits without ``+``, exit prefix (``00``/``011``) or trunk ``0``;
  one number ending with the other (at least 7 digits) also matches, so a national number
  matches its international form without knowing the country code;
* a constant offset between the clocks is detected first, by a vote over the time differences
  of every pair of calls to the same number within a day (:func:`detect_offset`); an offset
  within the tolerance of a whole number of hours is snapped to it (a time-zone shift);
* then pairs closer than the tolerance (after removing the offset) are taken greedily,
  closest first, preferring equal call ids and equal talk time (:func:`match_calls`).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from shared.domain.reconcile.model import ReconCall

HOUR_MS = 3_600_000
#: farthest apart two calls can be and still vote for a clock offset (time zones reach ±14 h)
MAX_OFFSET_MS = 26 * HOUR_MS
#: shortest tail of digits that identifies a number when one side lacks the country code
MIN_SUFFIX_DIGITS = 7
#: candidates per call in the offset vote: a number called all day cannot make it quadratic
_NEAREST = 8


def number_key(number: str) -> str:
    """Dialled digits without formatting, ``+``, exit prefix or trunk zero."""
    digits = "".join(ch for ch in number if ch.isdigit() and ch.isascii())
    if number.strip().startswith("+"):
        return digits
    for exit_prefix in ("011", "00"):
        if digits.startswith(exit_prefix) and len(digits) > len(exit_prefix) + 6:
            return digits[len(exit_prefix) :]
    return digits.lstrip("0") or digits


def numbers_match(a: str, b: str) -> bool:
    """Same number, or one is the other without its country code (a long enough tail)."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= MIN_SUFFIX_DIGITS and long_.endswith(short)


def _bucket(key: str) -> str:
    return key[-MIN_SUFFIX_DIGITS:]


@dataclass(frozen=True, slots=True)
class Offset:
    """Their clock minus ours, and how many call pairs voted for it."""

    ms: int
    votes: int
    candidates: int

    @property
    def whole_hours(self) -> bool:
        return self.ms != 0 and self.ms % HOUR_MS == 0


class _Index:
    """Their calls by number tail, each bucket sorted by time, for range look-ups."""

    def __init__(self, calls: Sequence[ReconCall]) -> None:
        buckets: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.keys = [number_key(call.callee) for call in calls]
        for index, (call, key) in enumerate(zip(calls, self.keys, strict=True)):
            buckets[_bucket(key)].append((call.time_ms, index))
        self.buckets = {key: sorted(items) for key, items in buckets.items()}

    def around(self, key: str, time_ms: int, reach_ms: int) -> list[tuple[int, int]]:
        """(time, index) of their calls whose number matches ``key`` within ± ``reach_ms``."""
        items = self.buckets.get(_bucket(key), [])
        low = bisect.bisect_left(items, (time_ms - reach_ms, -1))
        high = bisect.bisect_right(items, (time_ms + reach_ms, len(self.keys)))
        return [item for item in items[low:high] if numbers_match(key, self.keys[item[1]])]


def detect_offset(
    ours: Sequence[ReconCall], theirs: Sequence[ReconCall], tolerance_ms: int
) -> Offset:
    """The constant clock offset (theirs − ours) most call pairs agree on, else 0.

    Every pair of calls to one number within :data:`MAX_OFFSET_MS` votes for its time
    difference, in bins of the tolerance. The winning bin must hold at least half the calls
    of the smaller side and beat the votes for no offset; its votes' median is the offset,
    snapped to whole hours when within the tolerance of them.
    """
    if not ours or not theirs:
        return Offset(0, 0, 0)
    index = _Index(theirs)
    width = max(tolerance_ms, 1000)
    votes: Counter[int] = Counter()
    by_bin: dict[int, list[int]] = defaultdict(list)
    for call in ours:
        key = number_key(call.callee)
        near = index.around(key, call.time_ms, MAX_OFFSET_MS)
        near.sort(key=lambda item: abs(item[0] - call.time_ms))
        for their_time, _ in near[:_NEAREST]:
            delta = their_time - call.time_ms
            bin_ = _round_div(delta, width)
            votes[bin_] += 1
            by_bin[bin_].append(delta)
    smaller = min(len(ours), len(theirs))
    if not votes:
        return Offset(0, 0, smaller)

    def support_of(bin_: int) -> int:
        return votes[bin_ - 1] + votes[bin_] + votes[bin_ + 1]

    best = max(sorted(votes), key=lambda bin_: (support_of(bin_), -abs(bin_)))
    support, at_zero = support_of(best), support_of(0)
    if abs(best) <= 1 or support * 2 < smaller or support <= at_zero:
        return Offset(0, at_zero, smaller)
    deltas = sorted(by_bin[best - 1] + by_bin[best] + by_bin[best + 1])
    median = deltas[len(deltas) // 2]
    hours = _round_div(median, HOUR_MS)
    if hours and abs(median - hours * HOUR_MS) <= tolerance_ms:
        median = hours * HOUR_MS
    else:
        median = _round_div(median, 1000) * 1000
    return Offset(median, support, smaller)


@dataclass(frozen=True, slots=True)
class Matching:
    pairs: list[tuple[ReconCall, ReconCall]]
    only_ours: list[ReconCall]
    only_theirs: list[ReconCall]


def match_calls(
    ours: Sequence[ReconCall],
    theirs: Sequence[ReconCall],
    tolerance_ms: int,
    offset_ms: int = 0,
) -> Matching:
    """Pairs within ``tolerance_ms`` once their clock is moved back by ``offset_ms``.

    Greedy over all candidate pairs, best first: closest in time, then the same call id, then
    the closest talk time; each call is used once. Deterministic for a given input order.
    """
    index = _Index(theirs)
    candidates: list[tuple[int, int, int, int, int]] = []
    for our_index, call in enumerate(ours):
        key = number_key(call.callee)
        for their_time, their_index in index.around(key, call.time_ms + offset_ms, tolerance_ms):
            other = theirs[their_index]
            candidates.append(
                (
                    abs(their_time - offset_ms - call.time_ms),
                    0 if other.call_id == call.call_id else 1,
                    abs(other.talk_ms - call.talk_ms),
                    our_index,
                    their_index,
                )
            )
    candidates.sort()
    used_ours: set[int] = set()
    used_theirs: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for *_, our_index, their_index in candidates:
        if our_index in used_ours or their_index in used_theirs:
            continue
        used_ours.add(our_index)
        used_theirs.add(their_index)
        pairs.append((our_index, their_index))
    pairs.sort()
    return Matching(
        pairs=[(ours[a], theirs[b]) for a, b in pairs],
        only_ours=[call for i, call in enumerate(ours) if i not in used_ours],
        only_theirs=[call for i, call in enumerate(theirs) if i not in used_theirs],
    )


def _round_div(value: int, unit: int) -> int:
    """``value / unit`` rounded half away from zero, in integers."""
    quotient, remainder = divmod(abs(value), unit)
    if remainder * 2 >= unit:
        quotient += 1
    return quotient if value >= 0 else -quotient
