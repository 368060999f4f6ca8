"""Reconciliation rules on hand-built call sets: number matching, clock offsets, pairing,
the worst day and hour, and which cause each kind of difference is given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.errors import ValidationError
from shared.domain.reconcile import (
    DiffKind,
    ReconCall,
    Settings,
    Side,
    detect_offset,
    match_calls,
    number_key,
    reconcile,
)
from shared.domain.reconcile.matching import numbers_match

HOUR = 3_600_000


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1000


def _call(
    call_id: str,
    callee: str,
    at: str,
    talk_s: int = 60,
    cost: str = "0.0100",
    *,
    prefix: str = "44",
    ring_s: int = 5,
) -> ReconCall:
    start = _ms(at)
    return ReconCall(
        call_id=call_id,
        callee=callee,
        time_ms=start,
        talk_ms=talk_s * 1000,
        connected=talk_s > 0,
        billed_ms=talk_s * 1000,
        cost=Decimal(cost) if talk_s else Decimal(0),
        prefix=prefix,
        start_ms=start,
        answer_ms=start + ring_s * 1000,
        end_ms=start + (ring_s + talk_s) * 1000,
    )


def _side(label: str, calls: list[ReconCall]) -> Side:
    return Side(label, "USD", calls)


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("+44 20 7123 4567", "442071234567"),
        ("00442071234567", "442071234567"),
        ("011442071234567", "442071234567"),
        ("02071234567", "2071234567"),
        ("442071234567", "442071234567"),
        ("1001", "1001"),
    ],
)
def test_numbers_lose_their_formatting_and_prefixes(written: str, key: str) -> None:
    assert number_key(written) == key


def test_a_national_number_matches_its_international_form_but_short_tails_do_not() -> None:
    assert numbers_match("442071234567", "2071234567")
    assert not numbers_match("442071234567", "442071234568")
    assert not numbers_match("1001", "21001")  # fewer than 7 digits: an extension, not a tail


def test_a_one_hour_shift_is_detected_despite_a_few_seconds_of_jitter() -> None:
    # Given 5 calls, theirs logged 1 h later and 0-2 s off each
    ours = [_call(f"o{i}", f"4420712345{i:02d}", f"2026-03-04T1{i}:00:00") for i in range(5)]
    theirs = [
        _call(f"t{i}", f"004420712345{i:02d}", f"2026-03-04T1{i + 1}:00:0{i % 3}") for i in range(5)
    ]
    # When the offset is voted on with a 5 s tolerance
    offset = detect_offset(ours, theirs, 5_000)
    # Then it is exactly one hour (snapped), with all 5 calls voting for it
    assert offset.ms == HOUR and offset.whole_hours
    assert offset.votes == 5


def test_an_offset_that_is_not_whole_hours_is_kept_to_the_second() -> None:
    ours = [_call(f"o{i}", f"4420712345{i:02d}", f"2026-03-04T10:0{i}:00") for i in range(4)]
    theirs = [_call(f"t{i}", f"4420712345{i:02d}", f"2026-03-04T10:0{i}:37") for i in range(4)]
    offset = detect_offset(ours, theirs, 5_000)
    assert offset.ms == 37_000 and not offset.whole_hours


def test_no_offset_when_most_calls_line_up() -> None:
    # 3 calls line up, 1 is an hour off: the majority says no shift
    ours = [_call(f"o{i}", f"4420712345{i:02d}", f"2026-03-04T1{i}:00:00") for i in range(4)]
    theirs = [_call(f"t{i}", f"4420712345{i:02d}", f"2026-03-04T1{i}:00:01") for i in range(3)]
    theirs.append(_call("t3", "442071234503", "2026-03-04T14:00:00"))
    assert detect_offset(ours, theirs, 5_000).ms == 0


def test_pairs_are_taken_closest_first_within_the_tolerance() -> None:
    # Given two of our calls to one number 8 s apart and one of theirs 3 s after the second
    ours = [
        _call("a", "442071234567", "2026-03-04T10:00:00"),
        _call("b", "442071234567", "2026-03-04T10:00:08"),
    ]
    theirs = [_call("x", "+442071234567", "2026-03-04T10:00:11")]
    # Then x pairs with b (3 s), not a (11 s, beyond 5 s anyway), and a is ours only
    matching = match_calls(ours, theirs, 5_000)
    assert [(a.call_id, b.call_id) for a, b in matching.pairs] == [("b", "x")]
    assert [c.call_id for c in matching.only_ours] == ["a"]
    assert matching.only_theirs == []


def test_the_worst_day_is_the_one_with_the_largest_call_count_difference() -> None:
    # Day 1 differs by one missing call (cost 0.01); day 2 only by a cost of 5.00: the hand
    # order looks at call counts first, so day 1 is the worst
    ours = [
        _call("a", "441111111111", "2026-03-01T09:00:00"),
        _call("c", "443333333333", "2026-03-02T09:00:00", cost="1.0000"),
    ]
    theirs = [
        _call("a", "441111111111", "2026-03-01T09:00:00"),
        _call("b", "442222222222", "2026-03-01T17:30:00"),
        _call("c", "443333333333", "2026-03-02T09:00:00", cost="6.0000"),
    ]
    result = reconcile(_side("o", ours), _side("t", theirs))
    assert (result.worst_day, result.worst_hour) == ("2026-03-01", 17)
    assert [row.key for row in result.hours] == [f"{h:02d}" for h in range(24)]
    # but the cost difference ranks first among the findings
    assert [f.cause for f in result.findings] == ["rating_difference", "missing_calls"]
    assert result.findings[0].cost_impact == Decimal("-5.0000")
    assert result.largest is not None and result.largest.ours is not None
    assert result.largest.ours.call_id == "c"


def test_their_talk_time_equal_to_our_whole_call_is_ring_time_billed() -> None:
    # Given each of their calls lasts our ring (5 s) + talk: they bill duration
    ours = [_call(f"o{i}", f"4420712345{i:02d}", f"2026-03-04T10:0{i}:00", 60) for i in range(3)]
    theirs = [_call(f"t{i}", f"4420712345{i:02d}", f"2026-03-04T10:0{i}:00", 65) for i in range(3)]
    result = reconcile(_side("o", ours), _side("t", theirs))
    (finding,) = result.findings
    assert finding.cause == "ring_time"
    assert result.count(DiffKind.DURATION) == 3


def test_answered_on_one_side_only_is_a_connection_difference() -> None:
    ours = [_call("a", "442071234567", "2026-03-04T10:00:00", 0)]
    theirs = [_call("a", "442071234567", "2026-03-04T10:00:00", 30)]
    result = reconcile(_side("o", ours), _side("t", theirs))
    (finding,) = result.findings
    assert finding.cause == "connection"
    assert finding.summary.startswith("1 call answered in theirs but unanswered in ours")


def test_scattered_extra_calls_are_summed_in_one_finding() -> None:
    # Given 3 extra calls of ours in 3 different days, one each
    ours = [
        _call(f"e{i}", f"4420712345{i:02d}", f"2026-03-0{i + 1}T0{i + 1}:00:00") for i in range(3)
    ]
    result = reconcile(_side("o", ours), _side("t", []))
    (finding,) = result.findings
    assert finding.cause == "extra_calls"
    assert finding.summary == "3 more calls in ours but not in theirs, scattered over 3 hours"


def test_a_number_rated_under_another_prefix_is_a_deck_difference() -> None:
    ours = [_call("a", "447700900123", "2026-03-04T10:00:00", cost="0.0650", prefix="447")]
    theirs = [_call("a", "447700900123", "2026-03-04T10:00:00", cost="0.0100", prefix="44")]
    (finding,) = reconcile(_side("o", ours), _side("t", theirs)).findings
    assert finding.cause == "prefix_mismatch"
    assert finding.summary.startswith("numbers rated under prefix 447 by ours but 44 by theirs")


def test_identical_sides_agree_and_currencies_must_match() -> None:
    calls = [_call("a", "442071234567", "2026-03-04T10:00:00")]
    result = reconcile(_side("o", calls), _side("t", calls))
    assert result.findings == [] and result.diffs == [] and result.worst_day is None
    assert result.conclusion == "the sources agree: 1 call, 0.0100 USD"
    with pytest.raises(ValidationError, match="cannot reconcile USD"):
        reconcile(_side("o", calls), Side("t", "EUR", calls))


def test_without_offset_detection_a_shift_shows_as_missing_and_extra() -> None:
    ours = [_call("a", "442071234567", "2026-03-04T10:00:00")]
    theirs = [_call("a", "442071234567", "2026-03-04T11:00:00")]
    result = reconcile(_side("o", ours), _side("t", theirs), Settings(detect_offset=False))
    assert sorted(d.kind for d in result.diffs) == [DiffKind.EXTRA, DiffKind.MISSING]


def test_calls_missing_behind_a_time_shift_are_placed_on_our_clock() -> None:
    # Given their clock is 1 h ahead, and they have a call at 15:30 on it that we lack
    ours = [_call(f"o{i}", f"4420712345{i:02d}", f"2026-03-04T1{i}:00:00") for i in range(3)]
    theirs = [_call(f"t{i}", f"4420712345{i:02d}", f"2026-03-04T1{i + 1}:00:00") for i in range(3)]
    theirs.append(_call("late", "441234567890", "2026-03-04T15:30:00", cost="0.0300"))
    shift, missing = reconcile(_side("o", ours), _side("t", theirs)).findings
    # Then the shift comes first, and the missing call is at 14:30 UTC on our clock
    assert shift.cause == "time_shift"
    assert missing.summary == "1 call missing from ours between 14:00 and 15:00 UTC on 2026-03-04"
    assert missing.cost_impact == Decimal("-0.0300")


def test_a_call_our_card_cannot_rate_is_named_as_a_missing_destination() -> None:
    # Given our card has no rate for 81 (the call is kept with cost 0 and its reject reason)
    unrated = _call("a", "81312345678", "2026-03-04T10:00:00", cost="0", prefix="")
    ours = [replace(unrated, problem="no_rate")]
    theirs = [_call("a", "81312345678", "2026-03-04T10:00:00", cost="0.1200", prefix="81")]
    (finding,) = reconcile(_side("o", ours), _side("t", theirs)).findings
    assert finding.cause == "not_rated"
    assert finding.summary == (
        "1 call not rated by ours (no_rate) that the other side rates under prefix 81:"
        " a destination missing from the card that rated ours"
    )
    assert finding.cost_impact == Decimal("-0.1200")
