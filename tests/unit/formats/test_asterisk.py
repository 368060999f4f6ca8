"""Asterisk Master.csv readers: the real samples, leg merging, streaming windows, rejects."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from shared.domain.calls import CallStatus, Direction, RejectReason
from shared.formats import asterisk
from shared.formats.asterisk import read_asterisk_csv
from shared.formats.cdr_formats import ReaderContext
from shared.formats.records import PhysicalLines
from tests.unit.formats.cdr_helpers import (
    ASTERISK_CSV_SAMPLE,
    ASTERISK_CUSTOM_SAMPLE,
    card_doc,
    deck_rates,
    minute_rate,
    physical_rows,
    rate_cdrs,
)

#: default-rate card: any outside number 0.10/min; extensions rated 0 (no on_net)
DEFAULT_ONLY = card_doc(minute_rate("", "0.10", 60, destination="Default"))
#: the same with on-net calls charged 0.0100/min in 60 s increments
WITH_ON_NET = card_doc(
    minute_rate("", "0.10", 60, destination="Default"),
    on_net=minute_rate("", "0.0100", 60, destination="On-net"),
)


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def cdr_csv_row(
    *,
    dst: str,
    channel: str,
    dstchannel: str,
    start: str,
    answer: str,
    end: str,
    billsec: int,
    disposition: str,
    uniqueid: str,
    linkedid: str | None,
    src: str = "100",
    dcontext: str = "from-internal",
    accountcode: str = "acct-1",
    clid: str = '"Desk" <100>',
) -> str:
    """One cdr_csv line as Asterisk writes it: strings quoted, integers bare; 21 fields with a
    linkedid (newcdrcolumns), 18 without."""
    quoted = [
        accountcode, src, dst, dcontext, clid, channel, dstchannel, "Dial", "", start, answer,
        end,
    ]
    text = ",".join('"' + value.replace('"', '""') + '"' for value in quoted)
    text += f",{billsec + 5},{billsec},\"{disposition}\",\"DOCUMENTATION\",\"{uniqueid}\",\"\""
    if linkedid is not None:
        text += f',"",\"{linkedid}\",0'
    return text


def leg(call: str, n: int, **fields: object) -> str:
    """A leg of call ``call`` (its linkedid); leg 1 is the originating channel."""
    defaults: dict[str, object] = {
        "channel": f"SIP/100-{call}{n}",
        "dstchannel": f"SIP/trunk-{call}{n}",
        "start": "2026-03-02 10:00:00",
        "answer": "2026-03-02 10:00:05",
        "end": "2026-03-02 10:05:00",
        "disposition": "ANSWERED",
        "uniqueid": call if n == 1 else f"{call}{n}",
        "linkedid": call,
    }
    return cdr_csv_row(**{**defaults, **fields})  # type: ignore[arg-type]


def file_of(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


# -- the real samples ---------------------------------------------------------------------


def test_mineevburyat_sample_merges_legs_per_linkedid() -> None:
    """84 rows of a real PBX (cdr_csv + newcdrcolumns), read by hand with the leg rules.

    Every `dst` is 211474 or 211553 (6-digit DIDs, so extensions by the default plan) or a
    ring-group name ch1/ch2/ch3; no answered row has an outside callee, so each call is
    billed on its first answered row (disposition ANSWERED and billsec > 0).

    Calls by linkedid (file lines):
      rated, one row:  1, 2, 3, 21, 32, 33, 84                                    = 7 calls
      rated + merged:  26 (22-25 merged: 22/23 ANSWERED with billsec 0, 24/25 NO ANSWER),
                       31 (27-30), 38 (34-37)                      = 3 calls, 12 merged
                       39 (+40), 45 (+46), 48 (+47: billed row is the second), 49 (+50),
                       51 (+52), 53 (+54), 55 (+56), 57 (+58), 59 (+60), 61 (+62),
                       67 (+68), 71 (+72), 73 (+74), 75 (+76), 78 (+77), 81 (+82)
                                                                   = 16 calls, 16 merged
      unanswered:      4-6 (NO ANSWER, NO ANSWER with billsec 60, ANSWERED billsec 0)
                       → 1 + 2 merged; 7-13 (all NO ANSWER) → 1 + 6 merged;
                       14-20 → 1 + 6 merged; 63-64 → 1 + 1; 65-66 → 1 + 1;
                       83 (BUSY) → 1                                = 6 calls, 16 merged
      rejected:        41, 42, 43, 44, 69, 70, 79, 80: a non-UTF-8 byte (0xA5) in the
                       caller name (clid): `encoding`, row by row. Each pair is a whole call,
                       so no call loses a leg.
    rated 7 + 3 + 16 = 26; unanswered 6; rejected 8; merged 12 + 16 + 16 = 44; 84 rows.
    """
    outcome = rate_cdrs(ASTERISK_CSV_SAMPLE, DEFAULT_ONLY)

    assert outcome.format_name == "asterisk-csv"
    assert outcome.counts() == {
        "rows": 84, "rated": 26, "unanswered": 6, "rejected": 8, "duplicates": 0, "merged": 44,
    }
    assert [r.line for r in outcome.rejects] == [41, 42, 43, 44, 69, 70, 79, 80]
    assert {r.reason for r in outcome.rejects} == {RejectReason.ENCODING}
    # every rated callee is an extension and the card has no on_net rate: 0
    assert outcome.summary.total_cost == 0
    unanswered = sorted(c.call_id for c, r in outcome.rated if r.status is CallStatus.UNANSWERED)
    assert unanswered == [
        "1706369600.6", "1706372196.12", "1706401101.30", "mainserverdss-1706430495.50",
        "mainserverdss-1706430532.55", "mainserverdss-1706443058.100",
    ]


def test_mineevburyat_billed_leg_and_on_net_cost() -> None:
    """With on_net at 0.0100/min (60/60) each of the 26 calls costs its started minutes.

    billsec of the billed rows: 27 27 10 10 17 23 10 10 79 43 33 29 19 17 58 19 39 32 61 15
    34 21 23 24 29 66 → 79, 61 and 66 s take 2 minutes, the other 23 calls 1 minute:
    29 minutes × 0.0100 = 0.2900.
    """
    outcome = rate_cdrs(ASTERISK_CSV_SAMPLE, WITH_ON_NET, contexts={"stadion-pstn": Direction.IN})

    assert outcome.summary.total_cost == Decimal("0.2900")
    # lines 22-26: ring group through Local/ channels; only line 26 talked (17 s)
    call, rating = outcome.by_id("1706407446.50")
    assert (call.callee, call.caller, call.talk_ms) == ("211553", "89026248294", 17_000)
    assert call.start_ms == ms("2024-01-28T02:04:06+00:00")  # the call's first leg started
    assert call.answer_ms == ms("2024-01-28T02:04:12+00:00")
    assert call.direction is Direction.IN  # dcontext stadion-pstn
    assert rating.cost == Decimal("0.0100")
    # lines 47-48: the NO ANSWER leg comes first, the answered one (29 s) is billed
    call, _rating = outcome.by_id("mainserverdss-1706422609.10")
    assert call.talk_ms == 29_000
    # lines 7-13: no leg answered; the unanswered call is carried by the originating row
    # (line 9, uniqueid = linkedid), so its callee is the DID, not the ring-group name ch1
    call, rating = outcome.by_id("1706372196.12")
    assert rating.status is CallStatus.UNANSWERED
    assert (call.callee, call.direction) == ("211553", Direction.IN)


def test_kelysaina_custom_sample_one_call_per_row() -> None:
    """14 rows of cdr_custom (no linkedid: one call per row, id = uniqueid, all distinct).

    11 rows ANSWERED with billsec 13 13 18 8 8 7 3 2 2 2 2 → rated (callees 6789 and 1234
    are extensions); lines 2, 5 and 10 are NO ANSWER with billsec 0 → unanswered.
    With on_net 0.0100/min on 60/60: 11 calls of one started minute = 0.1100.
    """
    outcome = rate_cdrs(ASTERISK_CUSTOM_SAMPLE, WITH_ON_NET)

    assert outcome.format_name == "asterisk-custom"
    assert outcome.counts() == {
        "rows": 14, "rated": 11, "unanswered": 3, "rejected": 0, "duplicates": 0, "merged": 0,
    }
    assert outcome.summary.total_cost == Decimal("0.1100")
    call, _rating = outcome.by_id("1690325492.2")
    assert (call.caller, call.callee, call.talk_ms) == ("client1", "6789", 13_000)
    assert rate_cdrs(ASTERISK_CUSTOM_SAMPLE, DEFAULT_ONLY).summary.total_cost == 0


def test_sample_repeated_inside_the_window_counts_each_repeated_row_as_duplicate() -> None:
    """The file twice in one delivery: the second copy's legs reach their calls while those
    are still open (84 rows < the 500-row window), and a row identical to a leg of its call
    is a duplicate row. 84 - 8 encoding rejects = 76 duplicate rows."""
    data = ASTERISK_CSV_SAMPLE.read_bytes()

    outcome = rate_cdrs(data + data, DEFAULT_ONLY)

    assert outcome.counts() == {
        "rows": 168, "rated": 26, "unanswered": 6, "rejected": 16, "duplicates": 76,
        "merged": 44,
    }


def test_sample_repeated_after_the_window_is_one_duplicate_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a 10-row window the first copy's calls are settled before the second copy comes
    (every call's rows in the sample are adjacent, so no call is split). Each repeated call has
    the same fingerprint (its rows' text): its carrier row is a duplicate (26 + 6 = 32), its
    other rows merged again (44)."""
    monkeypatch.setattr(asterisk, "GROUP_WINDOW_ROWS", 10)
    data = ASTERISK_CSV_SAMPLE.read_bytes()

    outcome = rate_cdrs(data + data, DEFAULT_ONLY)

    assert outcome.counts() == {
        "rows": 168, "rated": 26, "unanswered": 6, "rejected": 16, "duplicates": 32,
        "merged": 88,
    }


