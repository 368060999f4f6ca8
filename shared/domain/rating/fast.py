"""Lookups for rating the common call in bulk, precomputed or cached once per card.

The bulk fast path (``services.rate_file``) rates a plain call (answered or not, dialled as
international digits, on a single-tier rate whose band holds for the whole call) from a few
dictionary hits instead of building a record and a result per row:

* ``hour_segment``: per UTC hour, the band segment covering it (when one does), so the
  band decision is one lookup per call;
* ``prefix_plans``: per set of bands in force, every prefix → its :data:`Plan`: the anchor
  rate that set selects, with its increments, costs and output texts laid out as a tuple;
* ``cost_text``: the one rounding (:func:`shared.domain.money.round_call_cost`) of a
  total, and its text, cached by the total.

Anything these cannot answer (dated rates, tiers, caps, a prefix whose rates are not in force,
no prefix at all) is answered None, and the caller takes the general engine for that call.
A property test checks the fast path against the general engine on random cards and files.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from shared.domain.calls import CallRecord, Direction, Encoding, Service
from shared.domain.money import Rounding, round_call_cost
from shared.domain.rating.calendar import MS_PER_HOUR
from shared.domain.rating.compiled import (
    FAR_FUTURE,
    FAR_PAST,
    CompiledCard,
    CompiledRate,
    PrefixGroup,
    PrefixIndex,
)
from shared.domain.rating.engine import RatingRejected, billable_quantity

#: (initial ms, initial cost + connect fee, increment ms, increment cost, min cost,
#:  max cost or None, cost cache of its rounding rule, output labels, banded, decimals,
#:  rounding)
Plan = tuple[
    int, int, int, int, int, int | None, dict[int, tuple[Decimal, str]], str, bool, int, Rounding
]
_CACHE_LIMIT = 100_000


class PlainCalls:
    """Per-card caches for the bulk fast path; see the module docstring."""

    def __init__(self, card: CompiledCard, labels: Callable[[str, str, str], str | None]) -> None:
        """``labels``: a rate's prefix, destination and band as the output writes them, or
        None when they cannot be written as they stand (that rate takes the general path)."""
        self.card = card
        self._labels = labels
        self.indexes: dict[tuple[str, str], PrefixIndex | None] = {
            (service.value, direction.value): card.indexes.get((service, direction))
            for service in (Service.VOICE, Service.SMS)
            for direction in Direction
        }
        self._hours: dict[int, tuple[int, frozenset[str]] | None] = {}
        self._plans: dict[tuple[str, str, frozenset[str]], dict[str, Plan | None]] = {}
        self._by_anchor: dict[int, Plan | None] = {}
        self._costs: dict[tuple[int, Rounding], dict[int, tuple[Decimal, str]]] = {}

    def hour_segment(self, hour: int) -> tuple[int, frozenset[str]] | None:
        """(segment end, bands in force) when one band segment covers the whole UTC hour."""
        if hour in self._hours:
            return self._hours[hour]
        start = hour * MS_PER_HOUR
        seg_start, seg_end, active = self.card.calendar.segment_at(start)
        found = (seg_end, active) if seg_start <= start and seg_end >= start + MS_PER_HOUR else None
        if len(self._hours) >= _CACHE_LIMIT:
            self._hours.clear()
        self._hours[hour] = found
        return found

    def prefix_plans(
        self, service: str, direction: str, active: frozenset[str]
    ) -> dict[str, Plan | None]:
        """Every prefix of the ``service`` rates in ``direction`` (voice or SMS) → its plan
        while ``active`` bands are in force (None: the general engine decides)."""
        key = (service, direction, active)
        plans = self._plans.get(key)
        if plans is None:
            index = self.indexes.get((service, direction))
            groups = index.groups if index is not None else {}
            units = service != Service.VOICE.value
            plans = {prefix: self._plan(group, active, units) for prefix, group in groups.items()}
            self._plans[key] = plans
        return plans

    def sms_segments(self, quantity: Decimal | None, encoding: Encoding | None) -> int | None:
        """What an SMS of this quantity and encoding is billed for (the engine's rule), or
        None when the engine would reject it."""
        probe = CallRecord("", "", "", Service.SMS, quantity=quantity, encoding=encoding)
        try:
            return billable_quantity(probe)
        except RatingRejected:
            return None

    def _plan(self, group: PrefixGroup, active: frozenset[str], units: bool) -> Plan | None:
        if any(
            rate.effective_from_ms != FAR_PAST or rate.effective_to_ms != FAR_FUTURE
            for rate in group.rates
        ):
            return None  # which rate is in force depends on the date too
        anchor = next((rate for rate in group.rates if rate.rate.band in active), None)
        if anchor is None:
            return None
        return self.anchor_plan(anchor, group.banded, units)

    def anchor_plan(self, anchor: CompiledRate, banded: bool, units: bool) -> Plan | None:
        """The plan of a voice rate (single tier only) or, for ``units``, of a rate priced
        by quantity: (0, connect fee, 0, price per unit, ...)."""
        key = id(anchor) * 4 + banded * 2 + units
        if key in self._by_anchor:
            return self._by_anchor[key]
        plan: Plan | None = None
        rate = anchor.rate
        labels = self._labels(rate.prefix, rate.destination, rate.band)
        if (units or anchor.single_tier) and labels is not None:
            tier = anchor.tiers[0]
            rule = (anchor.decimals, anchor.rounding)
            costs = self._costs.setdefault(rule, {})
            plan = (
                0 if units else anchor.initial_ms,
                anchor.connect_fee + (0 if units else anchor.initial_cost),
                0 if units else tier.increment_ms,
                anchor.quantity_cost if units else tier.increment_cost,
                anchor.min_cost,
                anchor.max_cost,
                costs,
                labels,
                banded,
                anchor.decimals,
                anchor.rounding,
            )
        self._by_anchor[key] = plan
        return plan

    def cost_text(self, total: int, plan: Plan) -> tuple[Decimal, str]:
        """The rounded cost of ``total`` (1/denominator units) by the plan's rule, cached in
        the plan's cost table."""
        cost = round_call_cost(total, self.card.denominator, plan[9], plan[10])
        costs = plan[6]
        if len(costs) >= _CACHE_LIMIT:
            costs.clear()
        found = costs[total] = (cost, str(cost))
        return found
