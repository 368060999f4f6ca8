"""SPEC 3.0, 3.6 and 3.8: time bands, holidays and effective dates, all in the rating zone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.calls import CallStatus, RejectReason
from tests.unit.builders import (
    PEAK_OFFPEAK_BANDS,
    call,
    card,
    compiled,
    example_b_card,
    rate,
    rate_one,
)


def peak_offpeak_card(**settings: object) -> dict[str, object]:
    """Germany at 0.60/min peak (mon-fri 08-20, weight 10) and 0.30/min off-peak, 60/60."""
    return card(
        rate("49", "0.60", increment=60, band="peak"),
        rate("49", "0.30", increment=60, band="offpeak"),
        bands=PEAK_OFFPEAK_BANDS,
        **settings,
    )


def test_a_weekday_daytime_call_pays_peak() -> None:
    # Given peak/off-peak / When a call is answered Monday 2026-03-02 at 10:00 UTC for 60 s
    rating = rate_one(peak_offpeak_card(), call(answer="2026-03-02T10:00:00Z", talk=60))
    # Then the higher-weight peak rate applies: 0.60
    assert (rating.band, rating.cost) == ("peak", Decimal("0.6000"))


def test_a_weekend_call_pays_off_peak() -> None:
    # Given peak is mon-fri / When a call is answered Saturday 2026-03-07 at 10:00 UTC
    rating = rate_one(peak_offpeak_card(), call(answer="2026-03-07T10:00:00Z", talk=60))
    # Then only off-peak is in force: 0.30
    assert (rating.band, rating.cost) == ("offpeak", Decimal("0.3000"))


def test_a_call_across_the_peak_boundary_pays_peak_for_the_increment_that_started_in_peak() -> None:
    # Given peak ends at 20:00 (exclusive) / When a call is answered Monday 19:59:30 for 90 s
    rating = rate_one(peak_offpeak_card(), call(answer="2026-03-02T19:59:30Z", talk=90))
    # Then the first 60 s increment starts at 19:59:30 (peak) and is paid whole at peak,
    # although it runs to 20:00:30; the second starts at 20:00:30 (off-peak):
    # 0.60 + 0.30 = 0.90, billed 120 s
    assert rating.cost == Decimal("0.9000")
    assert rating.billed_ms == 120_000
    assert rating.band == "peak"  # the anchor rate: the one in force at answer time
    assert rating.receipt is not None
    assert [(part.band, part.count) for part in rating.receipt.parts] == [
        ("peak", 1),
        ("offpeak", 1),
    ]


def test_an_increment_starting_exactly_at_the_band_end_is_off_peak() -> None:
    # Given peak to 20:00 exclusive / When a call is answered 19:59:00 for 61 s
    rating = rate_one(peak_offpeak_card(), call(answer="2026-03-02T19:59:00Z", talk=61))
    # Then increment 1 starts 19:59:00 (peak, 0.60), increment 2 starts 20:00:00 (off-peak, 0.30)
    assert rating.cost == Decimal("0.9000")


def test_a_call_entering_peak_pays_peak_from_the_first_increment_that_starts_in_it() -> None:
    # Given peak from 08:00 / When a call is answered Monday 07:58:30 for 150 s
    rating = rate_one(peak_offpeak_card(), call(answer="2026-03-02T07:58:30Z", talk=150))
    # Then increments start 07:58:30 (off-peak 0.30), 07:59:30 (off-peak 0.30) and
    # 08:00:30 (peak 0.60) → 1.20; the anchor (answer time) is off-peak
    assert rating.cost == Decimal("1.2000")
    assert rating.band == "offpeak"


def test_worked_example_b_peak_to_off_peak_in_london() -> None:
    # Given SPEC 3.7 worked example B: zone Europe/London, prefix 44 at peak (mon-fri
    # 08:00–20:00, weight 10, connect 0.0100, 0.0333/min, initial 60, then 6 s steps from
    # 60 s) and off-peak (`*`, weight 0, connect 0.0050, 0.0117/min, same tiers)
    doc = example_b_card()
    # When a call is answered Monday 2026-07-06 18:59:30 UTC (19:59:30 BST) with 75.5 s talk
    rating = rate_one(doc, call("447700900123", answer="2026-07-06T18:59:30Z", talk="75.5"))
    # Then 60 s at peak = 0.0333; three 6 s steps from 20:00:30 local at off-peak
    # = 3 × 6/60 × 0.0117 = 0.00351; plus the anchor's (peak's) connect fee 0.0100
    # = 0.04681 → rounded up to 4 dp = 0.0469
    assert rating.cost == Decimal("0.0469")
    assert rating.billed_ms == 78_000  # 60 + 3 × 6
    assert rating.receipt is not None
    assert rating.receipt.unrounded == "0.04681"


def test_the_rating_zone_decides_which_band_is_in_force() -> None:
    # Given the peak/off-peak card in UTC, compiled once for UTC and once for Asia/Tokyo
    # When a call is answered Monday 2026-03-02 at 10:00 UTC (19:00 in Tokyo, still peak)
    # and another at 12:00 UTC (21:00 in Tokyo, off-peak)
    utc, tokyo = compiled(peak_offpeak_card()), compiled(peak_offpeak_card(), "Asia/Tokyo")
    noon = call(answer="2026-03-02T12:00:00Z", talk=60)
    # Then in UTC noon is peak (0.60); in Tokyo it is 21:00, off-peak (0.30)
    assert rate_one(utc, noon).cost == Decimal("0.6000")
    assert rate_one(tokyo, noon).cost == Decimal("0.3000")


def holiday_card(*, with_holiday_band: bool) -> dict[str, object]:
    """Peak 0.60 (mon-fri 08-20, weight 10), off-peak 0.30 (`*`, weight 0) and, optionally,
    a holiday rate 0.10 (`hol` all day, weight 5); 2026-12-25 (a Friday) is a holiday."""
    bands: dict[str, object] = dict(PEAK_OFFPEAK_BANDS)
    rates = [
        rate("49", "0.60", increment=60, band="peak"),
        rate("49", "0.30", increment=60, band="offpeak"),
    ]
    if with_holiday_band:
        bands["holiday"] = {"days": "hol", "from": "00:00", "to": "24:00", "weight": 5}
        rates.append(rate("49", "0.10", increment=60, band="holiday"))
    return card(*rates, bands=bands, holidays=["2026-12-25"])


def test_a_holiday_band_applies_on_a_card_holiday() -> None:
    # Given a `hol` band at weight 5 / When a call is answered Friday 2026-12-25 at 10:00
    rating = rate_one(holiday_card(with_holiday_band=True), call(answer="2026-12-25T10:00:00Z"))
    # Then mon-fri peak (weight 10) does not apply on a holiday even though it outweighs the
    # holiday band; of `hol` (5) and `*` (0) the holiday rate wins: 0.10
    assert (rating.band, rating.cost) == ("holiday", Decimal("0.1000"))


def test_on_a_holiday_without_a_hol_band_only_star_bands_apply() -> None:
    # Given no `hol` band / When a call is answered on the holiday at 10:00
    rating = rate_one(holiday_card(with_holiday_band=False), call(answer="2026-12-25T10:00:00Z"))
    # Then the weekday peak band does not apply: off-peak 0.30
    assert (rating.band, rating.cost) == ("offpeak", Decimal("0.3000"))


def test_the_holiday_band_does_not_apply_on_an_ordinary_friday() -> None:
    # Given the same card / When a call is answered Friday 2026-12-18 at 10:00 (no holiday)
    rating = rate_one(holiday_card(with_holiday_band=True), call(answer="2026-12-18T10:00:00Z"))
    # Then it is peak: 0.60
    assert (rating.band, rating.cost) == ("peak", Decimal("0.6000"))


def test_a_holiday_is_a_date_in_the_rating_zone() -> None:
    # Given the holiday card in America/New_York / When a call is answered 2026-12-26T03:00Z,
    # which is still 22:00 on the 25th in New York
    doc = holiday_card(with_holiday_band=True)
    doc["timezone"] = "America/New_York"
    rating = rate_one(doc, call(answer="2026-12-26T03:00:00Z"))
    # Then it is the holiday rate
    assert rating.band == "holiday"


def test_no_rate_of_the_selected_prefix_in_force_for_a_later_increment_is_no_rate() -> None:
    # Given prefix 49 has only a peak rate (no off-peak fallback), and 44 has an always rate
    doc = card(
        rate("49", "0.60", increment=60, band="peak"),
        rate("", "9.99", increment=60),
        bands={"peak": PEAK_OFFPEAK_BANDS["peak"]},
    )
    # When a call is answered in peak at 19:59:30 and its second increment starts off-peak
    rating = rate_one(doc, call(answer="2026-03-02T19:59:30Z", talk=90))
    # Then it is rejected no_rate (SPEC 3.6): it never silently falls to another prefix
    assert rating.status is CallStatus.REJECTED
    assert rating.reason is RejectReason.NO_RATE
    assert rating.cost == 0


def test_a_prefix_whose_band_is_not_in_force_at_answer_falls_to_a_shorter_prefix() -> None:
    # Given 49 only has a peak rate and the default prefix is always in force
    doc = card(
        rate("49", "0.60", increment=60, band="peak"),
        rate("", "0.90", increment=60),
        bands={"peak": PEAK_OFFPEAK_BANDS["peak"]},
    )
    # When a call is answered on Saturday (no 49 rate in force then)
    rating = rate_one(doc, call(answer="2026-03-07T10:00:00Z", talk=60))
    # Then selection only considers rates in force at answer time: the default, 0.90
    assert (rating.prefix, rating.cost) == ("", Decimal("0.9000"))


def berlin_deck_switch() -> dict[str, object]:
    """Germany 0.10/min until 2026-03-01 and 0.20/min from 2026-03-01, 60/60, Berlin time."""
    return card(
        rate("49", "0.10", increment=60, effective_to="2026-03-01"),
        rate("49", "0.20", increment=60, effective_from="2026-03-01"),
        timezone="Europe/Berlin",
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # 22:30 UTC on Feb 28 is 23:30 in Berlin (CET, UTC+1): the old rate
        ("2026-02-28T22:30:00Z", "0.1000"),
        # 23:00 UTC on Feb 28 is exactly 00:00 on Mar 1 in Berlin: effective_from is inclusive
        ("2026-02-28T23:00:00Z", "0.2000"),
        # 23:30 UTC on Feb 28 is 00:30 on Mar 1 in Berlin: the new rate, although it is
        # still February in UTC
        ("2026-02-28T23:30:00Z", "0.2000"),
    ],
)
def test_effective_dates_switch_at_midnight_in_the_cards_zone(answer: str, expected: str) -> None:
    # Given a deck switch at 2026-03-01 in Europe/Berlin / When a 60 s call is answered
    rating = rate_one(berlin_deck_switch(), call(answer=answer, talk=60))
    # Then the rate effective at answer time in Berlin applies
    assert rating.cost == Decimal(expected)


def test_effective_dates_follow_the_rating_zone_override() -> None:
    # Given the Berlin deck switch rated with the zone overridden to UTC (billing rate --timezone)
    # When a call is answered 2026-02-28T23:30Z (still Feb 28 in UTC)
    rating = rate_one(berlin_deck_switch(), call(answer="2026-02-28T23:30:00Z"), zone="UTC")
    # Then the old rate applies: 0.10
    assert rating.cost == Decimal("0.1000")


def test_a_call_running_past_a_deck_switch_keeps_the_rate_effective_at_answer() -> None:
    # Given the Berlin switch / When a call is answered 23:59 Berlin (22:59Z) and lasts 120 s,
    # so its second minute starts on Mar 1
    rating = rate_one(berlin_deck_switch(), call(answer="2026-02-28T22:59:00Z", talk=120))
    # Then effective dates are decided by answer time (SPEC 3.8): 2 × 0.10 = 0.20
    assert rating.cost == Decimal("0.2000")


def test_a_call_before_any_rate_is_effective_is_no_rate() -> None:
    # Given only a deck effective from 2026-03-01 (loaded ahead)
    doc = card(rate("49", "0.20", increment=60, effective_from="2026-03-01"))
    # When a call is answered on 2026-02-27
    rating = rate_one(doc, call(answer="2026-02-27T10:00:00Z"))
    # Then no rate applies yet: no_rate, never 0
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.NO_RATE)


def test_bands_follow_local_wall_clock_across_a_dst_change() -> None:
    # Given peak/off-peak in Europe/London / When a call is answered Monday 2026-03-30 (BST,
    # UTC+1) at 07:30 UTC = 08:30 local, and the same UTC time a week before the change
    # (Monday 2026-03-23, GMT) = 07:30 local
    doc = peak_offpeak_card(timezone="Europe/London")
    after = rate_one(doc, call(answer="2026-03-30T07:30:00Z"))
    before = rate_one(doc, call(answer="2026-03-23T07:30:00Z"))
    # Then 08:30 BST is peak (0.60) and 07:30 GMT is off-peak (0.30)
    assert after.cost == Decimal("0.6000")
    assert before.cost == Decimal("0.3000")