# -- synthetic calls priced from the A-Z deck ---------------------------------------------


def test_deck_prefixes_price_the_billed_leg() -> None:
    """Outbound calls on a card built from the deck sample's rows, 60/60 increments.

    Deck lines 284-288 and 1738-1739: 55 Brazil-ROC 0,0218; 5511 São Paulo 0,0218;
    55115020 Brazil Mobile 0,157; 49 Germany 0,0121; 49150 Germany Mobile E-Plus 0,056.
    """
    price = deck_rates("55", "5511", "55115020", "49", "49150")
    assert price == {
        "55": "0.0218", "5511": "0.0218", "55115020": "0.157", "49": "0.0121", "49150": "0.056",
    }
    card = card_doc(*(minute_rate(prefix, value, 60) for prefix, value in price.items()))
    data = file_of(
        # A: phone → Local/ → trunk, both legs answered 95 s; the billed leg is the trunk leg
        leg("A", 1, dst="0055115020123", dstchannel="Local/out@dialout-0001;1", billsec=95),
        leg("A", 2, dst="0055115020123", channel="Local/out@dialout-0001;2", billsec=95,
            dcontext="dialout"),
        # B: São Paulo landline, 125 s, one row
        leg("B", 1, dst="00551130001234", billsec=125),
        # C: answered on desk phone 301 (extension) for 20 s, then forwarded out for 50 s
        leg("C", 1, dst="301", dstchannel="SIP/301-0001", billsec=20),
        leg("C", 2, dst="004915012345678", billsec=50),
        # D: Germany landline, 61 s
        leg("D", 1, dst="004930123456", billsec=61),
        # E: first trunk busy, second rang out (ANSWERED with billsec 0 is unanswered)
        leg("E", 1, dst="004915012345678", billsec=0, disposition="BUSY", answer=""),
        leg("E", 2, dst="004915012345678", billsec=0),
    )

    outcome = rate_cdrs(data, card, fmt="asterisk-csv")

    assert outcome.counts() == {
        "rows": 8, "rated": 4, "unanswered": 1, "rejected": 0, "duplicates": 0, "merged": 3,
    }
    costs = {call.call_id: (rating.prefix, rating.cost) for call, rating in outcome.rated}
    assert costs == {
        # 55115020123: longest prefix 55115020 (not 5511 or 55); 95 s → 2 min × 0.157
        "A": ("55115020", Decimal("0.3140")),
        # 551130001234: 5511; 125 s → 3 min × 0.0218
        "B": ("5511", Decimal("0.0654")),
        # the forwarded leg, not the extension leg that answered first: 50 s → 1 min × 0.056
        "C": ("49150", Decimal("0.0560")),
        # 4930123456: 49; 61 s → 2 min × 0.0121
        "D": ("49", Decimal("0.0242")),
        # unanswered: cost 0, labelled with its dialled prefix for breakouts (ASR)
        "E": ("49150", Decimal("0")),
    }
    # 0.3140 + 0.0654 + 0.0560 + 0.0242
    assert outcome.summary.total_cost == Decimal("0.4596")
    call_a, _ = outcome.by_id("A")
    assert call_a.talk_ms == 95_000 and call_a.account == "acct-1"


