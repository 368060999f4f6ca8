"""The daily consistency check's rules (SPEC 5): cached figures must equal their sources.

* A tenant's cached balance (BalancesTable) equals the sum of its ledger entries.
* Each breakout row (tenant, UTC day of start, destination) equals the aggregate of the rated
  calls it was built from: attempts, answered, billed time and cost. Only calls charged by a
  chunk whose breakouts are applied count (``LedgerFacts.applied_chunks``): a file still being
  rated has committed chunks whose deltas are not in the breakouts yet, and an uncommitted
  (orphan) call was never charged. The aggregate is built by ``breakouts_of``, the very rule
  rate_call applies, so the two sides cannot drift apart by definition.

Every difference names the tenant, the row and the field, with the source's value
(``expected``) and the cached one (``found``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from shared.domain.calls import CallRecord, CallStatus
from shared.domain.rating.engine import Rating
from shared.domain.usage import BreakoutDelta, breakouts_of

#: breakout days before this many days ago are not compared: rated calls expire (TTL) while
#: breakouts stay, and old rows cannot change any more
DEFAULT_LOOKBACK_DAYS = 35
_FIELDS = ("attempts", "answered", "billed_ms", "cost")


@dataclass(frozen=True, slots=True)
class Difference:
    tenant: str
    #: balance | breakout
    kind: str
    #: "balance", or "<day>#<destination>" for a breakout row
    key: str
    field: str
    expected: str
    found: str


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    total: Decimal
    #: chunk ids whose usage entry has its breakout deltas applied
    applied_chunks: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChargedCall:
    """A stored rated call, as much of it as its breakout needs."""

    tenant: str
    charged_by: str
    status: str
    start_ms: int | None
    answer_ms: int | None
    destination: str
    prefix: str
    billed_ms: int
    cost: Decimal
    currency: str


def balance_differences(tenant: str, balance: Decimal, ledger: LedgerFacts) -> list[Difference]:
    if balance == ledger.total:
        return []
    return [Difference(tenant, "balance", "balance", "balance", str(ledger.total), str(balance))]


def expected_breakouts(
    calls: Iterable[ChargedCall], applied_chunks: frozenset[str]
) -> dict[tuple[str, str], BreakoutDelta]:
    """The breakout rows the charged calls add up to (rate_call's own ``breakouts_of``)."""
    pairs = []
    for call in calls:
        if call.charged_by not in applied_chunks:
            continue
        record = CallRecord(call_id="", tenant=call.tenant, callee="",
                            start_ms=call.start_ms, answer_ms=call.answer_ms)
        rating = Rating(CallStatus(call.status), call.currency, destination=call.destination,
                        prefix=call.prefix, billed_ms=call.billed_ms, cost=call.cost)
        pairs.append((record, rating))
    return breakouts_of(pairs)


def breakout_differences(
    tenant: str,
    stored: Mapping[tuple[str, str], BreakoutDelta],
    expected: Mapping[tuple[str, str], BreakoutDelta],
    first_day: str,
) -> list[Difference]:
    """Field by field, for every row on or after ``first_day`` (and the ``unknown`` day) on
    either side; a row missing on one side compares as zeros."""
    differences = []
    keys = {key for key in (*stored, *expected) if key[0] >= first_day or key[0] == "unknown"}
    for key in sorted(keys):
        found, wanted = stored.get(key, BreakoutDelta()), expected.get(key, BreakoutDelta())
        for name in _FIELDS:
            have, want = getattr(found, name), getattr(wanted, name)
            if have != want:
                differences.append(Difference(
                    tenant, "breakout", f"{key[0]}#{key[1]}", name, str(want), str(have)
                ))
    return differences
