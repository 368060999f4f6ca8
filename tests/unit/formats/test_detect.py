"""`--format auto`: which reader the first line picks (rules in docs/formats.md), and the
`billing rate` command on each real sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cli.main import main
from shared.formats.cdr_formats import DETECTORS, READERS, UnknownFormat, detect_format
from tests.unit.formats.cdr_helpers import (
    ASTERISK_CSV_SAMPLE,
    ASTERISK_CUSTOM_SAMPLE,
    FREESWITCH_SAMPLE,
    card_doc,
    minute_rate,
)

# The example rows of docs/formats.md, "CDR formats and auto-detection".
NATIVE_HEADER = (
    "call_id,tenant,account,service,direction,caller,callee,start_time,answer_time,end_time,"
    "billsec,disposition,quantity,encoding"
)
FREESWITCH_ROW = (
    '"Desk 1002","1002","0049301234567","default","2026-03-02 10:00:00",'
    '"2026-03-02 10:00:05","2026-03-02 10:01:40","100","95","NORMAL_CLEARING",'
    '"d80e22e0-4c15-11ea-97a0-9dd79410affb","","1002","PCMU","PCMU"'
)
FREESWITCH_HEADER = "uuid,caller_id_number,destination_number,answer_stamp,billsec,billmsec"
ASTERISK_CSV_ROW = (
    '"acct-1","100","0049301234567","from-internal","""Desk"" <100>","SIP/100-00000001",'
    '"SIP/trunk-00000002","Dial","SIP/trunk/0049301234567","2026-03-02 10:00:00",'
    '"2026-03-02 10:00:05","2026-03-02 10:01:40",100,95,"ANSWERED","DOCUMENTATION",'
    '"1772445600.1","","","1772445600.1",1'
)
ASTERISK_CSV_18_ROW = ASTERISK_CSV_ROW.rsplit(',"",', 1)[0]
ASTERISK_CUSTOM_ROW = (
    '"""Desk"" <100>","100","0049301234567","from-internal","SIP/100-00000001",'
    '"SIP/trunk-00000002","Dial","SIP/trunk/0049301234567","2026-03-02 10:00:00",'
    '"2026-03-02 10:00:05","2026-03-02 10:01:40","100","95","ANSWERED","DOCUMENTATION",'
    '"acct-1","1772445600.1","","1"'
)


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        (NATIVE_HEADER, "native"),
        ("\ufeff" + NATIVE_HEADER, "native"),
        (FREESWITCH_HEADER, "freeswitch"),
        (FREESWITCH_ROW, "freeswitch"),
        (ASTERISK_CSV_ROW, "asterisk-csv"),
        (ASTERISK_CSV_18_ROW, "asterisk-csv"),
        (ASTERISK_CUSTOM_ROW, "asterisk-custom"),
        # an unanswered cdr_csv row: answer written as a bare empty field
        (ASTERISK_CSV_ROW.replace('"2026-03-02 10:00:05"', ""), "asterisk-csv"),
    ],
)
def test_first_line_picks_the_reader(first_line: str, expected: str) -> None:
    assert detect_format(first_line + "\r\n") == expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (ASTERISK_CSV_SAMPLE, "asterisk-csv"),
        (ASTERISK_CUSTOM_SAMPLE, "asterisk-custom"),
        (FREESWITCH_SAMPLE, "freeswitch"),
    ],
)
def test_each_real_sample_is_detected(sample: Path, expected: str) -> None:
    first = sample.read_bytes().splitlines()[0].decode("utf-8", "replace")
    assert detect_format(first) == expected


@pytest.mark.parametrize(
    "first_line",
    [
        "",
        "prefix,destination,price",  # a rate deck, not CDRs
        # 15 fields, but field 10 is no UUID
        FREESWITCH_ROW.replace('"d80e22e0-4c15-11ea-97a0-9dd79410affb"', '"call-1"'),
        # 21 fields, but no timestamps at 9-11
        ASTERISK_CSV_ROW.replace('"2026-03-02 10:00:00"', '"start"'),
        # 19 fields with the timestamps where cdr_csv has them, not cdr_custom
        ASTERISK_CSV_ROW.rsplit(",", 2)[0],
    ],
)
def test_unknown_first_lines_ask_for_format(first_line: str) -> None:
    with pytest.raises(UnknownFormat, match="pass --format"):
        detect_format(first_line)


def test_every_reader_has_a_detector_in_the_documented_order() -> None:
    assert [name for name, _ in DETECTORS] == [
        "native", "freeswitch", "asterisk-csv", "asterisk-custom",
    ]
    assert set(READERS) == {name for name, _ in DETECTORS}


# -- billing rate on each sample ------------------------------------------------------------


@pytest.fixture
def on_net_card(tmp_path: Path) -> Path:
    """0.10/min for outside numbers; on-net (extensions) 0.0100/min in 60 s increments."""
    doc = card_doc(
        minute_rate("", "0.10", 60, destination="Default"),
        on_net=minute_rate("", "0.0100", 60, destination="On-net"),
    )
    path = tmp_path / "card.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        # counts derived line by line in test_asterisk.py and test_freeswitch.py
        (ASTERISK_CSV_SAMPLE, {"rows": 84, "rated": 26, "unanswered": 6, "rejected": 8,
                               "duplicates": 0, "merged": 44, "total_cost": "0.2900"}),
        (ASTERISK_CUSTOM_SAMPLE, {"rows": 14, "rated": 11, "unanswered": 3, "rejected": 0,
                                  "duplicates": 0, "merged": 0, "total_cost": "0.1100"}),
        (FREESWITCH_SAMPLE, {"rows": 10, "rated": 1, "unanswered": 1, "rejected": 7,
                             "duplicates": 1, "merged": 0, "total_cost": "0.0100"}),
    ],
)
def test_billing_rate_auto_detects_each_sample(
    sample: Path, expected: dict[str, object], on_net_card: Path,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    rejects = tmp_path / "rejects.csv"
    code = main([
        "rate", "--card", str(on_net_card), "--cdrs", str(sample), "--tenant", "acme",
        "--context-map", "stadion-pstn=in, default=out", "--rejects", str(rejects), "--json",
    ])

    assert code == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert {key: summary[key] for key in expected} == expected
    # one rejects line per rejected row, plus the header
    assert len(rejects.read_bytes().splitlines()) == 1 + summary["rejected"]


def test_a_bad_context_map_is_one_clear_error(
    on_net_card: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "rate", "--card", str(on_net_card), "--cdrs", str(FREESWITCH_SAMPLE),
        "--context-map", "from-pstn=inbound",
    ])

    assert code == 2
    assert "--context-map: 'from-pstn=inbound' is not CONTEXT=in or CONTEXT=out" in (
        capsys.readouterr().err
    )


def test_the_documented_example_rows_are_the_ones_tested_here() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "formats.md"
    section = docs.read_text(encoding="utf-8").split("## CDR formats and auto-detection", 1)[1]
    for example in (NATIVE_HEADER, FREESWITCH_ROW, ASTERISK_CSV_ROW, ASTERISK_CUSTOM_ROW):
        assert example in section