def test_context_map_gives_direction_from_the_originating_leg() -> None:
    """Inbound from the PSTN reaches a desk phone through a Local/ ring group: the billed leg
    runs in the helper context `ringgroup`, but the call entered in `from-pstn` → in.
    Card: inbound 0.0085/min on 60/60 for any DID; 40 s → 1 min → 0.0085."""
    card = card_doc(minute_rate("", "0.0085", 60, direction="in"))
    data = file_of(
        leg("F", 1, src="4930111222", dst="3227001234", dcontext="from-pstn",
            dstchannel="Local/rg@ringgroup-0001;1", billsec=40),
        leg("F", 2, src="4930111222", dst="3227001234", dcontext="ringgroup",
            channel="Local/rg@ringgroup-0001;2", dstchannel="SIP/301-0002", billsec=40),
    )

    outcome = rate_cdrs(data, card, contexts={"from-pstn": Direction.IN}, fmt="asterisk-csv")

    call, rating = outcome.by_id("F")
    assert call.direction is Direction.IN
    assert rating.cost == Decimal("0.0085")
    assert outcome.counts()["merged"] == 1


# -- streaming: interleaving, window, caps --------------------------------------------------


def read(data: bytes, window: int | None = None) -> list[tuple[int, str]]:
    """(line, what) per outcome, in the order the reader emits them."""
    context = ReaderContext("acme", ZoneInfo("UTC"))
    lines = PhysicalLines(io.BytesIO(data))
    result = []
    for outcome in read_asterisk_csv(lines, context, window=window):
        if outcome.call is not None:
            what = f"call {outcome.call.call_id} {'answered' if outcome.call.answered else 'no'}"
        else:
            what = str(outcome.status)
        result.append((outcome.line_no, what))
    return result


