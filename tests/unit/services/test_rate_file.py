"""The rate_file use case: every row ends in exactly one bucket, and rejects are explained."""

from __future__ import annotations

from decimal import Decimal

from shared.domain.calls import CallStatus, RejectReason
from tests.unit.builders import call, card, compiled, rate, rate_one
from tests.unit.services.rate_file_fakes import rate_bytes

HEADER = "call_id,tenant,callee,answer_time,billsec,disposition,service,quantity"
GERMANY = compiled(
    card(
        rate("49", "0.0140", initial=60, increment=6),
        rate("", "0.0079", service="sms"),
    )
)


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_every_row_lands_in_exactly_one_bucket() -> None:
    # Given a file with one row of every kind
    data = csv_bytes(
        HEADER,
        "c1,acme,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,",  # rated 0.0154
        "c2,acme,4930123456,2026-03-02T10:00:00Z,0,NO ANSWER,,",  # unanswered
        "c1,acme,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,",  # duplicate of c1
        "c1,acme,4930123456,2026-03-02T10:00:00Z,62,ANSWERED,,",  # conflict with c1
        "c3,acme,33123456789,2026-03-02T10:00:00Z,61,ANSWERED,,",  # no_rate
        "c4,acme,4930123456,2026-03-02T10:00:00Z,-5,ANSWERED,,",  # bad_duration
        "c5,acme,4930123456,2099-03-02T10:00:00Z,61,ANSWERED,,",  # future_time
        "c6,acme,,2026-03-02T10:00:00Z,,,sms,0",  # bad_quantity
        "c7,acme,4930123456",  # malformed: 3 fields of 8
        "c8,globex,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,",  # another tenant's row
        "s1,acme,447700900123,2026-03-02T10:00:00Z,,,sms,2",  # rated 2 × 0.0079 = 0.0158
    )
    # When the file is rated for tenant acme
    result = rate_bytes(data, GERMANY)
    summary = result.summary
    # Then 11 rows = 2 rated + 1 unanswered + 7 rejected + 1 duplicate + 0 merged
    assert (summary.rated, summary.unanswered, summary.rejected, summary.duplicates) == (2, 1, 7, 1)
    assert summary.rows == 11
    # and the total is the exact sum of the rated costs: 0.0154 + 0.0158 = 0.0312
    assert summary.total_cost == Decimal("0.0312")
    assert [(r.line, r.reason) for r in result.rejects.rows] == [
        (5, RejectReason.CONFLICT),
        (6, RejectReason.NO_RATE),
        (7, RejectReason.BAD_DURATION),
        (8, RejectReason.FUTURE_TIME),
        (9, RejectReason.BAD_QUANTITY),
        (10, RejectReason.MALFORMED),
        (11, RejectReason.WRONG_TENANT),
    ]
    assert summary.reasons["no_rate"] == 1


def test_rejects_keep_the_original_line() -> None:
    data = csv_bytes(HEADER, "c3,acme,33123456789,2026-03-02T10:00:00Z,61,ANSWERED,,")
    (reject,) = rate_bytes(data, GERMANY).rejects.rows
    assert reject.raw == "c3,acme,33123456789,2026-03-02T10:00:00Z,61,ANSWERED,,"
    assert reject.line == 2
    assert "33123456789" in reject.detail


def test_rated_and_unanswered_calls_reach_the_rated_output() -> None:
    data = csv_bytes(
        HEADER,
        "c1,acme,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,",
        "c2,acme,4930123456,2026-03-02T10:00:00Z,0,NO ANSWER,,",
    )
    rows = rate_bytes(data, GERMANY).rated.rows
    assert [(c.call_id, r.status, r.cost) for c, r in rows] == [
        ("c1", CallStatus.RATED, Decimal("0.0154")),
        ("c2", CallStatus.UNANSWERED, Decimal(0)),
    ]


def test_the_file_total_is_the_sum_of_rounded_call_costs_never_rounded_again() -> None:
    # Given worked example A: 100 calls of 9.1 s at 0.005/min, increment 0.001 s, 4 dp up
    example_a = compiled(card(rate("", "0.005", increment="0.001")))
    rows = [f"a{i},acme,4930123456,2026-03-02T10:00:00Z,9.1,ANSWERED,," for i in range(100)]
    # When the file is rated
    summary = rate_bytes(csv_bytes(HEADER, *rows), example_a).summary
    # Then each call is 0.000758… → 0.0008 and the total is 100 × 0.0008 = 0.0800, not 0.0758
    assert summary.rated == 100
    assert str(summary.total_cost) == "0.0800"


def test_duplicates_are_counted_once_and_not_charged_twice() -> None:
    row = "c1,acme,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,"
    summary = rate_bytes(csv_bytes(HEADER, row, row, row), GERMANY).summary
    # 1 rated at 0.0154, 2 duplicates, nothing rejected
    assert (summary.rated, summary.duplicates, summary.rejected) == (1, 2, 0)
    assert summary.total_cost == Decimal("0.0154")


def test_a_file_rated_without_a_tenant_takes_each_rows_tenant() -> None:
    data = csv_bytes(
        HEADER,
        "c1,acme,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,",
        "c1,globex,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,",  # same id, other tenant
    )
    summary = rate_bytes(data, GERMANY, tenant=None).summary
    # Call identity is (tenant, call id): two different calls, both rated
    assert (summary.rated, summary.duplicates) == (2, 0)


def test_the_service_and_the_engine_agree_on_a_call() -> None:
    # Given one call rated through the file service and directly
    data = csv_bytes(HEADER, "c1,acme,4930123456,2026-03-02T10:00:00Z,61,ANSWERED,,")
    through_file = rate_bytes(data, GERMANY).rated.rows[0][1]
    direct = rate_one(GERMANY, call("4930123456", answer="2026-03-02T10:00:00Z", talk=61))
    assert (through_file.cost, through_file.billed_ms) == (direct.cost, direct.billed_ms)
