"""The steps local-stack CLI tests share: point ``billing`` at the module's stack, give a
prepaid tenant a card and credit, have the real rate_call handler rate a dropped file, and
read back what a ``--json`` command printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.cli.main import main
from shared.local.dispatcher import LocalDispatcher, function_environment, load_handler
from shared.local.stack import LocalStack


def last_json(capsys: pytest.CaptureFixture[str]) -> Any:
    """The ``--json`` document a command printed: the last line of what it wrote to stdout."""
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def state_dir_for(stack: LocalStack, directory: Path) -> Path:
    """A ``--state-dir`` whose state file names the running stack (pid 0: nothing to stop)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").write_text(json.dumps({"pid": 0, **stack.describe()}))
    return directory


def add_prepaid_tenant(
    state_dir: Path, card_file: Path, *, tenant: str, card: str, currency: str, credit: str
) -> None:
    """``billing local load-card`` then ``add-tenant``: ``tenant`` on the card named ``card``
    (the one in ``card_file``) with ``credit`` in its wallet."""
    flags = ["--state-dir", str(state_dir)]
    assert main(["local", "load-card", "--card", str(card_file), *flags]) == 0
    assert main(["local", "add-tenant", "--tenant", tenant, "--card", card,
                 "--currency", currency, "--credit", credit, *flags]) == 0


def rate_dropped_file(
    stack: LocalStack, state_dir: Path, tenant: str, cdrs: Path
) -> dict[str, str]:
    """``billing local drop`` then the CDR queue delivered to the real rate_call handler, as
    Lambda's SQS trigger would; the handler's environment (table names and AWS settings)."""
    assert main(["local", "drop", "--tenant", tenant, str(cdrs),
                 "--state-dir", str(state_dir)]) == 0
    env = {**stack.function_environment("RateCallFunction"), **stack.aws_environment()}
    queue = stack.resources["CdrQueue"]
    with function_environment(env):
        from shared.wiring import rate_call_deps

        rate_call_deps.cache_clear()
        LocalDispatcher(
            stack.client("sqs"), queue.ref, queue.arn or "", stack.region,
            load_handler(stack, "RateCallFunction"),
        ).drain()
    return env
