"""Invariants of voice rating over generated cards and calls (hypothesis).

The exactness property re-derives every cost from the SPEC's words with its own code: it
walks the call increment by increment, decides the band of each increment from the local
wall clock with ``zoneinfo``, sums exact ``Fraction``s and rounds once. It shares nothing with
the engine but the card document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.calls import CallRecord, CallStatus
from tests.unit.builders import call, compiled, ms, rate_one

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

ZONES = ("UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
DAY_SETS: dict[str, frozenset[str]] = {
    "*": frozenset({"*"}),
    "mon-fri": frozenset({"mon", "tue", "wed", "thu", "fri"}),
    "sat,sun": frozenset({"sat", "sun"}),
    "hol": frozenset({"hol"}),
    "mon-fri,hol": frozenset({"mon", "tue", "wed", "thu", "fri", "hol"}),
    "fri-mon": frozenset({"fri", "sat", "sun", "mon"}),
}
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: instants near 2026 DST changes (London, New York, Lord Howe's half-hour shift)
DST_CHANGES = (
    "2026-03-29T01:00:00Z",
    "2026-10-25T01:00:00Z",
    "2026-03-08T07:00:00Z",
    "2026-11-01T06:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
)
HOUR_MS = 3_600_000


def money(max_units: int) -> st.SearchStrategy[str]:
    """Positive prices and fees as text with 2 to 5 decimals (sub-cent prices allowed).
    Short ones like 0.025 make exact halves, so the rounding methods' tie rules get exercised."""
    return st.builds(
        lambda units, places: str(Decimal(units).scaleb(-places)),
        st.one_of(st.integers(1, max_units), st.integers(1, 40).map(lambda n: 5 * n)),
        st.integers(2, 5),
    )


increments = st.sampled_from(["0.5", "1", "6", "30", "60", "1.5"])


@st.composite
def tiers(draw: st.DrawFn) -> list[dict[str, Any]]:
    starts = sorted(draw(st.sets(st.sampled_from([30, 60, 90, 120, 300]), max_size=2)))
    result: list[dict[str, Any]] = []
    for start in [0, *starts]:
        doc: dict[str, Any] = {"from": start, "price": draw(money(200_000))}
        per = draw(st.sampled_from([None, 1, 60, 100]))
        if per is not None:
            doc["per"] = per
        increment = draw(st.one_of(st.none(), increments))
        if increment is not None:
            doc["increment"] = increment
        if start == 0 and draw(st.booleans()):
            doc["initial"] = draw(st.sampled_from(["0", "1", "30", "60", "0.5"]))
        result.append(doc)
    return result


@st.composite
def voice_rates(draw: st.DrawFn, band: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"prefix": "49", "band": band, "tiers": draw(tiers())}
    if draw(st.booleans()):
        doc["connect_fee"] = draw(money(5_000))
    min_cost = draw(st.one_of(st.none(), money(20_000)))
    if min_cost is not None:
        doc["min_cost"] = min_cost
    if draw(st.booleans()):
        floor = Decimal(min_cost or 0)
        doc["max_cost"] = str(floor + Decimal(draw(st.integers(0, 500_000))).scaleb(-5))
        doc["max_cost_strategy"] = draw(st.sampled_from(["free", "disconnect"]))
    if draw(st.booleans()):
        doc["decimals"] = draw(st.integers(0, 6))
        doc["rounding"] = draw(st.sampled_from(["up", "down", "half_up", "half_even"]))
    return doc


@st.composite
def band_docs(draw: st.DrawFn, weight: int) -> dict[str, Any]:
    start, end = sorted(draw(st.sets(st.integers(0, 48), min_size=2, max_size=2)))
    return {
        "days": draw(st.sampled_from(sorted(DAY_SETS))),
        "from": f"{start // 2:02d}:{30 * (start % 2):02d}",
        "to": f"{end // 2:02d}:{30 * (end % 2):02d}",
        "weight": weight,
    }


@st.composite
def banded_cards(draw: st.DrawFn) -> dict[str, Any]:
    """A card for prefix 49: always an off-peak `*` rate (so every instant has a rate), plus
    optional peak (weight 10) and night (weight 5) rates on generated bands."""
    bands: dict[str, Any] = {}
    rates = [draw(voice_rates("*"))]
    for name, weight in (("peak", 10), ("night", 5)):
        if draw(st.booleans()):
            bands[name] = draw(band_docs(weight))
            rates.append(draw(voice_rates(name)))
    return {
        "card": "generated",
        "currency": "USD",
        "timezone": draw(st.sampled_from(ZONES)),
        "decimals": draw(st.integers(0, 6)),
        "rounding": draw(st.sampled_from(["up", "down", "half_up", "half_even"])),
        "bands": bands,
        "holidays": draw(st.lists(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=3)),
        "rates": rates,
    }


