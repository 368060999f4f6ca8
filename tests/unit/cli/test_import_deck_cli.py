"""``billing import-deck``: the real deck end to end through files and flags, the --json
summary, the report file, --diff, and one clear error line for a bad deck."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.formats.card_files import load_card_file
from tests.unit.cli.conftest import Billing

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "acceptance" / "samples"
A_Z_DECK = (
    SAMPLES / "ratedeck_international_PT_carrier__asterisell-v5_itcenter_fccn_2012-09-06__head.csv"
)
SPECIAL = SAMPLES / "special_numbers_rates_PT__asterisell-v5_ptprime_2012-09-06.csv"


def test_real_deck_to_native_card_with_report(billing: Billing, tmp_path: Path) -> None:
    out, report = tmp_path / "itc.json", tmp_path / "report.csv"
    run = billing("import-deck", "--deck", A_Z_DECK, "--card-name", "itc-2012", "--currency",
                  "EUR", "--timezone", "Europe/Lisbon", "--out", out, "--report", report,
                  "--json")
    assert run.code == 0, run.err
    summary = run.summary
    # 5226 lines (wc -l) minus the header
    assert {k: summary[k] for k in ("format", "rows", "imported", "rejected", "skipped",
                                    "warnings", "rates")} == {
        "format": "a-z", "rows": 5225, "imported": 5225, "rejected": 0, "skipped": 0,
        "warnings": 3, "rates": 5225,
    }
    assert summary["reasons"] == {"suspect_text": 3}
    # the written card loads as a native card and keeps the deck's digits
    card = load_card_file(out)
    assert (card.name, card.currency, card.timezone, len(card.rates)) == (
        "itc-2012", "EUR", "Europe/Lisbon", 5225)
    document = json.loads(out.read_text(encoding="utf-8"))
    afghanistan = next(rate for rate in document["rates"] if rate["prefix"] == "93")
    assert afghanistan["tiers"][0]["price"] == "0.1175"  # a string, not a JSON number
    with report.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["line"], row["reason"]) for row in rows] == [
        ("285", "suspect_text"), ("286", "suspect_text"), ("287", "suspect_text")
    ]
    assert rows[0]["raw"] == '"Brazil - S\u00bfPaulo",5511,"0,0218"'


def test_text_summary(billing: Billing) -> None:
    run = billing("import-deck", "--deck", SPECIAL, "--currency", "EUR")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].endswith(
        "(special-numbers): rows 121: imported 101, rejected 3, skipped 17; "
        "rows with warnings 54"
    )
    assert "(not written: no --out)" in lines[1]
    assert lines[2] == "report by reason: note 17, pattern_length 54, unsupported_method 3"
    # rejected rows come first in the short list
    assert lines[3].startswith("  line 73: rejected unsupported_method: method LocalPT")
    assert lines[-1] == "  … and 54 more (use --report FILE)"


def test_diff_between_two_decks(billing: Billing, tmp_path: Path) -> None:
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text('PREFIX,RATE\n93,"0,1175"\n355,"0,097"\n213,"0,109"\n', encoding="utf-8")
    new.write_text('PREFIX,RATE\n93,"0,13"\n355,"0,09"\n2137,"0,122"\n', encoding="utf-8")
    run = billing("import-deck", "--deck", new, "--currency", "EUR", "--diff", old)
    assert run.code == 0, run.err
    text = run.out
    # increases first: 93 up, then 355 down, 2137 new, 213 removed
    assert text.index("increased (carriers owe notice):") < text.index("decreased:") \
        < text.index("new:") < text.index("removed:")
    assert "  93: 0.1175 → 0.13 (+0.0125, +10.64%)\n" in text
    assert "  213: 0.109 (now: no rate)\n" in text
    run = billing("import-deck", "--deck", new, "--currency", "EUR", "--diff", old, "--json")
    diff = run.summary["diff"]
    assert diff["counts"] == {"increased": 1, "decreased": 1, "new": 1, "removed": 1,
                              "changed": 0, "unchanged": 0}
    assert diff["decreased"][0]["change"] == "-0.007"
    assert (diff["new"][0]["prefix"], diff["removed"][0]["prefix"]) == ("2137", "213")


def test_diff_against_a_native_card(billing: Billing, tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"card": "old", "currency": "EUR", "rates": [
        {"prefix": "93", "tiers": [{"price": "0.2"}]}]}), encoding="utf-8")
    new = tmp_path / "new.csv"
    new.write_text("PREFIX,RATE\n93,0.1\n", encoding="utf-8")
    run = billing("import-deck", "--deck", new, "--currency", "EUR", "--diff", old, "--json")
    assert run.code == 0, run.err
    assert run.summary["diff"]["decreased"][0]["change_percent"] == "-50.00"


def test_open_rate_card_takes_name_and_currency_from_the_document(
    billing: Billing, tmp_path: Path
) -> None:
    deck = tmp_path / "carrier.json"
    deck.write_text(json.dumps({
        "name": "Carrier", "schema_version": "1.0.0", "version": "1.0", "date": "2026-01-03",
        "cards": {"default": {
            "name": "Termination", "type": "termination", "currency": "USD",
            "endpoint": "default",
            "fields": [{"name": "prefix"}, {"name": "name"}, {"name": "rate"}],
            "rates": [["1", "USA", 0.005], ["44", "UK", 0.010]],
        }},
    }), encoding="utf-8")
    out = tmp_path / "card.json"
    run = billing("import-deck", "--deck", deck, "--out", out, "--json")
    assert run.code == 0, run.err
    assert (run.summary["card"], run.summary["currency"], run.summary["imported"]) == (
        "Termination", "USD", 2)
    assert [rate.tiers[0].price for rate in load_card_file(out).rates] == [
        Decimal("0.005"), Decimal("0.010")]
    conflict = billing("import-deck", "--deck", deck, "--currency", "EUR")
    assert conflict.code == 2
    assert "the deck says its prices are in USD, but --currency says EUR" in conflict.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty deck (no header row)"),
        (b'"Afghanistan",93,"0,1175"\n', "line 1 looks like data, not a header"),
        (b"foo,bar\n1,2\n", "no prefix and no price column"),
        (b"PREFIX,RATE\n93,abc\n94,\n", "no rate imported from 2 row(s); nothing written "
                                        "(first problem: line 2: price 'abc' is not a number"),
    ],
)
def test_bad_decks_fail_with_one_line(
    billing: Billing, tmp_path: Path, content: bytes, message: str
) -> None:
    deck, out = tmp_path / "deck.csv", tmp_path / "card.json"
    deck.write_bytes(content)
    run = billing("import-deck", "--deck", deck, "--currency", "EUR", "--out", out)
    assert run.code == 2
    assert run.out == ""
    assert len(run.err.strip().splitlines()) == 1
    assert run.err.startswith("billing: error: ") and message in run.err
    assert not out.exists()


def test_missing_currency_and_missing_file(billing: Billing, tmp_path: Path) -> None:
    deck = tmp_path / "deck.csv"
    deck.write_text("PREFIX,RATE\n93,0.1\n", encoding="utf-8")
    run = billing("import-deck", "--deck", deck)
    assert run.code == 2 and "does not name a currency; pass --currency" in run.err
    run = billing("import-deck", "--deck", tmp_path / "nope.csv", "--currency", "EUR")
    assert run.code == 2 and "no such deck file" in run.err
    run = billing("import-deck", "--deck", deck, "--currency", "EUR", "--increment", "0")
    assert run.code == 2 and "--increment: must be positive" in run.err


def test_encoding_option(billing: Billing, tmp_path: Path) -> None:
    deck = tmp_path / "deck.csv"
    deck.write_bytes(b'DESTINATION,PREFIX,RATE\n"S\xe3o Tom\xe9",239,"0,5"\n')
    run = billing("import-deck", "--deck", deck, "--currency", "EUR", "--json")
    assert run.summary["reasons"] == {"encoding": 1}
    run = billing("import-deck", "--deck", deck, "--currency", "EUR", "--encoding", "cp1252",
                  "--json")
    assert run.summary["reasons"] == {}
