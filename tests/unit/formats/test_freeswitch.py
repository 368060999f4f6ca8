"""FreeSWITCH mod_cdr_csv reader: the real sample, deck-priced calls, headers and templates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from shared.domain.calls import CallStatus, Direction, RejectReason
from shared.formats.freeswitch import DEFAULT_TEMPLATE, TemplateError
from tests.unit.formats.cdr_helpers import (
    FREESWITCH_SAMPLE,
    card_doc,
    deck_rates,
    minute_rate,
    physical_rows,
    rate_cdrs,
)

WITH_ON_NET = card_doc(
    minute_rate("", "0.10", 60, destination="Default"),
    on_net=minute_rate("", "0.0100", 60, destination="On-net"),
)


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def fs_row(
    uuid: str,
    destination: str,
    billsec: int,
    *,
    answered: bool = True,
    context: str = "default",
    cause: str = "NORMAL_CLEARING",
    caller: str = "1002",
    start: str = "2026-03-02 10:00:00",
) -> str:
    """One row of the example template (15 columns), as mod_cdr_csv quotes it."""
    answer = "2026-03-02 10:00:05" if answered else ""
    values = [
        "Desk 1002", caller, destination, context, start, answer, "2026-03-02 10:05:00",
        str(billsec + 5), str(billsec), cause, uuid, "", "acct-7", "PCMU", "PCMU",
    ]
    return ",".join(f'"{value}"' for value in values)


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def file_of(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def test_kxingyunliushui_sample() -> None:
    """10 rows of the example template, times without seconds (`2020/2/10 22:41`).

    line 1  d80e22e0 answered 9 s to `&`          → rejected bad_number (`&` is the inline
    line 2  b9d0a33e answered 61 s to `&`            application of an `originate`, not a
    line 4  e56b68e4 answered 21 s to `&`            dialable number: never priced at 0
    line 5  f68e66ee answered 327 s to `&`           silently)
    line 6  f2f22b7e answered 20 s to `&`
    line 8  7adced1a answered 20 s to `&`
    line 3  f1542038 no answer_stamp, billsec 0   → unanswered
    line 7  559758f2 1002 → 1004, 32 s, RECOVERY_ON_TIMER_EXPIRE → rated: it talked; the
            hangup cause is informational. 1004 is an extension: 0, or on_net 1 min × 0.0100
    line 9  7adced1a, the same text as line 8     → duplicate
    line 10 7adced1a, USER_BUSY instead of NORMAL_CLEARING → conflict (same id, other content)
    rated 1, unanswered 1, rejected 6 + 1 = 7, duplicates 1: 10 rows.
    """
    outcome = rate_cdrs(FREESWITCH_SAMPLE, WITH_ON_NET, zone="Asia/Shanghai")

    assert outcome.format_name == "freeswitch"
    assert outcome.counts() == {
        "rows": 10, "rated": 1, "unanswered": 1, "rejected": 7, "duplicates": 1, "merged": 0,
    }
    assert [(r.line, r.reason) for r in outcome.rejects] == [
        (1, RejectReason.BAD_NUMBER), (2, RejectReason.BAD_NUMBER),
        (4, RejectReason.BAD_NUMBER), (5, RejectReason.BAD_NUMBER),
        (6, RejectReason.BAD_NUMBER), (8, RejectReason.BAD_NUMBER),
        (10, RejectReason.CONFLICT),
    ]
    call, rating = outcome.by_id("559758f2-4c7b-11ea-b071-2bfc2a06d67d")
    assert (call.caller, call.callee, call.account) == ("1002", "1004", "1002")
    assert call.talk_ms == 32_000
    # naive `2020/2/11 11:05` read in the rating zone (UTC+8)
    assert call.answer_ms == ms("2020-02-11T03:05:00+00:00")
    assert rating.cost == Decimal("0.0100")
    call, rating = outcome.by_id("f1542038-4c15-11ea-97ca-9dd79410affb")
    assert rating.status is CallStatus.UNANSWERED and not call.answered


def test_deck_prefixes_price_each_call() -> None:
    """A card from the deck sample's rows (lines 285, 288, 1738, 1739), 1/1 increments, plus
    an inbound rate; costs are 4 decimals rounded up.

    A 0055115020123, 95 s:  55115020 (Brazil Mobile 0,157 beats 5511 0,0218)
                            95 × 0.157 / 60 = 0.248583… → 0.2486
    B 00551130001234, 125 s: 5511 → 125 × 0.0218 / 60 = 0.0454166… → 0.0455
    C 004915012345678, 50 s: 49150 → 50 × 0.056 / 60 = 0.046666… → 0.0467
    D context `public` (→ in), DID 3227001234, 40 s: inbound 0.0085 → 0.005666… → 0.0057
    E 004930123456, 30 s, RECOVERY_ON_TIMER_EXPIRE: 49 → 30 × 0.0121 / 60 = 0.00605 → 0.0061
    F no answer_stamp → unanswered; G answer_stamp but billsec 0 → unanswered
    total 0.2486 + 0.0455 + 0.0467 + 0.0057 + 0.0061 = 0.3526
    """
    price = deck_rates("5511", "55115020", "49", "49150")
    card = card_doc(
        *(minute_rate(prefix, value, 1) for prefix, value in price.items()),
        minute_rate("", "0.0085", 1, direction="in"),
    )
    data = file_of(
        fs_row(uid(1), "0055115020123", 95),
        fs_row(uid(2), "00551130001234", 125),
        fs_row(uid(3), "004915012345678", 50),
        fs_row(uid(4), "3227001234", 40, context="public", caller="4930111222"),
        fs_row(uid(5), "004930123456", 30, cause="RECOVERY_ON_TIMER_EXPIRE"),
        fs_row(uid(6), "004930123456", 0, answered=False, cause="NO_ANSWER"),
        fs_row(uid(7), "004930123456", 0),
    )

    outcome = rate_cdrs(data, card, contexts={"public": Direction.IN})

    assert outcome.format_name == "freeswitch"
    assert outcome.counts() == {
        "rows": 7, "rated": 5, "unanswered": 2, "rejected": 0, "duplicates": 0, "merged": 0,
    }
    costs = {call.call_id[-1]: (rating.prefix, rating.cost) for call, rating in outcome.rated}
    assert costs == {
        "1": ("55115020", Decimal("0.2486")),
        "2": ("5511", Decimal("0.0455")),
        "3": ("49150", Decimal("0.0467")),
        "4": ("", Decimal("0.0057")),
        "5": ("49", Decimal("0.0061")),
        # unanswered: cost 0, labelled with the dialled 0049... → 49 for breakouts (ASR)
        "6": ("49", Decimal("0")),
        "7": ("49", Decimal("0")),
    }
    assert outcome.summary.total_cost == Decimal("0.3526")
    assert outcome.by_id(uid(4))[0].direction is Direction.IN


HEADER = (
    "uuid,caller_id_number,destination_number,context,start_stamp,answer_stamp,end_stamp,"
    "billsec,billmsec,hangup_cause"
)


def test_a_header_names_the_columns_and_billmsec_wins_over_billsec() -> None:
    """55115020 at 0.157/min, 1/1 increments.
    Row 2: billmsec 60200 (60.2 s) → 61 increments → 61 × 0.157 / 60 = 0.159616… → 0.1597
           (billsec 60 alone would give 0.1570).
    Row 3: billmsec empty → billsec 60 → 0.1570."""
    card = card_doc(minute_rate("55115020", "0.157", 1))
    times = "2026-03-02 10:00:00,2026-03-02 10:00:05,2026-03-02 10:01:05"
    data = file_of(
        HEADER,
        f"{uid(1)},1002,0055115020123,default,{times},60,60200,NORMAL_CLEARING",
        f"{uid(2)},1002,0055115020123,default,{times},60,,NORMAL_CLEARING",
    )

    outcome = rate_cdrs(data, card)

    assert outcome.format_name == "freeswitch"
    assert outcome.counts()["rows"] == 2  # the header is not a row
    assert outcome.by_id(uid(1))[0].talk_ms == 60_200
    assert outcome.by_id(uid(1))[1].cost == Decimal("0.1597")
    assert outcome.by_id(uid(2))[1].cost == Decimal("0.1570")


def test_an_explicit_template_reads_a_headerless_file() -> None:
    card = card_doc(minute_rate("55115020", "0.157", 1))
    columns = ("uuid", "destination_number", "answer_stamp", "billmsec", "context")
    data = file_of(f"{uid(9)},0055115020123,2026-03-02 10:00:05,60200,default")

    outcome = rate_cdrs(data, card, fmt="freeswitch", columns=columns)

    assert outcome.by_id(uid(9))[1].cost == Decimal("0.1597")


def test_an_explicit_template_wins_over_a_header_row_which_is_never_data() -> None:
    card = card_doc(minute_rate("55115020", "0.157", 1))
    columns = ("uuid", "destination_number", "answer_stamp", "billmsec", "context")
    data = file_of(
        "uuid,destination_number,answer_stamp,billsec,context",
        f"{uid(9)},0055115020123,2026-03-02 10:00:05,60200,default",
    )

    outcome = rate_cdrs(data, card, fmt="freeswitch", columns=columns)

    assert outcome.counts()["rows"] == 1
    assert outcome.by_id(uid(9))[0].talk_ms == 60_200  # read as billmsec, as the option says


def test_a_template_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(TemplateError, match="lack uuid"):
        rate_cdrs(b"x\n", WITH_ON_NET, fmt="freeswitch", columns=("destination_number",))


def test_an_undecodable_byte_rejects_only_its_row() -> None:
    bad = fs_row(uid(2), "1004", 10).replace("Desk 1002", "Jos\xe9").encode("latin-1")
    data = file_of(fs_row(uid(1), "1004", 10)) + bad + b"\n" + file_of(fs_row(uid(3), "1004", 10))

    outcome = rate_cdrs(data, WITH_ON_NET)

    assert outcome.counts() == {
        "rows": 3, "rated": 2, "unanswered": 0, "rejected": 1, "duplicates": 0, "merged": 0,
    }
    assert [(r.line, r.reason) for r in outcome.rejects] == [(2, RejectReason.ENCODING)]


def test_malformed_rows_name_the_field() -> None:
    good = fs_row(uid(1), "1004", 10)
    data = file_of(
        good,
        good.rsplit(",", 1)[0],  # 14 fields
        fs_row(uid(3), "1004", 10).replace("2026-03-02 10:00:05", "soon"),
        fs_row("", "1004", 10),
        fs_row(uid(5), "1004", 10).replace('"15","10"', '"15","ten"'),
    )

    outcome = rate_cdrs(data, WITH_ON_NET, fmt="freeswitch")

    assert outcome.counts()["rows"] == physical_rows(data) == 5
    assert [(r.line, r.detail) for r in outcome.rejects] == [
        (2, f"expected {len(DEFAULT_TEMPLATE)} fields (FreeSWITCH cdr_csv), found 14"),
        (3, "answer_stamp: 'soon' is not a timestamp (expected ISO-8601)"),
        (4, "uuid: empty"),
        (5, "billsec: 'ten' is not a number of seconds"),
    ]
