"""SPEC 3.1: implausible calls are rejected with a reason instead of being priced."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.calls import CallRecord, CallStatus, RejectReason, Service
from tests.unit.builders import NOW, call, card, message, ms, rate, rate_one

PER_SECOND = card(rate("", "0.60"))  # 0.60/min = 0.01 per second
DAY_MS = 24 * 3_600_000


def with_talk_ms(talk_ms: int, answer: str = "2026-03-02T10:00:00Z") -> CallRecord:
    record = call("4930123456", answer=answer, talk=0)
    record.talk_ms = talk_ms
    return record


def test_a_negative_talk_time_is_bad_duration() -> None:
    # Given a CDR whose billsec is -1 s / When it is rated / Then bad_duration, not a credit
    rating = rate_one(PER_SECOND, with_talk_ms(-1000))
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.BAD_DURATION)
    assert rating.cost == 0


def test_a_talk_time_over_24_hours_is_bad_duration() -> None:
    # Given the default limit of 24 h / When a call of 24 h + 1 ms is rated
    rating = rate_one(PER_SECOND, with_talk_ms(DAY_MS + 1))
    # Then it is rejected bad_duration
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.BAD_DURATION)


def test_a_call_of_exactly_24_hours_is_still_rated() -> None:
    # Given the 24 h limit / When a call of exactly 86,400 s is rated
    rating = rate_one(PER_SECOND, with_talk_ms(DAY_MS))
    # Then it is priced: 86,400 s × 0.01 = 864.00
    assert rating.status is CallStatus.RATED
    assert rating.cost == Decimal("864.0000")


def test_an_answer_time_more_than_an_hour_after_processing_is_future_time() -> None:
    # Given processing time NOW / When a call was answered 1 h and 1 s after it
    answer_ms = ms(NOW) + 3_600_000 + 1000
    record = with_talk_ms(60_000)
    record.answer_ms = answer_ms
    rating = rate_one(PER_SECOND, record)
    # Then it is rejected future_time (a clock problem on the switch, not a call to bill)
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.FUTURE_TIME)


def test_an_answer_time_up_to_an_hour_ahead_is_tolerated() -> None:
    # Given clocks drift / When a call was answered exactly 1 h after processing time
    record = with_talk_ms(60_000)
    record.answer_ms = ms(NOW) + 3_600_000
    # Then it is rated: 60 s × 0.01 = 0.60
    assert rate_one(PER_SECOND, record).cost == Decimal("0.6000")


def test_a_future_sms_is_future_time_too() -> None:
    doc = card(rate("", "0.0079", service="sms"))
    rating = rate_one(doc, message(Service.SMS, 1, at="2099-01-01T00:00:00Z"))
    assert rating.reason is RejectReason.FUTURE_TIME
