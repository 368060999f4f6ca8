"""Hostile files through the ``billing`` command: ``rate`` (every ``--format``) and
``import-deck`` (with ``--diff``). SPEC section 9: any bad input is one line on stderr and a
non-zero exit, never a traceback; an ``internal error`` (exit 3) is a bug the user cannot
act on, so it fails here."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.cli.main import EXIT_INTERNAL, main
from tests.hostile.budget import FLOW
from tests.hostile.test_cdr_readers import _files
from tests.hostile.test_decks import open_rate_cards, tabular_decks

#: capsys is read (and so emptied) inside each example, which makes sharing it safe
CLI = settings(FLOW, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
])
CARD = {
    "card": "cli-hostile", "currency": "EUR",
    "rates": [{"prefix": "44", "tiers": [{"price": "0.0600", "initial": 60, "increment": 6}]}],
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err


def _one_clear_line(code: int, err: str) -> None:
    assert code != EXIT_INTERNAL, err
    assert "Traceback" not in err
    if code != 0:
        lines = [line for line in err.splitlines() if line.startswith("billing: error:")]
        assert len(lines) == 1, err


@pytest.mark.parametrize("fmt", ["auto", "native", "asterisk-csv", "asterisk-custom",
                                 "freeswitch"])
@CLI
@given(data=_files())
def test_billing_rate_on_hostile_bytes_ends_with_a_summary_or_one_error_line(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], fmt: str,
    data: bytes,
) -> None:
    folder = tmp_path_factory.mktemp("rate")
    card, cdrs = folder / "card.json", folder / "calls.csv"
    card.write_text(json.dumps(CARD), encoding="utf-8")
    cdrs.write_bytes(data)

    code, err = _run(["rate", "--card", str(card), "--cdrs", str(cdrs), "--format", fmt,
                      "--tenant", "acme", "--json", "--rejects", str(folder / "rej.csv"),
                      "--out", str(folder / "out.csv")], capsys)

    _one_clear_line(code, err)


@CLI
@given(deck=tabular_decks() | open_rate_cards() | st.binary(max_size=200),
       old=tabular_decks())
def test_billing_import_deck_on_hostile_bytes_ends_with_a_card_or_one_error_line(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str],
    deck: bytes, old: bytes,
) -> None:
    folder = tmp_path_factory.mktemp("deck")
    path, out = folder / "deck.csv", folder / "card.json"
    path.write_bytes(deck)
    old_deck, old_card = folder / "old.csv", folder / "old.json"
    old_deck.write_bytes(old)
    code, err = _run(["import-deck", "--deck", str(old_deck), "--currency", "EUR",
                      "--out", str(old_card)], capsys)
    _one_clear_line(code, err)

    argv = ["import-deck", "--deck", str(path), "--currency", "EUR", "--out", str(out)]
    if old_card.exists():
        argv += ["--diff", str(old_card)]
    code, err = _run(argv, capsys)

    _one_clear_line(code, err)
    if code == 0:
        json.loads(out.read_text(encoding="utf-8"))  # what it wrote is a card document