answer_times = st.one_of(
    st.integers(ms("2026-01-01T00:00:00Z"), ms("2026-12-31T00:00:00Z")),
    st.builds(
        lambda change, delta: ms(change) + delta,
        st.sampled_from(DST_CHANGES),
        st.integers(-6 * HOUR_MS, 6 * HOUR_MS),
    ),
)
#: talk time in ms, up to 30 min, spread over short and long calls (plain integers would
#: mostly be a few ms long, and never reach a second increment)
talk_times = st.builds(
    lambda base, jitter: base + jitter,
    st.sampled_from([0, 0, 60_000, 300_000, 900_000, 1_500_000]),
    st.integers(1, 300_000),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], int, int]:
    """(card, answer ms, talk ms). The answer time is anywhere in 2026, near a DST change, on
    or next to one of the card's holidays, or shortly before one of its band boundaries so
    that the call runs from one band into another."""
    doc = draw(banded_cards())
    talk_ms = draw(talk_times)
    options = [answer_times]
    if doc["holidays"]:
        on_a_holiday = st.builds(
            lambda day, offset: ms(f"{day.isoformat()}T00:00:00Z") + offset,
            st.sampled_from(doc["holidays"]),
            st.integers(-6 * HOUR_MS, 30 * HOUR_MS),
        )
        options += [on_a_holiday, on_a_holiday]
    boundaries = sorted({band[edge] for band in doc["bands"].values() for edge in ("from", "to")})
    if boundaries:
        options.append(
            st.builds(
                lambda day, hhmm, before: _local_ms(day, hhmm, doc["timezone"]) - before,
                st.dates(date(2026, 1, 1), date(2026, 12, 30)),
                st.sampled_from(boundaries),
                st.integers(0, talk_ms - 1).map(lambda x: talk_ms - 1 - x),  # answered just before
            )
        )
    return doc, draw(st.one_of(options)), talk_ms


