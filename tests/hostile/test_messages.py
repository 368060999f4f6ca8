"""Hostile SQS message bodies for the two queue-fed functions: the S3 notification parser of
rate_call and the low-balance event parser of wallet_recharge.

Whatever a body holds (not JSON, JSON of any shape, an S3 record with fields of the wrong
type, nesting deeper than the decoder allows), the parser returns what the message asks for
or raises ``ValidationError`` naming what is wrong; never another exception. (The message
then fails, is redelivered and, after five receives, lands on the dead-letter queue.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.low_balance import LOW_BALANCE, SOURCE, low_balance_request
from shared.contracts.s3_notifications import cdr_files
from shared.domain.errors import ValidationError
from tests.hostile.budget import PURE

_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.floats(
    allow_nan=False
)
_ANY = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=12)


def _maybe(value: Any) -> st.SearchStrategy[Any]:
    return st.just(value) | _ANY


@st.composite
def s3_bodies(draw: st.DrawFn) -> str:
    obj = draw(st.fixed_dictionaries({
        "key": _maybe("tenants/acme/a%2Bb+c.csv"), "size": _maybe(120),
        "eTag": _maybe("0123abcd"), "versionId": _maybe("v1"),
    }) | _ANY)
    s3 = draw(st.fixed_dictionaries({"bucket": _maybe({"name": "cdrs"}), "object": st.just(obj)})
              | _ANY)
    records = draw(st.lists(st.fixed_dictionaries({"s3": st.just(s3)}) | _ANY, max_size=3)
                   | _ANY)
    document = draw(st.fixed_dictionaries({"Records": st.just(records)}) | _ANY)
    return json.dumps(document)


@st.composite
def eventbridge_bodies(draw: st.DrawFn) -> str:
    document = draw(st.fixed_dictionaries({
        "id": _maybe("e1"), "source": _maybe(SOURCE), "detail-type": _maybe(LOW_BALANCE),
        "detail": _maybe({"tenant": "acme"}) | st.fixed_dictionaries({"tenant": _ANY}),
    }) | _ANY)
    return json.dumps(document)


_RAW = st.text(max_size=60) | st.sampled_from(["[" * 100_000, '{"Records":' * 50_000, ""])


@PURE
@given(body=s3_bodies() | _RAW)
def test_an_s3_notification_body_names_files_or_says_what_is_wrong(body: str) -> None:
    try:
        files = cdr_files(body)
    except ValidationError as refused:
        assert str(refused)
        return
    for file in files:
        assert isinstance(file.key, str) and isinstance(file.bucket, str)
        assert isinstance(file.size, int)


@PURE
@given(body=eventbridge_bodies() | _RAW)
def test_a_low_balance_body_asks_for_a_recharge_or_says_what_is_wrong(body: str) -> None:
    try:
        request = low_balance_request(body)
    except ValidationError as refused:
        assert str(refused)
        return
    if request is not None:
        assert request.tenant and request.trigger.startswith("evt-")


@pytest.mark.parametrize("body", ['{"Records": [{"s3": {"object": "x", "bucket": "y"}}]}',
                                  '{"Records": [{"s3": "x"}]}', "[" * 100_000])
def test_wrong_types_inside_an_s3_record_are_a_validation_error(body: str) -> None:
    with pytest.raises(ValidationError):
        cdr_files(body)