def test_interleaved_calls_are_grouped_by_linkedid() -> None:
    data = file_of(
        leg("G", 1, dst="004930123456", billsec=0, disposition="NO ANSWER", answer=""),
        leg("H", 1, dst="004930999999", billsec=12),
        leg("G", 2, dst="004930123456", billsec=30),
        leg("H", 2, dst="004930999999", billsec=0, disposition="NO ANSWER", answer=""),
        leg("G", 2, dst="004930123456", billsec=30),  # line 3 again: a duplicate row
    )

    # each call settles at the end of the file, oldest-seen first, its rows in line order
    # the duplicate is reported at once; each call settles at the end of the file, least
    # recently seen first, with its rows in line order
    assert read(data) == [
        (5, "duplicate"), (2, "call H answered"), (4, "merged"), (1, "merged"),
        (3, "call G answered"),
    ]


def test_a_call_split_over_the_window_is_two_calls_and_the_late_one_conflicts() -> None:
    """Window 3: call S's second leg comes 4 rows after its first, so S was settled (as
    unanswered) before the leg arrived. The late leg forms a second call with the same id and
    different content: the rating service rejects it as `conflict`, to be reviewed; the call
    is never billed twice."""
    others = [leg(name, 1, dst="004930123456", billsec=10) for name in ("T", "U", "V")]
    data = file_of(
        leg("S", 1, dst="004930123456", billsec=0, disposition="NO ANSWER", answer=""),
        *others,
        leg("S", 2, dst="004930123456", billsec=42),
    )

    # S is settled once 3 rows (T, U, V) went by without it
    assert read(data, window=3) == [
        (1, "call S no"), (2, "call T answered"), (3, "call U answered"),
        (4, "call V answered"), (5, "call S answered"),
    ]
    outcome = rate_cdrs(data, DEFAULT_ONLY, fmt="asterisk-csv")  # default window: one call
    assert outcome.counts()["merged"] == 1


def test_late_leg_after_the_window_is_rejected_as_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asterisk, "GROUP_WINDOW_ROWS", 2)
    data = file_of(
        leg("S", 1, dst="004930123456", billsec=0, disposition="NO ANSWER", answer=""),
        leg("T", 1, dst="004930123456", billsec=10),
        leg("U", 1, dst="004930123456", billsec=10),
        leg("S", 2, dst="004930123456", billsec=42),
    )

    outcome = rate_cdrs(data, DEFAULT_ONLY, fmt="asterisk-csv")

    assert outcome.counts() == {
        "rows": 4, "rated": 2, "unanswered": 1, "rejected": 1, "duplicates": 0, "merged": 0,
    }
    assert [(r.line, r.reason) for r in outcome.rejects] == [(4, RejectReason.CONFLICT)]


