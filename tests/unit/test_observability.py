"""Phone numbers in logs: masked in the middle, extensions as they are."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.observability import logger, mask_number, metrics, tracer


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        # E.164: keep "+35" (route) and "78" (support lookup), hide the 8 digits between
        ("+351912345678", "+35********78"),
        ("00351912345678", "003*********78"),
        ("912345678", "912****78"),
        # 7 characters is the shortest number that is masked: 3 + 2 kept, 2 hidden
        ("1234567", "123**67"),
        # separators stay, only digits are hidden
        ("+351 912 345 678", "+35* *** *** *78"),
        # a SIP URI keeps its host; the whole number sits in the hidden middle
        ("sip:+351912345678@pbx.example", "sip:+************@pbx.example"),
    ],
)
def test_long_numbers_show_only_their_first_three_and_last_two_characters(
    number: str, masked: str
) -> None:
    assert mask_number(number) == masked


@pytest.mark.parametrize("extension", ["", "1", "112", "1001", "12345", "123456"])
def test_extensions_and_short_codes_of_up_to_six_characters_are_shown_as_is(
    extension: str,
) -> None:
    assert mask_number(extension) == extension


@given(st.text(alphabet="+0123456789", min_size=7, max_size=20))
def test_a_masked_number_keeps_its_shape_and_reveals_at_most_five_characters(
    number: str,
) -> None:
    masked = mask_number(number)

    assert len(masked) == len(number)
    assert masked[:3] == number[:3]
    assert masked[-2:] == number[-2:]
    assert set(masked[3:-2]) <= {"*", "+"}
    assert sum(char.isdigit() for char in masked) <= 5


def test_everyone_shares_one_service_name_and_metrics_namespace() -> None:
    assert logger.service == "billing"
    assert tracer.service == "billing"
    assert metrics.service == "billing"
    assert metrics.namespace == "TelecomBilling"
