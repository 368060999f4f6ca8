"""SPEC 3.9: SMS, email and one-time fees are priced by quantity, without increments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.calls import CallStatus, Encoding, RejectReason, Service
from shared.domain.rating.sms import sms_segments
from tests.unit.builders import card, message, rate, rate_one

SMS_CARD = card(rate("", "0.0079", service="sms", destination="SMS"))


@pytest.mark.parametrize(
    ("characters", "encoding", "segments"),
    [
        (160, Encoding.GSM7, 1),  # fits one GSM-7 message
        (161, Encoding.GSM7, 2),  # 153 + 8
        (306, Encoding.GSM7, 2),  # 2 × 153
        (307, Encoding.GSM7, 3),
        (70, Encoding.UCS2, 1),  # fits one UCS-2 message
        (71, Encoding.UCS2, 2),  # 67 + 4
        (134, Encoding.UCS2, 2),  # 2 × 67
        (135, Encoding.UCS2, 3),
    ],
)
def test_sms_segments_from_the_character_count(
    characters: int, encoding: Encoding, segments: int
) -> None:
    assert sms_segments(characters, encoding) == segments


def test_a_161_character_gsm7_sms_is_billed_as_two_segments() -> None:
    # Given 0.0079 per segment / When an SMS of 161 GSM-7 characters is rated
    rating = rate_one(SMS_CARD, message(Service.SMS, 161, encoding=Encoding.GSM7))
    # Then it is 2 segments: 2 × 0.0079 = 0.0158
    assert rating.quantity == 2
    assert rating.cost == Decimal("0.0158")


def test_a_71_character_ucs2_sms_is_billed_as_two_segments() -> None:
    # Given 0.0079 per segment / When an SMS of 71 UCS-2 characters (e.g. with an emoji)
    rating = rate_one(SMS_CARD, message(Service.SMS, 71, encoding=Encoding.UCS2))
    # Then 2 segments: 0.0158
    assert rating.quantity == 2
    assert rating.cost == Decimal("0.0158")


def test_without_an_encoding_the_quantity_is_the_segment_count() -> None:
    # Given 0.0079 per segment / When a record says 3 segments (no encoding)
    rating = rate_one(SMS_CARD, message(Service.SMS, 3))
    # Then 3 × 0.0079 = 0.0237
    assert (rating.quantity, rating.cost) == (3, Decimal("0.0237"))


def test_an_sms_without_a_quantity_is_one_segment() -> None:
    rating = rate_one(SMS_CARD, message(Service.SMS, None))
    assert (rating.quantity, rating.cost) == (1, Decimal("0.0079"))


def test_an_sms_is_rated_by_the_prefix_of_its_destination() -> None:
    # Given SMS to the UK at 0.0300 and elsewhere at 0.0079
    doc = card(rate("", "0.0079", service="sms"), rate("44", "0.0300", service="sms"))
    # When an SMS to +44 7700 900123 is rated / Then the UK price applies
    rating = rate_one(doc, message(Service.SMS, 1, callee="+447700900123"))
    assert (rating.prefix, rating.cost) == ("44", Decimal("0.0300"))


def test_email_is_prorated_per_thousand() -> None:
    # Given email at 0.675 per 1,000 (the default `per` for email)
    doc = card(rate("", "0.675", service="email"))
    # When a batch of 2,500 emails is rated
    rating = rate_one(doc, message(Service.EMAIL, 2500))
    # Then 2500 × 0.675 / 1000 = 1.6875
    assert rating.cost == Decimal("1.6875")


def test_a_single_email_costs_a_thousandth_rounded_by_the_card() -> None:
    # Given 0.675 per 1,000 / When one email is rated: 0.000675 → 4 dp up = 0.0007
    rating = rate_one(card(rate("", "0.675", service="email")), message(Service.EMAIL, 1))
    assert rating.cost == Decimal("0.0007")


def test_a_number_port_is_a_one_time_fee_per_unit() -> None:
    # Given a port fee of 15.00 per number (default `per` 1)
    doc = card(rate("", "15.00", service="port", destination="Number port"))
    # When a port of 2 numbers is rated / Then 2 × 15.00 = 30.00
    rating = rate_one(doc, message(Service.PORT, 2))
    assert rating.cost == Decimal("30.00")
    assert rating.status is CallStatus.RATED


def test_a_unit_service_adds_its_connect_fee_once() -> None:
    # Given SMS at 0.0079 per segment with a 0.0010 fee per message
    doc = card(rate("", "0.0079", service="sms", connect_fee="0.0010"))
    # When one segment is rated / Then price × 1 + the connect fee once = 0.0089
    assert rate_one(doc, message(Service.SMS, 1)).cost == Decimal("0.0089")


@pytest.mark.parametrize(
    ("service", "quantity"),
    [(Service.SMS, 0), (Service.SMS, -3), (Service.EMAIL, "0.5"), (Service.PORT, 0)],
)
def test_a_quantity_below_one_is_bad_quantity(service: Service, quantity: str | int) -> None:
    # Given a card that rates the service / When the quantity is below 1
    doc = card(rate("", "1.00", service=str(service)))
    rating = rate_one(doc, message(service, quantity))
    # Then the record is rejected bad_quantity, cost 0
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.BAD_QUANTITY)


def test_an_sms_with_zero_characters_is_bad_quantity() -> None:
    rating = rate_one(SMS_CARD, message(Service.SMS, 0, encoding=Encoding.GSM7))
    assert rating.reason is RejectReason.BAD_QUANTITY


def test_a_service_the_card_does_not_rate_is_no_rate() -> None:
    # Given a card with SMS only / When an email batch is rated / Then no_rate, never 0
    rating = rate_one(SMS_CARD, message(Service.EMAIL, 100))
    assert (rating.status, rating.reason) == (CallStatus.REJECTED, RejectReason.NO_RATE)
