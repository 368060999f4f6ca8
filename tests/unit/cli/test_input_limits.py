"""Out-of-range flags are refused with one line on stderr and exit 2 (SPEC 9), before any
file is read or any stack is started: a negative extension length, a country code that is
not digits, a negative demo size, a month 13, a channel price beyond any real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.cli.main import EXIT_BAD_INPUT
from tests.unit.cli.conftest import Billing
from tests.unit.cli.test_rate_cli import assert_one_error_line, good_files


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("rate", "--card", "card.json", "--cdrs", "cdrs.csv",
          "--max-extension-digits", "-1"), "--max-extension-digits must be between 0 and 15"),
        (("rate", "--card", "card.json", "--cdrs", "cdrs.csv",
          "--max-extension-digits", "99"), "--max-extension-digits must be between 0 and 15"),
        (("breakout", "--card", "card.json", "--cdrs", "cdrs.csv", "--country-code", "abc"),
         "--country-code must be 1 to 3 digits, got 'abc'"),
        (("demo", "--rows", "-5"), "--rows must be between 1 and 1000000, got -5"),
        (("reconcile", "--ours", "local:T:2026-13", "--theirs", "cdrs.csv",
          "--card", "card.json"), "'2026-13' is not a month"),
        (("advise", "--cdrs", "cdrs.csv", "--card", "card.json", "--two-way-price", "1e400"),
         "--two-way-price: at most 999999999, got 1e400"),
        (("advise", "--cdrs", "cdrs.csv", "--card", "card.json", "--two-way-price", "1",
          "--minimum", "1e12"), "--minimum: at most 999999999, got 1e12"),
    ],
)
def test_out_of_range_flags_are_one_error_line(
    tmp_path: Path, billing: Billing, monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...], says: str,
) -> None:
    # Given a good card and CDR file, When a flag is out of range
    good_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = billing(*argv)
    # Then one line says which flag and what was expected, exit 2, nothing on stdout
    line = assert_one_error_line(run)
    assert says in line
    assert run.code == EXIT_BAD_INPUT
    assert run.out == ""