def _local_ms(day: date, hhmm: str, zone: str) -> int:
    """Epoch ms of local wall-clock ``hhmm`` (24:00 allowed) on ``day`` in ``zone``."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
    moment = local + timedelta(hours=hours, minutes=minutes)  # wall-clock arithmetic
    return int(moment.timestamp() * 1000)


def iso(epoch_ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)).isoformat()


# -- the independent oracle ------------------------------------------------------------------


@dataclass(frozen=True)
class OracleTier:
    start_ms: int
    price: Fraction
    per: int
    increment_ms: int


def seconds_ms(text: str | int) -> int:
    value = Fraction(str(text)) * 1000
    assert value.denominator == 1
    return int(value)


class Oracle:
    """SPEC 3.5–3.7 read literally, for the cards :func:`banded_cards` makes."""

    def __init__(self, doc: dict[str, Any], increment_precision: int | None = None) -> None:
        self.doc = doc
        self.increment_precision = increment_precision
        self.zone = ZoneInfo(doc["timezone"])
        self.holidays = set(doc["holidays"])
        self._minute_cache: dict[int, dict[str, Any] | None] = {}

    def band_applies(self, band_name: str, at_ms: int) -> bool:
        if band_name == "*":
            return True
        band = self.doc["bands"][band_name]
        local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at_ms)).astimezone(
            self.zone
        )
        days = DAY_SETS[band["days"]]
        if "*" in days:
            day_ok = True
        elif local.date() in self.holidays:
            day_ok = "hol" in days  # on a holiday only `hol` (or `*`) bands apply
        else:
            day_ok = WEEKDAY_NAMES[local.weekday()] in days
        minute = local.hour * 60 + local.minute

        def minutes(text: str) -> int:
            hours, mins = text.split(":")
            return int(hours) * 60 + int(mins)

        return day_ok and minutes(band["from"]) <= minute < minutes(band["to"])

    def rate_at(self, at_ms: int) -> dict[str, Any]:
        """Highest-weight rate of prefix 49 whose band is in force at ``at_ms``. Bands are in
        whole local minutes and 2026 offsets are whole minutes, so one lookup per UTC minute."""
        minute = at_ms // 60_000
        if minute not in self._minute_cache:
            weight = {"*": 0, **{n: b["weight"] for n, b in self.doc["bands"].items()}}
            in_force = [r for r in self.doc["rates"] if self.band_applies(r["band"], at_ms)]
            self._minute_cache[minute] = max(in_force, key=lambda r: weight[r["band"]])
        found = self._minute_cache[minute]
        assert found is not None  # the `*` rate is always in force
        return found

    @staticmethod
    def tiers_of(rate: dict[str, Any]) -> list[OracleTier]:
        return [
            OracleTier(
                seconds_ms(t["from"]),
                Fraction(t["price"]),
                int(t.get("per", 60)),
                seconds_ms(t.get("increment", 1)),
            )
            for t in rate["tiers"]
        ]

    def increment_cost(self, price: Fraction, per: int, length_ms: int) -> Fraction:
        """price × length / per; with increment_precision, rounded half-up to it first."""
        exact = price * Fraction(length_ms, 1000) / per
        if self.increment_precision is None:
            return exact
        return Fraction(round_once(exact, self.increment_precision, "half_up"))

    def cost(self, answer_ms: int, talk_ms: int) -> tuple[Decimal, int]:
        """(rounded cost, billed ms)."""
        anchor = self.rate_at(answer_ms)
        first = self.tiers_of(anchor)[0]
        # the first increment is `initial` (the MCD), by default the first tier's increment
        initial = anchor["tiers"][0].get("initial")
        initial_ms = first.increment_ms if initial is None else seconds_ms(initial)
        # increments counted by (price, per, length): the exact cost of each one is
        # price × length / per, summed below once per kind
        laid_out: Counter[tuple[Fraction, int, int]] = Counter()
        laid_out[(first.price, first.per, initial_ms)] += 1
        offset = initial_ms
        while offset < talk_ms:
            current = self.rate_at(answer_ms + offset)
            tier = [t for t in self.tiers_of(current) if t.start_ms <= offset][-1]
            laid_out[(tier.price, tier.per, tier.increment_ms)] += 1
            offset += tier.increment_ms
        usage = sum(
            (
                count * self.increment_cost(price, per, length)
                for (price, per, length), count in laid_out.items()
            ),
            Fraction(0),
        )
        total = usage + Fraction(anchor.get("connect_fee", "0"))
        total = max(total, Fraction(anchor.get("min_cost", "0")))
        if anchor.get("max_cost") is not None and anchor.get("max_cost_strategy", "free") == "free":
            total = min(total, Fraction(anchor["max_cost"]))
        places = anchor.get("decimals", self.doc["decimals"])
        method = anchor.get("rounding", self.doc["rounding"])
        return round_once(total, places, method), offset


def round_once(value: Fraction, places: int, method: str) -> Decimal:
    """Round a non-negative exact value to ``places`` decimals by the named method."""
    scaled = value * 10**places
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest == 0 or method == "down":
        units = floor
    elif method == "up":
        units = floor + 1
    elif method == "half_up":
        units = floor + (1 if rest >= Fraction(1, 2) else 0)
    else:  # half_even: a tie goes to the even neighbour
        half = Fraction(1, 2)
        units = floor + (1 if rest > half or (rest == half and floor % 2) else 0)
    return Decimal(units).scaleb(-places)


# -- the properties --------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_cost_is_the_exact_sum_of_laid_out_increments_rounded_once(
    scenario: tuple[dict[str, Any], int, int],
) -> None:
    doc, answer_ms, talk_ms = scenario
    # Given any card without increment_precision and any answered call
    # When the engine rates it
    rating = rate_one(doc, _call_at(answer_ms, talk_ms))
    # Then it equals the independent layout: every increment priced exactly, summed, then
    # connect fee, min, max, and one rounding
    expected_cost, expected_billed = Oracle(doc).cost(answer_ms, talk_ms)
    assert rating.status is CallStatus.RATED, rating.detail
    assert rating.cost == expected_cost
    assert rating.billed_ms == expected_billed


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_cost_is_never_negative(scenario: tuple[dict[str, Any], int, int]) -> None:
    doc, answer_ms, talk_ms = scenario
    rating = rate_one(doc, _call_at(answer_ms, talk_ms))
    assert rating.cost >= 0


@PROPERTY_SETTINGS
@given(scenario=scenarios(), extra=st.one_of(st.integers(0, 10_000), talk_times))
def test_cost_never_decreases_when_the_same_call_lasts_longer(
    scenario: tuple[dict[str, Any], int, int], extra: int
) -> None:
    doc, answer_ms, shorter = scenario
    # Given one card (bands included) and one answer time
    card = compiled(doc)
    # When the call lasts `shorter` ms, and then `extra` ms more
    short_rating = rate_one(card, _call_at(answer_ms, shorter))
    long_rating = rate_one(card, _call_at(answer_ms, shorter + extra))
    # Then both are rated and the longer one never costs less
    assert short_rating.status is long_rating.status is CallStatus.RATED
    assert short_rating.cost <= long_rating.cost
    assert short_rating.billed_ms <= long_rating.billed_ms


@PROPERTY_SETTINGS
@given(scenario=scenarios(), precision=st.integers(0, 6))
def test_with_increment_precision_each_increment_is_rounded_half_up_first(
    scenario: tuple[dict[str, Any], int, int], precision: int
) -> None:
    doc, answer_ms, talk_ms = scenario
    # Given the same cards with increment_precision set
    doc = {**doc, "increment_precision": precision}
    rating = rate_one(doc, _call_at(answer_ms, talk_ms))
    # Then the cost is the oracle's with each increment's exact cost rounded half-up first
    expected, _billed = Oracle(doc, increment_precision=precision).cost(answer_ms, talk_ms)
    assert rating.cost == expected


def _call_at(answer_ms: int, talk_ms: int) -> CallRecord:
    record = call("4930123456", answer=iso(answer_ms), talk=0)
    record.talk_ms = talk_ms
    return record
