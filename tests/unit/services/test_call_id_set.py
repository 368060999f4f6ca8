"""The compact in-file dedupe table behaves like a plain dict of call id → content."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.calls import CallStatus
from shared.services.rate_file import CallIdSet

rows = st.lists(
    st.tuples(st.sampled_from(["acme", "globex"]), st.text(max_size=6), st.sampled_from("abc")),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_it_answers_like_a_dict_through_every_growth(items: list[tuple[str, str, str]]) -> None:
    table, reference = CallIdSet(capacity=1), {}
    for tenant, call_id, content in items:
        expected = None
        if (tenant, call_id) in reference:
            same = reference[(tenant, call_id)] == content
            expected = CallStatus.DUPLICATE if same else CallStatus.REJECTED
        else:
            reference[(tenant, call_id)] = content
        assert table.check(tenant, call_id, content) is expected
    assert len(table) == len(reference)
