"""Run the ``billing`` console entry point in-process, as a user would from a shell."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.cli.main import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def summary(self) -> dict[str, Any]:
        """The --json summary: one JSON object on stdout's last line."""
        last: dict[str, Any] = json.loads(self.out.strip().splitlines()[-1])
        return last


Billing = Callable[..., Run]


def billing_runner(capsys: pytest.CaptureFixture[str], *trailing: str) -> Billing:
    """``billing <argv> <trailing>`` in-process (``trailing``: e.g. a local stack's
    ``--state-dir``), with its exit code and what it printed."""

    def run(*argv: str | Path) -> Run:
        try:
            code = main([*(str(arg) for arg in argv), *trailing])
        except SystemExit as exit_:  # argparse exits for usage errors and --help
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def billing(capsys: pytest.CaptureFixture[str]) -> Billing:
    return billing_runner(capsys)