def test_a_call_with_more_legs_than_the_cap_is_settled_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asterisk, "MAX_LEGS", 3)
    rows = [leg("M", n, dst="004930123456", billsec=0, disposition="NO ANSWER", answer="")
            for n in range(1, 6)]

    assert read(file_of(*rows)) == [
        (1, "call M no"), (2, "merged"), (3, "merged"), (4, "call M no"), (5, "merged"),
    ]


# -- rejects ------------------------------------------------------------------------------


def test_an_undecodable_byte_rejects_only_its_row() -> None:
    """One call of two legs where the merged leg has a latin-1 byte in the caller name: that
    row alone is rejected `encoding`; the call is still billed from its answered leg, and the
    next call is untouched."""
    bad = leg("K", 2, dst="004930123456", billsec=0, disposition="NO ANSWER", answer="",
              clid='"Jos\xe9" <100>').encode("latin-1")
    data = (
        leg("K", 1, dst="004930123456", billsec=30).encode() + b"\n" + bad + b"\n"
        + leg("L", 1, dst="004930123456", billsec=30).encode() + b"\n"
    )

    outcome = rate_cdrs(data, DEFAULT_ONLY, fmt="asterisk-csv")

    assert outcome.counts() == {
        "rows": 3, "rated": 2, "unanswered": 0, "rejected": 1, "duplicates": 0, "merged": 0,
    }
    (reject,) = outcome.rejects
    assert (reject.line, reject.reason) == (2, RejectReason.ENCODING)
    assert reject.raw.encode("utf-8", "surrogateescape") == bad  # original bytes kept


def test_malformed_rows_name_the_problem() -> None:
    good = leg("N", 1, dst="004930123456", billsec=30)
    short = good.rsplit(",", 1)[0]  # 20 fields
    bad_time = leg("P", 1, dst="004930123456", billsec=30, start="yesterday")
    bad_billsec = leg("Q", 1, dst="004930123456", billsec=30).replace(",35,30,", ",35,x,")
    no_id = leg("R", 1, dst="004930123456", billsec=30, uniqueid="", linkedid="")
    data = file_of(good, short, bad_time, bad_billsec, no_id)

    outcome = rate_cdrs(data, DEFAULT_ONLY, fmt="asterisk-csv")

    assert outcome.counts()["rows"] == physical_rows(data) == 5
    assert outcome.summary.rated == 1
    details = [(r.line, r.reason, r.detail) for r in outcome.rejects]
    assert details == [
        (2, RejectReason.MALFORMED, "expected 18 or 21 fields (Asterisk cdr_csv), found 20"),
        (3, RejectReason.MALFORMED,
         "start: 'yesterday' is not a timestamp (expected ISO-8601)"),
        (4, RejectReason.MALFORMED, "billsec: 'x' is not a number of seconds"),
        (5, RejectReason.MALFORMED, "uniqueid: empty"),
    ]


def test_cdr_csv_without_the_newcdrcolumns_tail_is_one_call_per_row() -> None:
    """18 fields: no linkedid, so legs of one call cannot be told apart; each row is a call
    named by its uniqueid (rows 1 and 2 are both rated)."""
    data = file_of(
        leg("V", 1, dst="004930123456", billsec=61, linkedid=None),
        leg("V", 2, dst="004930123456", billsec=61, linkedid=None),
    )
    card = card_doc(minute_rate("49", "0.0121", 60))

    outcome = rate_cdrs(data, card)

    assert outcome.format_name == "asterisk-csv"
    assert outcome.summary.rated == 2
    assert sorted(c.call_id for c, _ in outcome.rated) == ["V", "V2"]
    assert outcome.summary.total_cost == Decimal("0.0484")  # 2 × (2 min × 0.0121)


def test_negative_billsec_is_not_hidden_as_unanswered() -> None:
    data = file_of(leg("W", 1, dst="004930123456", billsec=-5))

    outcome = rate_cdrs(data, DEFAULT_ONLY, fmt="asterisk-csv")

    assert [r.reason for r in outcome.rejects] == [RejectReason.BAD_DURATION]
